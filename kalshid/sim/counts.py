"""Contract counts in the simulator: integers in hundredths of a contract, and the money they move.

Kalshi's ``FixedPointCount``: requests carry 0–2 decimals, "fractional values are supported; the
minimum granularity is 0.01"; answers always carry 2 decimals. The simulator keeps every count
(orders, fills, trades, positions, book sizes, volume, open interest) as an ``int`` number of
hundredths, so ``"2.50"`` is ``250`` and a whole contract is :data:`CONTRACT`.

Money stays in centi-cents and exact: prices sit on the $0.01 grid (100 cc), so a hundredth of a
contract at any price is a whole number of centi-cents (:func:`notional_cc`). Fees follow Kalshi's
schedule, ``ceil_to_cent(rate × C × P × (1 − P))`` with C in contracts; with C in hundredths the
same integer ceiling runs with the rate divided by 100 (:data:`TAKER_RATE_H`, :data:`MAKER_RATE_H`).
"""

from __future__ import annotations

import re
from fractions import Fraction

from kalshid.core.fees import MAKER_RATE, TAKER_RATE, fee_terms, order_fee_increment_cc

CONTRACT = 100  # hundredths in one contract
TAKER_RATE_H = TAKER_RATE / CONTRACT
MAKER_RATE_H = MAKER_RATE / CONTRACT
# quadratic_with_combo_maker_fees: "the same maker-fee structure with a 0.5 maker multiplier instead of 0.25"
COMBO_MAKER_RATE_H = 2 * MAKER_RATE_H
SIM_FEE_TYPES = ("quadratic", "quadratic_with_maker_fees", "quadratic_with_combo_maker_fees")  # what it charges
_COUNT = re.compile(r"[0-9]+(\.[0-9]{1,2})?", re.ASCII)
_NEGATIVE = re.compile(r"-[0-9]+(\.[0-9]*)?", re.ASCII)
_FINE = re.compile(r"[0-9]+\.[0-9]{3,}", re.ASCII)


class CountError(ValueError):
    """A count string Kalshi would refuse; the message says why."""


def contracts(whole: int) -> int:
    """``whole`` contracts in hundredths."""
    return whole * CONTRACT


def whole(hundredths: int) -> int:
    """``hundredths`` as whole contracts; ``ValueError`` if it has a fractional part (never rounded)."""
    contracts_, rest = divmod(hundredths, CONTRACT)
    if rest:
        raise ValueError(f"{format_count(hundredths)} is not a whole number of contracts")
    return contracts_


def parse_count(text: str) -> int:
    """A request's count string (``"10"``, ``"2.5"``, ``"0.01"``) in hundredths, zero allowed.

    Raises :class:`CountError` naming the fault: a negative count, a third decimal (refused, never
    rounded), or anything but plain digits with an optional point (signs, exponents, ``NaN``,
    spaces, an empty string)."""
    if _COUNT.fullmatch(text):
        whole, _, frac = text.partition(".")
        return int(whole) * CONTRACT + int(frac.ljust(2, "0") or 0)
    if _NEGATIVE.fullmatch(text):
        raise CountError(f"{text!r} is negative; a count is at least 0.01")
    if _FINE.fullmatch(text):
        decimals = len(text.partition(".")[2])
        raise CountError(f"{text!r} has {decimals} decimals; counts take at most 2 (granularity 0.01)")
    raise CountError(f"{text!r} is not a count (a decimal string such as \"10.00\" or \"2.5\")")


def format_count(hundredths: int) -> str:
    """Kalshi's ``*_fp`` count string with 2 decimals: ``250`` → ``"2.50"``, ``-1`` → ``"-0.01"``."""
    sign = "-" if hundredths < 0 else ""
    whole, frac = divmod(abs(hundredths), CONTRACT)
    return f"{sign}{whole}.{frac:02d}"


def notional_cc(hundredths: int, price_cc: int) -> int:
    """What ``hundredths`` of a contract cost at ``price_cc`` each, in cc, exactly.

    Raises ``ValueError`` when the product is not a whole centi-cent (a fractional count at a price
    off the $0.01 grid), which the simulator's request checks never let through."""
    amount, rest = divmod(hundredths * price_cc, CONTRACT)
    if rest:
        raise ValueError(f"{format_count(hundredths)} contracts at {price_cc} cc is not a whole centi-cent")
    return amount


def taker_fee_cc(hundredths: int, price_cc: int, rate: Fraction = TAKER_RATE_H) -> int:
    """Kalshi's taker fee for one fill of ``hundredths`` at ``price_cc``, rounded up to the cent
    (``rate``: the taker rate per hundredth, the series' multiplier applied)."""
    if hundredths <= 0:
        return 0
    return order_fee_increment_cc(0, fee_terms(hundredths, price_cc), rate=rate)


def fee_increment_cc(prior_terms: int, new_terms: int, rate: Fraction) -> int:
    """The fee one more fill of an order adds (the order's fills add up to one fill's fee).

    ``*_terms`` are Σ C·p·(1 − p) with C in hundredths (:func:`kalshid.core.fees.fee_terms`);
    ``rate`` is :data:`TAKER_RATE_H` or a maker rate, times the fee multiplier."""
    return order_fee_increment_cc(prior_terms, new_terms, rate=rate)
