"""Kalshi WebSocket feed (the current AsyncAPI): one authenticated connection, typed events, live books.

:class:`KalshiFeed` is the Trio shell around the sans-IO :class:`~.feedprotocol.FeedProtocol`, which
decides what to subscribe, checks ``seq``, keeps the books and says when to resync (read its module
docstring). The shell connects (fresh signed headers each time, over ``ts + GET + /trade-api/ws/v2``),
feeds the protocol every frame, sends its commands, and delivers its
:data:`~kalshid.exchange.base.FeedEvent` values into a bounded trio memory channel that it owns
(closed when :meth:`KalshiFeed.run` ends).

Resilience:

- Watchdog: after ``watchdog_s`` without a data message we ping; no pong within ``pong_timeout_s``
  → reconnect. (The connection answers the server's pings itself.)
- Transient failures (closed connection, handshake failure/timeout, OS errors, watchdog, a frame
  after which the protocol asks for a :class:`~.feedprotocol.Reconnect`) reconnect
  with exponential backoff and jitter; everything is re-subscribed, including markets added later
  with :meth:`KalshiFeed.set_markets`. Other exceptions propagate.

Bursts: the connection (:mod:`kalshid.exchange.wsclient`) hands over every message one network
read completed, and the feed handles them all in one scheduler step: a burst of book deltas
reaches the strategy together, which evaluates once on the final state instead of once per
intermediate one (at most ``batch_limit`` messages per step, so other tasks still run).

Backpressure policy: fills, order updates, positions, lifecycle, index prints, trades, tickers and
feed-state events are delivered with a *blocking* send; if the consumer does not take one within
``max_block_s`` the feed raises :class:`FeedBackpressure` (loud, never a silent drop). Book updates
are *coalesced*: each :class:`BookUpdated` carries the whole current book, so when the channel is
full the feed remembers which books changed and delivers their latest state when there is room.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Iterable
from urllib.parse import urlsplit

import trio

from kalshid.core.book import Book, OrderBook
from kalshid.exchange import wsclient
from kalshid.exchange.backoff import reconnect_forever
from kalshid.exchange.base import BookUpdated, EventSink, FeedEvent, FeedStale, Reconnected
from kalshid.exchange.errors import ExchangeError
from kalshid.exchange.kalshi.auth import Signer
from kalshid.exchange.kalshi.feedconfig import FeedConfig
from kalshid.exchange.kalshi.feedprotocol import Command, FeedProtocol, Output, Reconnect
from kalshid.exchange.kalshi.transport import wall_clock_ms
from kalshid.logs import get_logger

__all__ = ["FeedBackpressure", "FeedConfig", "FeedDesync", "FeedTimeout", "KalshiFeed"]  # FeedConfig: .feedconfig

log = get_logger(__name__)


class FeedTimeout(Exception):
    """The connection went quiet and did not answer a ping: reconnect."""


class FeedDesync(Exception):
    """The protocol can no longer trust the connection (an unreadable frame): reconnect."""


class FeedBackpressure(ExchangeError):
    """The consumer did not take a must-deliver event in time. Fatal by design: fills must not drop."""


class _Conn:
    """One open connection and when it last delivered anything."""

    def __init__(self, ws: wsclient.WsClient) -> None:
        self.ws = ws
        self.last_data = trio.current_time()  # when the last message (or pong) arrived


_TRANSIENT = (wsclient.WsError, OSError, FeedTimeout, FeedDesync)


class KalshiFeed:
    """The Kalshi WebSocket as a :class:`~kalshid.exchange.base.MarketFeed`."""

    def __init__(self, config: FeedConfig, signer: Signer, events: EventSink, *,
                 markets: Iterable[str] = (), wall_ms: Callable[[], int] = wall_clock_ms,
                 rng: Callable[[], float] = random.random) -> None:
        self.config = config
        self._signer = signer
        self._events = events
        self._wall_ms = wall_ms
        self._rng = rng
        self._proto = FeedProtocol(config, markets)
        self._undelivered: dict[str, None] = {}  # insertion-ordered set of tickers
        self._held_back = trio.Event()  # set when a book is first held back: wakes the flush timer
        self._conn: _Conn | None = None
        self._send_lock = trio.Lock()
        self._started = False
        # one set of counters for the feed: the protocol's (resyncs, resubscribes, bad frames) and these
        self.stats = self._proto.stats
        self.stats.update(messages=0, coalesced=0, reconnects=0, pings=0)

    # ------------------------------------------------------------------ public

    def book(self, ticker: str) -> OrderBook | None:
        b = self._proto.books.get(ticker)
        return b.snapshot() if b is not None else None

    def statistics(self) -> dict[str, int]:
        return {**self.stats, "markets": len(self._proto.markets),
                "undelivered_books": len(self._undelivered)}

    async def set_markets(self, tickers: Iterable[str]) -> None:
        """Follow exactly ``tickers`` (books, tickers, trades). New books are stale until their
        snapshot; dropped markets' books are discarded. Takes effect on the live connection, or on the
        next one when it is closing."""
        async with self._send_lock:
            commands = self._proto.set_markets(tickers)
            books = self._proto.books
            for t in [t for t in self._undelivered if t not in books]:
                del self._undelivered[t]
            conn = self._conn
            if conn is None:
                return
            try:
                for command in commands:
                    await conn.ws.send_message(command.encode())
            except wsclient.WsError as exc:
                # the connection is closing: the next one subscribes to exactly these markets
                log.info("kalshi_ws_set_markets_deferred", reason=f"{type(exc).__name__}: {exc}")

    async def run(self, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        """Connect, subscribe, stream; reconnect on transient failures. ``task_status.started()`` is
        called once the first connection's subscriptions are acknowledged."""
        async def stale(reason: str) -> None:
            self._undelivered.clear()
            for event in self._proto.mark_all_stale(f"disconnected ({reason})", trio.current_time()):
                await self._emit(event)

        async with self._events:
            await reconnect_forever(lambda: self._connect_and_serve(task_status),
                                    healthy=lambda: self._proto.answered, transient=_TRANSIENT,
                                    base_s=self.config.backoff_base_s, max_s=self.config.backoff_max_s,
                                    rng=self._rng, on_disconnect=stale, name="kalshi_ws")

    # ------------------------------------------------------------------ connection

    async def _connect_and_serve(self, task_status: trio.TaskStatus[None]) -> None:
        path = urlsplit(self.config.ws_url).path
        headers = self._signer.headers(self._wall_ms(), "GET", path)
        self._proto.connecting()
        async with wsclient.connect(self.config.ws_url, headers=list(headers.items()),
                                    connect_timeout_s=self.config.connect_timeout_s) as ws:
            conn = _Conn(ws)
            self._conn = conn
            try:
                async with self._send_lock:
                    for command in self._proto.connected():
                        await ws.send_message(command.encode())
                if self._started:
                    self.stats["reconnects"] += 1
                    await self._emit(Reconnected(self.stats["reconnects"], trio.current_time()))
                self._maybe_started(task_status)
                await self._receive_loop(conn, task_status)
            finally:
                self._conn = None
                self._proto.closed()

    def _maybe_started(self, task_status: trio.TaskStatus[None]) -> None:
        if not self._started and self._proto.ready:
            self._started = True
            task_status.started()

    async def _receive_loop(self, conn: _Conn, task_status: trio.TaskStatus[None]) -> None:
        """Handle messages until the connection fails, a network read's worth per step (module
        docstring, "Bursts"). The timers (the no-data watchdog, the flush of held-back books) run in
        a sibling task, so a message costs no cancel scope of its own (a deadline scope per message
        was a third of the feed's time per message)."""
        conn.last_data = trio.current_time()
        limit = self.config.batch_limit
        try:
            async with trio.open_nursery() as nursery:
                nursery.start_soon(self._timers, conn)
                while True:
                    batch = await conn.ws.receive_batch(limit)
                    conn.last_data = trio.current_time()
                    self.stats["messages"] += len(batch)
                    for raw in batch:
                        await self._handle(conn, raw)
                    self._maybe_started(task_status)
        except BaseExceptionGroup as group:
            if len(group.exceptions) == 1:  # one failure (the usual case) is raised as itself
                raise group.exceptions[0] from None
            raise

    async def _timers(self, conn: _Conn) -> None:
        """After ``watchdog_s`` without a message, ping, and fail with :class:`FeedTimeout` if no pong
        comes in time; meanwhile flush held-back books every ``flush_interval_s`` while there are any
        (the watchdog keeps running while they are held back: a stalled consumer must not hide a dead
        connection)."""
        cfg = self.config
        while True:
            quiet_until = conn.last_data + cfg.watchdog_s
            now = trio.current_time()
            if now >= quiet_until:
                self.stats["pings"] += 1
                with trio.move_on_after(cfg.pong_timeout_s):
                    await conn.ws.ping()
                    conn.last_data = trio.current_time()
                    continue
                raise FeedTimeout(f"no data for {cfg.watchdog_s}s and no pong within {cfg.pong_timeout_s}s")
            if self._undelivered:
                await trio.sleep_until(min(quiet_until, now + cfg.flush_interval_s))
                self._flush_books()
            else:
                self._held_back = trio.Event()
                with trio.move_on_at(quiet_until):
                    await self._held_back.wait()

    # ------------------------------------------------------------------ frames

    async def _handle(self, conn: _Conn, raw: str | bytes) -> None:
        """One frame through the protocol: its outputs go out in order, then the book it changed."""
        now = trio.current_time()
        proto = self._proto
        book = proto.receive(raw, now)
        if proto.outbox:
            await self._deliver(conn, proto.take_outputs())
        if book is not None:
            self._offer_book(book, now)

    async def _deliver(self, conn: _Conn, outputs: list[Output]) -> None:
        for item in outputs:  # a book that went stale is no longer owed to the consumer
            if type(item) is FeedStale:
                self._undelivered.pop(item.ticker, None)
        for item in outputs:
            if isinstance(item, Command):
                async with self._send_lock:
                    await conn.ws.send_message(item.encode())
            elif isinstance(item, Reconnect):
                raise FeedDesync(item.reason)
            else:
                await self._emit(item)

    # ------------------------------------------------------------------ delivery

    async def _emit(self, event: FeedEvent) -> None:
        """Must-deliver: block up to ``max_block_s``, then fail loudly."""
        try:
            self._events.send_nowait(event)  # the usual case: room in the channel, no timer needed
            return
        except trio.WouldBlock:
            pass
        try:
            with trio.fail_after(self.config.max_block_s):
                await self._events.send(event)
        except trio.TooSlowError:
            raise FeedBackpressure(f"consumer took no event for {self.config.max_block_s}s; "
                                   f"refusing to drop {type(event).__name__}") from None

    def _offer_book(self, book: Book, now: float) -> None:
        if self._undelivered:
            self._flush_books()
        if book.ticker in self._undelivered:
            return
        try:
            self._events.send_nowait(BookUpdated(book.snapshot(), now))
        except trio.WouldBlock:
            self._undelivered[book.ticker] = None
            self.stats["coalesced"] += 1
            self._held_back.set()

    def _flush_books(self) -> None:
        for ticker in list(self._undelivered):
            book = self._proto.books.get(ticker)
            if book is not None:
                try:
                    self._events.send_nowait(BookUpdated(book.snapshot(), trio.current_time()))
                except trio.WouldBlock:
                    return
            del self._undelivered[ticker]
