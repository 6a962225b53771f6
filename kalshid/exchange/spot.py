"""Optional public spot feed: Coinbase Exchange's WebSocket ``ticker`` for one product (SOL-USD).

The settlement index (Kalshi's ``cfbenchmarks_value`` channel) is the primary source of the
underlying price. This adapter serves users without index access: :class:`CoinbaseSpotFeed`
connects to Coinbase's public market-data feed (no auth), subscribes to ``ticker`` and
``heartbeat`` for ``product_id`` and emits one
:class:`~kalshid.exchange.base.IndexPrinted` per ticker with ``index_id="COINBASE:SOL-USD"``, the
last trade price as ``value`` and the message's ``time`` as ``exchange_ts``. The basis to the
index is tracked by :class:`kalshid.core.basis.BasisTracker` (pure) from both kinds of prints.

Protocol (docs.cdp.coinbase.com/exchange/websocket-feed): send ``{"type": "subscribe",
"product_ids": [...], "channels": ["ticker", "heartbeat"]}`` within 5 s of connecting; the server
answers ``{"type": "subscriptions", "channels": [{"name", "product_ids"}, ...]}`` or ``{"type":
"error", "message", "reason"}``; tickers carry ``sequence``, ``product_id``, ``price`` (string),
``best_bid``/``best_ask``, ``time`` (RFC 3339); heartbeats come every second with ``sequence`` and
``time``. Unknown message types are ignored, as the docs ask. Messages are parsed (pure) by
:mod:`kalshid.exchange.spotwire`; this module is the Trio shell around it.

Failure contract:

- One malformed message is logged, counted (``bad_messages``) and skipped. A streak of at least
  ``bad_min_count`` bad messages lasting ``bad_window_s`` with no good ticker raises
  :class:`SpotFeedBroken` (the protocol changed under us: retrying will not help).
- ``sequence`` is the product-wide sequence of the full feed, and the ticker channel batches
  cascading matches, so gaps are *normal*: they are counted (``sequence_gaps``) and logged at debug,
  never acted on. A ticker older than the last one emitted on this connection is dropped
  (``out_of_order``); ``max_out_of_order`` drops in a row (a sequence reset) force a reconnect.
- No message (heartbeats included) for ``watchdog_s`` → reconnect. Closed connections, handshake
  failures, OS errors, a missing subscription ack and ``error`` messages after the subscription
  reconnect with exponential backoff and jitter. An ``error`` answer to the subscription itself
  (e.g. an unknown product) raises :class:`SpotSubscriptionRefused`. Other exceptions propagate.

Backpressure: prints are superseded by newer ones, so a full event channel *coalesces* them: the
latest undelivered print is kept and delivered when there is room (``coalesced`` counts the ones
replaced). Nothing blocks the receive loop.

Wiring: consumers that treat every ``IndexPrinted`` as the settlement index (the strategy task
does) must not receive these prints unfiltered: give this feed its own channel, fold both sides
into a ``BasisTracker``, and hand strategies index-equivalent prices (``adjusted_spot``).
"""

from __future__ import annotations

import json
import random
from collections.abc import Callable
from typing import Any

import attrs
import trio
import trio_websocket

from kalshid.exchange.backoff import reconnect_forever
from kalshid.exchange.base import EventSink, IndexPrinted
from kalshid.exchange.errors import ExchangeError, ProtocolError
from kalshid.exchange.spotwire import ErrorMessage, Heartbeat, Subscriptions, Ticker, parse_message
from kalshid.exchange.types import IndexPrint
from kalshid.logs import get_logger

log = get_logger(__name__)

DEFAULT_URL = "wss://ws-feed.exchange.coinbase.com"
INDEX_PREFIX = "COINBASE:"


class SpotReconnect(Exception):
    """Transient, handled inside ``run``: silence, no subscription ack, a server ``error`` on a live
    subscription, or ``max_out_of_order`` stale tickers in a row. The message says which."""


class SpotSubscriptionRefused(ExchangeError):
    """Fatal: the server answered the subscription with an error (unknown product, bad channel) or
    confirmed one without our product's ticker. Fix the configuration."""


class SpotFeedBroken(ProtocolError):
    """Fatal: every message has been malformed for a while; the protocol changed under us."""


def _positive(_inst: object, attr: attrs.Attribute[Any], value: float) -> None:
    if isinstance(value, bool) or not isinstance(value, int | float) or not value > 0:
        raise ValueError(f"spot feed config {attr.name}: expected a number > 0, got {value!r}")


def _product(_inst: object, _attr: attrs.Attribute[str], value: str) -> None:
    parts = value.split("-") if isinstance(value, str) else []
    if len(parts) != 2 or not all(p.isalnum() and p.isupper() for p in parts):
        raise ValueError(f"spot feed config product_id: expected BASE-QUOTE like 'SOL-USD', got {value!r}")


def _url(_inst: object, _attr: attrs.Attribute[str], value: str) -> None:
    if not isinstance(value, str) or not value.startswith(("ws://", "wss://")):
        raise ValueError(f"spot feed config url: expected a ws:// or wss:// URL, got {value!r}")


@attrs.frozen
class SpotFeedConfig:
    """Where and how patiently. Heartbeats arrive every second, so ``watchdog_s`` can be short."""

    url: str = attrs.field(default=DEFAULT_URL, validator=_url)
    product_id: str = attrs.field(default="SOL-USD", validator=_product)
    heartbeat: bool = True
    watchdog_s: float = attrs.field(default=10.0, validator=_positive)
    subscribe_timeout_s: float = attrs.field(default=5.0, validator=_positive)
    connect_timeout_s: float = attrs.field(default=10.0, validator=_positive)
    backoff_base_s: float = attrs.field(default=0.5, validator=_positive)
    backoff_max_s: float = attrs.field(default=30.0, validator=_positive)
    bad_window_s: float = attrs.field(default=60.0, validator=_positive)
    bad_min_count: int = attrs.field(default=10, validator=_positive)
    max_out_of_order: int = attrs.field(default=50, validator=_positive)
    flush_interval_s: float = attrs.field(default=0.05, validator=_positive)
    message_queue_size: int = attrs.field(default=64, validator=_positive)

    @property
    def index_id(self) -> str:
        """The ``index_id`` of this feed's prints, e.g. ``COINBASE:SOL-USD``."""
        return INDEX_PREFIX + self.product_id

    def subscribe_message(self) -> dict[str, Any]:
        channels = ["ticker", "heartbeat"] if self.heartbeat else ["ticker"]
        return {"type": "subscribe", "product_ids": [self.product_id], "channels": channels}


# ---------------------------------------------------------------------- the feed (Trio shell)

_TRANSIENT = (trio_websocket.ConnectionClosed, trio_websocket.HandshakeError, OSError, SpotReconnect)


@attrs.define
class _Conn:
    """Per-connection state (reset on every reconnect)."""

    confirmed: bool = False
    last_seq: int | None = None
    stale_streak: int = 0


class CoinbaseSpotFeed:
    """Coinbase Exchange's public ticker for one product, as ``IndexPrinted`` events (module doc).

    ``run`` owns ``events`` (closes it when it ends), calls ``task_status.started()`` once the first
    subscription is acknowledged, and runs until cancelled or a fatal error. As an optional source
    it may be started with ``start_soon`` so that an unreachable Coinbase does not hold up startup.
    """

    def __init__(self, config: SpotFeedConfig, events: EventSink, *,
                 rng: Callable[[], float] = random.random) -> None:
        self.config = config
        self._events = events
        self._rng = rng
        self._pending: IndexPrint | None = None
        self._last_print: IndexPrint | None = None
        self._bad_streak = 0
        self._bad_since: float | None = None
        self._started = False
        self._conn_healthy = False
        self.stats = {"connects": 0, "reconnects": 0, "messages": 0, "tickers": 0, "heartbeats": 0,
                      "prints": 0, "coalesced": 0, "bad_messages": 0, "out_of_order": 0, "sequence_gaps": 0,
                      "watchdog_timeouts": 0, "server_errors": 0}

    @property
    def last_print(self) -> IndexPrint | None:
        """The latest print accepted (delivered or pending), or None before the first ticker."""
        return self._last_print

    def statistics(self) -> dict[str, int]:
        return {**self.stats, "pending": int(self._pending is not None), "bad_streak": self._bad_streak}

    async def run(self, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        """Connect, subscribe, stream; reconnect on transient failures with backoff and jitter."""
        async def nothing(_reason: str) -> None:
            return None

        async with self._events:
            await reconnect_forever(lambda: self._connect_and_serve(task_status),
                                    healthy=lambda: self._conn_healthy, transient=_TRANSIENT,
                                    base_s=self.config.backoff_base_s, max_s=self.config.backoff_max_s,
                                    rng=self._rng, on_disconnect=nothing, name="coinbase_ws")

    async def _connect_and_serve(self, task_status: trio.TaskStatus[None]) -> None:
        cfg = self.config
        self._conn_healthy = False
        self.stats["connects"] += 1
        async with trio_websocket.open_websocket_url(
            cfg.url, connect_timeout=cfg.connect_timeout_s, disconnect_timeout=cfg.connect_timeout_s,
            message_queue_size=cfg.message_queue_size,
        ) as ws:
            await ws.send_message(json.dumps(cfg.subscribe_message(), separators=(",", ":")))
            await self._receive_loop(ws, task_status)

    async def _receive_loop(self, ws: trio_websocket.WebSocketConnection,
                            task_status: trio.TaskStatus[None]) -> None:
        cfg = self.config
        conn = _Conn()
        last_msg = trio.current_time()
        ack_deadline = last_msg + cfg.subscribe_timeout_s
        while True:
            now = trio.current_time()
            wait = last_msg + cfg.watchdog_s - now
            if not conn.confirmed:
                wait = min(wait, ack_deadline - now)
            if self._pending is not None:
                wait = min(wait, cfg.flush_interval_s)
            raw: str | bytes | None = None
            with trio.move_on_after(max(wait, 0.0)):
                raw = await ws.get_message()  # cancel-safe: a memory channel receive
            if raw is not None:
                last_msg = trio.current_time()
                self.stats["messages"] += 1
                self._handle(conn, raw, last_msg, task_status)
                continue
            self._flush()
            now = trio.current_time()
            if not conn.confirmed and now >= ack_deadline:
                raise SpotReconnect(f"subscription not acknowledged within {cfg.subscribe_timeout_s}s")
            if now - last_msg >= cfg.watchdog_s:
                self.stats["watchdog_timeouts"] += 1
                raise SpotReconnect(f"no message (not even a heartbeat) for {cfg.watchdog_s}s")

    def _handle(self, conn: _Conn, raw: str | bytes, now: float, task_status: trio.TaskStatus[None]) -> None:
        cfg = self.config
        try:
            msg = parse_message(raw)
            if isinstance(msg, Ticker | Heartbeat) and msg.product_id != cfg.product_id:
                raise ProtocolError(f"{type(msg).__name__.lower()}: product_id {msg.product_id!r} is not the "
                                    f"subscribed {cfg.product_id!r}")
        except ProtocolError as exc:
            self._on_bad(exc, now)
            return
        if isinstance(msg, Ticker):
            self._on_ticker(conn, msg, now)
        elif isinstance(msg, Heartbeat):
            self.stats["heartbeats"] += 1
            self._conn_healthy = True
        elif isinstance(msg, Subscriptions):
            self._on_subscriptions(conn, msg, task_status)
        elif isinstance(msg, ErrorMessage):
            log.error("coinbase_ws_error", message=msg.message, reason=msg.reason, subscribed=conn.confirmed)
            if not conn.confirmed:
                raise SpotSubscriptionRefused(f"coinbase refused the subscription to {cfg.product_id}: "
                                              f"{msg.message}: {msg.reason}")
            self.stats["server_errors"] += 1
            raise SpotReconnect(f"server error on a live subscription: {msg.message}: {msg.reason}")
        else:
            log.debug("coinbase_ws_unhandled", type=msg.type)

    def _on_subscriptions(self, conn: _Conn, msg: Subscriptions, task_status: trio.TaskStatus[None]) -> None:
        cfg = self.config
        if cfg.product_id not in msg.channels.get("ticker", ()):
            raise SpotSubscriptionRefused(f"coinbase confirmed {msg.channels!r}, without the ticker for "
                                          f"{cfg.product_id}")
        if cfg.heartbeat and cfg.product_id not in msg.channels.get("heartbeat", ()):
            log.warning("coinbase_ws_no_heartbeat", channels=msg.channels)  # the watchdog may fire when quiet
        if conn.confirmed:
            return
        conn.confirmed = True
        log.info("coinbase_ws_subscribed", product_id=cfg.product_id, channels=sorted(msg.channels))
        if self._started:
            self.stats["reconnects"] += 1
        else:
            self._started = True
            task_status.started()

    def _on_ticker(self, conn: _Conn, msg: Ticker, now: float) -> None:
        cfg = self.config
        self.stats["tickers"] += 1
        last = conn.last_seq
        if last is not None and msg.sequence <= last:
            self.stats["out_of_order"] += 1
            conn.stale_streak += 1
            log.warning("coinbase_ticker_out_of_order", sequence=msg.sequence, last_sequence=last)
            if conn.stale_streak >= cfg.max_out_of_order:
                raise SpotReconnect(f"{conn.stale_streak} tickers in a row at or below sequence {last}")
            return
        if last is not None and msg.sequence > last + 1:
            self.stats["sequence_gaps"] += 1  # normal on this channel (see the module doc)
            log.debug("coinbase_ticker_sequence_gap", last_sequence=last, sequence=msg.sequence)
        conn.last_seq = msg.sequence
        conn.stale_streak = 0
        self._bad_streak, self._bad_since = 0, None
        self._conn_healthy = True
        p = IndexPrint(index_id=cfg.index_id, value=msg.price, exchange_ts=msg.time, local_time=now)
        self._last_print = p
        if self._pending is not None:
            self.stats["coalesced"] += 1
        self._pending = p
        self._flush()

    def _on_bad(self, exc: ProtocolError, now: float) -> None:
        cfg = self.config
        self.stats["bad_messages"] += 1
        self._bad_streak += 1
        if self._bad_since is None:
            self._bad_since = now
        if self._bad_streak <= 3 or self._bad_streak % 100 == 0:  # a broken stream must not flood the log
            log.warning("coinbase_bad_message", error=str(exc), streak=self._bad_streak)
        if self._bad_streak >= cfg.bad_min_count and now - self._bad_since >= cfg.bad_window_s:
            raise SpotFeedBroken(f"coinbase: {self._bad_streak} malformed messages over "
                                 f"{now - self._bad_since:.1f}s and no good ticker; last: {exc}")

    def _flush(self) -> None:
        """Deliver the pending print if the channel has room (never blocks)."""
        p = self._pending
        if p is None:
            return
        try:
            self._events.send_nowait(IndexPrinted(p, p.local_time))
        except trio.WouldBlock:
            return
        self._pending = None
        self.stats["prints"] += 1
