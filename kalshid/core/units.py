"""Exact money, prices and counts.

Money and prices are integers in *centi-cents* (``cc``): 1 dollar = 10 000 cc, so Kalshi's
4-decimal ``*_dollars`` strings map one to one, and so do the centi-cent fields of the WebSocket
``market_position`` channel. A contract price is an integer in ``[0, 10_000]`` cc.

Counts are whole contracts (``int``). Kalshi's ``*_fp`` count strings carry 2 decimals; KXSOL15M
markets do not enable fractional trading, so a fractional count is a protocol error here, raised
loudly rather than rounded away.

Floats never carry money. Probabilities and volatilities are floats and are converted to prices
only through :func:`prob_to_cc_floor` / :func:`prob_to_cc_ceil`, which round in the safe direction.
"""

from __future__ import annotations

import math
from decimal import ROUND_CEILING, ROUND_FLOOR, Decimal, InvalidOperation

CC_PER_DOLLAR = 10_000
CC_PER_CENT = 100
ONE_DOLLAR_CC = CC_PER_DOLLAR

_CC = Decimal(CC_PER_DOLLAR)


class UnitError(ValueError):
    """A number could not be converted exactly (bad syntax, too many decimals, out of range)."""


class FinerThanCentiCent(UnitError):
    """A well-formed dollar amount with a digit below $0.0001 (``"0.913401"``): not a number of cc."""


def _decimal(value: str | int | Decimal, what: str) -> Decimal:
    if isinstance(value, bool):
        raise UnitError(f"{what}: expected a number, got a boolean")
    if isinstance(value, float):
        raise UnitError(f"{what}: floats are not accepted for exact values ({value!r})")
    try:
        d = Decimal(value) if not isinstance(value, Decimal) else value
    except (InvalidOperation, ValueError) as exc:
        raise UnitError(f"{what}: not a decimal number: {value!r}") from exc
    if not d.is_finite():
        raise UnitError(f"{what}: not a finite number: {value!r}")
    return d


def dollars_to_cc(value: str | int | Decimal) -> int:
    """Parse a dollar amount (``"0.5600"``, ``"12"``, ``Decimal``) into centi-cents, exactly.

    Raises :class:`UnitError` when the amount has finer precision than 1 cc ($0.0001).
    """
    d = _decimal(value, "dollar amount") * _CC
    if d != d.to_integral_value():
        raise FinerThanCentiCent(f"dollar amount {value!r} is finer than $0.0001")
    return int(d)


def cc_to_dollars(cc: int) -> Decimal:
    """Centi-cents to a ``Decimal`` number of dollars with 4 decimal places."""
    return (Decimal(cc) / _CC).quantize(Decimal("0.0001"))


def format_dollars(cc: int) -> str:
    """Kalshi's ``*_dollars`` string: dollars with exactly 4 decimals, e.g. ``"0.5600"``."""
    sign = "-" if cc < 0 else ""
    whole, frac = divmod(abs(cc), CC_PER_DOLLAR)
    return f"{sign}{whole}.{frac:04d}"


def cents_to_cc(cents: int) -> int:
    """Integer cents (Kalshi's legacy price fields, balances) to centi-cents."""
    if isinstance(cents, bool) or not isinstance(cents, int):
        raise UnitError(f"cents: expected an integer, got {cents!r}")
    return cents * CC_PER_CENT


def cc_to_cents_floor(cc: int) -> int:
    """Centi-cents to whole cents, rounding toward minus infinity (a balance never shows more than it has)."""
    return cc // CC_PER_CENT


def ceil_to_cent_cc(cc: int) -> int:
    """Round a centi-cent amount up to a whole cent (still in cc)."""
    return -((-cc) // CC_PER_CENT) * CC_PER_CENT


def parse_count(value: str | int | Decimal) -> int:
    """Parse a count (``"10.00"``, ``10``) into whole contracts.

    Raises :class:`UnitError` for a fractional count: KXSOL15M has no fractional trading.
    """
    d = _decimal(value, "count")
    if d != d.to_integral_value():
        raise UnitError(f"count {value!r} is fractional; this market trades whole contracts")
    return int(d)


def format_count(count: int) -> str:
    """Kalshi's ``*_fp`` count string with 2 decimals, e.g. ``"10.00"`` or ``"-3.00"``."""
    return f"{count}.00" if count >= 0 else f"-{-count}.00"


def check_price_cc(price_cc: int, *, what: str = "price") -> int:
    """Validate a contract price in cc: strictly between $0 and $1."""
    if isinstance(price_cc, bool) or not isinstance(price_cc, int):
        raise UnitError(f"{what}: expected an integer number of centi-cents, got {price_cc!r}")
    if not 0 < price_cc < ONE_DOLLAR_CC:
        raise UnitError(f"{what}: {format_dollars(price_cc)} is outside ($0, $1)")
    return price_cc


def complement(price_cc: int) -> int:
    """The other side's price: a YES bid at p is a NO ask at $1 - p."""
    return ONE_DOLLAR_CC - price_cc


def prob_to_cc_floor(p: float, tick_cc: int = CC_PER_CENT) -> int:
    """A probability as a price, rounded *down* to the tick (what we would pay at most)."""
    if not math.isfinite(p):
        raise UnitError(f"probability is not finite: {p!r}")
    q = Decimal(repr(min(max(p, 0.0), 1.0))) * _CC
    return int((q / tick_cc).to_integral_value(rounding=ROUND_FLOOR)) * tick_cc


def prob_to_cc_ceil(p: float, tick_cc: int = CC_PER_CENT) -> int:
    """A probability as a price, rounded *up* to the tick (what we would ask at least)."""
    if not math.isfinite(p):
        raise UnitError(f"probability is not finite: {p!r}")
    q = Decimal(repr(min(max(p, 0.0), 1.0))) * _CC
    return int((q / tick_cc).to_integral_value(rounding=ROUND_CEILING)) * tick_cc


def cc_to_prob(price_cc: int) -> float:
    """A price as a probability (for models only; never for accounting)."""
    return price_cc / CC_PER_DOLLAR
