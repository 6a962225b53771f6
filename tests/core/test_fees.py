"""Kalshi's quadratic taker fee, rounded up to the cent, in exact integers."""

import math
from fractions import Fraction

from hypothesis import given
from hypothesis import strategies as st

from kalshid.core import fees


def test_documented_example_ten_contracts_at_fifty_cents_costs_eighteen_cents() -> None:
    assert fees.taker_fee_cc(10, 5000) == 1800


def test_small_orders_round_up_to_a_whole_cent() -> None:
    # 0.07 * 1 * 0.01 * 0.99 = $0.000693 -> $0.01
    assert fees.taker_fee_cc(1, 100) == 100
    assert fees.taker_fee_cc(0, 5000) == 0


def test_makers_pay_nothing_on_quadratic_series_and_a_quarter_rate_otherwise() -> None:
    assert fees.maker_fee_cc(100, 5000) == 0
    # 0.0175 * 100 * 0.25 = $0.4375 -> $0.44
    assert fees.maker_fee_cc(100, 5000, fee_type="quadratic_with_maker_fees") == 4400


@given(st.integers(1, 10_000), st.integers(1, 9_999))
def test_fee_matches_the_formula_computed_with_fractions(count: int, price_cc: int) -> None:
    p = Fraction(price_cc, 10_000)
    expected_cents = math.ceil(Fraction(7, 100) * count * p * (1 - p) * 100)
    assert fees.taker_fee_cc(count, price_cc) == expected_cents * 100


@given(st.integers(1, 10_000), st.integers(1, 9_999),
       st.sampled_from([1, Fraction(1), 2, Fraction(1, 2), Fraction(3, 4)]))
def test_a_fee_multiplier_scales_the_rate_before_rounding(count: int, price_cc: int,
                                                          multiplier: int | Fraction) -> None:
    p = Fraction(price_cc, 10_000)
    expected_cents = math.ceil(Fraction(7, 100) * multiplier * count * p * (1 - p) * 100)
    assert fees.taker_fee_cc(count, price_cc, multiplier=multiplier) == expected_cents * 100


@given(st.lists(st.tuples(st.integers(1, 500), st.integers(1, 9_999)), min_size=1, max_size=10))
def test_fill_increments_add_up_to_the_fee_of_the_whole_order(fills: list[tuple[int, int]]) -> None:
    total = 0
    prior = 0
    for count, price in fills:
        new = fees.fee_terms(count, price)
        total += fees.order_fee_increment_cc(prior, new)
        prior += new
    assert total == math.ceil(Fraction(7, 100) * Fraction(prior, 10**8) * 100) * 100
