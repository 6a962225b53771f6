"""An exchange report of an order kalshid gave up on (or has in flight) that names the exchange
``order_id`` but no ``client_order_id`` (Kalshi's ``user_order`` may leave it out or empty).

The journal never learned such an order's ``order_id`` (its create answer was lost), so the report
alone cannot say whose order it is. The order is read by ``order_id`` (``GET /portfolio/orders/{id}``
carries the ``client_order_id``): found ours, it is taken back as any report naming it would. If the
read cannot say either, the order is adopted as external (risk counts it, cancels reach it, nothing is
lost), and when an order of ours in that market has no ``order_id`` yet, the alert is an error that
names it: the operator is told the order may be kalshid's.
"""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import Any

import attrs
import pytest
import trio
from structlog.testing import capture_logs

from kalshid.config.schema import Config
from kalshid.core.vocab import Action, Side
from kalshid.exchange.errors import ExchangeError
from kalshid.exchange.types import Order
from kalshid.store import Journal, open_journal, records
from kalshid.store.records import OrderUpdate
from kalshid.trading.exchangeclock import ExchangeClock
from kalshid.trading.messages import LiveOrder
from kalshid.trading.reconcile import reconcile
from kalshid.trading.recovery import recover
from tests.trading.stagekit import TICKER, pipeline
from tests.trading.test_exchange_contradictions import STRATEGY, exchange_order, keeper_for
from tests.trading.test_given_up_orders import CID, LaggingExchange, given_up
from tests.trading.test_reconcile_recovered import OTHER, FakeExchange, at, fill, intent, order


def anonymous(o: Order) -> Order:
    """``o`` as a ``user_order`` message without a client_order_id gives it: the intent is read off the
    book side (a YES buy stays a YES buy)."""
    return attrs.evolve(o, client_order_id="")


async def test_a_report_without_client_order_id_is_read_by_order_id_and_taken_back(journal: Journal) -> None:
    exchange = LaggingExchange(exchange_order(CID, "o-g", "resting", 1, 2))  # the read names CID
    keeper, risk, _risk_recv, alerts = await given_up(journal, exchange)
    assert exchange.order is not None
    await keeper.on_order(anonymous(exchange.order), risk, source="feed")
    record = await journal.get_order_by_client_id(CID)
    assert record is not None
    assert (record.state, record.order_id, record.filled, record.remaining, record.given_up) == (
        records.OrderState.PARTIALLY_FILLED, "o-g", 1, 2, False)
    assert (await journal.order_events(CID))[-1].event == "taken_back"
    assert await journal.get_order_by_client_id("external:o-g") is None  # not someone else's
    assert (await journal.get_order_by_order_id("o-g")).client_order_id == CID  # type: ignore[union-attr]
    live = keeper.p.orders.get(CID)
    assert live is not None and (live.strategy, live.order_id, live.remaining) == (STRATEGY, "o-g", 2)
    assert keeper.p.orders.is_busy(STRATEGY, TICKER)
    assert [a["kind"] for a in alerts] == ["order_taken_back"]
    # the next report without client_order_id finds it by its order_id now, without another read
    exchange.order = None
    await keeper.on_order(anonymous(exchange_order(CID, "o-g", "canceled", 1, 0)), risk, source="feed")
    record = await journal.get_order_by_client_id(CID)
    assert record is not None and record.state is records.OrderState.CANCELED
    assert CID not in keeper.p.orders


async def test_an_order_in_flight_reported_without_client_order_id_is_ours_not_external(journal: Journal) -> None:
    """Not given up yet (its create answer lost a moment ago): the report, read by order_id, answers it."""
    await journal.record_intent(records.OrderIntent(
        client_order_id=CID, ts=at(0), strategy=STRATEGY, ticker=TICKER, side="yes", action="buy", price_cc=5000,
        count=3, tif="good_till_canceled"))
    await journal.mark_in_flight(CID, at(0))
    exchange = LaggingExchange(exchange_order(CID, "o-g", "resting", 0, 3))
    keeper, risk, _risk_recv = keeper_for(journal, exchange)
    orders = keeper.p.orders
    orders.sending(LiveOrder(CID, STRATEGY, TICKER, Side.YES, Action.BUY, 5000, 3))
    orders.lost_answer(CID, trio.current_time())
    assert exchange.order is not None
    await keeper.on_order(anonymous(exchange.order), risk, source="feed")
    record = await journal.get_order_by_client_id(CID)
    assert record is not None and (record.state, record.order_id) == (records.OrderState.RESTING, "o-g")
    assert await journal.get_order_by_client_id("external:o-g") is None
    live = orders.get(CID)
    assert live is not None and (live.order_id, live.phase.value) == ("o-g", "resting") and orders.unknown() == []


async def test_a_finished_order_that_cannot_be_identified_is_named_too(journal: Journal) -> None:
    """Executed at once (nothing rests to adopt): its fills will be booked as external, so the same error."""
    executed = anonymous(exchange_order(CID, "o-g", "executed", 3, 0))
    exchange = LaggingExchange(executed)
    keeper, risk, _risk_recv, alerts = await given_up(journal, exchange)
    await keeper.on_order(executed, risk, source="feed")
    assert [(a["level"], a["kind"], a["candidates"]) for a in alerts] == [("error", "order_owner_uncertain", [CID])]
    assert "its fills are booked as external, but it may be kalshid's" in alerts[0]["detail"]
    assert await journal.get_order_by_order_id("o-g") is None and "external:o-g" not in keeper.p.orders


class UnreadableOrder(LaggingExchange):
    async def get_order(self, order_id: str) -> Order | None:
        raise ExchangeError("429 too many requests")


@pytest.mark.parametrize("read", ["no client_order_id", "unreadable"])
async def test_a_report_that_cannot_be_identified_is_adopted_loudly_naming_the_given_up_order(
        journal: Journal, read: str) -> None:
    resting = anonymous(exchange_order(CID, "o-g", "resting", 0, 3))
    exchange = LaggingExchange(resting) if read == "no client_order_id" else UnreadableOrder(resting)
    keeper, risk, _risk_recv, alerts = await given_up(journal, exchange)
    with capture_logs() as logs:
        await keeper.on_order(resting, risk, source="feed")
    # nothing lost: the order is journaled (external, as the exchange shows it), risk counts it, cancels reach it
    adopted = await journal.get_order_by_order_id("o-g")
    assert adopted is not None and adopted.external and adopted.client_order_id == "external:o-g"
    live = keeper.p.orders.get("external:o-g")
    assert live is not None and live.remaining == 3
    # and loud: an error naming the given-up order it may be
    [alert] = alerts
    assert (alert["level"], alert["kind"], alert["order_id"], alert["ticker"]) == (
        "error", "order_owner_uncertain", "o-g", TICKER)
    assert alert["candidates"] == [CID]
    assert CID in alert["detail"] and "no client_order_id" in alert["detail"]
    [line] = [e for e in logs if e["log_level"] == "error"]
    assert line["order_id"] == "o-g" and line["candidates"] == [CID]
    given = await journal.get_order_by_client_id(CID)
    assert given is not None and given.state is records.OrderState.REJECTED and given.given_up
    await keeper.cancel_market(TICKER, "window closing", risk)
    assert exchange.cancelled == ["o-g"]


async def test_an_order_without_client_order_id_in_a_market_with_none_of_ours_unknown_is_external(
        journal: Journal) -> None:
    """Placed by hand (no client_order_id, and no order of ours lacks its order_id): external, a warning."""
    resting = anonymous(exchange_order(CID, "o-h", "resting", 0, 3))
    exchange = LaggingExchange(resting)
    keeper, risk, _risk_recv = keeper_for(journal, exchange)
    alerts: list[dict[str, Any]] = []
    keeper.p.publish = lambda kind, data: alerts.append(data) if kind == "alert" else None
    await keeper.on_order(resting, risk, source="feed")
    assert [(a["level"], a["kind"]) for a in alerts] == [("warning", "external_order")]
    adopted = await journal.get_order_by_order_id("o-h")
    assert adopted is not None and adopted.external


async def test_at_a_restart_a_resting_order_without_client_order_id_is_read_and_taken_back(tmp_path: Path) -> None:
    """Reconciliation lists resting orders; one has no client_order_id. Its read by order_id names the
    given-up order: taken back, live again with its strategy, not adopted."""
    r_read = attrs.evolve(order("oid-r", "cid-r", OTHER, "yes", 5, 3000), status="resting", fill_count=2,
                          remaining_count=3)
    listed = anonymous(r_read)

    class Exchange(FakeExchange):
        async def list_orders(self, *, ticker: str | None = None, status: str | None = None) -> list[Order]:
            return [listed]

    exchange = Exchange([r_read], [fill("fill-r", "oid-r", OTHER, "yes", 2, 3000, at(6))], {OTHER: 2})
    async with open_journal(tmp_path / "j.sqlite3", "sim", inline=True) as journal:
        await given_up_at(journal, "cid-r", OTHER, 5, 3000)
        _, open_orders, summary = await reconcile(exchange, journal, at(700))  # type: ignore[arg-type]
        r = await journal.get_order_by_client_id("cid-r")
        assert r is not None and (r.state.value, r.order_id, r.filled, r.remaining) == ("partially_filled", "oid-r",
                                                                                         2, 3)
        assert summary["external_orders_adopted"] == 0 and summary["orders_taken_back"] == 1
        assert summary["orders_of_uncertain_owner"] == []
        assert list(open_orders) == ["cid-r"] and open_orders["cid-r"].strategy == "kelly_volatility"
        assert {f.fill_id: f.strategy for f in await journal.all_fills()} == {"fill-r": "kelly_volatility"}


async def test_at_a_restart_an_order_that_cannot_be_identified_is_adopted_and_named(tmp_path: Path) -> None:
    r_read = anonymous(attrs.evolve(order("oid-r", "cid-r", OTHER, "yes", 5, 3000), status="resting",
                                    fill_count=0, remaining_count=5))
    exchange = FakeExchange([r_read], [], {})
    async with open_journal(tmp_path / "j.sqlite3", "sim", inline=True) as journal:
        await given_up_at(journal, "cid-r", OTHER, 5, 3000)
        with capture_logs() as logs:
            _, open_orders, summary = await reconcile(exchange, journal, at(700))  # type: ignore[arg-type]
        assert summary["external_orders_adopted"] == 1
        assert summary["orders_of_uncertain_owner"] == [
            {"order_id": "oid-r", "ticker": OTHER, "candidates": ["cid-r"]}]
        assert list(open_orders) == ["external:oid-r"]
        assert [e["order_id"] for e in logs if e["log_level"] == "error"] == ["oid-r"]


async def given_up_at(journal: Journal, cid: str, ticker: str, count: int, price_cc: int,
                      ts: datetime | None = None) -> None:
    await journal.record_intent(intent(cid, ticker, "yes", count, price_cc))
    await journal.apply_order_update(OrderUpdate(
        state="rejected", ts=ts or at(3), filled=0, remaining=0, fees_cc=0, client_order_id=cid, source="resolve",
        gives_up=True, detail="not found by client_order_id for 60s"))


class FeedStub:
    def deliver_to_stages(self, on: bool) -> None:
        pass


async def test_a_start_that_adopts_an_order_of_uncertain_owner_alerts(tmp_path: Path) -> None:
    r_read = anonymous(attrs.evolve(order("oid-r", "cid-r", OTHER, "yes", 5, 3000), status="resting",
                                    fill_count=0, remaining_count=5))
    async with open_journal(tmp_path / "j.sqlite3", "sim", inline=True) as journal:
        await given_up_at(journal, "cid-r", OTHER, 5, 3000)
        p = pipeline(journal)
        p.exchange = FakeExchange([r_read], [], {})  # type: ignore[assignment]
        clock = ExchangeClock()
        clock.observe(at(700), trio.current_time())
        published: list[tuple[str, dict[str, Any]]] = []
        feed: Any = FeedStub()
        await recover(Config(), p, clock, feed, (), lambda kind, data: published.append((kind, data)), {})
    alerts = [d for k, d in published if k == "alert"]
    assert [(a["level"], a["kind"], a["order_id"], a["candidates"]) for a in alerts] == [
        ("error", "order_owner_uncertain", "oid-r", ["cid-r"])]
    assert "may be kalshid's cid-r" in alerts[0]["detail"]
    assert p.state.reconciliation["orders_of_uncertain_owner"] == [
        {"order_id": "oid-r", "ticker": OTHER, "candidates": ["cid-r"]}]


async def test_at_a_restart_a_resting_order_known_by_its_order_id_is_ours_without_a_read(tmp_path: Path) -> None:
    """Acknowledged before the restart (its order_id journaled), listed with no client_order_id: found by
    its order_id, live again under its own client_order_id and strategy, not adopted."""
    listed = anonymous(attrs.evolve(order("oid-a", "cid-a", OTHER, "yes", 5, 3000), status="resting",
                                    fill_count=0, remaining_count=5))

    class Exchange(FakeExchange):
        async def get_order(self, order_id: str) -> Order:
            raise AssertionError("no read needed: the journal knows the order_id")

    async with open_journal(tmp_path / "j.sqlite3", "sim", inline=True) as journal:
        await journal.record_intent(intent("cid-a", OTHER, "yes", 5, 3000))
        await journal.apply_order_update(OrderUpdate(state="resting", ts=at(3), filled=0, remaining=5, fees_cc=0,
                                                     client_order_id="cid-a", order_id="oid-a", source="create"))
        _, open_orders, summary = await reconcile(Exchange([listed], [], {}), journal, at(700))  # type: ignore[arg-type]
        assert summary["external_orders_adopted"] == 0
        assert list(open_orders) == ["cid-a"] and open_orders["cid-a"].strategy == "kelly_volatility"
        assert await journal.get_order_by_client_id("external:oid-a") is None
