"""What the exchange says about our orders, fills and settlements when it says it late, twice, out of
order or not at all: each order, fill and position stays right in the journal and in risk's portfolio,
and the stage that hears it keeps running."""

from __future__ import annotations

from typing import Any

import trio

from kalshid.exchange.errors import RateLimited
from kalshid.exchange.types import Fill, Order
from kalshid.store import Journal, records
from kalshid.trading.bookkeeping import Bookkeeper
from kalshid.trading.exchangeclock import ExchangeClock
from tests.trading.stagekit import NOW, TICKER, pipeline

STRATEGY = "kelly_volatility"


class UnreadableOrders:
    """An exchange whose order reads fail (an incident: every read answers 429)."""

    def __init__(self) -> None:
        self.order_reads: list[str] = []

    async def get_order(self, order_id: str) -> Order:
        self.order_reads.append(order_id)
        raise RateLimited("429 too many requests")


def keeper_for(journal: Journal, exchange: object) -> tuple[Bookkeeper, Any, trio.MemoryReceiveChannel[Any]]:
    p = pipeline(journal)
    p.exchange = exchange  # type: ignore[assignment]  # duck-typed: only what the test reaches
    clock = ExchangeClock()
    clock.observe(NOW, trio.current_time())
    risk_send, risk_recv = trio.open_memory_channel[Any](100)
    return Bookkeeper(p, clock, in_flight_give_up_s=60.0), risk_send, risk_recv


async def journal_order(journal: Journal, cid: str, order_id: str, action: str) -> None:
    """An order of ours the exchange acknowledged (its order_id journaled), then finished."""
    await journal.record_intent(records.OrderIntent(
        client_order_id=cid, ts=NOW, strategy=STRATEGY, ticker=TICKER, side="yes", action=action, price_cc=5000,
        count=3, tif="immediate_or_cancel"))
    await journal.apply_order_update(records.OrderUpdate(
        state=records.OrderState.EXECUTED, ts=NOW, filled=3, remaining=0, fees_cc=0, client_order_id=cid,
        order_id=order_id, source="create"))


def rest_fill(fill_id: str, order_id: str, book_side: str) -> Fill:
    """A fill as ``GET /portfolio/fills`` gives it: no client_order_id, direction by book side only."""
    side, action = ("yes", "buy") if book_side == "bid" else ("no", "buy")
    return Fill(fill_id=fill_id, order_id=order_id, ticker=TICKER, side=side, action=action, count=3,
                yes_price_cc=5000, no_price_cc=5000, is_taker=True, fee_cc=0, ts=NOW, book_side=book_side)


async def test_a_fill_of_our_order_is_ours_even_when_the_exchange_cannot_say_whose_it_is(journal: Journal) -> None:
    """After a restart nothing is remembered, and the fill catch-up brings a fill of an order of ours
    while the exchange answers every order read with 429: the journal knows the order by its
    order_id, so the fill is booked as the strategy's sell, not as an external purchase of NO."""
    await journal_order(journal, "b" * 32, "o-buy", "buy")
    await journal_order(journal, "s" * 32, "o-sell", "sell")
    exchange = UnreadableOrders()
    keeper, risk, booked = keeper_for(journal, exchange)
    await keeper.book_fill(rest_fill("f-buy", "o-buy", "bid"), risk, source="rest")
    await keeper.book_fill(rest_fill("f-sell", "o-sell", "ask"), risk, source="rest")
    fills = {f.fill_id: f for f in await journal.all_fills()}
    assert {k: (f.strategy, f.side.value, f.action.value, f.client_order_id) for k, f in fills.items()} == {
        "f-buy": (STRATEGY, "yes", "buy", "b" * 32), "f-sell": (STRATEGY, "yes", "sell", "s" * 32)}
    assert keeper.p.orders.holdings[(STRATEGY, TICKER, "yes")] == 0  # bought 3, sold 3: the strategy holds none
    assert [booked.receive_nowait().strategy for _ in range(2)] == [STRATEGY, STRATEGY]
    assert exchange.order_reads == []  # the journal answered: no read spent on it
