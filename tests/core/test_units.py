"""Exact units: dollars, cents, counts, price rounding."""

from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from kalshid.core import units


def test_dollar_strings_round_trip_exactly() -> None:
    assert units.dollars_to_cc("0.5600") == 5600
    assert units.dollars_to_cc("0.0001") == 1
    assert units.dollars_to_cc("12") == 120_000
    assert units.format_dollars(5600) == "0.5600"
    assert units.format_dollars(-1) == "-0.0001"
    assert units.format_dollars(120_000) == "12.0000"


@given(st.integers(min_value=-10**12, max_value=10**12))
def test_format_then_parse_is_identity(cc: int) -> None:
    assert units.dollars_to_cc(units.format_dollars(cc)) == cc


@pytest.mark.parametrize("bad", ["0.00001", "abc", "NaN", "Infinity", ""])
def test_dollar_amounts_finer_than_a_centi_cent_or_garbage_are_rejected(bad: str) -> None:
    with pytest.raises(units.UnitError):
        units.dollars_to_cc(bad)


def test_floats_and_booleans_are_refused() -> None:
    with pytest.raises(units.UnitError, match="float"):
        units.dollars_to_cc(0.1)  # type: ignore[arg-type]
    with pytest.raises(units.UnitError, match="boolean"):
        units.parse_count(True)


def test_counts_are_whole() -> None:
    assert units.parse_count("10.00") == 10
    assert units.parse_count(Decimal("3")) == 3
    assert units.format_count(10) == "10.00"
    assert units.format_count(-3) == "-3.00"
    with pytest.raises(units.UnitError, match="fractional"):
        units.parse_count("1.50")


def test_cents_and_rounding_to_a_cent() -> None:
    assert units.cents_to_cc(42) == 4200
    assert units.cc_to_cents_floor(4299) == 42
    assert units.cc_to_cents_floor(-1) == -1
    assert units.ceil_to_cent_cc(4201) == 4300
    assert units.ceil_to_cent_cc(4200) == 4200
    assert units.ceil_to_cent_cc(0) == 0


def test_price_bounds_and_complement() -> None:
    assert units.check_price_cc(100) == 100
    for bad in (0, 10_000, -5):
        with pytest.raises(units.UnitError):
            units.check_price_cc(bad)
    assert units.complement(4100) == 5900


def test_probability_to_price_rounds_in_the_safe_direction() -> None:
    assert units.prob_to_cc_floor(0.4567) == 4500
    assert units.prob_to_cc_ceil(0.4567) == 4600
    assert units.prob_to_cc_floor(0.45) == 4500
    assert units.prob_to_cc_ceil(0.45) == 4500
    assert units.prob_to_cc_floor(0.4567, tick_cc=10) == 4560
    assert units.prob_to_cc_floor(1.5) == 10_000
    with pytest.raises(units.UnitError):
        units.prob_to_cc_floor(float("nan"))
