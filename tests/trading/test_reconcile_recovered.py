"""Reconciliation books the fills of an order it resolves at start, whatever their time.

A decision recovered from the intent log after ``kill -9`` is in the journal as ``in_flight`` with no
fill, while its order filled on the exchange. The catch-up of step 4 reads fills from the journal's
last booked fill on (``min_ts``, whole seconds), so a fill of that order older than the bound (another
order's fill booked later, even by a fraction of a second across a second boundary) is not in it.
So is the fill of an acknowledged order whose feed fill had not been booked. Such an order's fills
are read by its market, joined by ``order_id`` and booked once with its strategy and netting; a
second start books nothing again; a market settled meanwhile gets the fill before its settlement; a
fill still missing is named in the error.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import attrs
import pytest

from kalshid.exchange.types import Balance, Fill, Order, Position, Settlement
from kalshid.store import Journal, open_journal
from kalshid.store.records import OrderIntent, OrderUpdate
from kalshid.trading.convert import journal_fill
from kalshid.trading.reconcile import ReconciliationError, reconcile

T0 = datetime(2026, 7, 8, 22, 50, tzinfo=UTC)
TICKER = "KXSOL15M-26JUL081900-00"
OTHER = "KXSOL15M-26JUL081900-15"


def at(seconds: float) -> datetime:
    return T0 + timedelta(seconds=seconds)


@attrs.define
class FakeExchange:
    """The reads reconciliation makes, over fixed orders and fills; ``list_fills`` honours ``min_ts``
    as Kalshi does (whole seconds, inclusive)."""

    orders: list[Order]
    fills: list[Fill]
    positions: dict[str, int]
    settlements: list[Settlement] = attrs.field(factory=list)
    nets_positions: bool = True
    fill_reads: list[dict[str, Any]] = attrs.field(factory=list)

    async def resolve_in_flight(self, client_order_id: str, *, ticker: str) -> Order | None:
        return next((o for o in self.orders if o.client_order_id == client_order_id), None)

    async def list_orders(self, *, ticker: str | None = None, status: str | None = None) -> list[Order]:
        return [o for o in self.orders if status is None or o.status == status]

    async def get_order(self, order_id: str) -> Order:
        return next(o for o in self.orders if o.order_id == order_id)

    async def list_fills(self, *, ticker: str | None = None, since: datetime | None = None) -> list[Fill]:
        self.fill_reads.append({"ticker": ticker, "since": since})
        lo = int(since.timestamp() // 1) if since else None
        return [f for f in self.fills if (ticker is None or f.ticker == ticker)
                and (lo is None or (f.ts is not None and f.ts.timestamp() >= lo))]

    async def list_settlements(self, *, ticker: str | None = None,
                               since: datetime | None = None) -> list[Settlement]:
        return list(self.settlements)

    async def get_balance(self) -> Balance:
        return Balance(1_000_000)

    async def list_positions(self, *, ticker: str | None = None) -> list[Position]:
        return [Position(t, n) for t, n in self.positions.items()]


def order(oid: str, cid: str, ticker: str, side: str, count: int, price_cc: int) -> Order:
    yes = price_cc if side == "yes" else 10_000 - price_cc
    return Order(order_id=oid, client_order_id=cid, ticker=ticker, side=side, action="buy", status="executed",
                 yes_price_cc=yes, no_price_cc=10_000 - yes, fill_count=count, remaining_count=0,
                 initial_count=count)


def fill(fid: str, oid: str, ticker: str, side: str, count: int, price_cc: int, ts: datetime) -> Fill:
    yes = price_cc if side == "yes" else 10_000 - price_cc
    return Fill(fill_id=fid, order_id=oid, ticker=ticker, side=side, action="buy", count=count,
                yes_price_cc=yes, no_price_cc=10_000 - yes, is_taker=True, fee_cc=100, ts=ts,
                book_side="bid" if side == "yes" else "ask")


def intent(cid: str, ticker: str, side: str, count: int, price_cc: int) -> OrderIntent:
    return OrderIntent(client_order_id=cid, ts=at(0), strategy="kelly_volatility", ticker=ticker, side=side,
                       action="buy", price_cc=price_cc, count=count, tif="immediate_or_cancel")


async def recovered_order_behind_the_last_fill(journal: Journal, gap_s: float) -> FakeExchange:
    """Order W (booked, fill at ``at(10)``) and order X, in flight when the daemon died, filled
    ``gap_s`` seconds before W's fill: X's decision is in the journal as it is after a replay of the
    intent log (``in_flight``, no fill)."""
    w_order, x_order = order("oid-w", "cid-w", OTHER, "yes", 5, 4000), order("oid-x", "cid-x", TICKER, "no", 21, 5500)
    w_fill = fill("fill-w", "oid-w", OTHER, "yes", 5, 4000, at(10))
    x_fill = fill("fill-x", "oid-x", TICKER, "no", 21, 5500, at(10 - gap_s))
    await journal.record_intent(intent("cid-w", OTHER, "yes", 5, 4000))
    await journal.apply_order_update(OrderUpdate(state="executed", ts=at(10), filled=5, remaining=0, fees_cc=100,
                                                 client_order_id="cid-w", order_id="oid-w"))
    await journal.record_fill(journal_fill(w_fill, ts=at(10), strategy="kelly_volatility"))
    await journal.record_intent(intent("cid-x", TICKER, "no", 21, 5500))
    await journal.mark_in_flight("cid-x", at(9))
    return FakeExchange([w_order, x_order], [w_fill, x_fill], {OTHER: 5, TICKER: -21})


@pytest.mark.parametrize("gap_s", [0.3, 1.5, 600.0])
async def test_a_recovered_orders_fill_older_than_the_last_booked_one_is_booked_once(
        tmp_path: Path, gap_s: float) -> None:
    async with open_journal(tmp_path / "j.sqlite3", "sim", inline=True) as journal:
        exchange = await recovered_order_behind_the_last_fill(journal, gap_s)
        _, _, summary = await reconcile(exchange, journal, at(700))  # type: ignore[arg-type]
        booked = [f for f in await journal.all_fills() if f.order_id == "oid-x"]
        assert [(f.fill_id, f.side.value, f.count, f.strategy, f.client_order_id) for f in booked] == [
            ("fill-x", "no", 21, "kelly_volatility", "cid-x")]
        assert summary["positions"] == {OTHER: (5, 0), TICKER: (0, 21)}
        assert summary["fills_booked"] == 1
        x = await journal.get_order_by_client_id("cid-x")
        assert x is not None and x.state.value == "executed"


async def test_a_second_start_books_nothing_again(tmp_path: Path) -> None:
    async with open_journal(tmp_path / "j.sqlite3", "sim", inline=True) as journal:
        exchange = await recovered_order_behind_the_last_fill(journal, 600.0)
        await reconcile(exchange, journal, at(700))  # type: ignore[arg-type]
    async with open_journal(tmp_path / "j.sqlite3", "sim", inline=True) as journal:
        exchange.fill_reads.clear()
        _, _, summary = await reconcile(exchange, journal, at(800))  # type: ignore[arg-type]
        assert summary["fills_booked"] == 0
        assert sorted(f.fill_id for f in await journal.all_fills()) == ["fill-w", "fill-x"]
        assert summary["positions"] == {OTHER: (5, 0), TICKER: (0, 21)}


async def test_an_unbooked_fill_is_named_when_positions_still_differ(tmp_path: Path) -> None:
    """A fill no step can attribute (here: of an order the journal never resolves) is named in the
    error with its order and time, so the operator sees what the exchange holds that the journal lacks."""
    async with open_journal(tmp_path / "j.sqlite3", "sim", inline=True) as journal:
        exchange = await recovered_order_behind_the_last_fill(journal, 600.0)
        exchange.orders = [o for o in exchange.orders if o.order_id != "oid-x"]  # not found by client id
        with pytest.raises(ReconciliationError) as err:
            await reconcile(exchange, journal, at(700))  # type: ignore[arg-type]
        text = str(err.value)
        assert f"{TICKER}: journal says +0 (YES − NO), exchange says -21" in text
        assert "fill-x" in text and "oid-x" in text and at(-590).isoformat() in text


async def test_a_recovered_order_in_a_market_settled_before_the_restart_is_booked_before_its_settlement(
        tmp_path: Path) -> None:
    """The market settled while the daemon was down: the exchange position is gone, so no position
    check could notice the missing fill; it is booked first and the settlement matches the journal."""
    async with open_journal(tmp_path / "j.sqlite3", "sim", inline=True) as journal:
        exchange = await recovered_order_behind_the_last_fill(journal, 600.0)
        exchange.positions = {OTHER: 5}
        exchange.settlements = [Settlement(
            ticker=TICKER, event_ticker="KXSOL15M-26JUL081900", market_result="no", yes_count=0, no_count=21,
            yes_total_cost_cc=0, no_total_cost_cc=21 * 5500, revenue_cc=21 * 10_000, fee_cc=0,
            settled_time=at(300))]
        _, _, summary = await reconcile(exchange, journal, at(700))  # type: ignore[arg-type]
        assert [f.fill_id for f in await journal.all_fills(ticker=TICKER)] == ["fill-x"]
        assert summary["settlements_booked"] == 1
        assert summary["settlement_mismatches"] == []
        assert TICKER not in summary["positions"]  # type: ignore[operator]


async def test_an_acknowledged_order_whose_fill_was_never_booked_is_booked_from_its_market(tmp_path: Path) -> None:
    """The answer (executed, 21 filled) was journaled, the feed's fill was still to come when the
    daemon died, and a later fill of another order was booked: the order is neither in flight nor open,
    and its fill is older than the catch-up's bound; the journal's ``filled`` count finds it."""
    async with open_journal(tmp_path / "j.sqlite3", "sim", inline=True) as journal:
        exchange = await recovered_order_behind_the_last_fill(journal, 600.0)
        await journal.apply_order_update(OrderUpdate(state="executed", ts=at(9), filled=21, remaining=0,
                                                     fees_cc=100, client_order_id="cid-x", order_id="oid-x"))
        assert await journal.unacknowledged_intents() == [] and await journal.live_orders() == []
        _, _, summary = await reconcile(exchange, journal, at(700))  # type: ignore[arg-type]
        booked = [f for f in await journal.all_fills() if f.order_id == "oid-x"]
        assert [(f.fill_id, f.count, f.strategy) for f in booked] == [("fill-x", 21, "kelly_volatility")]
        assert summary["positions"] == {OTHER: (5, 0), TICKER: (0, 21)}


async def test_orders_given_up_as_never_sent_that_the_exchange_has_are_taken_back_at_start(tmp_path: Path) -> None:
    """Two orders were given up before the restart (not found by client_order_id); the exchange has both:
    G executed (its fill in the catch-up), R resting partly filled. Both are taken back with the
    exchange's state, R is live again, and a rejection by the exchange itself is left alone."""
    g_order = order("oid-g", "cid-g", TICKER, "yes", 4, 4000)
    r_order = attrs.evolve(order("oid-r", "cid-r", OTHER, "yes", 5, 3000), status="resting", fill_count=2,
                           remaining_count=3)
    fills = [fill("fill-g", "oid-g", TICKER, "yes", 4, 4000, at(5)),
             fill("fill-r", "oid-r", OTHER, "yes", 2, 3000, at(6))]
    exchange = FakeExchange([g_order, r_order], fills, {TICKER: 4, OTHER: 2})
    async with open_journal(tmp_path / "j.sqlite3", "sim", inline=True) as journal:
        for cid, ticker, count, price_cc, gives_up in (("cid-g", TICKER, 4, 4000, True),
                                                       ("cid-r", OTHER, 5, 3000, True),
                                                       ("cid-x", TICKER, 1, 4000, False)):
            await journal.record_intent(intent(cid, ticker, "yes", count, price_cc))
            await journal.apply_order_update(OrderUpdate(
                state="rejected", ts=at(3), filled=0, remaining=0, fees_cc=0, client_order_id=cid,
                source="resolve" if gives_up else "exchange", gives_up=gives_up,
                detail="not found by client_order_id for 60s" if gives_up else "BadRequest: market closed"))
        _, open_orders, summary = await reconcile(exchange, journal, at(700))  # type: ignore[arg-type]
        assert summary["orders_taken_back"] == 2
        g, r, x = [await journal.get_order_by_client_id(c) for c in ("cid-g", "cid-r", "cid-x")]
        assert g is not None and (g.state.value, g.order_id, g.filled, g.given_up) == ("executed", "oid-g", 4, False)
        assert r is not None and (r.state.value, r.filled, r.remaining) == ("partially_filled", 2, 3)
        assert x is not None and x.state.value == "rejected"
        assert list(open_orders) == ["cid-r"] and open_orders["cid-r"].remaining == 3
        assert {f.fill_id: f.strategy for f in await journal.all_fills()} == {
            "fill-g": "kelly_volatility", "fill-r": "kelly_volatility"}
