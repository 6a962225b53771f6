"""What the exchange says about our orders, fills and settlements when it says it late, twice, out of
order or not at all: each order, fill and position stays right in the journal and in risk's portfolio,
and the stage that hears it keeps running."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import attrs
import trio
from structlog.testing import capture_logs

from kalshid.core.portfolio import Fill as PortfolioFill
from kalshid.core.portfolio import Portfolio
from kalshid.core.vocab import Action, Side
from kalshid.exchange.base import FillReceived, MarketLifecycle, OrderUpdated, PositionUpdated
from kalshid.exchange.errors import RateLimited, ServerError
from kalshid.exchange.types import Fill, Order, Settlement
from kalshid.store import Journal, records
from kalshid.trading.bookkeeping import Bookkeeper
from kalshid.trading.exchangeclock import ExchangeClock
from kalshid.trading.execution import ExecutionSettings, ExecutionStage
from kalshid.trading.messages import (
    FillBooked,
    LiveOrder,
    ResetBreaker,
    SettlementBooked,
    ShutdownRequested,
    ask,
)
from kalshid.trading.reconcile import rebuild_portfolio
from tests.trading.stagekit import NOW, TICKER, pipeline, risk_stage, yes_settlement

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


async def test_a_fill_and_a_settlement_before_any_market_data_are_booked_and_risk_keeps_running(
        journal: Journal) -> None:
    """Just after a start the feed's fill and the catch-up's settlement can come in before the
    strategy stage has folded any market data (no exchange time of its own yet): risk dates them by
    their own exchange time and books them; an operator's breaker reset then is refused, said why."""
    p = pipeline(journal)
    p.snapshots.strategy = attrs.evolve(p.snapshots.strategy, data_time=None)
    stage = risk_stage(p)
    inbox_send, inbox = trio.open_memory_channel[Any](10)
    orders, _orders_recv = trio.open_memory_channel[Any](10)
    fill = Fill(fill_id="f-early", order_id="o-early", ticker=TICKER, side="yes", action="buy", count=5,
                yes_price_cc=4000, no_price_cc=6000, is_taker=True, fee_cc=100, ts=NOW)
    settlement = yes_settlement(TICKER, "yes", 5, 20_000, NOW + timedelta(minutes=11))
    reset = ResetBreaker("operator")
    with trio.fail_after(5):
        async with trio.open_nursery() as nursery:
            nursery.start_soon(stage.run, inbox, orders)
            await inbox_send.send(FillBooked(fill, STRATEGY))
            await ask(inbox_send, reset, stage="risk")  # answered: the fill before it did not end the stage
            assert p.state.portfolio.position(TICKER).yes_count == 5
            await inbox_send.send(SettlementBooked(settlement))
            await inbox_send.aclose()
    assert reset.refused is not None and "no market data" in reset.refused
    portfolio = p.state.portfolio
    assert portfolio.positions == {}
    assert portfolio.cash_cc == 10_000_000 - 20_000 - 100 + 50_000


async def test_a_fill_or_settlement_without_a_time_reaches_risk_dated_by_the_exchange_clock(
        journal: Journal) -> None:
    """The exchange left the time out: what risk gets carries the time the journal booked it at."""
    await journal_order(journal, "t" * 32, "o-t", "buy")
    settlement = yes_settlement(TICKER, "no", 3, 15_000, None)

    class Answers(UnreadableOrders):
        async def list_fills(self, **_: object) -> list[Fill]:
            return []

        async def list_settlements(self, **_: object) -> list[Settlement]:
            return [settlement]

    keeper, risk, booked = keeper_for(journal, Answers())
    await keeper.book_fill(attrs.evolve(rest_fill("f-t", "o-t", "bid"), ts=None), risk, source="feed")
    await keeper.poll_settlements(risk)
    fill_item, settlement_item = booked.receive_nowait(), booked.receive_nowait()
    [journaled] = await journal.all_fills()
    assert fill_item.fill.ts is not None and fill_item.fill.ts == journaled.ts
    [settled] = await journal.settlements()
    assert settlement_item.settlement.settled_time == settled.settlement.settled_ts


async def test_a_sale_reported_after_its_markets_settlement_leaves_risk_with_the_exchanges_cash(
        journal: Journal) -> None:
    """Ten YES held; five were sold before the window closed, but that fill reaches risk only after
    the market's settlement (the settlement's fill check could not read the exchange's fills). Risk
    paid ten at settlement: the late sale takes back what five of them were paid and books what they
    were sold for, so cash and realised P&L are what they would have been in the right order."""
    bought = PortfolioFill(TICKER, Side.YES, Action.BUY, 10, 5000, 200, NOW)
    sold = PortfolioFill(TICKER, Side.YES, Action.SELL, 5, 6000, 100, NOW)
    start = Portfolio(10_000_000).apply_fill(bought)
    in_order = start.apply_fill(sold).settle(TICKER, Side.YES)
    p = pipeline(journal)
    p.state.portfolio = start
    stage = risk_stage(p)
    orders, _orders_recv = trio.open_memory_channel[Any](10)
    settlement = yes_settlement(TICKER, "yes", 5, 25_000, NOW)
    await stage._on_settlement(SettlementBooked(settlement), orders)
    late = Fill(fill_id="f-sold", order_id="o-sold", ticker=TICKER, side="yes", action="sell", count=5,
                yes_price_cc=6000, no_price_cc=4000, is_taker=True, fee_cc=100, ts=NOW)
    await stage._on_fill(FillBooked(late, STRATEGY), orders)
    portfolio = p.state.portfolio
    assert portfolio.positions == {}
    assert (portfolio.cash_cc, portfolio.realized_pnl_cc, portfolio.fees_paid_cc) == (
        in_order.cash_cc, in_order.realized_pnl_cc, in_order.fees_paid_cc)
    assert portfolio.cash_cc == 10_000_000 - 50_000 - 200 + 30_000 - 100 + 50_000


def exchange_order(cid: str, order_id: str, status: str, filled: int, remaining: int) -> Order:
    return Order(order_id=order_id, client_order_id=cid, ticker=TICKER, side="yes", action="buy", status=status,
                 yes_price_cc=5000, no_price_cc=5000, fill_count=filled, remaining_count=remaining,
                 initial_count=3)


async def test_an_order_state_moving_backward_or_contradicting_the_final_one_changes_nothing(
        journal: Journal) -> None:
    """The feed reports the order executed (3 filled); then the create's answer arrives, older (resting,
    nothing filled), then a message saying it was canceled: the journal keeps 'executed, 3 filled', each
    contradiction is kept in the order's events, and the order stays finished, its strategy free."""
    cid = "e" * 32
    await journal.record_intent(records.OrderIntent(
        client_order_id=cid, ts=NOW, strategy=STRATEGY, ticker=TICKER, side="yes", action="buy", price_cc=5000,
        count=3, tif="immediate_or_cancel"))
    keeper, risk, _booked = keeper_for(journal, UnreadableOrders())
    keeper.p.orders.reserve(LiveOrder(cid, STRATEGY, TICKER, Side.YES, Action.BUY, 5000, 3))
    await keeper.book_fill(attrs.evolve(rest_fill("f-e", "o-e", "bid"), client_order_id=cid), risk, source="feed")
    await keeper.on_order(exchange_order(cid, "o-e", "executed", 3, 0), risk, source="feed")
    assert cid not in keeper.p.orders and not keeper.p.orders.is_busy(STRATEGY, TICKER)
    await keeper.on_order(exchange_order(cid, "o-e", "resting", 0, 3), risk, source="create")
    await keeper.on_order(exchange_order(cid, "o-e", "canceled", 3, 0), risk, source="feed")
    record = await journal.get_order_by_client_id(cid)
    assert record is not None and (record.state.value, record.filled, record.remaining) == ("executed", 3, 0)
    kinds = [e.event for e in await journal.order_events(cid)]
    assert "stale_update" in kinds and "illegal_update" in kinds
    assert len(keeper.p.orders) == 0 and not keeper.p.orders.is_busy(STRATEGY, TICKER)
    assert keeper.p.orders.holdings[(STRATEGY, TICKER, "yes")] == 3


async def test_a_fill_of_an_order_placed_elsewhere_is_booked_once_by_its_book_side_for_no_strategy(
        journal: Journal) -> None:
    """A fill whose order the journal does not know (placed by hand): the exchange names its order's
    client_order_id, which is not ours; it is booked as a purchase of its outcome side, for no strategy,
    and the same fill seen again (the catch-up after the feed) is booked once."""

    class ManualOrders(UnreadableOrders):
        async def get_order(self, order_id: str) -> Order:
            self.order_reads.append(order_id)
            return attrs.evolve(exchange_order("by-hand-1", order_id, "executed", 3, 0), side="no", book_side="ask")

    exchange = ManualOrders()
    keeper, risk, booked = keeper_for(journal, exchange)
    fill = rest_fill("f-hand", "o-hand", "ask")
    await keeper.book_fill(fill, risk, source="feed")
    await keeper.book_fill(fill, risk, source="rest")
    keeper.p.orders = type(keeper.p.orders)()  # a restart: nothing remembered, the journal decides
    await keeper.book_fill(fill, risk, source="rest")
    [journaled] = await journal.all_fills()
    assert (journaled.strategy, journaled.side.value, journaled.action.value, journaled.count) == (None, "no", "buy", 3)
    item = booked.receive_nowait()
    assert item.strategy is None and (item.fill.side, item.fill.action) == ("no", "buy")
    assert booked.statistics().current_buffer_used == 0  # risk heard of it once
    assert exchange.order_reads == ["o-hand"]  # asked once, then remembered


async def test_fills_beyond_their_order_are_booked_as_reported_and_said_loudly(journal: Journal) -> None:
    """Fills booked for one of our orders beyond what it was for, or beyond what its final state says it
    filled (a fill counted twice under two trade ids, or the exchange contradicting the order, or a
    rejection kalshid concluded when the order could not be found): all are booked, as the account's
    fills must be, and an error line and an alert name the order; fills within it say nothing."""
    await journal_order(journal, "v" * 32, "o-v", "buy")  # for 3, executed with 3 filled
    await journal.record_intent(records.OrderIntent(
        client_order_id="r" * 32, ts=NOW, strategy=STRATEGY, ticker=TICKER, side="yes", action="buy",
        price_cc=5000, count=3, tif="immediate_or_cancel"))
    await journal.apply_order_update(records.OrderUpdate(  # the in-flight lookup gave up on it
        state=records.OrderState.REJECTED, ts=NOW, filled=0, remaining=0, fees_cc=0, client_order_id="r" * 32,
        source="resolve", gives_up=True, detail="not found by client_order_id for 60s"))
    alerts: list[dict[str, Any]] = []
    exchange = UnreadableOrders()  # the given-up order cannot be read back: it stays rejected
    keeper, risk, _booked = keeper_for(journal, exchange)
    keeper.p.publish = lambda kind, data: alerts.append(data) if kind == "alert" else None
    with capture_logs() as logs:
        await keeper.book_fill(attrs.evolve(rest_fill("f-v1", "o-v", "bid"), count=2), risk, source="feed")
        await keeper.book_fill(attrs.evolve(rest_fill("f-v1", "o-v", "bid"), count=2), risk, source="rest")
        assert alerts == [] and not [e for e in logs if e["log_level"] == "error"]
        await keeper.book_fill(attrs.evolve(rest_fill("f-v2", "o-v", "bid"), count=2), risk, source="feed")
        late = attrs.evolve(rest_fill("f-r", "o-r", "bid"), count=1, client_order_id="r" * 32)
        await keeper.book_fill(late, risk, source="feed")
    lines = [e for e in logs if e["log_level"] == "error"]
    assert [(e["order_id"], e["state"], e["filled"], e["booked"]) for e in lines] == [
        ("o-v", "executed", 3, 4), ("o-r", "rejected", 0, 1)]
    assert all(e["event"].startswith("fills exceed their order") for e in lines)
    assert [a["kind"] for a in alerts] == ["fills_exceed_order"] * 2
    assert "rejected, 0 filled" in alerts[1]["detail"]
    assert sum(f.count for f in await journal.all_fills()) == 5
    assert {f.fill_id: f.strategy for f in await journal.all_fills()}["f-r"] == STRATEGY
    assert exchange.order_reads == ["o-r"]


async def test_messages_about_markets_and_orders_not_followed_leave_the_execution_stage_running(
        journal: Journal) -> None:
    """Lifecycle and position messages for a market nobody follows, a final update of an order placed
    elsewhere (not adopted: nothing rests) and an unknown lifecycle event pass through the execution
    stage; a fill of ours behind them is booked, and the stage stops when asked."""
    other = "KXBTCD-26JUL0819-T100000"

    class Quiet(UnreadableOrders):
        async def list_fills(self, **_: object) -> list[Fill]:
            return []

        async def list_settlements(self, **_: object) -> list[Settlement]:
            return []

        async def resolve_in_flight(self, client_order_id: str, *, ticker: str) -> Order | None:
            return None

    await journal_order(journal, "w" * 32, "o-w", "buy")
    p = pipeline(journal)
    p.exchange = Quiet()  # type: ignore[assignment]
    clock = ExchangeClock()
    clock.observe(NOW, trio.current_time())
    stage = ExecutionStage(p, clock, ExecutionSettings(cancel_on_shutdown=False))
    inbox_send, inbox = trio.open_memory_channel[Any](10)
    risk_send, risk = trio.open_memory_channel[Any](100)
    elsewhere = attrs.evolve(exchange_order("", "o-elsewhere", "canceled", 0, 0), ticker=other)
    with trio.fail_after(5):
        async with trio.open_nursery() as nursery:
            nursery.start_soon(stage.run, inbox, risk_send)
            for event in (MarketLifecycle(other, "settled", 0.0, result="yes"),
                          MarketLifecycle(TICKER, "brand_new_event", 0.0),
                          PositionUpdated(other, -7, None, None, None, None, 0.0),
                          OrderUpdated(elsewhere, 0.0),
                          FillReceived(rest_fill("f-w", "o-w", "bid"), 0.0)):
                await inbox_send.send(event)
            await inbox_send.send(ShutdownRequested())
    [journaled] = await journal.all_fills()
    assert (journaled.fill_id, journaled.strategy) == ("f-w", STRATEGY)
    assert len(p.orders) == 0 and not (await journal.list_orders(external=True)).items
    assert [type(item) for item in drain(risk)].count(FillBooked) == 1


def drain(channel: trio.MemoryReceiveChannel[Any]) -> list[Any]:
    out = []
    while True:
        try:
            out.append(channel.receive_nowait())
        except (trio.WouldBlock, trio.EndOfChannel):
            return out


async def test_a_fill_reported_after_a_settlement_risk_never_heard_of_is_settled_with_it(journal: Journal) -> None:
    """After a restart risk's portfolio is rebuilt from the journal, which has the market's settlement;
    a fill of that market the exchange reports only now is settled as it is booked, leaving no open
    position in a market that is over (one would hold a position slot and its worst case for good)."""
    await journal_order(journal, "x" * 32, "o-x", "buy")
    await journal.record_settlement(records.Settlement(
        ticker=TICKER, result=records.SettlementResult.YES, revenue_cc=0, yes_count=0, no_count=0,
        settled_ts=NOW + timedelta(minutes=11), fee_cc=0))
    keeper, risk, booked = keeper_for(journal, UnreadableOrders())
    await keeper.book_fill(attrs.evolve(rest_fill("f-x", "o-x", "bid"), fee_cc=100), risk, source="rest")
    item = booked.receive_nowait()
    assert item.settled is Side.YES
    assert keeper.p.orders.holdings.get((STRATEGY, TICKER, "yes"), 0) == 0  # the market is over
    p = pipeline(journal)
    stage = risk_stage(p)
    orders, _orders_recv = trio.open_memory_channel[Any](10)
    await stage._on_fill(item, orders)
    assert p.state.portfolio.positions == {}
    assert p.state.portfolio.cash_cc == 10_000_000 - 15_000 - 100 + 30_000


async def test_a_sale_the_settlement_check_could_not_read_is_booked_later_and_everything_agrees(
        journal: Journal) -> None:
    """Ten YES bought; five sold before the close. At settlement the exchange's fills cannot be read
    (503), so the settlement is booked without the sale (a mismatch, alerted); the next catch-up brings
    the sale. Risk's portfolio then equals the journal's replay and the exchange's money: ten bought at
    50¢, five sold at 60¢, five paid $1."""
    await journal_order(journal, "b" * 32, "o-buy", "buy")
    await journal_order(journal, "s" * 32, "o-sell", "sell")
    bought = attrs.evolve(rest_fill("f-buy", "o-buy", "bid"), count=10, fee_cc=200)
    sold = attrs.evolve(rest_fill("f-sell", "o-sell", "ask"), count=5, yes_price_cc=6000, no_price_cc=4000,
                        fee_cc=100, ts=NOW + timedelta(minutes=5))
    settlement = yes_settlement(TICKER, "yes", 5, 25_000, NOW + timedelta(minutes=11))

    class LateSale(UnreadableOrders):
        readable = False

        async def list_fills(self, **_: object) -> list[Fill]:
            if not self.readable:
                raise ServerError("503 upstream down", status=503)
            return [bought, sold]

        async def list_settlements(self, **_: object) -> list[Settlement]:
            return [settlement]

    exchange = LateSale()
    keeper, risk_send, booked = keeper_for(journal, exchange)
    p = keeper.p
    stage = risk_stage(p)
    orders, _orders_recv = trio.open_memory_channel[Any](10)

    async def to_risk() -> None:
        for item in drain(booked):
            if isinstance(item, FillBooked):
                await stage._on_fill(item, orders)
            elif isinstance(item, SettlementBooked):
                await stage._on_settlement(item, orders)

    await keeper.book_fill(bought, risk_send, source="feed")
    await to_risk()
    await keeper.poll_settlements(risk_send)  # the settlement's fill check: 503, checked without them
    await to_risk()
    [record] = await journal.settlements()
    assert record.check is records.JournalCheck.MISMATCH
    exchange.readable = True
    await keeper.poll_fills(risk_send)  # the catch-up brings the sale
    await to_risk()
    portfolio = p.state.portfolio
    replayed = await rebuild_portfolio(journal)
    assert portfolio.positions == {} and replayed.positions == {} and await journal.positions() == []
    money = -10 * 5000 - 200 + 5 * 6000 - 100 + 5 * 10_000
    assert (portfolio.cash_cc - 10_000_000, replayed.cash_cc) == (money, money)
    assert portfolio.realized_pnl_cc == replayed.realized_pnl_cc == money
