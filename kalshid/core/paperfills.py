"""The dry-run fill model: paper fills that don't flatter.

Taker orders walk the *visible* book level by level (partial fills, the exchange's own fee rule),
and liquidity a paper order took is remembered as consumed until the exchange's book changes at that
level, so two paper orders cannot both eat the same contracts. Resting orders never fill at the
midpoint: they fill only when the market *trades through* their price, or — at their exact price —
with a probability, and that probability depends on what the market does next.

Adverse selection. Kalshi's 15-minute books select against makers: measured on 120 live maker orders,
an order filled 96% of the time when its side went on to lose and 84% when it won. The model reproduces
that shape: a trade *at* a resting order's price is a *touch*; the touch resolves at the next move of
the opposite side's best price. If the market then moved against the order, it fills with probability
``p_fill_adverse`` (default 0.96); if it moved in the order's favour, with ``p_fill_favourable``
(default 0.84); if a window ends first, with the average. Trades *through* the price always fill.

Everything is pure: randomness comes in as draws in [0, 1) from the caller's seeded generator.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import attrs

from kalshid.core.fees import TAKER_RATE, fee_terms, order_fee_increment_cc
from kalshid.core.units import ONE_DOLLAR_CC
from kalshid.core.vocab import Action, Side

Level = tuple[int, int]  # (price_cc, count) of a bid


@attrs.frozen
class FillModelParams:
    """Knobs of the paper fill model; defaults from the live maker-order measurement above."""

    p_fill_adverse: float = 0.96
    p_fill_favourable: float = 0.84

    def __attrs_post_init__(self) -> None:
        for name in ("p_fill_adverse", "p_fill_favourable"):
            value = getattr(self, name)
            if not 0.0 <= value <= 1.0:
                raise ValueError(f"{name} must be within [0, 1], got {value}")


@attrs.frozen
class PaperFill:
    """One simulated execution: ``price_cc`` is the price of the order's own side."""

    price_cc: int
    count: int
    fee_cc: int
    is_taker: bool


def _crossing_levels(side: Side, action: Action, limit_cc: int,
                     yes_bids: Sequence[Level], no_bids: Sequence[Level]) -> list[Level]:
    """Levels an order can take, best first, as ``(own-side price, count)``.

    A YES buy at p takes NO bids at q >= 1 - p, paying 1 - q; a YES sell at p takes YES bids >= p.
    """
    if action == "buy":
        opposite = no_bids if side == "yes" else yes_bids
        levels = [(ONE_DOLLAR_CC - q, n) for q, n in opposite if ONE_DOLLAR_CC - q <= limit_cc and n > 0]
        return sorted(levels)
    same = yes_bids if side == "yes" else no_bids
    return sorted(((q, n) for q, n in same if q >= limit_cc and n > 0), reverse=True)


def book_key(side: Side, action: Action, own_price_cc: int) -> tuple[Side, int]:
    """The (book side, bid price) a taker execution consumed, for the consumed-liquidity ledger."""
    if action == "buy":
        return (Side(side).other, ONE_DOLLAR_CC - own_price_cc)
    return (side, own_price_cc)


def taker_fills(side: Side, action: Action, limit_cc: int, count: int, *,
                yes_bids: Sequence[Level], no_bids: Sequence[Level],
                consumed: Mapping[tuple[Side, int], int] | None = None) -> list[PaperFill]:
    """Fills for a marketable order walking the visible book; fees per the exchange's per-order rule.

    ``consumed`` maps ``(book side, bid price)`` to contracts earlier paper orders already took there.
    """
    consumed = consumed or {}
    fills: list[PaperFill] = []
    remaining = count
    prior_terms = 0
    for price, available in _crossing_levels(side, action, limit_cc, yes_bids, no_bids):
        if remaining <= 0:
            break
        available -= consumed.get(book_key(side, action, price), 0)
        take = min(remaining, available)
        if take <= 0:
            continue
        terms = fee_terms(take, price)
        fee = order_fee_increment_cc(prior_terms, terms, rate=TAKER_RATE)
        prior_terms += terms
        fills.append(PaperFill(price, take, fee, True))
        remaining -= take
    return fills


@attrs.frozen
class RestingPaperOrder:
    """A paper order resting on its side's bid book at ``price_cc`` (buys only: Kalshi books are bids)."""

    client_order_id: str
    side: Side
    price_cc: int
    remaining: int
    pending_touch: int = 0          # contracts traded at our price, awaiting the next move to resolve


@attrs.frozen
class TradePrint:
    """A public trade: ``yes_price_cc`` and the taker's side (a NO taker hit YES bids, and vice versa)."""

    yes_price_cc: int
    count: int
    taker_side: Side


def _own_price(side: Side, trade: TradePrint) -> int:
    return trade.yes_price_cc if side == "yes" else ONE_DOLLAR_CC - trade.yes_price_cc


def on_trade(order: RestingPaperOrder, trade: TradePrint) -> tuple[RestingPaperOrder, int]:
    """Apply a public trade to a resting paper bid: returns the order and contracts filled now.

    Only trades whose taker sold into our side's bids matter (a NO taker hits YES bids). A trade
    below our bid price is a trade *through* us: we were ahead of it, so we fill. A trade at our price
    is a touch, resolved later by :func:`resolve_touch`.
    """
    hits_our_side = trade.taker_side != order.side
    if not hits_our_side or order.remaining <= 0:
        return order, 0
    price = _own_price(order.side, trade)
    if price < order.price_cc:
        filled = min(order.remaining, trade.count)
        return attrs.evolve(order, remaining=order.remaining - filled,
                            pending_touch=min(order.pending_touch, order.remaining - filled)), filled
    if price == order.price_cc:
        touch = min(order.remaining, order.pending_touch + trade.count)
        return attrs.evolve(order, pending_touch=touch), 0
    return order, 0


def resolve_touch(order: RestingPaperOrder, *, moved_against: bool | None, draw: float,
                  params: FillModelParams) -> tuple[RestingPaperOrder, int]:
    """Resolve a pending touch when the market next moves (``moved_against``) or the window ends (None).

    ``draw`` is a uniform number in [0, 1) from the caller's seeded generator.
    """
    if order.pending_touch <= 0:
        return order, 0
    if moved_against is None:
        p = (params.p_fill_adverse + params.p_fill_favourable) / 2
    else:
        p = params.p_fill_adverse if moved_against else params.p_fill_favourable
    filled = order.pending_touch if draw < p else 0
    return attrs.evolve(order, remaining=order.remaining - filled, pending_touch=0), filled


def maker_fill(order: RestingPaperOrder, count: int) -> PaperFill:
    """A resting order's fill at its own price; makers pay no fee on KXSOL15M (``fee_type`` quadratic)."""
    return PaperFill(order.price_cc, count, 0, False)
