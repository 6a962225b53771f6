"""An order whose create answer was lost, not found by its client_order_id for ``in_flight_give_up_s``
and given up as never sent, that the exchange reports later after all (Kalshi's reads can lag): it is
taken back. It rejoins the book while it rests, so risk counts it and cancels reach it; its fills
count towards it; an alert says so. A rejection by the exchange itself stays final."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any

import attrs
import trio
from cryptography.hazmat.primitives.asymmetric import rsa
from structlog.testing import capture_logs

from kalshid.core.risk import RestingOrder
from kalshid.core.vocab import Action, Side
from kalshid.exchange.kalshi import auth
from kalshid.exchange.kalshi.discovery import find_open_market
from kalshid.exchange.kalshi.rest import KalshiRest
from kalshid.exchange.types import CancelResult, Order, OrderRequest
from kalshid.sim.server import SimHandle, SimSettings, serve_simulator
from kalshid.store import Journal, records
from kalshid.trading.messages import LiveOrder, OrdersChanged
from tests.trading.stagekit import NOW, TICKER
from tests.trading.test_exchange_contradictions import STRATEGY, exchange_order, keeper_for, rest_fill

CID = "g" * 32


class LaggingExchange:
    """An exchange whose by-client-id lookups do not find the order (a lagging read), that reads
    orders by id and cancels them."""

    def __init__(self, order: Order | None = None) -> None:
        self.order = order
        self.lookups = 0
        self.cancelled: list[str] = []

    async def resolve_in_flight(self, client_order_id: str, *, ticker: str) -> Order | None:
        self.lookups += 1
        return None

    async def get_order(self, order_id: str) -> Order | None:
        return self.order

    async def cancel_order(self, order_id: str, *, ticker: str | None = None) -> CancelResult:
        self.cancelled.append(order_id)
        assert self.order is not None
        canceled = attrs.evolve(self.order, status="canceled", remaining_count=0)
        return CancelResult(order_id, self.order.remaining_count, canceled)


async def given_up(journal: Journal, exchange: LaggingExchange) -> tuple[Any, Any, Any, list[dict[str, Any]]]:
    """A keeper whose order ``CID`` (3 YES at 50c) lost its create answer and was given up."""
    await journal.record_intent(records.OrderIntent(
        client_order_id=CID, ts=NOW, strategy=STRATEGY, ticker=TICKER, side="yes", action="buy", price_cc=5000,
        count=3, tif="good_till_canceled"))
    await journal.mark_in_flight(CID, NOW)
    keeper, risk, risk_recv = keeper_for(journal, exchange)
    alerts: list[dict[str, Any]] = []
    keeper.p.publish = lambda kind, data: alerts.append(data) if kind == "alert" else None
    orders = keeper.p.orders
    orders.sending(LiveOrder(CID, STRATEGY, TICKER, Side.YES, Action.BUY, 5000, 3))
    orders.lost_answer(CID, trio.current_time() - keeper.in_flight_give_up_s)
    await keeper.resolve_in_flight(risk)
    assert exchange.lookups == 1 and CID not in orders and not orders.is_busy(STRATEGY, TICKER)
    record = await journal.get_order_by_client_id(CID)
    assert record is not None and record.state is records.OrderState.REJECTED and record.given_up
    return keeper, risk, risk_recv, alerts


async def test_a_given_up_order_the_feed_reports_resting_rejoins_the_book_and_is_cancelled(
        journal: Journal) -> None:
    """The feed's ``user_order`` then says the order rests, 1 of 3 filled: the journal has it partially
    filled, risk counts its 2 left, the strategy is busy in its market, the operator is told, and the
    window-close cancel reaches it."""
    exchange = LaggingExchange(exchange_order(CID, "o-g", "resting", 1, 2))
    keeper, risk, risk_recv, alerts = await given_up(journal, exchange)
    while True:  # what the give-up told risk
        try:
            risk_recv.receive_nowait()
        except trio.WouldBlock:
            break
    assert exchange.order is not None
    await keeper.on_order(exchange.order, risk, source="feed")
    record = await journal.get_order_by_client_id(CID)
    assert record is not None
    assert (record.state, record.order_id, record.filled, record.remaining, record.given_up) == (
        records.OrderState.PARTIALLY_FILLED, "o-g", 1, 2, False)
    assert (await journal.order_events(CID))[-1].event == "taken_back"
    orders = keeper.p.orders
    live = orders.get(CID)
    assert live is not None and (live.order_id, live.remaining, live.phase.value) == ("o-g", 2, "partially_filled")
    assert orders.resting_for_risk() == [RestingOrder(TICKER, Side.YES, Action.BUY, 2, 5000)]
    assert orders.is_busy(STRATEGY, TICKER) and orders.unknown() == []
    assert isinstance(risk_recv.receive_nowait(), OrdersChanged)
    assert [(a["kind"], a["client_order_id"], a["order_id"]) for a in alerts] == [("order_taken_back", CID, "o-g")]
    assert "reported by the exchange after all (feed): resting, 1 filled, 2 left" in alerts[0]["detail"]
    # its fill counts towards it: no alert that fills exceed the order
    await keeper.book_fill(attrs.evolve(rest_fill("f-g", "o-g", "bid"), count=1, client_order_id=CID), risk,
                           source="feed")
    assert [a["kind"] for a in alerts] == ["order_taken_back"]
    await keeper.cancel_market(TICKER, "window closing", risk)
    assert exchange.cancelled == ["o-g"]
    record = await journal.get_order_by_client_id(CID)
    assert record is not None and (record.state, record.filled) == (records.OrderState.CANCELED, 1)
    assert CID not in orders and not orders.is_busy(STRATEGY, TICKER)


async def test_a_fill_of_a_given_up_order_takes_it_back_with_the_exchanges_state(journal: Journal) -> None:
    """No order update comes; a fill of the given-up order does: the order is read, found executed (3
    filled), and taken back, so the journal has it executed and its fills count towards it."""
    exchange = LaggingExchange(exchange_order(CID, "o-g", "executed", 3, 0))
    keeper, risk, _risk_recv, alerts = await given_up(journal, exchange)
    with capture_logs() as logs:
        await keeper.book_fill(attrs.evolve(rest_fill("f-g", "o-g", "bid"), client_order_id=CID), risk,
                               source="feed")
    record = await journal.get_order_by_client_id(CID)
    assert record is not None
    assert (record.state, record.order_id, record.filled) == (records.OrderState.EXECUTED, "o-g", 3)
    assert [a["kind"] for a in alerts] == ["order_taken_back"]
    assert not [e for e in logs if e["log_level"] == "error"]
    orders = keeper.p.orders
    assert CID not in orders and not orders.is_busy(STRATEGY, TICKER) and orders.resting_for_risk() == []
    assert orders.holdings[(STRATEGY, TICKER, "yes")] == 3


async def test_an_order_the_exchange_rejected_stays_rejected_when_reported_later(journal: Journal) -> None:
    """The exchange refused the order (not a give-up): a later report of it contradicts the journal, is
    kept in the order's events, and the order stays out of the book, with no taken-back alert."""
    await journal.record_intent(records.OrderIntent(
        client_order_id=CID, ts=NOW, strategy=STRATEGY, ticker=TICKER, side="yes", action="buy", price_cc=5000,
        count=3, tif="good_till_canceled"))
    await journal.apply_order_update(records.OrderUpdate(
        state=records.OrderState.REJECTED, ts=NOW, filled=0, remaining=0, fees_cc=0, client_order_id=CID,
        source="exchange", detail="BadRequest: 400 insufficient balance"))
    keeper, risk, _risk_recv = keeper_for(journal, LaggingExchange())
    alerts: list[dict[str, Any]] = []
    keeper.p.publish = lambda kind, data: alerts.append(data) if kind == "alert" else None
    await keeper.on_order(exchange_order(CID, "o-g", "resting", 0, 3), risk, source="feed")
    record = await journal.get_order_by_client_id(CID)
    assert record is not None and record.state is records.OrderState.REJECTED
    assert (await journal.order_events(CID))[-1].event == "illegal_update"
    assert CID not in keeper.p.orders and alerts == []


class LaggingLookups:
    """The exchange client against the embedded simulator, except that its by-client-id lookup does not
    find the order (Kalshi's reads lag its writes)."""

    def __init__(self, rest: KalshiRest) -> None:
        self.rest = rest
        self.lookups = 0

    def __getattr__(self, name: str) -> Any:
        return getattr(self.rest, name)

    async def resolve_in_flight(self, client_order_id: str, *, ticker: str) -> Order | None:
        self.lookups += 1
        return None


async def test_against_the_simulator_a_lost_create_given_up_is_taken_back_by_its_fill_and_cancelled(
        journal: Journal, nursery: trio.Nursery, rsa_key: rsa.RSAPrivateKey) -> None:
    """A buy that takes the simulator's best YES ask level and rests the rest; its create answer is
    lost and the by-client-id lookups do not find it, so it is given up. The fill catch-up then brings
    its fills: the order is read, taken back partly filled, counted by risk, and the window-close
    cancel reaches it on the exchange."""
    # no simulated takers: what rests of the order stays resting until it is cancelled
    settings = SimSettings(keys=(("key-123", rsa_key.public_key()),), seed=3, takers=False,
                           balance_cc=100_000 * 10_000)
    with trio.fail_after(10):
        sim: SimHandle = await nursery.start(serve_simulator, settings)
    now = datetime.fromtimestamp(sim.venue.clock.now(), UTC)
    async with KalshiRest(sim.rest_base_url, auth.Signer("key-123", rsa_key)) as rest:
        with trio.fail_after(20):
            market = await find_open_market(rest, now)
            assert market is not None
            bids = (await rest.get_orderbook(market.ticker)).no
            assert bids, "the simulator's market has no NO bids (YES asks) to take"
            price_cc, count, cid = 10_000 - bids[-1][0], bids[-1][1] + 5, str(uuid.uuid4())
            await journal.record_intent(records.OrderIntent(
                client_order_id=cid, ts=NOW, strategy=STRATEGY, ticker=market.ticker, side="yes", action="buy",
                price_cc=price_cc, count=count, tif="good_till_canceled"))
            await journal.mark_in_flight(cid, NOW)
            exchange = LaggingLookups(rest)
            keeper, risk, _risk_recv = keeper_for(journal, exchange)
            alerts: list[dict[str, Any]] = []
            keeper.p.publish = lambda kind, data: alerts.append(data) if kind == "alert" else None
            orders = keeper.p.orders
            orders.sending(LiveOrder(cid, STRATEGY, market.ticker, Side.YES, Action.BUY, price_cc, count))
            placed = await rest.create_order(OrderRequest(market.ticker, "yes", "buy", count, price_cc, cid,
                                                          time_in_force="good_till_canceled"))
            assert placed.fill_count > 0 and placed.remaining_count > 0 and placed.status == "resting"
            orders.lost_answer(cid, trio.current_time() - keeper.in_flight_give_up_s)  # the answer never came
            await keeper.resolve_in_flight(risk)
            record = await journal.get_order_by_client_id(cid)
            assert exchange.lookups == 1 and record is not None and record.given_up and cid not in orders

            await keeper.poll_fills(risk)
            record = await journal.get_order_by_client_id(cid)
            assert record is not None
            assert (record.state, record.order_id, record.filled, record.remaining) == (
                records.OrderState.PARTIALLY_FILLED, placed.order_id, placed.fill_count, placed.remaining_count)
            assert sum(f.count for f in await journal.all_fills(ticker=market.ticker)) == placed.fill_count
            live = orders.get(cid)
            assert live is not None and live.remaining == placed.remaining_count
            assert [r.count for r in orders.resting_for_risk()] == [placed.remaining_count]
            assert [a["kind"] for a in alerts] == ["order_taken_back"]  # and no "fills exceed the order"

            await keeper.cancel_market(market.ticker, "window closing", risk)
            assert (await rest.get_order(placed.order_id)).status == "canceled"
            record = await journal.get_order_by_client_id(cid)
            assert record is not None and record.state is records.OrderState.CANCELED and cid not in orders
    sim.stop()
