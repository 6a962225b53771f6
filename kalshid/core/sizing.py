"""Edge net of fees and fractional-Kelly sizing for a binary contract bought as a taker.

A contract bought at all-in cost ``c`` (price plus fee, per $1 of payout) that pays $1 with
probability ``p`` has Kelly fraction ``f* = (p − c)/(1 − c)`` of the bankroll. We stake
``kelly_fraction × f*`` (default a quarter Kelly, since ``p`` is a model estimate).

**Fees depend on the count** (``ceil_to_cent(0.07·C·P·(1−P))`` per order), so the all-in cost per
contract does too. We size *conservatively, without iteration*: ``ceil(C·x)/C ≤ ceil(x)``, so the
one-contract all-in cost ``c₁ = P + fee(1, P)`` bounds the per-contract cost of any order from above.
``f*`` is computed at ``c₁`` (``f*`` falls as ``c`` rises, so this never over-stakes), the stake
``kelly_fraction·f*·bankroll`` is floored to a whole cc, and the count is the largest ``C`` whose
*exact* all-in cost ``C·P + fee(C, P)`` fits in the stake (found from the unrounded-fee bound in a
step or two of the exact integer fee). The reported edge is then exact for that count.

Money is int cc throughout; floats appear only as probabilities and the Kelly fraction.
"""

from __future__ import annotations

import math

import attrs

from kalshid.core.fees import TAKER_RATE
from kalshid.core.slots import slot_setters
from kalshid.core.units import CC_PER_CENT, ONE_DOLLAR_CC, check_price_cc

DEFAULT_KELLY_FRACTION = 0.25
_TAKER_RATE = float(TAKER_RATE)  # only for max_count_within's starting estimate; fees stay exact
EDGE_BOUND_SLACK = 1e-9  # float rounding of edge_bound, far below any edge threshold
_FEE_NUM = TAKER_RATE.numerator
_FEE_DEN = TAKER_RATE.denominator * ONE_DOLLAR_CC * ONE_DOLLAR_CC // CC_PER_CENT  # per cent of fee, in cc²


class SizingError(ValueError):
    """Sizing inputs out of range (probability, price, bankroll, fraction, caps)."""


@attrs.frozen
class SizeDecision:
    """How many contracts to buy at ``price_cc`` and what it costs, exactly."""

    count: int
    price_cc: int
    fee_cc: int
    cost_cc: int  # count × price + fee: the cash the order can consume
    edge: float  # fair − all-in cost per contract, in probability units
    kelly_full: float  # f* at the conservative one-contract cost
    stake_cc: int  # kelly_fraction × f* × bankroll, floored


def all_in_cost_cc(count: int, price_cc: int) -> int:
    """``count × price + taker fee`` in cc: the worst-case cash cost of a taker buy."""
    if count <= 0:
        return count * price_cc
    # taker_fee_cc's integer ceiling, inlined: sizing evaluates it several times per strategy call
    return count * price_cc - (-(_FEE_NUM * count * price_cc * (ONE_DOLLAR_CC - price_cc)) // _FEE_DEN) * CC_PER_CENT


def edge_per_contract(fair_prob: float, count: int, price_cc: int) -> float:
    """``fair − (price + fee_per_contract)`` for an order of ``count`` contracts, in probability units."""
    if count <= 0:
        raise SizingError(f"count must be > 0, got {count}")
    return fair_prob - all_in_cost_cc(count, price_cc) / (count * ONE_DOLLAR_CC)


def edge_bound(fair_prob: float, price_cc: int) -> float:
    """An upper bound of :func:`edge_per_contract` over every count: the fee per contract is never
    below the unrounded ``0.07·P·(1 − P)``. A side whose bound is below the strategy's minimum edge
    cannot signal, so sizing it can be skipped."""
    return fair_prob - (price_cc + _TAKER_RATE * price_cc * (ONE_DOLLAR_CC - price_cc) / ONE_DOLLAR_CC) / ONE_DOLLAR_CC


def kelly_full_fraction(fair_prob: float, cost_prob: float) -> float:
    """``(p − c)/(1 − c)``, or 0 when there is no edge (``c ≥ p``) or the cost is a full dollar."""
    if cost_prob >= 1.0 or fair_prob <= cost_prob:
        return 0.0
    return (fair_prob - cost_prob) / (1.0 - cost_prob)


def max_count_within(budget_cc: int, price_cc: int, cap: int | None = None) -> int:
    """The largest count, at most ``cap``, whose exact all-in taker cost is at most ``budget_cc``
    (0 if none)."""
    if type(price_cc) is not int or not 0 < price_cc < ONE_DOLLAR_CC:
        check_price_cc(price_cc)  # raises with the reason
    if budget_cc <= 0:
        return 0
    return _count_within(budget_cc, price_cc, cap)[0]


def _count_within(budget_cc: int, price_cc: int, cap: int | None) -> tuple[int, int]:
    """:func:`max_count_within` for a checked price and a budget > 0, with that count's exact all-in
    cost (0 for no contract)."""
    hi = budget_cc // price_cc  # the fee is >= 0, so hi is an upper bound
    if cap is not None and cap < hi:  # min(hi, cap), at least 0 (written out: this runs on every sizing)
        hi = cap if cap > 0 else 0
    # Start at the count the *unrounded* fee allows: the rounded fee is at least that, so this is an
    # upper bound (give or take the float's last bit), and it exceeds the answer by at most one cent of
    # fee rounding, i.e. a step or two at whole-cent prices. The exact integer cost walks it to the
    # boundary. (A binary search over the exact cost took ~20 fee evaluations on a large bankroll, on
    # every strategy evaluation.)
    unit_cc = price_cc + _TAKER_RATE * price_cc * (ONE_DOLLAR_CC - price_cc) / ONE_DOLLAR_CC
    n = int(budget_cc / unit_cc) + 1
    if n > hi:
        n = hi
    cost = all_in_cost_cc(n, price_cc)  # 0 for n = 0
    while n > 0 and cost > budget_cc:
        n -= 1
        cost = all_in_cost_cc(n, price_cc)
    while n < hi:
        more = all_in_cost_cc(n + 1, price_cc)
        if more > budget_cc:
            break
        n, cost = n + 1, more
    return n, cost


def size_binary(
    fair_prob: float,
    price_cc: int,
    bankroll_cc: int,
    *,
    kelly_fraction: float = DEFAULT_KELLY_FRACTION,
    max_count: int,
) -> SizeDecision | None:
    """Fractional-Kelly size for buying one side at ``price_cc`` when it pays with ``fair_prob``.

    Returns ``None`` when there is no positive edge after fees, or the stake buys no whole contract.
    ``max_count`` is the caller's cap (e.g. displayed size at that price, a per-signal limit).
    """
    # a bounded comparison is false for NaN and the infinities, so these are the finite-range checks
    if not 0.0 <= fair_prob <= 1.0:
        raise SizingError(f"fair_prob must be in [0, 1], got {fair_prob!r}")
    if type(price_cc) is not int or not 0 < price_cc < ONE_DOLLAR_CC:
        check_price_cc(price_cc, what="price_cc")  # raises with the reason
    if bankroll_cc < 0:
        raise SizingError(f"bankroll_cc must be >= 0, got {bankroll_cc}")
    if not 0.0 < kelly_fraction <= 1.0:
        raise SizingError(f"kelly_fraction must be in (0, 1], got {kelly_fraction!r}")
    if max_count < 0:
        raise SizingError(f"max_count must be >= 0, got {max_count}")

    kelly = kelly_full_fraction(fair_prob, all_in_cost_cc(1, price_cc) / ONE_DOLLAR_CC)
    if kelly <= 0.0:
        return None
    stake_cc = math.floor(kelly_fraction * kelly * bankroll_cc)
    if stake_cc <= 0:
        return None
    n, cost = _count_within(stake_cc, price_cc, max_count)  # max_count_within, with the count's cost
    if n <= 0:
        return None
    # SizeDecision(...) has no checks: its slots are set directly (kalshid.core.slots), in field order
    d = _new(SizeDecision)
    _SD_COUNT(d, n)
    _SD_PRICE(d, price_cc)
    _SD_FEE(d, cost - n * price_cc)
    _SD_COST(d, cost)
    _SD_EDGE(d, fair_prob - cost / (n * ONE_DOLLAR_CC))
    _SD_KELLY(d, kelly)
    _SD_STAKE(d, stake_cc)
    return d


_new = object.__new__
_SD_COUNT, _SD_PRICE, _SD_FEE, _SD_COST, _SD_EDGE, _SD_KELLY, _SD_STAKE = slot_setters(SizeDecision)
