"""Kalshi's trading fees, exactly (Kalshi's fee schedule, docs.kalshi.com).

Taker fee for C contracts at price P (dollars): ``ceil_to_cent(0.07 × C × P × (1 − P))``.
Maker fills are free for ``fee_type == "quadratic"`` (KXSOL15M); ``quadratic_with_maker_fees``
charges ``ceil_to_cent(0.0175 × C × P × (1 − P))``. All arithmetic is integer: with P in
centi-cents, ``0.07 × C × P × (1 − P)`` dollars is ``7 × C × p × (10 000 − p) / 10^8`` cents.

``fee_multiplier`` (Series) scales the coefficient; how Kalshi applies it is unconfirmed, so we
multiply the coefficient by it (1 for KXSOL15M) and document that choice.
"""

from __future__ import annotations

from fractions import Fraction

from kalshid.core.units import CC_PER_CENT, ONE_DOLLAR_CC

TAKER_RATE = Fraction(7, 100)
MAKER_RATE = Fraction(175, 10_000)

FEE_TYPES = ("quadratic", "quadratic_with_maker_fees", "flat")


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
