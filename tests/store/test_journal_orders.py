"""Intents, the order state machine and external orders, through the async Journal."""

from __future__ import annotations

import sqlite3
from typing import Any

import pytest
from storefakes import T0, TICKER, at, intent, journal, signal
from structlog.testing import capture_logs

from kalshid.store import DuplicateIntentError, Journal, sql_write
from kalshid.store.orderstate import classify_update, is_legal, state_from_exchange
from kalshid.store.records import (
    ExternalOrder,
    OrderState,
    OrderUpdate,
    RiskVerdict,
    UpdateOutcome,
)

__all__ = ["journal"]
S = OrderState
U = UpdateOutcome


def upd(
    state: str, filled: int = 0, remaining: int = 5, fees: int = 0, t: float = 1, **kw: Any
) -> OrderUpdate:
    base: dict[str, Any] = dict(client_order_id="c1", order_id="oid-1")
    base.update(kw)
    return OrderUpdate(state=state, ts=at(t), filled=filled, remaining=remaining, fees_cc=fees, **base)


async def test_intent_is_pending_and_durable_before_send(journal: Journal) -> None:
    sid = await journal.record_signal(signal())
    await journal.record_verdict(RiskVerdict(signal_id=sid, ts=T0, approved=True, reason_code="ok"))
    await journal.record_intent(intent("c1", signal_id=sid))
    # another connection (another process, after a crash) already sees it: it is committed
    with sqlite3.connect(journal.path) as other:
        row = other.execute(
            "SELECT state, remaining, order_id, dry_run FROM orders WHERE client_order_id = 'c1'")
        assert row.fetchone() == ("pending", 5, None, 1)
    order = await journal.get_order_by_client_id("c1")
    assert order is not None and order.state is S.PENDING and order.signal_id == sid
    assert [o.client_order_id for o in await journal.unacknowledged_intents()] == ["c1"]
    assert [e.event for e in await journal.order_events("c1")] == ["intent"]


async def test_intent_id_is_never_reused_and_signal_must_exist(journal: Journal) -> None:
    await journal.record_intent(intent("c1"))
    with pytest.raises(DuplicateIntentError, match="'c1' is already journaled"):
        await journal.record_intent(intent("c1", price_cc=4300))
    with pytest.raises(ValueError, match="signal_id 999 is not in the journal"):
        await journal.record_intent(intent("c2", signal_id=999))
    with pytest.raises(ValueError, match="signal_id 999 is not in the journal"):
        await journal.record_verdict(RiskVerdict(signal_id=999, ts=T0, approved=False, reason_code="x"))
    assert (await journal.table_counts())["orders"] == 1


async def test_lifecycle_pending_in_flight_resting_partial_executed(journal: Journal) -> None:
    await journal.record_intent(intent("c1"))
    assert await journal.mark_in_flight("c1", at(0.5)) is U.APPLIED
    assert [o.state for o in await journal.unacknowledged_intents()] == [S.IN_FLIGHT]
    assert await journal.apply_order_update(upd("resting", client_order_id="c1")) is U.APPLIED
    assert await journal.unacknowledged_intents() == []
    # the exchange only knows the order id in a later WS message: found by order_id
    assert await journal.apply_order_update(
        upd("partially_filled", 2, 3, 40, t=2, client_order_id=None)) is U.APPLIED
    assert await journal.apply_order_update(upd("executed", 5, 0, 90, t=3)) is U.APPLIED
    o = await journal.get_order_by_client_id("c1")
    assert o is not None
    assert (o.state, o.order_id, o.filled, o.remaining, o.fees_cc, o.last_update) == (
        S.EXECUTED, "oid-1", 5, 0, 90, at(3))
    assert [e.event for e in await journal.order_events("c1")] == ["intent"] + ["update"] * 4
    assert await journal.live_orders() == []


async def test_terminal_states_are_sticky_and_illegal_moves_are_logged(journal: Journal) -> None:
    await journal.record_intent(intent("c1"))
    await journal.apply_order_update(upd("canceled", 0, 0))
    assert await journal.apply_order_update(upd("resting", 0, 5, t=2)) is U.STALE  # from before the cancel
    assert await journal.apply_order_update(upd("executed", 5, 0, t=2.5)) is U.ILLEGAL
    assert await journal.mark_in_flight("c1", at(3)) is U.ILLEGAL
    assert await journal.apply_order_update(upd("canceled", 0, 0, t=4)) is U.DUPLICATE
    o = await journal.get_order_by_client_id("c1")
    assert o is not None and o.state is S.CANCELED and o.remaining == 0
    events = await journal.order_events("c1")
    assert [e.event for e in events] == ["intent", "update", "stale_update", "illegal_update", "illegal_update"]
    assert events[3].detail["from"] == "canceled" and events[3].detail["to"] == "executed"


async def test_stale_update_is_not_applied(journal: Journal) -> None:
    await journal.record_intent(intent("c1"))
    await journal.apply_order_update(upd("partially_filled", 3, 2, 60))
    # a REST snapshot taken before the fill arrives after the WS message: an everyday race, so it is
    # recorded and logged at info; an illegal update (below) contradicts the journal and is a warning
    with capture_logs() as logs:
        assert await journal.apply_order_update(upd("resting", 0, 5, t=0.5)) is U.STALE
    o = await journal.get_order_by_client_id("c1")
    assert o is not None and (o.state, o.filled) == (S.PARTIALLY_FILLED, 3)
    assert (await journal.order_events("c1"))[-1].event == "stale_update"
    assert [(e["log_level"], e["outcome"]) for e in logs if e["event"] == "order update not applied"] == [
        ("info", "stale")]
    await journal.apply_order_update(upd("canceled", 3, 0, 60, t=1))
    # the feed's message from before the rest was cancelled, overtaken by the cancel: stale, not a contradiction
    with capture_logs() as logs:
        assert await journal.apply_order_update(upd("partially_filled", 3, 2, 60, t=2)) is U.STALE
        # live again with more fills than the cancelled order has: that contradicts the journal
        assert await journal.apply_order_update(upd("partially_filled", 4, 1, 80, t=3)) is U.ILLEGAL
    assert [(e["log_level"], e["outcome"]) for e in logs if e["event"] == "order update not applied"] == [
        ("info", "stale"), ("warning", "illegal")]


async def test_order_id_conflicts_are_illegal(journal: Journal) -> None:
    await journal.record_intent(intent("c1"))
    await journal.record_intent(intent("c2"))
    await journal.apply_order_update(upd("resting"))
    assert await journal.apply_order_update(upd("executed", 5, 0, order_id="oid-other")) is U.ILLEGAL
    assert await journal.apply_order_update(upd("resting", client_order_id="c2")) is U.ILLEGAL
    c2 = await journal.get_order_by_client_id("c2")
    assert c2 is not None and c2.order_id is None and c2.state is S.PENDING


async def test_unknown_order_then_adopted_external(journal: Journal) -> None:
    u = upd("resting", client_order_id=None, order_id="oid-x")
    assert await journal.apply_order_update(u) is U.UNKNOWN
    ext = ExternalOrder(order_id="oid-x", ts=T0, ticker=TICKER, side="no", action="buy", price_cc=3000,
                        count=2, state="resting", filled=0, remaining=2, fees_cc=0)
    assert await journal.adopt_external_order(ext) == ("external:oid-x", True)
    assert await journal.adopt_external_order(ext) == ("external:oid-x", False)
    assert await journal.apply_order_update(upd("canceled", 0, 0, client_order_id=None,
                                                order_id="oid-x")) is U.APPLIED
    page = await journal.list_orders(external=True)
    assert [(o.client_order_id, o.strategy, o.external, o.state) for o in page.items] == [
        ("external:oid-x", "external", True, S.CANCELED)]


def test_update_needs_an_id() -> None:
    with pytest.raises(ValueError, match="needs a client_order_id or an order_id"):
        OrderUpdate(state="resting", ts=T0, filled=0, remaining=1, fees_cc=0)


@pytest.mark.parametrize(
    ("current", "new", "legal"),
    [
        (S.PENDING, S.IN_FLIGHT, True), (S.PENDING, S.EXECUTED, True), (S.PENDING, S.CANCELED, True),
        (S.IN_FLIGHT, S.REJECTED, True), (S.IN_FLIGHT, S.PENDING, False), (S.RESTING, S.IN_FLIGHT, False),
        (S.RESTING, S.REJECTED, False), (S.PARTIALLY_FILLED, S.RESTING, False),
        (S.PARTIALLY_FILLED, S.CANCELED, True), (S.EXECUTED, S.CANCELED, False),
        (S.CANCELED, S.EXECUTED, False), (S.REJECTED, S.RESTING, False),
    ],
)
def test_transition_table(current: OrderState, new: OrderState, legal: bool) -> None:
    assert is_legal(current, new) is legal
    # a live state the order has already left, with no more fills, is an older message, not a contradiction
    older = (current, new) == (S.PARTIALLY_FILLED, S.RESTING)
    assert classify_update(current, (0, 5, 0), new, (0, 4, 0)) is (
        U.APPLIED if legal else U.STALE if older else U.ILLEGAL)


def test_classify_duplicate_and_stale() -> None:
    assert classify_update(S.RESTING, (1, 4, 10), S.PARTIALLY_FILLED, (0, 5, 0)) is U.STALE
    # a live state the order has left, no more filled: an older message (an IOC's answer overtook it)
    assert classify_update(S.CANCELED, (150, 0, 9), S.PARTIALLY_FILLED, (150, 10, 9)) is U.STALE
    assert classify_update(S.EXECUTED, (5, 0, 9), S.RESTING, (0, 5, 0)) is U.STALE
    assert classify_update(S.PARTIALLY_FILLED, (3, 2, 9), S.RESTING, (0, 5, 0)) is U.STALE
    assert classify_update(S.CANCELED, (150, 0, 9), S.PARTIALLY_FILLED, (151, 9, 9)) is U.ILLEGAL
    assert classify_update(S.REJECTED, (0, 0, 0), S.RESTING, (0, 5, 0)) is U.ILLEGAL  # never was live
    assert classify_update(S.EXECUTED, (5, 0, 9), S.EXECUTED, (5, 0, 9)) is U.DUPLICATE
    assert classify_update(S.EXECUTED, (5, 0, 9), S.EXECUTED, (5, 0, 10)) is U.ILLEGAL


def test_state_from_exchange() -> None:
    assert state_from_exchange("resting", 0) is S.RESTING
    assert state_from_exchange("resting", 2) is S.PARTIALLY_FILLED
    assert state_from_exchange("executed", 5) is S.EXECUTED
    assert state_from_exchange("canceled", 1) is S.CANCELED
    with pytest.raises(ValueError, match="unknown Kalshi status 'filled'"):
        state_from_exchange("filled", 5)


def test_records_reject_bad_input() -> None:
    with pytest.raises(ValueError, match="price_cc: 10000 is above 9999"):
        intent("c", price_cc=10_000)
    with pytest.raises(ValueError, match="count: 0 is below 1"):
        intent("c", count=0)
    with pytest.raises(ValueError, match="naive datetime"):
        intent("c", ts=T0.replace(tzinfo=None))
    with pytest.raises(ValueError, match="'maybe' is not a valid Side"):
        intent("c", side="maybe")
    with pytest.raises(ValueError, match="edge: expected a finite number"):
        signal(edge=float("nan"))
    with pytest.raises(TypeError, match="count: expected an int"):
        intent("c", count=True)


async def test_decision_journals_signal_verdict_and_in_flight_intent_in_one_transaction(journal: Journal) -> None:
    verdict = RiskVerdict(signal_id=1, ts=T0, approved=True, reason_code="approved")
    await journal.record_decision(signal(), verdict, intent("c9"))
    [order] = await journal.unacknowledged_intents()  # the next call writes the decision first
    sid = order.signal_id
    with sqlite3.connect(journal.path) as other:  # committed: visible to another connection
        assert other.execute("SELECT state, signal_id FROM orders WHERE client_order_id = 'c9'").fetchone() == (
            "in_flight", sid)
        assert other.execute("SELECT signal_id, approved FROM risk_verdicts").fetchall() == [(sid, 1)]
    assert [o.client_order_id for o in await journal.unacknowledged_intents()] == ["c9"]
    # A reused client_order_id is refused before it could be sent (remembered in memory) ...
    with pytest.raises(DuplicateIntentError):
        await journal.record_decision(signal(), verdict, intent("c9"))
    # ... and by SQLite, which rolls the whole decision back: no orphan signal or verdict.
    with pytest.raises(DuplicateIntentError):
        await journal._run(sql_write.insert_decision, signal(), verdict, intent("c9"), False)
    counts = await journal.table_counts()
    assert (counts["signals"], counts["risk_verdicts"], counts["orders"]) == (1, 1, 1)
