"""Kalshi's trading fees, exactly (Kalshi's fee schedule, docs.kalshi.com).

Taker fee for C contracts at price P (dollars): ``ceil_to_cent(0.07 × C × P × (1 − P))``.
Maker fills are free for ``fee_type == "quadratic"`` (KXSOL15M); ``quadratic_with_maker_fees``
charges ``ceil_to_cent(0.0175 × C × P × (1 − P))``. All arithmetic is integer: with P in
centi-cents, ``0.07 × C × P × (1 − P)`` dollars is ``7 × C × p × (10 000 − p) / 10^8`` cents.

``fee_multiplier`` (Series) scales the coefficient; how Kalshi applies it is unconfirmed, so we
multiply the coefficient by it (1 for KXSOL15M) and document that choice.

kalshid's edges assume the fee structure of KXSOL15M (quadratic, multiplier 1). Kalshi publishes the
structure per series and lets an event override it; :func:`effective_fee_structure` resolves the two and
:func:`taker_fee_modelled` says whether kalshid's fee is the one charged (the trading shell refuses new
buys in a market where it is not, :mod:`kalshid.trading.fees`).
"""

from __future__ import annotations

from decimal import Decimal
from fractions import Fraction

import attrs

from kalshid.core.units import CC_PER_CENT, ONE_DOLLAR_CC

TAKER_RATE = Fraction(7, 100)
MAKER_RATE = Fraction(175, 10_000)

FEE_TYPES = ("quadratic", "quadratic_with_maker_fees", "quadratic_with_combo_maker_fees", "flat")  # FeeType


_CC2_PER_CENT = ONE_DOLLAR_CC * ONE_DOLLAR_CC // 100  # cc² per cent of fee (10^6)


def _quadratic_fee_cc(rate: Fraction, terms: int) -> int:
    """``terms`` = Σ Cᵢ·pᵢ·(10 000 − pᵢ) in cc²; returns the fee rounded up to a whole cent, in cc."""
    return _whole_cents_cc(rate.numerator, rate.denominator * _CC2_PER_CENT, terms)


def _whole_cents_cc(num: int, den: int, terms: int) -> int:
    """The fee ``num/den × terms`` (``den`` in cc² per cent) rounded up to a whole cent, in cc: a pure
    integer ceiling division, no ``Fraction`` arithmetic (this runs on every strategy evaluation)."""
    return -(-(num * terms) // den) * CC_PER_CENT


def fee_terms(count: int, price_cc: int) -> int:
    """The fee's variable part ``C·p·(1 − p)`` in cc², for accumulation across fills."""
    return count * price_cc * (ONE_DOLLAR_CC - price_cc)


def taker_fee_cc(count: int, price_cc: int, *, multiplier: Fraction | int = 1) -> int:
    """Taker fee in cc (a whole number of cents) for ``count`` contracts at ``price_cc``."""
    if count <= 0:
        return 0
    if multiplier == 1:  # the taker rate's parts read once, not from the Fraction on every call
        return _whole_cents_cc(_TAKER_NUM, _TAKER_DEN, fee_terms(count, price_cc))
    return _quadratic_fee_cc(TAKER_RATE * multiplier, fee_terms(count, price_cc))


_TAKER_NUM = TAKER_RATE.numerator
_TAKER_DEN = TAKER_RATE.denominator * _CC2_PER_CENT


def maker_fee_cc(count: int, price_cc: int, *, fee_type: str = "quadratic",
                 multiplier: Fraction | int = 1) -> int:
    """Maker fee in cc: zero unless the series charges maker fees."""
    if count <= 0 or fee_type != "quadratic_with_maker_fees":
        return 0
    rate = MAKER_RATE if multiplier == 1 else MAKER_RATE * multiplier
    return _quadratic_fee_cc(rate, fee_terms(count, price_cc))


def order_fee_increment_cc(prior_terms: int, new_terms: int, *, rate: Fraction = TAKER_RATE) -> int:
    """Fee charged for one more fill of an order, so an order's fills add up to one fill's fee.

    ``prior_terms`` is Σ C·p·(1 − p) of the order's earlier fills, ``new_terms`` that of this fill.
    The total after n fills is ``ceil_cent(rate × Σ terms)``; each fill pays the difference.
    """
    before = _quadratic_fee_cc(rate, prior_terms) if prior_terms else 0
    return _quadratic_fee_cc(rate, prior_terms + new_terms) - before


# --- the fee structure the exchange publishes, against the one kalshid models --------------------

MODELLED_FEE_TYPES = ("quadratic", "quadratic_with_maker_fees")
MODELLED_MULTIPLIER = Decimal(1)


@attrs.frozen
class FeeStructure:
    """A fee structure as Kalshi publishes it: ``fee_type`` (``FeeType``: quadratic,
    quadratic_with_maker_fees, quadratic_with_combo_maker_fees, flat, or a value added later) and
    ``multiplier`` (``fee_multiplier``, exact: the JSON number read as a ``Decimal``). ``source`` says
    where the effective one came from: ``series``, ``event`` (both overridden) or ``series+event``."""

    fee_type: str
    multiplier: Decimal
    source: str = "series"

    def describe(self) -> str:
        return f"{self.fee_type} x{self.multiplier}"


MODELLED_FEE = FeeStructure("quadratic", MODELLED_MULTIPLIER)


def effective_fee_structure(series: FeeStructure, type_override: str | None,
                            multiplier_override: Decimal | None) -> FeeStructure:
    """The fee structure of one event's markets: the event's override where it sets one, else the series'.

    Kalshi's ``EventData.fee_type_override`` / ``fee_multiplier_override`` "take precedence over the
    series-level fee for this event's markets"; null means no override, each field on its own (a null
    override "falls back to the parent series' fee type" / "fee multiplier")."""
    if type_override is None and multiplier_override is None:
        return FeeStructure(series.fee_type, series.multiplier, "series")
    source = "event" if type_override is not None and multiplier_override is not None else "series+event"
    return FeeStructure(type_override if type_override is not None else series.fee_type,
                        multiplier_override if multiplier_override is not None else series.multiplier, source)


def taker_fee_modelled(fee: FeeStructure) -> bool:
    """Whether :func:`taker_fee_cc` (multiplier 1), the fee kalshid charges itself on every order (it
    trades immediate-or-cancel, as a taker), is the fee ``fee`` makes Kalshi charge.

    True iff ``fee.fee_type`` is ``quadratic`` or ``quadratic_with_maker_fees`` (the same general taker
    fee; they differ in maker fees only) and the multiplier is exactly 1 (compared as a ``Decimal``:
    ``1``, ``1.0`` and ``1.00`` are 1, ``1.0001`` is not). Anything else, including
    ``quadratic_with_combo_maker_fees`` (whose taker side the schedule does not state), ``flat`` and
    a type Kalshi adds later, is not modelled: every edge kalshid computes would be wrong there, so it
    must not buy on them."""
    return fee.fee_type in MODELLED_FEE_TYPES and fee.multiplier == MODELLED_MULTIPLIER


def fee_refusal(ticker: str, fee: FeeStructure | None, why_unknown: str = "not read yet") -> str | None:
    """Why buys in ``ticker`` are refused because of its fee structure (risk's ``FEE_SCHEDULE`` detail),
    or None when ``fee`` is the one kalshid models. ``fee`` None: the structure is not known
    (``why_unknown`` says why), which refuses buys as well."""
    if fee is None:
        return (f"{ticker}: the exchange's fee structure is unknown ({why_unknown}); kalshid models "
                f"{MODELLED_FEE.describe()}: no new entries until it is read")
    if taker_fee_modelled(fee):
        return None
    return (f"{ticker}: the exchange charges {fee.describe()} ({fee.source}); kalshid models "
            f"{MODELLED_FEE.describe()}: no new entries")
