"""The market side of the paper exchange: a virtual book of resting paper orders fed by public market
data, and the pass-through pipeline stage that feeds it.

:class:`PaperMarketEvents` (a mixin of :class:`~kalshid.exchange.paper.PaperExchange`) reacts to the
real exchange's events:

- :class:`BookUpdated`: remembered as the market's current book (taker fills walk it). Paper orders
  took their contracts from the front of a level's queue, and the real book still shows them: a level
  that shrinks lost those first (it can no longer show more of them than its size), one that empties
  lost them all, and what a level gains is new liquidity. So a paper order can take a level's size less
  what paper orders took there and the level still shows; it never takes the same contracts twice.
- :class:`TradePrinted`: allocated to resting paper orders best price first, then time priority,
  through :func:`kalshid.core.paperfills.on_trade` (through → maker fill at the order's own price; at
  the price, a touch → nothing).
- :class:`MarketLifecycle` ``determined``/``settled`` with a ``result``: resting orders are canceled,
  positions settle. (Every event first cancels resting orders past their expiry or their market's
  close, when Kalshi cancels them.)

:func:`paper_feed_task` is the stage: it forwards every event unchanged and, right behind the event
that caused them, the paper account's own :class:`FillReceived`, :class:`OrderUpdated` and
:class:`PositionUpdated` events — the same types the real feed sends — plus those caused by
``create_order``/``cancel_order`` calls from other tasks. Sends block (bounded channels end to end):
a stalled consumer stalls the stage visibly instead of growing a queue.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections import deque
from collections.abc import Callable
from datetime import datetime

import attrs
import trio

from kalshid.core.book import OrderBook
from kalshid.core.paperfills import RestingPaperOrder, TradePrint, on_trade
from kalshid.exchange.base import BookUpdated, EventSink, FeedEvent, MarketLifecycle, TradePrinted
from kalshid.exchange.types import Action, Order, Side
from kalshid.logs import get_logger

log = get_logger(__name__)

# ledger[(book side, bid price)] = contracts paper orders took there that the real book still shows
Ledger = dict[tuple[Side, int], int]
WINDOW_END_EVENTS = ("determined", "settled")


@attrs.define
class PaperOrderRecord:
    """One paper order: its public state plus what the fill model needs. ``price_cc`` is the own-side
    limit; ``resting`` its place on the virtual bid book (a sell of YES at p rests as a NO bid at
    $1 − p); ``close_time`` its market's, when Kalshi cancels what still rests."""

    order: Order
    action: Action
    price_cc: int
    seq: int
    taker_terms: int = 0
    resting: RestingPaperOrder | None = None
    close_time: datetime | None = None


def level_size(book: OrderBook, side: Side, price_cc: int) -> int:
    for p, n in book.yes if side == "yes" else book.no:
        if p == price_cc:
            return n
    return 0


def best_bid_cc(book: OrderBook | None, side: Side) -> int:
    """Best bid on ``side`` in cc, 0 when the side is empty or the book unknown."""
    if book is None:
        return 0
    best = book.best_yes_bid if side == "yes" else book.best_no_bid
    return best[0] if best else 0


class PaperMarketEvents(ABC):
    """Market-data handling for the paper account (see the module docstring). Synchronous: every
    method finishes its state change without awaiting, so it is atomic under Trio."""

    _orders: dict[str, PaperOrderRecord]
    _books: dict[str, OrderBook]
    _ledger: dict[str, Ledger]
    _ended: set[str]
    _now: Callable[[], datetime]
    _pending: deque[FeedEvent]
    _wake: trio.Event
    _attached: bool

    @abstractmethod
    def _maker_fill(self, rec: PaperOrderRecord, count: int) -> None:
        """Record a resting order's fill of ``count`` at its own price (and queue its events)."""

    @abstractmethod
    def _cancel_rec(self, rec: PaperOrderRecord) -> int:
        """Cancel a resting record; returns the contracts removed."""

    @abstractmethod
    def settle_market(self, ticker: str, result: str) -> object:
        """Pay out ``ticker``'s positions for ``result``."""

    # ------------------------------------------------------------------ events in

    def observe(self, event: FeedEvent) -> None:
        """Update the paper account from one market-data event (others are ignored)."""
        self.expire_due()
        if isinstance(event, BookUpdated):
            self.on_book(event.book)
        elif isinstance(event, TradePrinted):
            self.on_trade(event)
        elif isinstance(event, MarketLifecycle):
            self.on_lifecycle(event)

    def on_book(self, book: OrderBook) -> None:
        """Take a fresh book: reset consumed liquidity where levels changed."""
        if book.stale:
            return  # a resyncing book says nothing about the market
        self._books[book.ticker] = book
        self.refresh_ledger(book)

    def refresh_ledger(self, book: OrderBook) -> None:
        """What paper orders took at each level, as far as ``book`` still shows it: at most the level's
        size now (a level that shrank lost the contracts at its front first), forgotten once it is empty."""
        ledger = self._ledger.get(book.ticker)
        if not ledger:
            return
        for key, taken in list(ledger.items()):
            still = min(taken, level_size(book, key[0], key[1]))
            if still:
                ledger[key] = still
            else:
                del ledger[key]

    def on_trade(self, trade: TradePrinted) -> None:
        """Allocate a public trade to the paper bids it hits: best price first, then time."""
        if trade.taker_side not in ("yes", "no"):
            log.warning("paper_trade_unknown_taker_side", ticker=trade.ticker, taker_side=trade.taker_side)
            return
        taker = Side(trade.taker_side)
        hit = [r for r in self._resting(trade.ticker) if r.resting is not None and r.resting.side != taker]
        hit.sort(key=lambda r: (-r.resting.price_cc if r.resting else 0, r.seq))
        left = trade.count
        for rec in hit:
            if left <= 0:
                break
            assert rec.resting is not None
            rec.resting, filled = on_trade(rec.resting, TradePrint(trade.yes_price_cc, left, taker))
            if filled:
                left -= filled
                self._maker_fill(rec, filled)

    def on_lifecycle(self, event: MarketLifecycle) -> None:
        """A determined/settled market with a result ends the window and settles the paper account; an
        event with a close time (``close_date_updated``) moves the close its resting orders wait for."""
        if event.close_ts is not None:
            self.close_moved(event.ticker, event.close_ts)
        if event.event_type not in WINDOW_END_EVENTS or not event.result:
            return
        self.end_window(event.ticker)
        if event.result in ("yes", "no"):
            self.settle_market(event.ticker, event.result)
        else:
            # void/scalar results are not modelled: keep the positions for an operator to see.
            log.error("paper_settlement_unsupported", ticker=event.ticker, result=event.result)

    def close_moved(self, ticker: str, close_time: datetime) -> None:
        """``ticker`` now closes at ``close_time``: its orders are cancelled then, not at the old close."""
        for rec in self._orders.values():
            if rec.order.ticker == ticker:
                rec.close_time = close_time

    def expire_due(self) -> None:
        """Cancel resting orders whose ``expiration_ts`` has passed, and those of markets past their
        close, as Kalshi does at the close (``CloseCancel``) (checked on every event)."""
        now = self._now()
        for rec in [r for r in self._orders.values() if r.order.status == "resting"
                    and ((r.order.expiration_time is not None and r.order.expiration_time <= now)
                         or (r.close_time is not None and r.close_time <= now))]:
            self._cancel_rec(rec)

    def end_window(self, ticker: str) -> None:
        """Trading ended: resting orders are canceled, as Kalshi cancels them at the close."""
        self._ended.add(ticker)
        for rec in self._resting(ticker):
            self._cancel_rec(rec)

    # ------------------------------------------------------------------ internals

    def _resting(self, ticker: str) -> list[PaperOrderRecord]:
        return [r for r in self._orders.values()
                if r.order.ticker == ticker and r.order.status == "resting" and r.resting is not None]

    def _queue(self, *events: FeedEvent) -> None:
        """Queue events for the stage; without a running stage nobody listens, so they are dropped."""
        if not self._attached:
            return
        self._pending.extend(events)
        self._wake.set()


async def paper_feed_task(paper: PaperMarketEvents, source: trio.MemoryReceiveChannel[FeedEvent],
                          sink: EventSink, *,
                          task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
    """Forward ``source`` to ``sink`` while running the paper account from it (module docstring).

    Owns both channel ends (closes them on exit). Ends when ``source`` is closed; one stage per paper
    exchange at a time (a second raises ``RuntimeError``). Events are delivered in causal order: each
    market event, then the paper events it caused; events from ``create_order`` calls in between.
    """
    if paper._attached:
        raise RuntimeError("a paper_feed_task is already attached to this paper exchange")
    lock = trio.Lock()

    async def drain() -> None:
        while paper._pending:
            await sink.send(paper._pending.popleft())

    async def drain_out_of_band() -> None:
        while True:
            await paper._wake.wait()
            paper._wake = trio.Event()
            async with lock:
                await drain()

    async with source, sink, trio.open_nursery() as nursery:
        paper._attached = True
        paper._pending.clear()
        try:
            nursery.start_soon(drain_out_of_band)
            task_status.started()
            async for event in source:
                async with lock:
                    await sink.send(event)
                    paper.observe(event)
                    await drain()
            async with lock:
                await drain()
            nursery.cancel_scope.cancel()
        finally:
            paper._attached = False
