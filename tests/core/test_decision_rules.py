"""The stage-independent rules of kalshid.core.decision: when a window's cancels are due, the
edge of buying each side at its ask, and a buy signal's proposal net of what is held."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from types import SimpleNamespace
from typing import Any

import attrs
import pytest

from kalshid.core.breaker import BreakerStatus
from kalshid.core.decision import (
    CANCEL_BEFORE_CLOSE,
    Evaluation,
    Outcome,
    closing_due,
    entries_enabled,
    evaluate_strategies,
    side_edges,
    trading_enabled,
)
from kalshid.core.signals import BookTop, Signal
from kalshid.core.sizing import edge_per_contract
from kalshid.core.strategies.base import PriceHistory
from kalshid.core.vocab import Action, Side

CLOSE = datetime(2026, 7, 8, 19, 0, tzinfo=UTC)


def test_cancels_are_due_from_two_seconds_before_the_close() -> None:
    assert timedelta(seconds=2) == CANCEL_BEFORE_CLOSE
    assert not closing_due(CLOSE - timedelta(seconds=2, microseconds=1), CLOSE)
    assert closing_due(CLOSE - timedelta(seconds=2), CLOSE)
    assert closing_due(CLOSE + timedelta(minutes=5), CLOSE)


def top(yes_bid_cc: int | None, no_bid_cc: int | None) -> BookTop:
    return BookTop("KX", yes_bid_cc, 5 if yes_bid_cc else 0, no_bid_cc, 5 if no_bid_cc else 0, CLOSE)


def test_each_side_edge_is_its_value_less_its_ask() -> None:
    # YES bid 40c -> NO ask 60c; NO bid 55c -> YES ask 45c
    edges = side_edges(0.5, top(4000, 5500))
    assert edges == {"yes": pytest.approx(0.05), "no": pytest.approx(-0.10)}


def test_a_side_without_an_ask_has_no_edge() -> None:
    assert side_edges(0.7, top(4000, None)) == {"no": pytest.approx(-0.30)}  # no NO bids: no YES ask
    assert side_edges(0.7, top(None, None)) == {}


class FixedSignal:
    """A strategy that always wants ``signal``."""

    name = "fixed"
    last_fair_yes = 0.6
    min_edge = 0.0

    def __init__(self, signal: Signal) -> None:
        self.signal = signal

    def analyze(self, *_args: object) -> Signal:
        return self.signal


def test_a_buy_proposes_the_signal_less_what_the_strategy_holds() -> None:
    signal = Signal(strategy="fixed", ticker="KX", side=Side.YES, action=Action.BUY, price_cc=4500, count=10,
                    fair_prob=0.6, edge=0.1, confidence=1.0, reason=lambda: "r", created_at=CLOSE)
    view = SimpleNamespace(ticker="KX")
    strategies: Any = [FixedSignal(signal)]

    def evaluate(held: int) -> Evaluation:
        (ev,) = evaluate_strategies(strategies, view, None, PriceHistory(), None, trading_enabled=True,  # type: ignore[arg-type]
                                    busy=(), holdings={("fixed", "KX", "yes"): held})
        return ev

    nothing_held = evaluate(0)
    assert nothing_held.outcome is Outcome.PROPOSED
    assert nothing_held.proposal is signal  # the signal itself, not a copy
    some_held = evaluate(3)
    # the rest of the target, with the edge of an order of that count (its own fee)
    assert some_held.proposal == attrs.evolve(signal, count=7, edge=edge_per_contract(0.6, 7, 4500),
                                              reason="r (rest of a target of 10)")
    assert evaluate(10).outcome is Outcome.AT_TARGET


class MinEdgeSignal(FixedSignal):
    """``FixedSignal`` with a ``min_edge``, as the shipped strategies have."""

    min_edge = 0.03


def test_the_rest_of_a_target_is_proposed_only_if_its_own_edge_reaches_min_edge() -> None:
    # At 9c ten contracts pay 6c of fee in all (9.6c each, all in), a single one a whole cent (10c): the
    # target's edge is 0.032, a single contract's 0.028, below the strategy's 0.03.
    fair = 0.128
    edge = edge_per_contract(fair, 10, 900)
    assert edge >= 0.03 > edge_per_contract(fair, 1, 900)
    signal = Signal(strategy="fixed", ticker="KX", side=Side.YES, action=Action.BUY, price_cc=900, count=10,
                    fair_prob=fair, edge=edge, confidence=1.0, reason="r", created_at=CLOSE)
    view = SimpleNamespace(ticker="KX")

    def evaluate(held: int) -> Evaluation:
        (ev,) = evaluate_strategies([MinEdgeSignal(signal)], view, None, PriceHistory(), None,  # type: ignore[arg-type]
                                    trading_enabled=True, busy=(), holdings={("fixed", "KX", "yes"): held})
        return ev

    assert evaluate(0).proposal is signal
    for held in (3, 5):  # 7 and 5 contracts left still reach it
        rest = evaluate(held).proposal
        assert rest is not None and rest.count == 10 - held
        assert rest.edge == edge_per_contract(fair, 10 - held, 900) >= 0.03
    last = evaluate(9)  # one contract left: its fee leaves it below min_edge
    assert last.outcome is Outcome.AT_TARGET and last.proposal is None and last.signal is signal


def test_trading_is_enabled_only_by_the_operator_and_a_breaker_that_is_not_halted() -> None:
    assert trading_enabled(True, BreakerStatus.RUNNING) and trading_enabled(True, BreakerStatus.REDUCING)
    assert not trading_enabled(True, BreakerStatus.HALTED)  # until the operator resets it
    assert not any(trading_enabled(False, status) for status in BreakerStatus)


def test_entries_held_suppress_buys_and_let_sells_through() -> None:
    assert entries_enabled(BreakerStatus.RUNNING) and not entries_enabled(BreakerStatus.REDUCING)
    assert not entries_enabled(BreakerStatus.RUNNING, positions_agree=False)
    view = SimpleNamespace(ticker="KX")

    def outcome(action: Action, entries: bool) -> Outcome:
        signal = Signal(strategy="fixed", ticker="KX", side=Side.YES, action=action, price_cc=4500, count=10,
                        fair_prob=0.6, edge=0.1, confidence=1.0, reason="r", created_at=CLOSE)
        (ev,) = evaluate_strategies([FixedSignal(signal)], view, None, PriceHistory(), None,  # type: ignore[arg-type]
                                    trading_enabled=True, busy=(), holdings={}, entries_enabled=entries)
        return ev.outcome

    assert outcome(Action.BUY, entries=False) is Outcome.SUPPRESSED
    assert outcome(Action.BUY, entries=True) is Outcome.PROPOSED
    assert outcome(Action.SELL, entries=False) is Outcome.PROPOSED  # exits go on


def test_the_order_a_proposal_asks_risk_for_carries_the_strategys_edge_rule_for_buys_only() -> None:
    from kalshid.core.decision import order_intent

    buy = Signal(strategy="s", ticker="KXSOL15M-26JUL081900-00", side=Side.YES, action=Action.BUY, price_cc=5_000,
                 count=5, fair_prob=0.56, edge=0.042, confidence=1.0, reason="r",
                 created_at=datetime(2026, 7, 8, 23, 0, tzinfo=UTC))
    intent = order_intent(buy, 0.03)
    assert (intent.count, intent.price_cc, intent.fair_prob, intent.min_edge) == (5, 5_000, 0.56, 0.03)
    sale = order_intent(attrs.evolve(buy, action=Action.SELL), 0.03)
    assert (sale.fair_prob, sale.min_edge) == (None, 0.0)  # an exit is never held to an edge
