"""Many Trio tasks writing through the one lock; statistics; close semantics; meta, equity, breaker."""

from __future__ import annotations

from pathlib import Path

import pytest
import trio
import trio.testing
from storefakes import T0, at, fill, intent, journal

from kalshid.store import Journal, open_journal
from kalshid.store.records import BreakerEvent, EquitySnapshot, OrderState, UpdateOutcome

__all__ = ["journal"]


async def test_many_tasks_write_through_the_lock(journal: Journal) -> None:
    tasks, per_task = 20, 10
    outcomes: list[UpdateOutcome] = []

    async def writer(t: int) -> None:
        for i in range(per_task):
            cid = f"t{t}-{i}"
            await journal.record_intent(intent(cid, ts=at(t * 100 + i)))
            outcomes.append(await journal.mark_in_flight(cid, at(t * 100 + i)))
            await journal.record_fill(fill(f"f-{t}-{i}", client_order_id=cid, ts=at(t * 100 + i)))
            # every task also replays a shared fill: exactly one insert may win
            await journal.record_fill(fill("shared", ts=T0))

    async with trio.open_nursery() as nursery:
        for t in range(tasks):
            nursery.start_soon(writer, t)
    counts = await journal.table_counts()
    assert counts["orders"] == tasks * per_task
    assert counts["fills"] == tasks * per_task + 1
    assert outcomes == [UpdateOutcome.APPLIED] * (tasks * per_task)
    assert len(await journal.unacknowledged_intents()) == tasks * per_task
    stats = journal.statistics()
    assert stats.calls >= tasks * per_task * 4 and stats.tasks_waiting == 0
    assert stats.mode == "dry" and stats.max_call_seconds > 0


async def test_cancel_before_the_thread_does_nothing_and_after_it_completes(journal: Journal) -> None:
    with trio.CancelScope() as scope:
        scope.cancel()
        await journal.record_intent(intent("never"))
    assert await journal.get_order_by_client_id("never") is None

    async with trio.open_nursery() as nursery:
        nursery.start_soon(journal.record_intent, intent("c1"))
        await trio.testing.wait_all_tasks_blocked()  # the write is on its worker thread now
        nursery.cancel_scope.cancel()
    # the cancelled caller waited for its statement: the intent is fully journaled
    o = await journal.get_order_by_client_id("c1")
    assert o is not None and o.state is OrderState.PENDING
    assert [e.event for e in await journal.order_events("c1")] == ["intent"]


async def test_closed_journal_refuses_calls(tmp_path: Path) -> None:
    async with open_journal(tmp_path / "j.sqlite3", "sim") as j:
        await j.record_intent(intent("c1"))
    with pytest.raises(trio.ClosedResourceError):
        await j.get_order_by_client_id("c1")
    await j.aclose()  # idempotent
    async with open_journal(tmp_path / "j.sqlite3", "sim") as j2:
        o = await j2.get_order_by_client_id("c1")
        assert o is not None and o.state is OrderState.PENDING and o.dry_run


async def test_live_journal_marks_orders_live(tmp_path: Path) -> None:
    async with open_journal(tmp_path / "sub" / "journal-live.sqlite3", "live") as j:
        await j.record_intent(intent("c1"))
        o = await j.get_order_by_client_id("c1")
        assert o is not None and not o.dry_run


async def test_meta_equity_breaker(journal: Journal) -> None:
    assert await journal.get_meta("fills_cursor") is None
    await journal.set_meta("fills_cursor", "abc")
    await journal.set_meta("fills_cursor", "def")
    assert await journal.get_meta("fills_cursor") == "def"
    assert await journal.latest_equity() is None
    await journal.record_equity(EquitySnapshot(ts=at(1), cash_cc=1_000_000, equity_cc=1_000_000,
                                               peak_cc=1_000_000))
    snap = EquitySnapshot(ts=at(2), cash_cc=900_000, equity_cc=950_000, peak_cc=1_000_000)
    await journal.record_equity(snap)
    assert await journal.latest_equity() == snap
    ev = BreakerEvent(ts=at(3), from_state="closed", to_state="open", reason="daily loss")
    await journal.record_breaker_event(ev)
    assert await journal.breaker_events() == [ev]
    assert await journal.breaker_events(since=at(4)) == []
