"""kalshid's P&L rule: average cost, exact integers, nothing lost to rounding."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from kalshid.core.pnl import allocate_cost, settlement_realized_cc, trade, unrealized_cc
from kalshid.core.vocab import Action


def test_a_sale_realises_against_the_average_cost() -> None:
    held, cost, realized = trade(0, 0, Action.BUY, 2, 3_000)
    held, cost, realized = trade(held, cost, Action.BUY, 1, 5_001)
    assert (held, cost, realized) == (3, 11_001, 0)
    held, cost, realized = trade(held, cost, Action.SELL, 2, 6_000)
    assert (held, cost, realized) == (1, 11_001 - 7_334, 12_000 - 7_334)
    assert trade(held, cost, "sell", 1, 2_000) == (0, 0, 2_000 - 3_667)  # the last one takes what is left


def test_selling_more_than_held_opens_a_short_that_a_buy_closes() -> None:
    held, cost, realized = trade(1, 4_000, Action.SELL, 3, 5_000)
    assert (held, cost, realized) == (-2, -10_000, 1_000)
    assert trade(held, cost, Action.BUY, 1, 2_000) == (-1, -5_000, 3_000)
    assert settlement_realized_cc(-1, -5_000, 10_000) == -5_000


def test_allocate_cost_adds_up_and_refuses_impossible_parts() -> None:
    assert allocate_cost(10_001, 3, [1, 1, 1]) == [3_333, 3_334, 3_334]
    assert allocate_cost(-10_001, 3, [2, 1]) == [-6_667, -3_334]
    with pytest.raises(ValueError, match="cannot take 4 of 3"):
        allocate_cost(100, 3, [4])


def test_unrealized_is_zero_without_a_mark() -> None:
    assert unrealized_cc(4, 12_000, None) == 0
    assert unrealized_cc(4, 12_000, 3_500) == 2_000


@given(st.lists(st.tuples(st.booleans(), st.integers(1, 50), st.integers(1, 9_999)), max_size=30),
       st.integers(0, 10_000))
def test_realised_plus_settlement_is_cash_in_minus_cash_out(trades: list[tuple[bool, int, int]],
                                                           value_cc: int) -> None:
    held = cost = realized = cash = 0
    for buy, count, price in trades:
        held, cost, gain = trade(held, cost, Action.BUY if buy else Action.SELL, count, price)
        realized += gain
        cash += -count * price if buy else count * price
    realized += settlement_realized_cc(held, cost, value_cc)
    assert realized == cash + held * value_cc
