"""Kalshi WebSocket feed (the current AsyncAPI): one authenticated connection, typed events, live books.

:class:`KalshiFeed` connects (fresh signed headers each time, over ``ts + GET + /trade-api/ws/v2``),
subscribes each channel with its own command (so each has its own ``sid``), keeps every followed
market's YES/NO bid books from snapshot + deltas, and sends :data:`~kalshid.exchange.base.FeedEvent`
values into a bounded trio memory channel that it owns (closed when :meth:`KalshiFeed.run` ends).

Resilience:

- ``seq`` is checked per sid on orderbook messages; a gap (or a delta that would drive a level
  negative) marks the books stale (:class:`FeedStale`), unsubscribes that sid and subscribes again
  for fresh snapshots (:class:`FeedResynced` per market when its snapshot lands).
- Watchdog: after ``watchdog_s`` without a data message we ping; no pong within ``pong_timeout_s``
  → reconnect. (The connection answers the server's pings itself.)
- Transient failures (closed connection, handshake failure/timeout, OS errors, watchdog) reconnect
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

import json
import random
from collections.abc import Callable, Iterable
from typing import Any
from urllib.parse import urlsplit

import attrs
import trio

from kalshid.core.book import Book, BookError, OrderBook
from kalshid.core.markets import INDEX_ID
from kalshid.exchange import wsclient
from kalshid.exchange.backoff import reconnect_forever
from kalshid.exchange.base import (
    BookUpdated,
    EventSink,
    FeedEvent,
    FeedResynced,
    FeedStale,
    FillReceived,
    IndexPrinted,
    OrderUpdated,
    Reconnected,
    SubscriptionFailed,
)
from kalshid.exchange.errors import ExchangeError, ProtocolError
from kalshid.exchange.kalshi import wire, wsmsg
from kalshid.exchange.kalshi.auth import Signer
from kalshid.exchange.kalshi.rest import wall_clock_ms
from kalshid.exchange.types import ORDER_STATUSES
from kalshid.logs import get_logger

log = get_logger(__name__)

MARKET_CHANNELS = ("orderbook_delta", "ticker", "trade")
USER_CHANNELS = ("fill", "user_orders", "market_positions")
LIFECYCLE_CHANNEL = "market_lifecycle_v2"
INDEX_CHANNEL = "cfbenchmarks_value"
BOOK = "orderbook_delta"
# Error codes after which the subscription is gone (10 channel error, 25 subscription buffer overflow):
# the channel is subscribed again.
TERMINAL_ERROR_CODES = frozenset({10, 25})


class FeedTimeout(Exception):
    """The connection went quiet and did not answer a ping: reconnect."""


class FeedBackpressure(ExchangeError):
    """The consumer did not take a must-deliver event in time. Fatal by design: fills must not drop."""


@attrs.frozen
class FeedConfig:
    """What to follow and how patiently. ``market_channels`` follow :meth:`KalshiFeed.set_markets`."""

    ws_url: str
    index_ids: tuple[str, ...] = (INDEX_ID,)
    market_channels: tuple[str, ...] = MARKET_CHANNELS
    user_channels: tuple[str, ...] = USER_CHANNELS
    lifecycle: bool = True
    watchdog_s: float = 30.0
    pong_timeout_s: float = 10.0
    connect_timeout_s: float = 10.0
    backoff_base_s: float = 0.5
    backoff_max_s: float = 30.0
    max_block_s: float = 10.0
    flush_interval_s: float = 0.05
    batch_limit: int = 256  # messages handled per scheduler step at most
    # The orderbook scale is always asked for explicitly (Kalshi's default will change): False = NO
    # levels as NO bids, True = NO levels as YES prices (turned back into NO bids on receipt).
    use_yes_price: bool = False


class _Conn:
    """Per-connection subscription state (reset on every reconnect)."""

    def __init__(self, ws: wsclient.WsClient) -> None:
        self.ws = ws
        self.next_id = 1
        self.pending: dict[int, tuple[str, str, tuple[str, ...]]] = {}  # id → (cmd, channel, tickers)
        self.sid_of: dict[str, int] = {}
        self.channel_of: dict[int, str] = {}
        self.have: dict[str, set[str]] = {}  # markets requested per market-channel subscription
        self.subscribing: set[str] = set()
        self.last_seq: dict[int, int] = {}
        self.initial: set[int] = set()
        self.healthy = False
        self.last_data = trio.current_time()  # when the last message (or pong) arrived


_TRANSIENT = (wsclient.WsError, OSError, FeedTimeout)


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
        self._markets: set[str] = set(markets)
        self._books: dict[str, Book] = {t: Book(t) for t in self._markets}
        self._announced_stale: set[str] = set()
        self._undelivered: dict[str, None] = {}  # insertion-ordered set of tickers
        self._held_back = trio.Event()  # set when a book is first held back: wakes the flush timer
        self._conn: _Conn | None = None
        self._send_lock = trio.Lock()
        self._started = False
        self._conn_healthy = False  # the current/last connection got at least one answer
        self.stats = {"messages": 0, "coalesced": 0, "reconnects": 0, "resyncs": 0, "resubscribes": 0, "pings": 0}

    # ------------------------------------------------------------------ public

    def book(self, ticker: str) -> OrderBook | None:
        b = self._books.get(ticker)
        return b.snapshot() if b is not None else None

    def statistics(self) -> dict[str, int]:
        return {**self.stats, "markets": len(self._markets), "undelivered_books": len(self._undelivered)}

    async def set_markets(self, tickers: Iterable[str]) -> None:
        """Follow exactly ``tickers`` (books, tickers, trades). New books are stale until their
        snapshot; dropped markets' books are discarded. Takes effect on the live connection, or on the
        next one when it is closing."""
        new = set(tickers)
        for t in self._markets - new:
            self._books.pop(t, None)
            self._undelivered.pop(t, None)
            self._announced_stale.discard(t)
        for t in new - self._markets:
            self._books[t] = Book(t)
        self._markets = new
        conn = self._conn
        if conn is not None:
            async with self._send_lock:
                try:
                    for ch in self.config.market_channels:
                        await self._reconcile(conn, ch)
                except wsclient.WsError as exc:
                    # the connection is closing: the next one subscribes to exactly these markets
                    log.info("kalshi_ws_set_markets_deferred", reason=f"{type(exc).__name__}: {exc}")

    async def run(self, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        """Connect, subscribe, stream; reconnect on transient failures. ``task_status.started()`` is
        called once the first connection's subscriptions are acknowledged."""
        async def stale(reason: str) -> None:
            await self._mark_all_stale(f"disconnected ({reason})")

        async with self._events:
            await reconnect_forever(lambda: self._connect_and_serve(task_status),
                                    healthy=lambda: self._conn_healthy, transient=_TRANSIENT,
                                    base_s=self.config.backoff_base_s, max_s=self.config.backoff_max_s,
                                    rng=self._rng, on_disconnect=stale, name="kalshi_ws")

    # ------------------------------------------------------------------ connection

    async def _connect_and_serve(self, task_status: trio.TaskStatus[None]) -> None:
        path = urlsplit(self.config.ws_url).path
        headers = self._signer.headers(self._wall_ms(), "GET", path)
        self._conn_healthy = False
        async with wsclient.connect(self.config.ws_url, headers=list(headers.items()),
                                    connect_timeout_s=self.config.connect_timeout_s) as ws:
            conn = _Conn(ws)
            self._conn = conn
            try:
                async with self._send_lock:
                    await self._subscribe_all(conn)
                conn.initial = set(conn.pending)
                if self._started:
                    self.stats["reconnects"] += 1
                    await self._emit(Reconnected(self.stats["reconnects"], trio.current_time()))
                self._maybe_started(conn, task_status)
                await self._receive_loop(conn, task_status)
            finally:
                self._conn = None

    def _maybe_started(self, conn: _Conn, task_status: trio.TaskStatus[None]) -> None:
        if not self._started and not (conn.initial & conn.pending.keys()):
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
                    self._maybe_started(conn, task_status)
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

    # ------------------------------------------------------------------ commands

    async def _command(self, conn: _Conn, cmd: str, params: dict[str, Any], channel: str,
                       tickers: tuple[str, ...] = ()) -> None:
        cid = conn.next_id
        conn.next_id += 1
        conn.pending[cid] = (cmd, channel, tickers)
        await conn.ws.send_message(wire_dumps({"id": cid, "cmd": cmd, "params": params}))

    async def _subscribe(self, conn: _Conn, channel: str) -> None:
        params: dict[str, Any] = {"channels": [channel]}
        tickers: tuple[str, ...] = ()
        if channel in self.config.market_channels:
            tickers = tuple(sorted(self._markets))
            params["market_tickers"] = list(tickers)
            conn.have[channel] = set(tickers)
            if channel == BOOK:
                params["use_yes_price"] = self.config.use_yes_price
        elif channel == INDEX_CHANNEL:
            params["index_ids"] = list(self.config.index_ids)
        conn.subscribing.add(channel)
        await self._command(conn, "subscribe", params, channel, tickers)

    async def _subscribe_all(self, conn: _Conn) -> None:
        for ch in self.config.market_channels:
            if self._markets:
                await self._subscribe(conn, ch)
        for ch in self.config.user_channels:
            await self._subscribe(conn, ch)
        if self.config.lifecycle:
            await self._subscribe(conn, LIFECYCLE_CHANNEL)
        if self.config.index_ids:
            await self._subscribe(conn, INDEX_CHANNEL)

    async def _reconcile(self, conn: _Conn, channel: str) -> None:
        """Bring a market channel's subscription to the wanted markets (caller holds the send lock)."""
        if channel in conn.subscribing:
            return  # re-checked when the ack arrives
        sid = conn.sid_of.get(channel)
        if sid is None:
            if self._markets:
                await self._subscribe(conn, channel)
            return
        have = conn.have.get(channel, set())
        if not self._markets:
            self._forget_sid(conn, channel)
            await self._command(conn, "unsubscribe", {"sids": [sid]}, channel)
            return
        add, drop = sorted(self._markets - have), sorted(have - self._markets)
        conn.have[channel] = set(self._markets)
        if add:
            await self._command(conn, "update_subscription",
                                {"sids": [sid], "action": "add_markets", "market_tickers": add}, channel,
                                tuple(add))
        if drop:
            await self._command(conn, "update_subscription",
                                {"sids": [sid], "action": "delete_markets", "market_tickers": drop}, channel,
                                tuple(drop))

    def _forget_sid(self, conn: _Conn, channel: str) -> int | None:
        sid = conn.sid_of.pop(channel, None)
        if sid is not None:
            conn.channel_of.pop(sid, None)
            conn.last_seq.pop(sid, None)
        conn.have.pop(channel, None)
        return sid

    async def _resync_books(self, conn: _Conn, reason: str) -> None:
        """Sequence lost: books stale, unsubscribe the orderbook sid, subscribe again for snapshots."""
        self.stats["resyncs"] += 1
        log.warning("kalshi_ws_book_resync", reason=reason)
        await self._mark_all_stale(reason)
        async with self._send_lock:
            sid = self._forget_sid(conn, BOOK)
            if sid is not None:
                await self._command(conn, "unsubscribe", {"sids": [sid]}, BOOK)
            if BOOK not in conn.subscribing and self._markets:
                await self._subscribe(conn, BOOK)

    # ------------------------------------------------------------------ messages

    async def _handle(self, conn: _Conn, raw: str | bytes) -> None:
        now = trio.current_time()
        msg = wire.loads(raw)
        if not isinstance(msg, dict):
            raise ProtocolError(f"ws: expected a JSON object, got {type(msg).__name__}")
        typ = msg.get("type")
        body = msg.get("msg")
        if typ in ("orderbook_delta", "orderbook_snapshot"):
            await self._on_book(conn, typ, msg, body, now)
            return
        if typ in ("subscribed", "ok", "unsubscribed", "error"):
            await self._on_response(conn, typ, msg, body, now)
            return
        if not isinstance(body, dict):
            log.debug("kalshi_ws_unhandled", type=typ)
            return
        conn.healthy = self._conn_healthy = True
        event: FeedEvent
        if typ == "fill":
            event = FillReceived(wire.parse_fill(body), now)
        elif typ == "user_order":
            if body.get("status") not in ORDER_STATUSES:  # "unknown": the REST read or the next update says
                log.info("kalshi_ws_order_status_unknown", order_id=body.get("order_id"), status=body.get("status"))
                return
            event = OrderUpdated(wire.parse_order(body), now)
        elif typ == "market_position":
            event = wsmsg.parse_market_position(body, now)
        elif typ in ("cfbenchmarks_value", "cfbenchmarks_value_5hz"):
            event = IndexPrinted(wsmsg.parse_index(body, now), now)
        elif typ == "ticker":
            event = wsmsg.parse_ticker(body, now)
        elif typ == "trade":
            event = wsmsg.parse_trade(body, now)
        elif typ == "market_lifecycle_v2":
            event = wsmsg.parse_lifecycle(body, now)
        else:
            log.debug("kalshi_ws_unhandled", type=typ)
            return
        await self._emit(event)

    async def _on_response(self, conn: _Conn, typ: str, msg: dict[str, Any], body: Any, now: float) -> None:
        conn.healthy = self._conn_healthy = True
        cid = msg.get("id")
        cmd, channel, tickers = conn.pending.pop(cid, ("", "", ())) if isinstance(cid, int) else ("", "", ())
        sid, seq = msg.get("sid"), msg.get("seq")
        if isinstance(sid, int) and isinstance(seq, int) and sid in conn.last_seq:
            conn.last_seq[sid] = max(conn.last_seq[sid], seq)  # acks may advance the sid's seq
        if typ == "subscribed":
            if not isinstance(body, dict) or not isinstance(body.get("sid"), int):
                raise ProtocolError(f"ws subscribed: missing msg.sid in {msg!r}")
            channel = str(body.get("channel") or channel)
            conn.subscribing.discard(channel)
            conn.sid_of[channel] = body["sid"]
            conn.channel_of[body["sid"]] = channel
            if channel in self.config.market_channels:
                async with self._send_lock:
                    await self._reconcile(conn, channel)
        elif typ == "error":
            code = body.get("code") if isinstance(body, dict) else None
            text = str(body.get("msg") or body.get("message") or "") if isinstance(body, dict) else str(body)
            if cmd == "subscribe":
                conn.subscribing.discard(channel)
            log.error("kalshi_ws_command_error", cmd=cmd, channel=channel, code=code, error=text)
            if code in TERMINAL_ERROR_CODES:
                await self._resubscribe(conn, msg.get("sid"), channel, f"error {code}: {text}")
                return
            await self._emit(SubscriptionFailed(channel, code if isinstance(code, int) else None,
                                                text, tickers, now))

    async def _resubscribe(self, conn: _Conn, sid: Any, channel: str, reason: str) -> None:
        """A terminal subscription error: the subscription is gone; subscribe its channel again (books
        are stale until their new snapshots)."""
        channel = conn.channel_of.get(sid, channel) if isinstance(sid, int) else channel
        if not channel:
            return
        self.stats["resubscribes"] += 1
        log.warning("kalshi_ws_resubscribe", channel=channel, reason=reason)
        if channel == BOOK:
            await self._resync_books(conn, reason)
            return
        async with self._send_lock:
            self._forget_sid(conn, channel)
            conn.subscribing.discard(channel)
            if channel not in self.config.market_channels or self._markets:
                await self._subscribe(conn, channel)

    async def _on_book(self, conn: _Conn, typ: str, msg: dict[str, Any], body: Any, now: float) -> None:
        sid = msg.get("sid")
        if conn.channel_of.get(sid) != BOOK:  # type: ignore[arg-type]
            return  # a retired subscription's tail
        conn.healthy = self._conn_healthy = True
        seq = msg.get("seq")
        if isinstance(seq, int):
            last = conn.last_seq.get(sid)  # type: ignore[arg-type]
            if last is not None and seq != last + 1:
                await self._resync_books(conn, f"seq gap on sid {sid}: {last} -> {seq}")
                return
            conn.last_seq[sid] = seq  # type: ignore[index]
        if not isinstance(body, dict):
            raise ProtocolError(f"ws {typ}: 'msg' is not an object")
        if typ == "orderbook_delta":
            ticker, side, price, delta, ts = wsmsg.parse_delta(body, yes_priced=self.config.use_yes_price)
            book = self._books.get(ticker)
            if book is None or book.stale:
                return  # not followed, or waiting for its snapshot
            try:
                book.apply_delta(side, price, delta, exchange_ts=ts, local_time=now)
            except BookError as exc:
                await self._resync_books(conn, f"bad delta: {exc}")
                return
        else:
            ticker, yes, no, ts = wsmsg.parse_snapshot(body, yes_priced=self.config.use_yes_price)
            book = self._books.get(ticker)
            if book is None:
                return
            try:
                book.apply_snapshot(yes, no, exchange_ts=ts, local_time=now)
            except BookError as exc:
                raise ProtocolError(f"orderbook_snapshot {ticker}: {exc}") from exc
            if ticker in self._announced_stale:
                self._announced_stale.discard(ticker)
                await self._emit(FeedResynced(ticker, now))
        self._offer_book(book, now)

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
            book = self._books.get(ticker)
            if book is not None:
                try:
                    self._events.send_nowait(BookUpdated(book.snapshot(), trio.current_time()))
                except trio.WouldBlock:
                    return
            del self._undelivered[ticker]

    async def _mark_all_stale(self, reason: str) -> None:
        now = trio.current_time()
        for ticker, book in list(self._books.items()):
            book.mark_stale()
            self._undelivered.pop(ticker, None)
            if ticker not in self._announced_stale:
                self._announced_stale.add(ticker)
                await self._emit(FeedStale(ticker, reason, now))


def wire_dumps(obj: dict[str, Any]) -> str:
    return json.dumps(obj, separators=(",", ":"))
