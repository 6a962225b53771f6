"""The journal's retention: refused decisions past ``journal.refusals_retention_days`` go, in batches;
orders, approved decisions, fills and settlements stay."""

from __future__ import annotations

import sqlite3
from datetime import timedelta
from pathlib import Path

import pytest
import trio
import trio.testing
from storefakes import T0, at, fill, intent, signal
from structlog.testing import capture_logs

from kalshid.store import Journal, open_journal, sql_write
from kalshid.store.records import RiskVerdict, Signal
from kalshid.trading.exchangeclock import ExchangeClock
from kalshid.trading.retention import prune_refusals_forever

DAY = timedelta(days=1)


def refused(ts_offset: timedelta = timedelta(0)) -> tuple[Signal, RiskVerdict]:
    ts = T0 + ts_offset
    return signal(ts=ts), RiskVerdict(signal_id=1, ts=ts, approved=False, reason_code="max_daily_loss",
                                       detail="day's loss measure $500.0100 > $500.0000")


def counts(path: Path) -> dict[str, int]:
    conn = sqlite3.connect(path)
    try:
        return {t: conn.execute(f"SELECT count(*) FROM {t}").fetchone()[0]
                for t in ("signals", "risk_verdicts", "orders", "order_events", "fills")}
    finally:
        conn.close()


async def _journal_with_history(journal: Journal) -> dict[str, int]:
    """Old refusals, an old approved order with a fill, an old signal an order names though its
    verdict refused it, and recent refusals; returns the ids to check."""
    ids = {}
    for i in range(7):  # old refusals, interleaved with what stays
        s, v = refused(timedelta(seconds=i))
        ids[f"old-{i}"] = await journal.record_rejection(s, v)
        if i == 3:
            await journal.record_decision(signal(ts=at(3.5)), RiskVerdict(signal_id=1, ts=at(3.5), approved=True,
                                                                          reason_code="approved", detail=""),
                                          intent("c-approved", ts=at(3.5)))
            await journal.record_fill(fill("f-1", ts=at(4)))
    named = await journal.record_rejection(*refused(timedelta(seconds=8)))
    await journal.record_intent(intent("c-named", ts=at(8), signal_id=named))
    ids["named"] = named
    # approved, but for no contract (nothing was sent): a verdict that approved is kept with its signal
    ids["approved-unsent"] = await journal.record_rejection(
        signal(ts=at(9)), RiskVerdict(signal_id=1, ts=at(9), approved=True, reason_code="reduced", detail="to 0"))
    for i in range(3):
        ids[f"recent-{i}"] = await journal.record_rejection(*refused(40 * DAY + timedelta(seconds=i)))
    return ids


@pytest.mark.parametrize("batch", [1, 2, 500])
async def test_refusals_past_retention_go_and_everything_else_stays(tmp_path: Path, batch: int) -> None:
    path = tmp_path / "j.sqlite3"
    async with open_journal(path, "sim", inline=True) as journal:
        ids = await _journal_with_history(journal)
        before = counts(path)
        assert await journal.prune_refusals(T0 + 10 * DAY, batch=batch) == 7
        after = counts(path)
        assert after == {**before, "signals": before["signals"] - 7, "risk_verdicts": before["risk_verdicts"] - 7}
        conn = sqlite3.connect(path)
        left = {r[0] for r in conn.execute("SELECT id FROM signals")}
        verdicts = {r[0] for r in conn.execute("SELECT signal_id FROM risk_verdicts")}
        conn.close()
        assert not {ids[f"old-{i}"] for i in range(7)} & (left | verdicts)
        assert {ids["named"], ids["approved-unsent"], *(ids[f"recent-{i}"] for i in range(3))} <= left & verdicts
        assert len(left) == 6  # and the approved decision's signal
        # nothing more is old enough; a later cut-off takes the recent refusals too
        assert await journal.prune_refusals(T0 + 10 * DAY, batch=batch) == 0
        assert await journal.prune_refusals(T0 + 50 * DAY, batch=batch) == 3
        assert counts(path)["orders"] == 2 and counts(path)["fills"] == 1


def test_a_step_examines_at_most_its_batch_and_stops_at_the_cut_off(tmp_path: Path) -> None:
    """Each step is one bounded transaction: ``limit`` rows by id; the first row at or after the
    cut-off ends the scan (rows are journaled in time order), so recent rows are not read."""
    from kalshid.store.sqlbase import connect

    async def fill_journal() -> None:
        async with open_journal(tmp_path / "j.sqlite3", "sim", inline=True) as journal:
            for i in range(5):
                await journal.record_rejection(*refused(timedelta(seconds=i)))
            for i in range(5):
                await journal.record_rejection(*refused(40 * DAY + timedelta(seconds=i)))

    trio.run(fill_journal)
    conn = connect(tmp_path / "j.sqlite3", "sim")
    try:
        assert sql_write.prune_refusals(conn, T0 + DAY, 0, 2) == (2, 2)
        assert sql_write.prune_refusals(conn, T0 + DAY, 2, 2) == (2, 4)
        assert sql_write.prune_refusals(conn, T0 + DAY, 4, 2) == (1, None)  # reached a recent row: done
        assert sql_write.prune_refusals(conn, T0 + 60 * DAY, 0, 100) == (5, None)  # the end: done
    finally:
        conn.close()


async def test_the_daemon_prunes_once_the_exchange_time_is_known_then_daily(
        tmp_path: Path, autojump_clock: trio.testing.MockClock) -> None:
    clock = ExchangeClock()
    async with open_journal(tmp_path / "j.sqlite3", "sim", inline=True) as journal:
        for day in range(3):
            await journal.record_rejection(*refused(day * DAY))
        with capture_logs() as logs:
            async with trio.open_nursery() as nursery:
                nursery.start_soon(prune_refusals_forever, journal, 1.5, clock)
                await trio.testing.wait_all_tasks_blocked()
                assert counts(tmp_path / "j.sqlite3")["signals"] == 3  # no exchange time yet: nothing goes
                clock.observe(T0 + 2 * DAY, trio.current_time())  # 1.5 days after the first refusal
                await trio.testing.wait_all_tasks_blocked()
                assert counts(tmp_path / "j.sqlite3")["signals"] == 2
                await trio.sleep(86_400)  # a day later (the virtual clock) the second one is past retention
                await trio.testing.wait_all_tasks_blocked()
                assert counts(tmp_path / "j.sqlite3")["signals"] == 1
                nursery.cancel_scope.cancel()
        said = [(e["event"], e.get("deleted")) for e in logs]
        assert said == [("journal: refused decisions past retention deleted", 1)] * 2


async def test_retention_zero_keeps_every_refusal(tmp_path: Path) -> None:
    clock = ExchangeClock()
    clock.observe(T0 + 400 * DAY, 0.0)
    async with open_journal(tmp_path / "j.sqlite3", "sim", inline=True) as journal:
        await journal.record_rejection(*refused())
        await prune_refusals_forever(journal, 0.0, clock)  # returns at once
        assert counts(tmp_path / "j.sqlite3")["signals"] == 1
