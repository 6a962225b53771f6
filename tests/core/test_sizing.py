"""Edge net of fees and fractional Kelly sizing."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from kalshid.core.fees import taker_fee_cc
from kalshid.core.sizing import (
    SizingError,
    all_in_cost_cc,
    edge_per_contract,
    kelly_full_fraction,
    max_count_within,
    size_binary,
)
from kalshid.core.units import ONE_DOLLAR_CC


def test_edge_includes_the_per_order_fee() -> None:
    # 1 contract at $0.50: fee ceil(1.75c) = 2c -> cost 0.52
    assert edge_per_contract(0.60, 1, 5_000) == pytest.approx(0.08)
    # 100 contracts at $0.50: fee $1.75 -> 1.75c each
    assert edge_per_contract(0.60, 100, 5_000) == pytest.approx(0.60 - 0.5175)


def test_kelly_fraction_formula_and_no_edge() -> None:
    assert kelly_full_fraction(0.6, 0.5) == pytest.approx(0.2)
    assert kelly_full_fraction(0.5, 0.5) == 0.0
    assert kelly_full_fraction(0.4, 0.5) == 0.0
    assert kelly_full_fraction(1.0, 1.0) == 0.0


def test_no_size_when_cost_at_or_above_fair() -> None:
    # ask 0.58 + 2c fee = 0.60 all-in for one contract: p = 0.60 has no edge
    assert size_binary(0.60, 5_800, 10_000_000, max_count=1000) is None
    assert size_binary(0.30, 5_000, 10_000_000, max_count=1000) is None


def test_quarter_kelly_count_and_exact_cost() -> None:
    bankroll = 1_000 * 10_000  # $1000
    d = size_binary(0.70, 5_000, bankroll, kelly_fraction=0.25, max_count=10_000)
    assert d is not None
    f = (0.70 - 0.52) / (1 - 0.52)  # conservative one-contract cost
    assert d.kelly_full == pytest.approx(f)
    assert d.stake_cc == int(0.25 * f * bankroll)
    assert d.cost_cc == d.count * 5_000 + taker_fee_cc(d.count, 5_000)
    assert d.cost_cc <= d.stake_cc < all_in_cost_cc(d.count + 1, 5_000)
    assert d.edge == pytest.approx(0.70 - d.cost_cc / (d.count * 10_000))


def test_caps_and_tiny_bankroll() -> None:
    d = size_binary(0.90, 5_000, 100_000_000, max_count=7)
    assert d is not None and d.count == 7
    assert size_binary(0.90, 5_000, 1_000, max_count=100) is None  # $0.10 buys nothing
    assert size_binary(0.90, 5_000, 10_000_000, max_count=0) is None


def test_max_count_within_is_the_exact_boundary() -> None:
    for price in (1, 37, 100, 2_500, 4_999, 5_000, 9_900, 9_999):
        for budget in (0, 1, 99, 5_200, 123_456, 1_000_000, 10_000_000_000):
            n = max_count_within(budget, price)
            assert all_in_cost_cc(n, price) <= budget or n == 0
            assert all_in_cost_cc(n + 1, price) > budget
            for cap in (0, 1, 7, 10_000, n, n + 1):  # a cap only lowers the bound
                assert max_count_within(budget, price, cap) == min(n, cap)


@pytest.mark.parametrize(("args", "match"), [
    ((1.2, 5_000, 100), "fair_prob"), ((0.5, 0, 100), "price"), ((0.5, 5_000, -1), "bankroll"),
])
def test_bad_inputs(args: tuple[float, int, int], match: str) -> None:
    with pytest.raises(ValueError, match=match):
        size_binary(*args, max_count=1)


def test_bad_fraction() -> None:
    with pytest.raises(SizingError, match="kelly_fraction"):
        size_binary(0.6, 5_000, 100, kelly_fraction=0.0, max_count=1)


@given(st.integers(1, ONE_DOLLAR_CC - 1), st.integers(0, 10**12), st.none() | st.integers(0, 10**6))
def test_max_count_within_matches_an_exhaustive_definition(price: int, budget: int, cap: int | None) -> None:
    """The largest count within budget and cap, checked against its definition at the boundary."""
    n = max_count_within(budget, price, cap)
    assert n >= 0 and (cap is None or n <= cap)
    assert n == 0 or all_in_cost_cc(n, price) <= budget
    assert (cap is not None and n == cap) or all_in_cost_cc(n + 1, price) > budget


def test_all_in_cost_is_price_plus_the_exact_taker_fee() -> None:
    from kalshid.core.fees import taker_fee_cc

    for price in (1, 99, 100, 101, 2_500, 4_999, 5_000, 7_777, 9_900, 9_999):
        for count in (0, 1, 2, 3, 7, 10, 33, 100, 999, 12_345):
            assert all_in_cost_cc(count, price) == count * price + taker_fee_cc(count, price), (count, price)


def test_edge_bound_is_never_below_the_edge_at_any_count() -> None:
    from kalshid.core.sizing import edge_bound, edge_per_contract

    for price in (1, 100, 2_500, 4_999, 5_000, 7_777, 9_999):
        for fair in (0.0, 0.1, 0.4999, 0.5, 0.77, 1.0):
            bound = edge_bound(fair, price)
            assert max(edge_per_contract(fair, c, price) for c in range(1, 400)) <= bound + 1e-12
            assert edge_per_contract(fair, 100_000, price) > bound - 1e-6  # and it is tight
