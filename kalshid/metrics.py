"""Every Prometheus metric kalshid exports, defined in one place behind a small typed facade.

The pipeline calls `Metrics` methods (``metrics.order_sent(...)``); nothing else touches
prometheus_client. Each `Metrics` owns its own `CollectorRegistry` (never the global one), so tests and
several daemons in one process don't collide. Served at ``GET /metrics`` (bearer auth like the rest of
the API; point Prometheus' ``authorization: {credentials_file: ...}`` at the token file). A fresh
registry also carries the standard ``process_*`` series (resident memory, CPU seconds, open fds, start
time; Linux), which the global registry would have had: watch ``process_resident_memory_bytes``.

Money is exact everywhere else; here it is exported in dollars as floats, which is what Prometheus
stores — metrics are for watching, never for accounting.
"""

from __future__ import annotations

from typing import Final

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, ProcessCollector, generate_latest
from prometheus_client.exposition import CONTENT_TYPE_LATEST

CC_PER_DOLLAR: Final = 10_000

# Tick → order-sent latency: the interesting range is 0.2–50 ms; beyond that something is wrong.
LATENCY_BUCKETS_S: Final = (
    0.0002,
    0.0005,
    0.001,
    0.002,
    0.003,
    0.005,
    0.0075,
    0.01,
    0.015,
    0.02,
    0.03,
    0.05,
    0.1,
    0.25,
)
CONTENT_TYPE: Final = CONTENT_TYPE_LATEST


class Metrics:
    """The daemon's metrics. Methods are cheap, synchronous and never raise for valid arguments."""

    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        if registry is None:
            registry = CollectorRegistry(auto_describe=True)
            ProcessCollector(registry=registry)
        self.registry = r = registry
        self._orders = Counter(
            "kalshid_orders_total", "Orders by final or current status", ["status"], registry=r
        )
        self._fills = Counter("kalshid_fills_total", "Fills received", ["strategy"], registry=r)
        self._contracts = Counter(
            "kalshid_filled_contracts_total", "Contracts filled", ["strategy"], registry=r
        )
        self._rejections = Counter(
            "kalshid_rejections_total", "Orders refused, by who and why", ["source", "reason"], registry=r
        )
        self._pnl = Gauge("kalshid_pnl_dollars", "Realized and unrealized P&L", ["kind"], registry=r)
        self._exposure = Gauge("kalshid_exposure_dollars", "Worst-case loss of open positions", registry=r)
        self._breaker = Gauge(
            "kalshid_circuit_breaker_tripped", "1 while the circuit breaker is tripped", registry=r
        )
        self._position_mismatches = Gauge(
            "kalshid_position_mismatch_markets",
            "markets where the position audit confirmed the journal and the exchange disagree (entries held while > 0)",
            registry=r,
        )
        self._feed_lag = Gauge(
            "kalshid_feed_lag_seconds", "Age of the last message at receipt", ["feed"], registry=r
        )
        self._book_age = Gauge(
            "kalshid_book_staleness_seconds", "Time since the book last changed", registry=r
        )
        self._reconnects = Counter("kalshid_reconnects_total", "Feed reconnections", ["feed"], registry=r)
        self._recorder_exits = Counter("kalshid_recorder_exits_total",
                                       "Recorder process exits while recording (each one is restarted)", registry=r)
        self._recorder_dropped = Counter("kalshid_recorder_events_dropped_total",
                                         "Market events not recorded because the recorder was behind", registry=r)
        self._recorder_paused = Gauge("kalshid_recorder_paused_low_disk",
                                      "1 while recording is paused: the recordings' disk is below "
                                      "record.min_free_mb free", registry=r)
        self._latency = Histogram(
            "kalshid_tick_to_order_seconds",
            "From the market data tick to the order leaving the process",
            buckets=LATENCY_BUCKETS_S,
            registry=r,
        )
        self._channel_used = Gauge(
            "kalshid_channel_buffer_used", "Items waiting in a Trio channel", ["channel"], registry=r
        )
        self._channel_max = Gauge(
            "kalshid_channel_buffer_size", "Capacity of a Trio channel", ["channel"], registry=r
        )
        self._ws_clients = Gauge("kalshid_api_ws_clients", "Connected WebSocket clients", registry=r)
        self._ws_evictions = Counter(
            "kalshid_api_ws_evictions_total",
            "WebSocket clients disconnected for reading too slowly",
            registry=r,
        )
        self._requests = Counter(
            "kalshid_api_requests_total", "API requests by route and status", ["route", "status"], registry=r
        )
        self._log_dropped = Counter(
            "kalshid_log_lines_dropped_total",
            "Log lines dropped because the log output (journald, a file) could not keep up",
            registry=r,
        )
        self._log_dropped_seen = 0

    # -- trading ---------------------------------------------------------------------------------
    def order_sent(self, *, latency_s: float | None = None) -> None:
        """An order left the process; ``latency_s`` is tick → send, when the tick is known."""
        self._orders.labels(status="sent").inc()
        if latency_s is not None:
            self._latency.observe(latency_s)

    def order_status(self, status: str) -> None:
        """An order reached ``status`` (executed, canceled, rejected, in_flight …)."""
        self._orders.labels(status=status).inc()

    def fill(self, *, strategy: str, count: int) -> None:
        self._fills.labels(strategy=strategy).inc()
        self._contracts.labels(strategy=strategy).inc(count)

    def rejection(self, *, source: str, reason: str) -> None:
        """An order refused by ``source`` (``risk`` or ``exchange``) for ``reason`` (a short code)."""
        self._rejections.labels(source=source, reason=reason).inc()

    def set_pnl(self, *, realized_cc: int, unrealized_cc: int) -> None:
        self._pnl.labels(kind="realized").set(realized_cc / CC_PER_DOLLAR)
        self._pnl.labels(kind="unrealized").set(unrealized_cc / CC_PER_DOLLAR)

    def set_exposure(self, exposure_cc: int) -> None:
        self._exposure.set(exposure_cc / CC_PER_DOLLAR)

    def set_breaker(self, tripped: bool) -> None:
        self._breaker.set(1 if tripped else 0)

    def set_position_mismatches(self, markets: int) -> None:
        self._position_mismatches.set(markets)

    # -- feeds -----------------------------------------------------------------------------------
    def feed_lag(self, feed: str, lag_s: float) -> None:
        self._feed_lag.labels(feed=feed).set(lag_s)

    def book_staleness(self, age_s: float) -> None:
        self._book_age.set(age_s)

    def reconnect(self, feed: str) -> None:
        self._reconnects.labels(feed=feed).inc()

    def recorder_exit(self) -> None:
        self._recorder_exits.inc()

    def recorder_dropped(self, count: int) -> None:
        self._recorder_dropped.inc(count)

    def recorder_paused(self, paused: bool) -> None:
        self._recorder_paused.set(1 if paused else 0)

    def channel_usage(self, channel: str, used: int, size: int) -> None:
        """Buffer use of a Trio channel (e.g. from ``MemorySendChannel.statistics()``)."""
        self._channel_used.labels(channel=channel).set(used)
        self._channel_max.labels(channel=channel).set(size)

    # -- API -------------------------------------------------------------------------------------
    def ws_clients(self, n: int) -> None:
        self._ws_clients.set(n)

    def ws_eviction(self) -> None:
        self._ws_evictions.inc()

    def log_lines_dropped(self, total: int) -> None:
        """Bring the counter up to ``total`` (:func:`kalshid.logs.lines_dropped`, cumulative)."""
        if total > self._log_dropped_seen:
            self._log_dropped.inc(total - self._log_dropped_seen)
            self._log_dropped_seen = total

    def api_request(self, route: str, status: int) -> None:
        self._requests.labels(route=route, status=str(status)).inc()

    def exposition(self) -> bytes:
        """The Prometheus text format of every metric in this registry."""
        return generate_latest(self.registry)
