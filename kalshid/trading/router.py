"""The feeds' send end: each event goes straight into the inbox of the stage that consumes it.

A feed (:class:`~kalshid.exchange.kalshi.ws.KalshiFeed`, the spot feed, the dry-run paper feed)
writes its events to an :class:`~kalshid.exchange.base.EventSink`. In the pipeline that sink is a
:class:`FeedRouter`, which delivers each event *in the feed's own task* to the channel of the stage
that reads it:

* market data (books, index prints, trades, tickers, a book going stale or resynced) → strategy;
* order events (fills, order updates, positions) and ``Reconnected`` → execution;
* ``MarketLifecycle`` → both (strategy rolls its markets, execution cancels at window end);
* ``SubscriptionFailed`` and ``EventFeeUpdated`` → neither (the router's ``observe`` hook logs the one and
  hands the other to the markets room's fee watch).

There is no routing task between the feed and the stages: a market-data message is in the
strategy's inbox when the feed's handler returns, one scheduler pass earlier than through a task.

Semantics, as close to a ``trio.MemorySendChannel`` as the feeds rely on:

* :meth:`send_nowait` delivers or raises ``trio.WouldBlock`` *before any side effect*, so a feed
  may coalesce a book update the strategy has no room for and offer it again later. An event for
  two stages is delivered to both or (when either is full) to neither.
* :meth:`send` waits for room; it is the feeds' must-deliver path.
* A stage that has finished (its ``wants_*`` callable answers false, or its channel is closed) gets
  nothing: the event is dropped for that stage, as it may be only during shutdown.
* ``observe(event)`` runs once per event the router accepted (delivered or dropped), never for one
  refused with ``WouldBlock``: the place for side effects (clock, metrics, alerts).
* :meth:`clone` and :meth:`close` count handles: the two stage channels are closed when the last
  handle is, as a routing task closed them when its source ended.
"""

from __future__ import annotations

from collections.abc import Callable
from types import TracebackType
from typing import Any

import trio

from kalshid.exchange.base import (
    BookUpdated,
    EventFeeUpdated,
    FeedEvent,
    FeedResynced,
    FeedStale,
    IndexPrinted,
    MarketLifecycle,
    SubscriptionFailed,
    TickerUpdated,
    TradePrinted,
)
from kalshid.logs import get_logger

log = get_logger("kalshid.router")

MARKET_DATA = (BookUpdated, IndexPrinted, TradePrinted, TickerUpdated, FeedStale, FeedResynced)

_Closed = (trio.BrokenResourceError, trio.ClosedResourceError)


def _has_room(channel: trio.MemorySendChannel[Any]) -> bool:
    """Would ``send_nowait`` not raise ``WouldBlock``? (A closed or broken channel raises something
    else, which the router treats as a finished stage.)"""
    s = channel.statistics()
    return (s.tasks_waiting_receive > 0 or s.current_buffer_used < s.max_buffer_size
            or s.open_receive_channels == 0)


class _Shared:
    def __init__(self, market_data: trio.MemorySendChannel[Any], orders: trio.MemorySendChannel[Any],
                 wants_market_data: Callable[[], bool], wants_orders: Callable[[], bool],
                 observe: Callable[[FeedEvent], None]) -> None:
        self.market_data = market_data
        self.orders = orders
        self.wants_market_data = wants_market_data
        self.wants_orders = wants_orders
        self.observe = observe
        self.handles = 0
        self.market_data_open = True  # until a delivery finds the strategy's inbox closed


class FeedRouter:
    """One handle on the router (module docstring); :meth:`clone` makes another."""

    def __init__(self, market_data: trio.MemorySendChannel[Any], orders: trio.MemorySendChannel[Any], *,
                 wants_market_data: Callable[[], bool] = lambda: True,
                 wants_orders: Callable[[], bool] = lambda: True,
                 observe: Callable[[FeedEvent], None] = lambda event: None) -> None:
        self._attach(_Shared(market_data, orders, wants_market_data, wants_orders, observe))

    def _attach(self, shared: _Shared) -> None:
        self._s = shared
        shared.handles += 1
        self._closed = False

    def _targets(self, event: FeedEvent) -> tuple[trio.MemorySendChannel[Any], ...]:
        s = self._s
        if isinstance(event, MARKET_DATA):
            return (s.market_data,) if s.wants_market_data() else ()
        if isinstance(event, SubscriptionFailed | EventFeeUpdated):
            return ()
        if isinstance(event, MarketLifecycle):
            return tuple(ch for ch, wanted in ((s.market_data, s.wants_market_data()),
                                                (s.orders, s.wants_orders())) if wanted)
        return (s.orders,) if s.wants_orders() else ()

    def send_nowait(self, event: FeedEvent) -> None:
        """Deliver now, or raise ``trio.WouldBlock`` having changed nothing."""
        if self._closed:
            raise trio.ClosedResourceError("this feed router handle is closed")
        targets = self._targets(event)
        if len(targets) > 1 and not all(_has_room(ch) for ch in targets):
            raise trio.WouldBlock
        for ch in targets:
            try:
                ch.send_nowait(event)
            except _Closed:
                self._dropped(ch, event)
        self._s.observe(event)

    async def send(self, event: FeedEvent) -> None:
        """Deliver, waiting for room in each stage's inbox in turn."""
        if self._closed:
            raise trio.ClosedResourceError("this feed router handle is closed")
        targets = self._targets(event)
        if not targets:
            await trio.lowlevel.checkpoint()
        for ch in targets:
            try:
                await ch.send(event)
            except _Closed:
                self._dropped(ch, event)
        self._s.observe(event)

    def _dropped(self, channel: trio.MemorySendChannel[Any], event: FeedEvent) -> None:
        if channel is self._s.market_data:
            self._s.market_data_open = False
        log.debug("dropped after the receiving stage stopped", item=type(event).__name__)

    @property
    def delivers_market_data(self) -> bool:
        """Does market data reach the strategy now: it is wanted, and the strategy's inbox was open at
        the last delivery? (Exact for each market-data event once :attr:`observe` runs for it.)"""
        return self._s.market_data_open and self._s.wants_market_data()

    def clone(self) -> FeedRouter:
        if self._closed:
            raise trio.ClosedResourceError("this feed router handle is closed")
        handle = object.__new__(FeedRouter)
        handle._attach(self._s)
        return handle

    def close(self) -> None:
        """Close this handle; the last one closed closes both stage channels (idempotent)."""
        if self._closed:
            return
        self._closed = True
        self._s.handles -= 1
        if self._s.handles == 0:
            self._s.market_data.close()
            self._s.orders.close()

    async def aclose(self) -> None:
        self.close()
        await trio.lowlevel.checkpoint()

    async def __aenter__(self) -> FeedRouter:
        return self

    async def __aexit__(self, exc_type: type[BaseException] | None, exc_value: BaseException | None,
                        traceback: TracebackType | None) -> None:
        self.close()
