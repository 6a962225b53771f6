"""The dry-run fill model: paper fills that don't flatter.

Taker orders walk the *visible* book level by level (partial fills, the exchange's own fee rule),
and liquidity a paper order took is remembered as consumed while the exchange's book still shows it
(the caller's ``consumed`` ledger), so two paper orders cannot both eat the same contracts. Resting
orders never fill at the midpoint: they fill only when the market *trades through* their price. A
trade *at* their price (a touch) does not fill them: the real book's orders at that price may have
been ahead of them in the queue, and what Kalshi would have done there is unknowable, so the dry run
does not guess in its own favour. A trade through the price is certain: the paper order, at a better
price, would have been taken first.

Everything is pure and deterministic.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import attrs

from kalshid.core.fees import TAKER_RATE, fee_terms, order_fee_increment_cc
from kalshid.core.units import ONE_DOLLAR_CC
from kalshid.core.vocab import Action, Side

Level = tuple[int, int]  # (price_cc, count) of a bid


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
    (a touch) or above it does not fill us (module docstring).
    """
    hits_our_side = trade.taker_side != order.side
    if not hits_our_side or order.remaining <= 0:
        return order, 0
    price = _own_price(order.side, trade)
    if price < order.price_cc:
        filled = min(order.remaining, trade.count)
        return attrs.evolve(order, remaining=order.remaining - filled), filled
    return order, 0


def maker_fill(order: RestingPaperOrder, count: int) -> PaperFill:
    """A resting order's fill at its own price; makers pay no fee on KXSOL15M (``fee_type`` quadratic)."""
    return PaperFill(order.price_cc, count, 0, False)
