"""The stage-independent rules of kalshid.core.decision: when a window's cancels are due, and the
edge of buying each side at its ask."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from kalshid.core.decision import CANCEL_BEFORE_CLOSE, closing_due, side_edges
from kalshid.core.signals import BookTop

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
