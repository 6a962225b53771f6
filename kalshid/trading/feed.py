"""The ``feed`` component: the market's events in, straight into the stages' inboxes.

:class:`Feed` runs the Kalshi WebSocket (book, trades, index, fills, orders, lifecycle), the optional
spot feed, the dry run's paper feed (the paper account sees each market event before the stages do) and
the market-data recorder link (``record.*``, its own process). The feeds write to a
:class:`~kalshid.trading.router.FeedRouter`, which puts each event into the inbox of the stage that
reads it in the feed's own task; :meth:`Feed._observe` runs the side effects of each event (exchange
clock, metrics, alerts, the recorder).

Delivery to the stages is off until :meth:`Feed.deliver_to_stages` turns it on (the execution component
does, for the length of each reconciliation attempt and from a successful one on): before, events only
advance the clock, so a reconciliation that retries never fills an inbox nobody reads. A stage that has
ended has closed its inbox; the router then drops what was meant for it.

Lifetime: started after the venue and ended before it; everything that reads its events (markets,
execution, strategy) is started after it and so has ended before its own stop comes. It holds only
producer ends (clones the wiring gave it) and closes them when it ends.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

import trio

from kalshid.config import Config
from kalshid.core.markets import INDEX_ID, in_series
from kalshid.daemon.supervisor import Runtime
from kalshid.exchange.base import (
    EventFeeUpdated,
    EventSink,
    FeedEvent,
    FeedStale,
    IndexPrinted,
    MarketLifecycle,
    Reconnected,
    SubscriptionFailed,
)
from kalshid.exchange.kalshi.feedconfig import USER_CHANNELS
from kalshid.exchange.kalshi.ws import FeedConfig, KalshiFeed
from kalshid.logs import get_logger
from kalshid.metrics import Metrics
from kalshid.research.recorder import prepare_recording_dir, recording_dir
from kalshid.research.recorder_link import MIB, RecorderLink
from kalshid.research.recording import StrategyGate
from kalshid.trading.exchangeclock import ExchangeClock
from kalshid.trading.messages import ExecutionInput, Pipeline
from kalshid.trading.router import FeedRouter
from kalshid.trading.venue import Venue

log = get_logger("kalshid.pipeline")

COINBASE_WS = "wss://ws-feed.exchange.coinbase.com"


class Feed:
    """The feed component of one daemon (module docstring)."""

    def __init__(self, cfg: Config, p: Pipeline, venue: Venue, clock: ExchangeClock, metrics: Metrics,
                 publish: Callable[[str, dict[str, Any]], None],
                 market_data: trio.MemorySendChannel[FeedEvent],
                 orders: trio.MemorySendChannel[ExecutionInput], *, virtual_clock: bool = False,
                 give_way: Callable[[], Awaitable[None]] | None = None) -> None:
        self.cfg = cfg
        self.virtual_clock = virtual_clock  # tests under MockClock: see RecorderLink
        self.give_way = give_way  # the recording's shipments wait for it: the order path's wait_clear
        self.p = p
        self.venue = venue
        self.clock = clock
        self.metrics = metrics
        self.publish = publish
        self._market_data = market_data
        self._orders = orders
        self.connected = False
        self.recorder: RecorderLink | None = None  # market-data recording (record.*), while the feed runs
        self._delivering = False
        self._router: FeedRouter | None = None
        self._recorded_gate = False
        # an event's fee override set or cleared: the markets room's fee watch takes it (Markets)
        self.on_fee_update: Callable[[EventFeeUpdated], None] | None = None
        # the feed reconnected: fee updates sent while it was away were missed (Markets reads them again)
        self.on_reconnected: Callable[[], None] | None = None

    def deliver_to_stages(self, on: bool) -> None:
        """Let the feed's events into the strategy's and execution's inboxes, or keep them out."""
        self._delivering = on

    def record(self, row: object) -> None:
        """Offer ``row`` to the market-data recording, if one runs."""
        if self.recorder is not None:
            self.recorder.offer(row)

    async def run(self, runtime: Runtime, *, task_status: trio.TaskStatus[Any] = trio.TASK_STATUS_IGNORED) -> None:
        cfg = self.cfg
        signer = self.venue.signer
        assert signer is not None, "the venue starts before the feed"
        router = FeedRouter(self._market_data, self._orders, wants_market_data=lambda: self._delivering,
                            wants_orders=lambda: self._delivering, observe=self._observe)
        self._router = router
        if cfg.record.enabled:
            rc = cfg.record
            self.recorder = RecorderLink(prepare_recording_dir(cfg), flush_seconds=rc.flush_seconds,
                                         retention_days=rc.retention_days, queue_size=rc.queue_size,
                                         on_exit=self._recorder_exited, virtual_clock=self.virtual_clock,
                                         give_way=self.give_way, on_dropped=self._recorder_dropped,
                                         min_free_bytes=rc.min_free_mb * MIB, on_disk=self._recorder_disk)
        try:
            async with trio.open_nursery() as nursery:
                if self.recorder is not None:  # its own process; its task ships batches off the order path
                    await nursery.start(self.recorder.run)
                sink: EventSink = router
                if cfg.dry_run:  # the paper account sees every market event before the stages do
                    from kalshid.exchange.paper_feed import paper_feed_task

                    raw_send, raw_recv = trio.open_memory_channel[FeedEvent](cfg.channels.market_data)
                    await nursery.start(paper_feed_task, self.p.exchange, raw_recv, router.clone())
                    sink = raw_send
                feed = KalshiFeed(FeedConfig(ws_url=self.venue.ws_url), signer, sink.clone())
                self.p.feed = feed
                await nursery.start(feed.run)
                spot_url = cfg.exchange.spot_url or (COINBASE_WS if cfg.exchange.underlying == "coinbase" else "")
                if spot_url:
                    from kalshid.exchange.spot import CoinbaseSpotFeed, SpotFeedConfig

                    spot = CoinbaseSpotFeed(SpotFeedConfig(url=spot_url), sink.clone())
                    nursery.start_soon(spot.run)  # optional: an unreachable spot feed never holds up startup
                    log.info("spot feed", url=spot_url, underlying=cfg.exchange.underlying)
                sink.close()  # the feeds hold their own handles
                self.connected = True
                task_status.started()
                await runtime.shutdown.wait()  # every stage reading the feed has ended
                nursery.cancel_scope.cancel()
        finally:
            router.close()
            self.connected = False
            self.recorder = None

    def _recorder_exited(self, returncode: int | None, detail: str) -> None:
        self.metrics.recorder_exit()
        self.publish("alert", {"level": "error", "kind": "recorder_exited", "detail": detail,
                               "returncode": returncode})

    def _recorder_dropped(self, count: int, first: bool) -> None:
        self.metrics.recorder_dropped(count)
        if first:  # once per episode; the link logs its end
            self.publish("alert", {"level": "warning", "kind": "recorder_dropping",
                                   "detail": f"recording is dropping market events ({count} so far): the "
                                             f"recorder is behind; trading is not affected"})

    def _recorder_disk(self, recording: bool, free: int) -> None:
        self.metrics.recorder_paused(not recording)
        dir_ = str(recording_dir(self.cfg))
        if recording:
            self.publish("alert", {"level": "info", "kind": "recorder_disk_ok",
                                   "detail": f"recording resumed: {free // MIB} MiB free under {dir_}"})
        else:
            self.publish("alert", {"level": "error", "kind": "recorder_disk_low",
                                   "detail": f"recording paused: {free // MIB} MiB free under {dir_}, below "
                                             f"record.min_free_mb {self.cfg.record.min_free_mb}; trading goes "
                                             f"on (free space, or lower record.retention_days)"})

    def _observe(self, event: FeedEvent) -> None:
        """Side effects of a feed event the router accepted (runs in the feed's task)."""
        if self.recorder is not None:
            gate = self._router is not None and self._router.delivers_market_data  # reached the strategy
            if gate != self._recorded_gate:
                self._recorded_gate = gate
                self.recorder.offer(StrategyGate(gate))
            self.recorder.offer(event)
        if isinstance(event, IndexPrinted):
            if event.print.exchange_ts is not None and self._is_clock_source(event.print.index_id):
                self.clock.observe(event.print.exchange_ts, event.print.local_time)
                self.metrics.feed_lag("index", max(0.0, trio.current_time() - event.print.local_time))
        elif isinstance(event, FeedStale):
            self.metrics.reconnect("book_resync")
        elif isinstance(event, MarketLifecycle):
            # Kalshi's lifecycle channel carries every market's; only the series' can change what is followed
            if in_series(event.ticker):
                self.p.markets_changed.set()
        elif isinstance(event, EventFeeUpdated):
            if self.on_fee_update is not None:
                self.on_fee_update(event)
        elif isinstance(event, SubscriptionFailed):
            if event.channel in USER_CHANNELS:
                # the account's own stream: fills and order updates now come only by the REST catch-up
                # (every few seconds) until the feed reconnects and subscribes again
                log.error("subscription refused: fills and order updates come by REST only until the feed "
                          "reconnects", channel=event.channel, code=event.code, message=event.message)
                self.publish("alert", {"level": "error", "kind": "subscription_refused", "channel": event.channel,
                                       "code": event.code, "detail": event.message})
            else:
                log.warning("subscription refused", channel=event.channel, code=event.code,
                            message=event.message, markets=list(event.market_tickers))
        elif isinstance(event, Reconnected):
            self.metrics.reconnect("ws")
            self.publish("alert", {"level": "warning", "kind": "reconnected", "attempt": event.attempt})
            if self.on_reconnected is not None:
                self.on_reconnected()

    def _is_clock_source(self, index_id: str) -> bool:
        """Exchange time comes from the settlement index; from the spot feed only when it replaces it."""
        return index_id == INDEX_ID or self.cfg.exchange.underlying == "coinbase"
