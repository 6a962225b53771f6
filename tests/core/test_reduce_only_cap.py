"""Kalshi's reduce-only cap, shared by the simulator and the paper account."""

from __future__ import annotations

import pytest

from kalshid.core.netting import reduce_only_cap


@pytest.mark.parametrize(("side", "action", "yes", "no", "cap"), [
    ("yes", "sell", 7, 0, 7), ("no", "sell", 7, 3, 3), ("yes", "sell", 0, 5, 0),
    ("yes", "buy", 2, 5, 3),  # buying YES nets off NO only while NO is held more
    ("no", "buy", 5, 2, 3), ("yes", "buy", 5, 2, 0), ("no", "buy", 0, 0, 0),
])
def test_a_reduce_only_order_is_capped_at_what_reduces_the_net_position(side: str, action: str, yes: int, no: int,
                                                                       cap: int) -> None:
    assert reduce_only_cap(side, action, yes, no) == cap
