"""The fee structure Kalshi publishes against the one kalshid models: the event's override over the
series', and the exact rule that says whether kalshid's taker fee is the one charged."""

from __future__ import annotations

from decimal import Decimal

import pytest

from kalshid.core.fees import (
    MODELLED_FEE,
    FeeStructure,
    effective_fee_structure,
    fee_refusal,
    taker_fee_modelled,
)

SERIES = FeeStructure("quadratic", Decimal(1))


@pytest.mark.parametrize(("fee_type", "multiplier", "modelled"), [
    ("quadratic", Decimal(1), True),
    ("quadratic", Decimal("1.0"), True),
    ("quadratic", Decimal("1.00"), True),
    ("quadratic_with_maker_fees", Decimal(1), True),  # the same taker fee; kalshid only takes
    ("quadratic", Decimal("1.0001"), False),
    ("quadratic", Decimal("0.9999"), False),
    ("quadratic", Decimal(2), False),
    ("quadratic", Decimal(0), False),
    ("quadratic_with_combo_maker_fees", Decimal(1), False),
    ("flat", Decimal(1), False),
    ("something_new", Decimal(1), False),
])
def test_kalshids_taker_fee_holds_only_for_the_quadratic_types_at_exactly_one(
        fee_type: str, multiplier: Decimal, modelled: bool) -> None:
    assert taker_fee_modelled(FeeStructure(fee_type, multiplier)) is modelled


def test_an_event_override_takes_precedence_field_by_field() -> None:
    assert effective_fee_structure(SERIES, None, None) == FeeStructure("quadratic", Decimal(1), "series")
    assert effective_fee_structure(SERIES, "flat", Decimal(3)) == FeeStructure("flat", Decimal(3), "event")
    # a null override falls back to the series' value of that field
    assert effective_fee_structure(SERIES, None, Decimal("1.5")) == FeeStructure("quadratic", Decimal("1.5"),
                                                                               "series+event")
    two = FeeStructure("quadratic", Decimal(2))
    assert effective_fee_structure(two, "quadratic_with_maker_fees", None) == FeeStructure(
        "quadratic_with_maker_fees", Decimal(2), "series+event")
    # an override back to the model makes a differing series' event tradable
    assert taker_fee_modelled(effective_fee_structure(two, None, Decimal(1)))


def test_the_refusal_names_the_market_what_the_exchange_says_and_the_model() -> None:
    assert fee_refusal("KX-1", SERIES) is None
    differs = fee_refusal("KX-1", FeeStructure("quadratic", Decimal("1.5"), "event"))
    assert differs == ("KX-1: the exchange charges quadratic x1.5 (event); kalshid models quadratic x1: "
                       "no new entries")
    unknown = fee_refusal("KX-1", None, "GET /series/KXSOL15M failed: HTTP 500")
    assert unknown is not None and "unknown (GET /series/KXSOL15M failed: HTTP 500)" in unknown
    assert MODELLED_FEE.describe() in unknown
