"""A binary market's order book as two bid books, with price-time priority, as Kalshi matches.

Kalshi shows only bids: a YES bid at ``p`` is the same thing as a NO ask at ``$1 − p``. Every order is
therefore booked as a *bid on one book side*:

* buy YES at p  → YES bid at p;     sell YES at p → NO bid at $1 − p;
* buy NO at p   → NO bid at p;      sell NO at p  → YES bid at $1 − p.

An incoming bid on book side S at price q crosses resting bids on the other side at prices ≥ $1 − q,
best (highest) first, then oldest first. The maker's price is the trade price: a taker bidding q
against a maker bid m pays $1 − m ≤ q (price improvement goes to the taker).

This module is pure bookkeeping: it never decides who may trade or what it costs; the exchange
engine (``kalshid.sim.engine``) walks :meth:`MatchingBook.crossing` and applies fills one by one so it can
enforce self-trade prevention and accounting. Prices are centi-cents (``kalshid.core.units``).
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterator

import attrs

from kalshid.core.units import ONE_DOLLAR_CC
from kalshid.core.vocab import Action, Side

SIDES: tuple[Side, Side] = (Side.YES, Side.NO)


def other_side(side: Side) -> Side:
    # equality, not identity: the simulator's requests may carry the wire string
    return Side.NO if side == Side.YES else Side.YES


def book_side_of(side: Side, action: Action) -> Side:
    """The bid book an order rests on: buys on their own side, sells on the other side."""
    return side if action == Action.BUY else other_side(side)


def book_price_of(action: Action, price_cc: int) -> int:
    """The bid price an order rests at, from its own-side limit price."""
    return price_cc if action == "buy" else ONE_DOLLAR_CC - price_cc


@attrs.define
class RestingOrder:
    """One resting bid. ``remaining`` is mutated by fills and decreases; ``priority`` orders time."""

    order_id: str
    owner: str
    book_side: Side
    price_cc: int
    remaining: int
    priority: int


@attrs.frozen
class BookDelta:
    """A change of resting size at one price level of one bid book (Kalshi's ``orderbook_delta``)."""

    book_side: Side
    price_cc: int
    delta: int


class BookError(ValueError):
    """A book operation named an unknown order or an impossible size."""


class MatchingBook:
    """Two bid books (YES and NO) for one market, price-time priority.

    Every mutating method returns the :class:`BookDelta` list it caused, so a caller can publish
    exact ``orderbook_delta`` messages. Not thread-safe; not async; never reads a clock.
    """

    def __init__(self) -> None:
        self._levels: dict[Side, dict[int, deque[RestingOrder]]] = {Side.YES: {}, Side.NO: {}}
        self._orders: dict[str, RestingOrder] = {}
        self._next_priority = 0

    def __contains__(self, order_id: str) -> bool:
        return order_id in self._orders

    def __len__(self) -> int:
        return len(self._orders)

    def get(self, order_id: str) -> RestingOrder | None:
        return self._orders.get(order_id)

    def add(self, order_id: str, owner: str, book_side: Side, price_cc: int, count: int) -> list[BookDelta]:
        """Rest a bid at the back of its price level's queue."""
        if order_id in self._orders:
            raise BookError(f"order {order_id} already rests")
        if count <= 0:
            raise BookError(f"cannot rest {count} contracts")
        order = RestingOrder(order_id, owner, book_side, price_cc, count, self._next_priority)
        self._next_priority += 1
        self._orders[order_id] = order
        self._levels[book_side].setdefault(price_cc, deque()).append(order)
        return [BookDelta(book_side, price_cc, count)]

    def reduce(self, order_id: str, by: int) -> list[BookDelta]:
        """Take ``by`` contracts off a resting order (a fill or a decrease); removes it at zero."""
        order = self._orders.get(order_id)
        if order is None:
            raise BookError(f"order {order_id} does not rest")
        if not 0 < by <= order.remaining:
            raise BookError(f"cannot reduce order {order_id} ({order.remaining} left) by {by}")
        order.remaining -= by
        if order.remaining == 0:
            self._unlink(order)
        return [BookDelta(order.book_side, order.price_cc, -by)]

    def remove(self, order_id: str) -> list[BookDelta]:
        """Take a resting order off the book entirely (cancel)."""
        order = self._orders.get(order_id)
        if order is None:
            raise BookError(f"order {order_id} does not rest")
        size = order.remaining
        self._unlink(order)
        return [BookDelta(order.book_side, order.price_cc, -size)]

    def _unlink(self, order: RestingOrder) -> None:
        del self._orders[order.order_id]
        level = self._levels[order.book_side][order.price_cc]
        level.remove(order)
        if not level:
            del self._levels[order.book_side][order.price_cc]

    def crossing(self, book_side: Side, limit_cc: int) -> Iterator[RestingOrder]:
        """Resting opposite bids an incoming bid at ``limit_cc`` on ``book_side`` may trade with, in
        priority order (best price, then oldest). Snapshot: safe to mutate the book while iterating."""
        opposite = self._levels[other_side(book_side)]
        floor = ONE_DOLLAR_CC - limit_cc
        result: list[RestingOrder] = []
        for price in sorted((p for p in opposite if p >= floor), reverse=True):
            result.extend(opposite[price])
        return iter(result)

    def is_marketable(self, book_side: Side, limit_cc: int) -> bool:
        floor = ONE_DOLLAR_CC - limit_cc
        return any(p >= floor for p in self._levels[other_side(book_side)])

    def best_bid(self, side: Side) -> tuple[int, int] | None:
        """``(price_cc, size)`` of the best bid on ``side``, or ``None`` when that side is empty."""
        levels = self._levels[side]
        if not levels:
            return None
        price = max(levels)
        return price, sum(o.remaining for o in levels[price])

    def levels(self, side: Side, depth: int = 0) -> list[tuple[int, int]]:
        """Aggregated ``(price_cc, size)`` levels of one side, ascending by price (best last).

        ``depth`` > 0 keeps only the best ``depth`` levels."""
        items = sorted((p, sum(o.remaining for o in q)) for p, q in self._levels[side].items())
        return items[-depth:] if depth > 0 else items

    def orders(self) -> list[RestingOrder]:
        return list(self._orders.values())

    def total_size(self, side: Side) -> int:
        return sum(o.remaining for q in self._levels[side].values() for o in q)
