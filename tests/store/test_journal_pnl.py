"""Fills (idempotent), settlements checked against the journal, positions and P&L to the centi-cent."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from storefakes import TICKER, TICKER_B, at, fill, intent, journal, settlement

from kalshid.store import Journal
from kalshid.store.ledger import ticker_ledger
from kalshid.store.records import JournalCheck, PnlRow

__all__ = ["journal"]

DAY1 = "2026-07-08"
DAY2 = "2026-07-09"


async def test_same_fill_twice_is_one_row_and_pnl_unchanged(journal: Journal) -> None:
    await journal.record_intent(intent("c1", strategy="kelly"))
    f = fill("f1", client_order_id="c1")
    assert await journal.record_fill(f) is True
    before = await journal.pnl("ticker")
    assert await journal.record_fill(f) is False
    assert await journal.record_fill(fill("f1")) is False  # replayed from REST without the client id
    assert (await journal.table_counts())["fills"] == 1
    assert await journal.pnl("ticker") == before
    stored = (await journal.list_fills()).items[0]
    assert (stored.strategy, stored.client_order_id) == ("kelly", "c1")  # taken from the order
    assert [e.event for e in await journal.order_events("c1")] == ["intent", "fill"]


async def test_conflicting_fill_id_keeps_the_first(journal: Journal) -> None:
    await journal.record_intent(intent("c1"))
    assert await journal.record_fill(fill("f1", client_order_id="c1", count=5)) is True
    assert await journal.record_fill(fill("f1", client_order_id="c1", count=4)) is False
    assert [f.count for f in (await journal.list_fills()).items] == [5]
    events = await journal.order_events("c1")
    assert events[-1].event == "fill_conflict"
    assert events[-1].detail["fill_id"] == "f1"


async def test_last_fill_seen_is_latest_by_exchange_time(journal: Journal) -> None:
    assert await journal.last_fill_seen() is None
    await journal.record_fill(fill("f-b", ts=at(20)))
    await journal.record_fill(fill("f-a", ts=at(10)))  # arrives later, happened earlier
    last = await journal.last_fill_seen()
    assert last is not None and last.fill_id == "f-b"


def _rows(rows: list[PnlRow]) -> dict[str, tuple[int, int, int]]:
    return {r.key: (r.realized_cc, r.fees_cc, r.net_cc) for r in rows}


async def _crafted(journal: Journal) -> None:
    """Market A settles YES; market B (bought late on day 1) settles NO just after midnight UTC."""
    await journal.record_fill(fill("a1", action="buy", side="yes", count=10, price_cc=4000, fee_cc=170,
                                   strategy="s1", ts=at(10)))
    await journal.record_fill(fill("a2", action="sell", side="yes", count=4, price_cc=5500, fee_cc=100,
                                   strategy="s1", ts=at(20)))
    await journal.record_fill(fill("a3", action="buy", side="no", count=5, price_cc=3000, fee_cc=110,
                                   strategy="s2", ts=at(30)))
    await journal.record_fill(fill("b1", ticker=TICKER_B, count=3, price_cc=6000, fee_cc=130, strategy="s1",
                                   ts=datetime(2026, 7, 8, 23, 50, tzinfo=UTC)))


async def test_pnl_to_the_centi_cent(journal: Journal) -> None:
    await _crafted(journal)
    # before settlement: only the closing sell realized (5500 - 4000) x 4
    assert _rows(await journal.pnl("ticker")) == {TICKER: (6_000, 380, 5_620), TICKER_B: (0, 130, -130)}
    rec, new = await journal.record_settlement(
        settlement(TICKER, result="yes", revenue_cc=60_000, yes_count=6, no_count=5, settled_ts=at(900)))
    assert new and rec.check is JournalCheck.OK, rec.check_detail
    rec_b, _ = await journal.record_settlement(settlement(
        TICKER_B, result="no", revenue_cc=0, yes_count=3, no_count=0,
        settled_ts=datetime(2026, 7, 9, 0, 5, tzinfo=UTC)))
    assert rec_b.check is JournalCheck.OK
    # A: sell +6000, YES lot 6 x (10000-4000) = +36000, NO lot 5 x (0-3000) = -15000 => 27000; fees 380
    # B: 3 x (0 - 6000) = -18000; fees 130
    assert _rows(await journal.pnl("ticker")) == {TICKER: (27_000, 380, 26_620),
                                                  TICKER_B: (-18_000, 130, -18_130)}
    assert _rows(await journal.pnl("strategy")) == {"s1": (6_000 + 36_000 - 18_000, 400, 23_600),
                                                    "s2": (-15_000, 110, -15_110)}
    assert _rows(await journal.pnl("day")) == {DAY1: (27_000, 510, 26_490), DAY2: (-18_000, 0, -18_000)}
    day2_only = await journal.pnl("day", since=datetime(2026, 7, 9, tzinfo=UTC))
    assert _rows(day2_only) == {DAY2: (-18_000, 0, -18_000)}
    by_ticker = {r.key: r for r in await journal.pnl("ticker")}
    assert (by_ticker[TICKER].fills, by_ticker[TICKER].contracts) == (3, 19)
    # cash check, independent of the ledger: -40000 + 22000 - 15000 + 60000 = 27000
    assert sum(r.realized_cc for r in await journal.pnl("day")) == 27_000 - 18_000
    # replaying everything changes nothing
    await _crafted(journal)
    _, again = await journal.record_settlement(settlement(
        TICKER, result="yes", revenue_cc=60_000, yes_count=6, no_count=5, settled_ts=at(900)))
    assert again is False
    assert sum(r.net_cc for r in await journal.pnl("day")) == 26_620 - 18_130


async def test_positions_before_and_after_settlement(journal: Journal) -> None:
    await _crafted(journal)
    pos = {p.ticker: p for p in await journal.positions()}
    a = pos[TICKER]
    assert (a.yes_count, a.no_count, a.cost_basis_cc, a.fees_cc, a.realized_cc, a.settled) == (
        6, 5, 6 * 4000 + 5 * 3000, 380, 6_000, False)
    await journal.record_settlement(
        settlement(TICKER, result="yes", revenue_cc=60_000, yes_count=6, no_count=5))
    assert [p.ticker for p in await journal.positions()] == [TICKER_B]
    settled = {p.ticker: p for p in await journal.positions(include_settled=True)}[TICKER]
    assert (settled.yes_count, settled.no_count, settled.cost_basis_cc, settled.settled) == (0, 0, 0, True)


async def test_settlement_mismatch_is_flagged_and_difference_unattributed(journal: Journal) -> None:
    await journal.record_fill(fill("a1", count=2, price_cc=4000, fee_cc=0, strategy="s1"))
    rec, _ = await journal.record_settlement(
        settlement(result="yes", revenue_cc=30_000, yes_count=3, no_count=0))
    assert rec.check is JournalCheck.MISMATCH
    assert "yes_count exchange=3 journal=2" in rec.check_detail
    assert "revenue_cc exchange=30000 journal=20000" in rec.check_detail
    # the credit taken is the exchange's; the 10000 nobody explains is booked to no strategy
    assert _rows(await journal.pnl("strategy")) == {"(unattributed)": (10_000, 0, 10_000),
                                                    "s1": (12_000, 0, 12_000)}
    assert [s.settlement.ticker for s in await journal.settlements(JournalCheck.MISMATCH)] == [TICKER]


async def test_pnl_grouping_must_be_known(journal: Journal) -> None:
    with pytest.raises(ValueError, match="group_by: 'week' is not one of"):
        await journal.pnl("week")  # type: ignore[arg-type]


async def test_void_market_refunds_at_cost(journal: Journal) -> None:
    await journal.record_fill(fill("a1", count=2, price_cc=4000, fee_cc=50, strategy="s1"))
    rec, _ = await journal.record_settlement(
        settlement(result="void", revenue_cc=8_000, yes_count=2, no_count=0))
    assert rec.check is JournalCheck.OK and "revenue not" in rec.check_detail
    assert _rows(await journal.pnl("ticker")) == {TICKER: (0, 50, -50)}


def test_average_cost_is_exact() -> None:
    fills = [fill("1", count=2, price_cc=3000, ts=at(1)), fill("2", count=1, price_cc=5001, ts=at(2)),
             fill("3", action="sell", count=2, price_cc=6000, ts=at(3))]
    led = ticker_ledger(TICKER, fills, None)
    # 3 held for 11 001: two of them remove 11 001 x 2 // 3 = 7 334 of cost; the last one keeps 3 667
    assert [e.realized_cc for e in led.entries] == [0, 0, 12_000 - 7_334]
    assert (led.position.yes_count, led.position.cost_basis_cc) == (1, 3_667)


def test_selling_own_strategy_contracts_first_and_oversell() -> None:
    fills = [fill("1", count=1, price_cc=2000, strategy="a", ts=at(1)),
             fill("2", count=1, price_cc=5000, strategy="b", ts=at(2)),
             fill("3", action="sell", count=3, price_cc=6000, strategy="b", ts=at(3))]
    led = ticker_ledger(TICKER, fills, settlement(result="no", revenue_cc=0, settled_ts=at(9)))
    # 2 held at an average 3 500: selling both realises 12 000 - 7 000 for b (b's own, then a's), then
    # 1 short at 6000 (owned by b) settles NO-for-YES at 0: +6000
    assert [(e.strategy, e.realized_cc) for e in led.entries] == [
        ("a", 0), ("b", 0), ("b", 5000), ("b", 6000)]
    assert led.yes_held_at_settlement == -1
