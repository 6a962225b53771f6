"""Which of our orders a fill belongs to, and so what it did (buy/sell YES/NO).

Kalshi reports a fill's direction only on its YES-quoted book (``book_side``): a ``bid`` fill bought
YES *or* sold NO. REST fills carry no ``client_order_id`` either, so a fill is joined with the order
that made it by ``order_id``:

1. an order just placed or ended (remembered here, bounded);
2. the journal: by the WS fill's ``client_order_id`` when it has one, else by ``order_id`` (journaled
   with the order once an answer or update named it), so a fill of an order of ours is never booked
   as external because the exchange could not be read at that moment;
3. otherwise the exchange is asked for the order (``GET /portfolio/orders/{id}``, which carries the
   ``client_order_id``) and the journal for its intent.

A fill whose order is not in the journal is an *external* fill (an order placed outside kalshid): it
is booked as a purchase of its outcome side (:func:`~kalshid.exchange.types.intent_of`), which moves
the position exactly as it moved on Kalshi, where YES and NO net in one position.
"""

from __future__ import annotations

from collections import OrderedDict

import attrs

from kalshid.exchange.base import Exchange
from kalshid.exchange.errors import ExchangeError
from kalshid.exchange.types import Action, Fill, Side
from kalshid.logs import get_logger
from kalshid.store import Journal

log = get_logger("kalshid.fills")

REMEMBERED = 4096


@attrs.frozen
class Owner:
    """The order a fill belongs to: its strategy (``external`` for adopted orders) and intent."""

    client_order_id: str
    strategy: str
    side: Side
    action: Action


class FillOwners:
    """Joins fills with their orders (see the module docstring). ``remember`` what is known cheaply;
    :meth:`resolve` does the rest and caches it (an unknown order is cached as external)."""

    def __init__(self, journal: Journal, exchange: Exchange, *, size: int = REMEMBERED) -> None:
        self._journal = journal
        self._exchange = exchange
        self._size = size
        self._by_order_id: OrderedDict[str, Owner | None] = OrderedDict()

    def remember(self, order_id: str | None, owner: Owner | None) -> None:
        if order_id:
            self._by_order_id[order_id] = owner
            self._by_order_id.move_to_end(order_id)
            while len(self._by_order_id) > self._size:
                self._by_order_id.popitem(last=False)

    async def resolve(self, fill: Fill) -> tuple[Fill, Owner | None]:
        """``fill`` with its order's intent, and the owner (None: an external fill, booked as a
        purchase of its outcome side). A lookup that fails is not cached, so it is tried again."""
        if fill.order_id in self._by_order_id:
            owner = self._by_order_id[fill.order_id]
        else:
            cid = fill.client_order_id
            rec = await self._journal.get_order_by_client_id(cid) if cid else None
            if rec is None:  # an order whose answer or update named its order_id is in the journal
                rec = await self._journal.get_order_by_order_id(fill.order_id)
            if rec is None and not cid:
                try:
                    cid = (await self._exchange.get_order(fill.order_id)).client_order_id
                except ExchangeError as exc:
                    log.warning("fill's order not readable: booked by its book side", fill_id=fill.fill_id,
                                order_id=fill.order_id, error=f"{type(exc).__name__}: {exc}")
                    return fill, None
                rec = await self._journal.get_order_by_client_id(cid) if cid else None
            owner = Owner(rec.client_order_id, rec.strategy, rec.side,
                          rec.action) if rec is not None else None
            if owner is None:
                log.warning("external fill: its order was not placed by this daemon", fill_id=fill.fill_id,
                            order_id=fill.order_id, book_side=fill.book_side)
            self.remember(fill.order_id, owner)
        if owner is None:
            return fill, None
        return attrs.evolve(fill.with_intent(owner.side, owner.action),
                            client_order_id=fill.client_order_id or owner.client_order_id), owner
