"""Order bookkeeping (kalshid.core.orders): the order state machine, busy marks, unbooked fills, seen fills."""

from __future__ import annotations

import pytest

from kalshid.core.orders import (
    SEEN_FILLS_REMEMBERED,
    IllegalTransition,
    LiveOrder,
    LiveOrders,
    OrderPhase,
    can_move,
)
from kalshid.core.vocab import Action, Side

TICKER = "KXSOL15M-26JUL082300-00"
OTHER = "KXSOL15M-26JUL082315-15"


def order(cid: str = "c1", strategy: str = "kelly", ticker: str = TICKER, count: int = 3) -> LiveOrder:
    return LiveOrder(cid, strategy, ticker, Side.YES, Action.BUY, 5000, count)


def test_an_order_goes_from_intent_to_done_through_its_answer() -> None:
    book = LiveOrders()
    o = order()
    book.reserve(o)
    assert o.phase is OrderPhase.INTENT and o.in_flight and book.is_busy("kelly", TICKER)
    book.sending(o)
    assert o.phase is OrderPhase.IN_FLIGHT and o.in_flight
    book.answered(o, order_id="x1", remaining=3, filled=0, is_open=True)
    assert o.phase is OrderPhase.RESTING and not o.in_flight and o.order_id == "x1"
    book.answered(o, order_id="x1", remaining=1, filled=2, is_open=True)
    assert o.phase is OrderPhase.PARTIALLY_FILLED and o.remaining == 1
    book.answered(o, order_id="x1", remaining=0, filled=3, is_open=True)  # a partly filled order stays so
    assert o.phase is OrderPhase.PARTIALLY_FILLED
    book.answered(o, order_id="x1", remaining=0, filled=3, is_open=False)
    assert o.phase is OrderPhase.DONE
    book.finish(o)
    assert "c1" not in book and not book.is_busy("kelly", TICKER)


def test_a_lost_answer_leaves_the_order_unknown_until_resolved() -> None:
    book = LiveOrders()
    o = order()
    book.reserve(o)
    book.sending(o)
    book.lost_answer("c1", now=10.0)
    book.lost_answer("c1", now=12.0)  # a second timeout does not move the mark
    assert o.phase is OrderPhase.UNKNOWN and o.in_flight
    assert book.unknown() == [o] and book.unknown_since("c1") == 10.0
    assert [r.count for r in book.resting_for_risk()] == [3]  # counted by risk as if resting
    book.answered(o, order_id="x1", remaining=3, filled=0, is_open=True)
    assert o.phase is OrderPhase.RESTING and book.unknown() == [] and book.unknown_since("c1") is None


def test_an_answer_lost_after_the_feed_reported_the_order_changes_nothing() -> None:
    """The feed's order update (open, partly filled) came before the create's answer, which then timed
    out: the exchange has already said what became of the order, so nothing is unknown and nothing
    needs looking up (and the order book is not left in an impossible state)."""
    book = LiveOrders()
    o = order()
    book.reserve(o)
    book.sending(o)
    book.answered(o, order_id="x1", remaining=1, filled=2, is_open=True)
    book.lost_answer("c1", now=10.0)
    assert o.phase is OrderPhase.PARTIALLY_FILLED and not o.in_flight
    assert book.unknown() == [] and book.unknown_since("c1") is None


def test_only_the_orders_whose_request_ended_are_looked_up_oldest_first() -> None:
    book = LiveOrders()
    a, b, c = order("a"), order("b"), order("c")
    for o in (a, b, c):
        book.reserve(o)
        book.sending(o)
    book.lost_answer("b", now=5.0)
    book.lost_answer("a", now=7.0)
    assert book.unknown() == [b, a]  # c is still being sent: left alone


def test_illegal_moves_are_refused() -> None:
    book = LiveOrders()
    o = order()
    book.reserve(o)
    with pytest.raises(IllegalTransition, match="intent -> resting"):
        book.move(o, OrderPhase.RESTING)
    assert not can_move(OrderPhase.DONE, OrderPhase.RESTING)
    assert not can_move(OrderPhase.PARTIALLY_FILLED, OrderPhase.RESTING)
    assert not can_move(OrderPhase.UNKNOWN, OrderPhase.IN_FLIGHT)  # an unknown order is never resent
    assert can_move(OrderPhase.UNKNOWN, OrderPhase.DONE)


def test_a_late_view_of_a_finished_order_changes_nothing() -> None:
    book = LiveOrders()
    o = order()
    book.reserve(o)
    book.answered(o, order_id="x1", remaining=0, filled=3, is_open=False)
    book.answered(o, order_id="x1", remaining=3, filled=0, is_open=True)
    assert o.phase is OrderPhase.DONE and o.remaining == 0
    book.finish(o)
    book.finish(o)  # finishing twice is harmless
    assert len(book) == 0


def test_a_finished_order_with_unbooked_fills_keeps_its_strategy_busy_until_they_are_booked() -> None:
    book = LiveOrders()
    o = order()
    book.reserve(o)
    book.answered(o, order_id="x1", remaining=0, filled=3, is_open=False)
    book.finish(o, unbooked=3)
    assert "c1" not in book and book.is_busy("kelly", TICKER)
    book.fills_booked("x1", 2)
    assert book.is_busy("kelly", TICKER)
    book.fills_booked("x1", 1)
    assert not book.is_busy("kelly", TICKER)


def test_a_settled_market_releases_fills_still_awaited_and_drops_its_holdings() -> None:
    book = LiveOrders()
    o = order()
    book.reserve(o)
    book.answered(o, order_id="x1", remaining=0, filled=3, is_open=False)
    book.finish(o, unbooked=3)
    book.fill_booked("kelly", TICKER, "yes", "buy", 2)
    book.fill_booked("kelly", OTHER, "yes", "buy", 1)
    book.release_unbooked(TICKER)
    assert not book.is_busy("kelly", TICKER)
    book.settled(TICKER)
    assert dict(book.holdings) == {("kelly", OTHER, "yes"): 1}


def test_a_rejection_frees_the_strategy_only_when_nothing_else_holds_it() -> None:
    book = LiveOrders()
    resting = order("r")
    book.adopt(resting)
    book.claim("kelly", TICKER)
    book.release("kelly", TICKER)
    assert book.is_busy("kelly", TICKER)  # its resting order still works there
    book.claim("kelly", OTHER)
    book.release("kelly", OTHER)
    assert not book.is_busy("kelly", OTHER) and book.busy_in(TICKER) == {"kelly"}


def test_holdings_move_with_booked_fills_and_never_go_negative() -> None:
    book = LiveOrders()
    book.fill_booked("kelly", TICKER, "yes", "buy", 3)
    book.fill_booked("kelly", TICKER, "yes", "sell", 5)
    book.fill_booked(None, TICKER, "yes", "buy", 7)  # an external fill belongs to no strategy
    assert dict(book.holdings) == {("kelly", TICKER, "yes"): 0}


def test_a_fill_is_new_once_and_the_memory_is_bounded() -> None:
    book = LiveOrders()
    assert book.first_sight("f1") and not book.first_sight("f1")
    for i in range(SEEN_FILLS_REMEMBERED):
        book.first_sight(f"g{i}")
    assert book.first_sight("f1")  # forgotten, oldest first (the journal's key still refuses it)
    assert book.statistics()["fills_remembered"] == SEEN_FILLS_REMEMBERED


def test_orders_are_found_by_client_order_id_then_by_exchange_order_id() -> None:
    book = LiveOrders()
    o = order()
    book.reserve(o)
    book.answered(o, order_id="x1", remaining=3, filled=0, is_open=True)
    assert book.find(client_order_id="c1") is o and book.find(order_id="x1") is o
    assert book.find(order_id="nope", client_order_id="other") is None


def test_a_reconciliation_replaces_everything_and_in_flight_orders_are_unknown() -> None:
    book = LiveOrders()
    book.reserve(order("old"))
    reconciled = LiveOrder("c2", "kelly", TICKER, Side.NO, Action.BUY, 4000, 2, in_flight=True)
    book.load({"c2": reconciled}, {("kelly", TICKER, "no"): 2})
    assert list(book) == [reconciled] and reconciled.phase is OrderPhase.UNKNOWN
    assert book.is_busy("kelly", TICKER) and dict(book.holdings) == {("kelly", TICKER, "no"): 2}


def test_the_snapshot_is_an_immutable_copy() -> None:
    book = LiveOrders()
    o = order()
    book.reserve(o)
    book.pause(70.0)
    book.pause(20.0)  # a shorter pause never shortens the longer one
    snap = book.snapshot()
    book.answered(o, order_id="x1", remaining=1, filled=2, is_open=True)
    assert snap.open_count == 1 and snap.in_flight_count == 1 and snap.orders[0].phase == "intent"
    assert snap.paused_until == 70.0 and book.paused(69.0) and not book.paused(70.0)
    assert book.snapshot().orders[0].phase == "partially_filled"


def test_an_order_given_up_then_reported_by_the_exchange_is_taken_back_into_the_book() -> None:
    book = LiveOrders()
    o = order()
    book.reserve(o)
    book.sending(o)
    book.lost_answer("c1", now=10.0)
    book.finish(o)  # given up: never arrived
    assert "c1" not in book and not book.is_busy("kelly", TICKER)
    back = order(count=2)
    book.take_back(back)
    assert book.get("c1") is back and back.phase is OrderPhase.UNKNOWN and back.in_flight
    assert book.is_busy("kelly", TICKER) and book.unknown() == []  # the exchange has it: not looked up
    book.answered(back, order_id="x1", remaining=2, filled=1, is_open=True)
    assert back.phase is OrderPhase.PARTIALLY_FILLED and [r.count for r in book.resting_for_risk()] == [2]
    book.take_back(order(count=5))  # an order already in the book stays as it is
    assert book.get("c1") is back
