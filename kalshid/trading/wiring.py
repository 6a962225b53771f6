"""``kalshid run``'s components: the trading pipeline wired into the supervisor's one nursery.

:func:`build_components` returns, in dependency order (see :mod:`kalshid.trading.messages` for the data
flow): ``exchange`` → ``feed`` → ``markets`` → ``execution`` (reconciles before it reports started) →
``risk`` → ``strategy`` → ``api`` → ``control`` → ``watchdog``. The supervisor sends systemd
``READY=1`` only once all of them have started, so *after* reconciliation.

Graceful stop (``runtime.shutdown``): strategy stops proposing; execution cancels resting orders (if
``trading.cancel_on_shutdown``), resolves what is in flight, books the last fills and closes its
channels; risk ends when its inbox closes; then the feed, and last the exchange (REST client, journal,
embedded simulator). Every resource is closed by the component that opened it.
"""

from __future__ import annotations

import secrets
import uuid
from collections.abc import Awaitable, Callable
from typing import Any

import trio
from cryptography.hazmat.primitives.asymmetric import rsa

from kalshid.config import Config
from kalshid.config.limits import breaker_config, risk_limits
from kalshid.control.broadcaster import EVENT_TYPES, Broadcaster
from kalshid.core.breaker import Breaker, BreakerStatus
from kalshid.core.markets import INDEX_ID
from kalshid.core.portfolio import Portfolio
from kalshid.core.risk import DayLedger, RiskEngine
from kalshid.core.strategies.evidence import LiveGate, live_gate
from kalshid.core.strategies.registry import StrategyRegistry
from kalshid.core.tracker import MarketInfo
from kalshid.core.units import format_dollars
from kalshid.daemon.supervisor import Component, Runtime
from kalshid.exchange.base import (
    EventSink,
    FeedEvent,
    FeedStale,
    IndexPrinted,
    MarketLifecycle,
    Reconnected,
    SubscriptionFailed,
)
from kalshid.exchange.errors import ExchangeError
from kalshid.exchange.kalshi import hosts
from kalshid.exchange.kalshi.auth import Signer
from kalshid.exchange.kalshi.discovery import find_next_market, find_open_market
from kalshid.exchange.kalshi.ratelimit import RateLimits
from kalshid.exchange.kalshi.rest import KalshiRest
from kalshid.exchange.kalshi.ws import FeedConfig, KalshiFeed
from kalshid.exchange.types import Market
from kalshid.logs import get_logger, register_secret
from kalshid.metrics import Metrics
from kalshid.research.recorder import recording_dir
from kalshid.research.recorder_link import RecorderLink
from kalshid.research.recording import MarketListing, MarketsFollowed, StrategyGate
from kalshid.store import open_journal
from kalshid.store.identity import exchange_identity, read_meta, set_aside_stale_journal
from kalshid.trading.exchangeclock import ExchangeClock
from kalshid.trading.execution import ExecutionSettings, ExecutionStage
from kalshid.trading.messages import (
    ExecutionInput,
    Pipeline,
    RiskInput,
    ShutdownRequested,
    TradingState,
)
from kalshid.trading.operator_state import KEY as OPERATOR_KEY
from kalshid.trading.operator_state import restore_operator_state
from kalshid.trading.reconcile import ReconciliationError, reconcile, strategy_holdings
from kalshid.trading.risk import RiskStage
from kalshid.trading.router import FeedRouter
from kalshid.trading.strategy import StrategyStage

log = get_logger("kalshid.pipeline")

MARKET_POLL_S = 5.0
RECONCILE_RETRY_S = (1.0, 2.0, 5.0, 10.0, 30.0)


async def send_or_drop(channel: trio.MemorySendChannel[Any], item: object, what: str) -> None:
    """Send, or log and drop if the receiving stage has already finished (only during shutdown)."""
    try:
        await channel.send(item)
    except (trio.BrokenResourceError, trio.ClosedResourceError):
        log.debug("dropped after the receiving stage stopped", item=what)


def strategy_gate(cfg: Config) -> LiveGate:
    """Real money is prod without a dry run; there, unproven strategies stay off unless allowed."""
    return live_gate(cfg.trading.enabled_strategies, real_money=not cfg.dry_run and cfg.exchange.env == "prod",
                     allow_unproven=cfg.trading.allow_unproven_live)


def registry_from(cfg: Config) -> StrategyRegistry:
    import attrs

    # every strategy with a config section gets its parameters; one without uses its defaults
    params = {a.name: attrs.asdict(getattr(cfg.strategies, a.name)) for a in attrs.fields(type(cfg.strategies))}
    return StrategyRegistry.from_config(strategy_gate(cfg).allowed, params)


class TradingDaemon:
    """Owns the :class:`Pipeline` and provides the supervisor's components as bound methods."""

    def __init__(self, runtime: Runtime, *, broadcaster: Broadcaster | None = None,
                 metrics: Metrics | None = None, journal_inline: bool = False) -> None:
        cfg = runtime.config
        self.runtime = runtime
        self.cfg = cfg
        self.journal_inline = journal_inline  # tests under MockClock: see open_journal
        self.metrics = metrics or Metrics()
        self.broadcaster = broadcaster or Broadcaster()
        mode = "dry" if cfg.dry_run else ("sim" if cfg.exchange.env == "sim" else "live")
        from datetime import UTC, datetime

        epoch = datetime(1970, 1, 1, tzinfo=UTC)
        state = TradingState(mode=mode, portfolio=Portfolio(0), ledger=DayLedger(epoch.date(), 0),
                             breaker=Breaker.start(epoch, 0, breaker_config(cfg)))
        self.gate = strategy_gate(cfg)
        if self.gate.refused:
            log.warning("strategies refused on real money", refused=list(self.gate.refused), reason=self.gate.reason)
        log.info("strategies", mode=mode, money="real" if self.gate.real_money else "play",
                 enabled=list(self.gate.allowed), refused=list(self.gate.refused))
        self.p = Pipeline(state=state, registry=registry_from(cfg))
        self.p.publish = self._publish
        self.p.hold_events = self.broadcaster.hold
        embedded = cfg.exchange.env == "sim" and not cfg.exchange.api_base_url
        self.clock = ExchangeClock(speed=cfg.sim.speed if embedded else 1.0)
        self.engine = RiskEngine(risk_limits(cfg))
        self.risk_stage = RiskStage(self.p, self.engine, self.metrics)
        self.execution = ExecutionStage(self.p, self.clock, ExecutionSettings(
            order_timeout_s=cfg.exchange.request_timeout, cancel_on_shutdown=cfg.trading.cancel_on_shutdown),
            self.metrics)
        self.strategy = StrategyStage(self.p, underlying=cfg.exchange.underlying, record=self._record)
        self.signer: Signer | None = runtime.signer
        self.rest_url = ""
        self.ws_url = ""
        self.api_url: str | None = None
        self.control_path: str | None = None
        self.connected = False
        ch = cfg.channels
        self.p.market_data = trio.open_memory_channel[FeedEvent](ch.market_data)
        self.p.execution_in = trio.open_memory_channel[ExecutionInput](ch.orders)
        self.p.risk_in = trio.open_memory_channel[RiskInput](ch.fills)
        # the dashboard's delivery gives way while any stage has work (control/broadcaster.py, OrderPath)
        for _, inbox in (self.p.market_data, self.p.execution_in, self.p.risk_in):
            self.broadcaster.order_path.watch(inbox)
        self._strategy_done = trio.Event()
        self._markets_done = trio.Event()
        # the feed's events reach the stages' inboxes only during and after a reconciliation attempt
        # (see _reconcile_until_done). Before, they only advance the clock, so a reconciliation that
        # retries never fills an inbox nobody reads.
        self._orders_gate = False
        # parameters set by an operator (API, ctl), journaled with the rest of the operator state
        self.param_overrides: dict[str, dict[str, Any]] = {}
        self.operator_restored = False  # the operator state came back from the journal at start
        self.control: Any = None
        self.recorder: RecorderLink | None = None  # market-data recording (record.*), started with the feed
        self._recorded_gate = False

    def _publish(self, type_: str, data: dict[str, Any]) -> None:
        """Publish an event to the dashboards. Money goes out as dollar strings like REST's (each
        integer ``x_cc`` field gains an ``x`` twin); an info-level ``alert`` needs no human, so it is
        counted (``counters["info_<kind>"]``) and published as an event of its own kind instead."""
        if type_ == "alert" and data.get("level") == "info":
            kind = str(data.get("kind", "notice"))
            self.p.state.bump(f"info_{kind}")
            type_ = kind if kind in EVENT_TYPES else "notice"
        data = with_dollars(data)
        try:
            self.broadcaster.publish({"type": type_, "data": data})
        except (TypeError, ValueError) as exc:  # a publisher bug must be loud, but must not stop trading
            log.error("event not publishable", event_type=type_, error=str(exc))

    def components(self) -> list[Component]:
        """The trading components in dependency order (:func:`kalshid.trading.app.components` adds the
        control plane after them)."""
        return [
            Component("exchange", self.exchange_task),
            Component("feed", self.feed_task),
            Component("markets", self.markets_task),
            Component("execution", self.execution_task),
            Component("risk", self.risk_task),
            Component("strategy", self.strategy_task),
        ]

    def market_data_components(self) -> list[Component]:
        """Only what watches the market (``kalshid record``): exchange, feed and market discovery. The
        trading stages count as finished, so feed events are observed (and recorded), never traded on."""
        self.p.execution_done.set()
        self._strategy_done.set()
        return [c for c in self.components() if c.name in ("exchange", "feed", "markets")]

    # --- exchange: journal, embedded simulator, REST client ------------------------------------
    async def exchange_task(self, runtime: Runtime, *, task_status: trio.TaskStatus[Any]) -> None:
        cfg = self.cfg
        embedded = cfg.exchange.env == "sim" and not cfg.exchange.api_base_url
        if not embedded:
            self._external_endpoints()
        # the embedded simulator and a dry run's paper account start empty: so does their journal
        identity = exchange_identity(cfg.exchange.env, self.rest_url, fresh=embedded or cfg.dry_run)
        operator: str | None = None  # the operator's decisions outlive the exchange's state
        if embedded or cfg.dry_run:
            moved = set_aside_stale_journal(cfg.journal_path, identity)
            if moved is not None:
                operator = read_meta(moved, OPERATOR_KEY)
                log.info("the exchange starts empty, so the journal does too; the previous run's journal "
                         "was set aside", journal=cfg.journal_path, set_aside=str(moved))
        async with open_journal(cfg.journal_path, cfg.journal_mode, inline=self.journal_inline,
                                fsync_before_send=cfg.journal.fsync_before_send) as journal, \
                trio.open_nursery() as nursery:
            await journal.bind_exchange(identity)
            if operator is not None:
                await journal.set_meta(OPERATOR_KEY, operator)
            self.p.journal = journal
            if embedded:
                await self._start_embedded_simulator(nursery)
            if self.signer is None:
                raise ReconciliationError("no API credentials: set KALSHI_API_KEY and KALSHI_PRIVATE_KEY_PATH "
                                          "(the WebSocket needs a signed handshake even for market data)")
            limits = RateLimits.for_tier(cfg.exchange.read_rate_limit, cfg.exchange.write_rate_limit)
            async with KalshiRest(self.rest_url, self.signer, timeout_s=cfg.exchange.request_timeout,
                                  limits=limits) as rest:
                self.p.exchange = rest
                await self._load_rate_limits(rest)
                if cfg.dry_run:
                    self.p.exchange = self._paper(rest)
                else:
                    if cfg.exchange.presign_orders and not self.journal_inline:
                        # not under MockClock (journal_inline): a worker thread looks idle to its autojump
                        await nursery.start(rest.presigner().run)
                    if cfg.exchange.order_lane and (lane := rest.order_lane()) is not None:
                        await nursery.start(lane.run)
                log.info("exchange ready", rest=self.rest_url, ws=self.ws_url, mode=self.p.state.mode,
                         journal=cfg.journal_path)
                task_status.started()
                # close the REST client and the journal only once everything that uses them has stopped
                await self.p.execution_done.wait()
                await self.p.feed_done.wait()
                await self._markets_done.wait()
            nursery.cancel_scope.cancel()

    @staticmethod
    async def _load_rate_limits(rest: KalshiRest) -> None:
        """Rate-limit by this key's own buckets and endpoint costs; the configured tier if they can't
        be read (an older server): a wrong guess costs 429s and retries, never an order."""
        try:
            await rest.load_rate_limits()
        except ExchangeError as exc:
            log.warning("account rate limits not readable: using the configured tier",
                        error=f"{type(exc).__name__}: {exc}")

    def _paper(self, rest: KalshiRest) -> Any:
        from kalshid.exchange.paper import PaperExchange

        return PaperExchange(rest, starting_balance_cc=self.cfg.trading.bankroll_cc,
                             seed=self.cfg.sim.seed if self.cfg.sim.seed is not None else 0,
                             now=self.clock.now_or_epoch)

    async def _start_embedded_simulator(self, nursery: trio.Nursery) -> None:
        from kalshid.sim.faults import parse_faults
        from kalshid.sim.ratelimit import RateLimits as SimRateLimits
        from kalshid.sim.server import SimSettings, serve_simulator

        cfg = self.cfg
        key = rsa.generate_private_key(public_exponent=65537, key_size=2048)  # once, before trading starts
        key_id = str(uuid.uuid4())
        register_secret(key_id, keep_prefix=True)
        seed = cfg.sim.seed if cfg.sim.seed is not None else secrets.randbelow(2**31)
        settings = SimSettings(host=cfg.sim.host, port=cfg.sim.port, speed=cfg.sim.speed, seed=seed,
                               start=cfg.sim.start.timestamp() if cfg.sim.start else embedded_start(),
                               keys=((key_id, key.public_key()),), balance_cc=cfg.sim.balance_cc,
                               faults=parse_faults(cfg.sim.faults), history_markets=cfg.sim.history_markets,
                               # the tier the client is configured for (Kalshi Basic by default)
                               rate_limits=SimRateLimits(cfg.exchange.read_rate_limit,
                                                         cfg.exchange.write_rate_limit))
        handle = await nursery.start(serve_simulator, settings)
        self.p.sim_handle = handle
        self.signer = Signer(key_id, key)
        self.rest_url, self.ws_url = handle.rest_base_url, handle.ws_url
        log.info("embedded simulator started", rest=self.rest_url, ws=self.ws_url, seed=seed,
                 speed=cfg.sim.speed)

    def _external_endpoints(self) -> None:
        ex = self.cfg.exchange
        if ex.api_base_url:
            self.rest_url = ex.api_base_url
            self.ws_url = ex.ws_url
        else:
            ends = hosts.endpoints(ex.env)
            self.rest_url, self.ws_url = ends.rest_base, ends.ws_url
        if not self.ws_url:
            raise ReconciliationError("exchange.ws_url is empty and cannot be derived")

    # --- feed: websocket in, straight into the stages' inboxes ------------------------------------
    async def feed_task(self, runtime: Runtime, *, task_status: trio.TaskStatus[Any]) -> None:
        assert self.signer is not None and self.p.market_data is not None and self.p.execution_in is not None
        router = FeedRouter(self.p.market_data[0], self.p.execution_in[0].clone(),
                            wants_market_data=lambda: self._orders_gate and not self._strategy_done.is_set(),
                            wants_orders=lambda: self._orders_gate and not self.p.execution_done.is_set(),
                            observe=self._observe_feed_event)
        if self.cfg.record.enabled:
            rc = self.cfg.record
            self.recorder = RecorderLink(recording_dir(self.cfg), flush_seconds=rc.flush_seconds,
                                         retention_days=rc.retention_days, queue_size=rc.queue_size,
                                         on_exit=self._recorder_exited)
        try:
            async with trio.open_nursery() as nursery:
                if self.recorder is not None:  # its own process; its task ships batches off the order path
                    await nursery.start(self.recorder.run)
                sink: EventSink = router
                if self.cfg.dry_run:  # the paper account sees every market event before the stages do
                    from kalshid.exchange.paper_feed import paper_feed_task

                    raw_send, raw_recv = trio.open_memory_channel[FeedEvent](self.cfg.channels.market_data)
                    await nursery.start(paper_feed_task, self.p.exchange, raw_recv, router.clone())
                    sink = raw_send
                feed = KalshiFeed(FeedConfig(ws_url=self.ws_url), self.signer, sink.clone())
                self.p.feed = feed
                await nursery.start(feed.run)
                spot_url = self.cfg.exchange.spot_url or (
                    "wss://ws-feed.exchange.coinbase.com" if self.cfg.exchange.underlying == "coinbase" else "")
                if spot_url:
                    from kalshid.exchange.spot import CoinbaseSpotFeed, SpotFeedConfig

                    spot = CoinbaseSpotFeed(SpotFeedConfig(url=spot_url), sink.clone())
                    nursery.start_soon(spot.run)  # optional: an unreachable spot feed never holds up startup
                    log.info("spot feed", url=spot_url, underlying=self.cfg.exchange.underlying)
                sink.close()  # the feeds hold their own handles
                self.connected = True
                task_status.started()
                await runtime.shutdown.wait()
                await self.p.execution_done.wait()
                nursery.cancel_scope.cancel()
        finally:
            router.close()
            self.connected = False
            self.p.feed_done.set()

    def _recorder_exited(self, returncode: int | None, detail: str) -> None:
        self.metrics.recorder_exit()
        self._publish("alert", {"level": "error", "kind": "recorder_exited", "detail": detail,
                                "returncode": returncode})

    def _record(self, row: object) -> None:
        if self.recorder is not None:
            self.recorder.offer(row)

    def _observe_feed_event(self, event: FeedEvent) -> None:
        """Side effects of a feed event the router accepted (runs in the feed's task)."""
        if self.recorder is not None:
            gate = self._orders_gate and not self._strategy_done.is_set()  # as the router's wants_market_data
            if gate != self._recorded_gate:  # which recorded events reached the strategy stage
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
            self.p.markets_changed.set()
        elif isinstance(event, SubscriptionFailed):
            log.warning("subscription refused", channel=event.channel, code=event.code,
                        message=event.message, markets=list(event.market_tickers))
        elif isinstance(event, Reconnected):
            self.metrics.reconnect("ws")
            self._publish("alert", {"level": "warning", "kind": "reconnected", "attempt": event.attempt})

    # --- markets: discovery and rollover ---------------------------------------------------------
    async def markets_task(self, runtime: Runtime, *, task_status: trio.TaskStatus[Any]) -> None:
        try:
            await self._markets_task(runtime, task_status)
        finally:
            self._markets_done.set()

    async def _markets_task(self, runtime: Runtime, task_status: trio.TaskStatus[Any]) -> None:
        await self._wait_for_exchange_time()
        await self._refresh_markets()
        task_status.started()
        async def wake_on_shutdown() -> None:
            await runtime.shutdown.wait()
            self.p.markets_changed.set()

        async with trio.open_nursery() as nursery:
            nursery.start_soon(wake_on_shutdown)
            await self._poll_markets(runtime)
            nursery.cancel_scope.cancel()

    async def _poll_markets(self, runtime: Runtime) -> None:
        while not runtime.shutdown.is_set():
            with trio.move_on_after(MARKET_POLL_S / (self.cfg.sim.speed if self._is_sim else 1.0)):
                await self.p.markets_changed.wait()
            self.p.markets_changed = trio.Event()
            if runtime.shutdown.is_set():
                break
            try:
                await self._refresh_markets()
            except ExchangeError as exc:
                log.warning("market discovery failed; retrying", error=f"{type(exc).__name__}: {exc}")

    def _is_clock_source(self, index_id: str) -> bool:
        """Exchange time comes from the settlement index; from the spot feed only when it replaces it."""
        return index_id == INDEX_ID or self.cfg.exchange.underlying == "coinbase"

    @property
    def _is_sim(self) -> bool:
        return self.p.sim_handle is not None

    async def _refresh_markets(self) -> None:
        exchange = self.p.require_exchange()
        now = self.clock.now()
        status = await exchange.get_exchange_status()
        current = await find_open_market(exchange, now) if status.trading_active else None
        nxt = await find_next_market(exchange, current.close_time if current else now) if current else None
        state = self.p.state
        old = (state.current_market.ticker if state.current_market else None,
               state.next_market.ticker if state.next_market else None)
        state.current_market, state.next_market = current, nxt
        state.exchange_trading_active = status.trading_active
        new = (current.ticker if current else None, nxt.ticker if nxt else None)
        followed = [m for m in (current, nxt) if m is not None]
        self.p.tracker.set_markets([_info(m) for m in followed])
        if self.recorder is not None:
            for m in followed:
                self.recorder.offer(MarketListing(m.ticker, m.open_time, m.close_time, m.floor_strike))
            self.recorder.offer(MarketsFollowed(tuple(m.ticker for m in followed), new[0], self.strategy.received))
        if new != old:
            assert self.p.feed is not None
            await self.p.feed.set_markets([m.ticker for m in followed])
            log.info("markets", current=new[0], next=new[1], trading_active=status.trading_active)
            self._publish("market_update", {"current": new[0], "next": new[1],
                                            "trading_active": status.trading_active})

    # --- execution, risk, strategy ------------------------------------------------------------------
    async def execution_task(self, runtime: Runtime, *, task_status: trio.TaskStatus[Any]) -> None:
        assert self.p.execution_in is not None and self.p.risk_in is not None
        ex_send, ex_recv = self.p.execution_in
        risk_send = self.p.risk_in[0].clone()
        try:
            await self._reconcile_until_done(runtime, ex_recv)
            task_status.started()
            async with trio.open_nursery() as nursery:
                async def ask_shutdown() -> None:
                    await runtime.shutdown.wait()
                    await send_or_drop(ex_send, ShutdownRequested(), "shutdown")
                nursery.start_soon(ask_shutdown)
                await self.execution.run(ex_recv, risk_send)
                nursery.cancel_scope.cancel()
        finally:
            self.p.execution_done.set()
            ex_send.close()

    async def _wait_for_exchange_time(self) -> None:
        """Until the feed has told the exchange's time; says so every 30 s, never gives up."""
        waited = 0
        while not self.clock.known:
            with trio.move_on_after(30):
                await self.clock.wait_known()
            if not self.clock.known:
                waited += 30
                log.warning("no exchange time yet: waiting for the feed's first index print", waited_s=waited)

    async def _reconcile_until_done(self, runtime: Runtime,
                                    inbox: trio.MemoryReceiveChannel[ExecutionInput]) -> None:
        """Reconcile until it succeeds, retrying with backoff and logging each attempt's differences.

        The feed's events are let into ``inbox`` (and the strategy's) for the length of each attempt,
        so nothing that happens during a successful one is lost (fills are idempotent, everything
        before the attempt is read from the exchange by it); after a failed one they are discarded and
        kept out until the next attempt, so the feed never blocks on an inbox nobody reads."""
        exchange = self.p.require_exchange()
        journal = self.p.require_journal()
        assert self.p.market_data is not None
        await self._wait_for_exchange_time()
        attempt = 0
        while True:
            self._orders_gate = True
            try:
                now = self.clock.now()
                portfolio, open_orders, summary = await reconcile(exchange, journal, now)
                break
            except (ExchangeError, ReconciliationError) as exc:
                self._orders_gate = False
                discarded = _discard_waiting(inbox) + _discard_waiting(self.p.market_data[1])
                delay = RECONCILE_RETRY_S[min(attempt, len(RECONCILE_RETRY_S) - 1)]
                attempt += 1
                log.error("reconciliation failed: not trading; retrying", error=f"{type(exc).__name__}: {exc}",
                          attempt=attempt, retry_in_s=delay, feed_events_discarded=discarded)
                self.p.state.reconciliation = {"ok": False, "error": str(exc), "attempt": attempt}
                self._publish("alert", {"level": "error", "kind": "reconciliation_failed", "detail": str(exc),
                                        "attempt": attempt})
                await trio.sleep(delay)
        state = self.p.state
        state.portfolio = portfolio
        self.p.orders.load(open_orders, await strategy_holdings(journal, portfolio.open_tickers()))
        state.exchange_balance_cc = portfolio.cash_cc
        state.ledger = DayLedger.start(now, portfolio)
        equity = portfolio.equity_cc()
        breaker = Breaker.start(now, equity, breaker_config(self.cfg))
        last = await journal.latest_equity()
        events = await journal.breaker_events()
        if last is not None:
            breaker = Breaker(breaker.config, breaker.status, breaker.day, breaker.day_start_equity_cc,
                              max(equity, last.peak_cc))
        if events and events[-1].to_state == BreakerStatus.HALTED.value:
            breaker = Breaker(breaker.config, BreakerStatus.HALTED, breaker.day, breaker.day_start_equity_cc,
                              breaker.peak_equity_cc)
            log.critical("circuit breaker is HALTED from before the restart; reset it to trade")
        state.breaker = breaker
        state.peak_equity_cc = breaker.peak_equity_cc
        self.operator_restored = await restore_operator_state(self.p, self.param_overrides, now) is not None
        self.p.publish_execution()
        self.p.publish_risk()
        state.started_at = now
        state.ready = True
        state.reconciliation = {"ok": True, **summary}
        log.info("reconciled", **{k: v for k, v in summary.items() if k != "positions"},
                 positions=summary.get("positions"), open_orders=len(open_orders),
                 breaker=breaker.status.value)

    async def risk_task(self, runtime: Runtime, *, task_status: trio.TaskStatus[Any]) -> None:
        assert self.p.risk_in is not None and self.p.execution_in is not None
        _send, recv = self.p.risk_in
        orders = self.p.execution_in[0].clone()
        task_status.started()
        await self.risk_stage.run(recv, orders)

    async def strategy_task(self, runtime: Runtime, *, task_status: trio.TaskStatus[Any]) -> None:
        assert self.p.market_data is not None and self.p.risk_in is not None and self.p.execution_in is not None
        _md_send, md_recv = self.p.market_data
        proposals = self.p.risk_in[0]          # the original sender: closed when strategy ends
        closing = self.p.execution_in[0].clone()
        task_status.started()
        try:
            async with trio.open_nursery() as nursery:
                async def stop_on_shutdown() -> None:
                    await runtime.shutdown.wait()
                    nursery.cancel_scope.cancel()
                nursery.start_soon(stop_on_shutdown)
                await self.strategy.run(md_recv, proposals, closing)  # type: ignore[arg-type]
        finally:
            self._strategy_done.set()
            proposals.close()
            closing.close()
            md_recv.close()

    def liveness(self) -> bool:
        """For the systemd watchdog: the feed is connected and the pipeline processed data recently."""
        if not self.connected or not self.p.state.ready:
            return False
        return trio.current_time() - self.p.state.last_progress < 30.0


EMBEDDED_START_INTO_WINDOW_S = 30


def embedded_start(now: float | None = None) -> float:
    """Where the embedded simulator's clock starts when ``sim.start`` is unset: 30 s into the current
    quarter-hour (of the wall clock). A fresh ``kalshid run`` then always has a whole window ahead of it
    and trades within a minute, instead of arriving in a window's last seconds; the simulator's clock is
    its own, up to 14.5 minutes behind the wall clock. (Only the embedded simulator: ``kalshid sim``
    starts at the wall clock unless ``--start`` is given.)"""
    import time

    wall = time.time() if now is None else now
    # a hair before a whole second: the index prints on whole seconds, so the first one (which tells
    # the daemon the exchange time it waits for at start) comes at once rather than a second later
    return wall - wall % 900 + EMBEDDED_START_INTO_WINDOW_S - 0.001


def with_dollars(data: dict[str, Any]) -> dict[str, Any]:
    """``data`` with a dollar-string twin (``"0.4500"``) for each integer ``*_cc`` field, also in nested
    objects; the ``*_cc`` fields stay."""
    out: dict[str, Any] = {}
    for key, value in data.items():
        if isinstance(value, dict):
            value = with_dollars(value)
        out[key] = value
        if key.endswith("_cc") and isinstance(value, int) and not isinstance(value, bool) \
                and key[:-3] not in data:
            out[key[:-3]] = format_dollars(value)
    return out


def _discard_waiting(inbox: trio.MemoryReceiveChannel[Any]) -> int:
    """Drop what waits in ``inbox`` (only feed events can, before the stages start); return how many."""
    n = 0
    while True:
        try:
            inbox.receive_nowait()
        except (trio.WouldBlock, trio.EndOfChannel):
            return n
        n += 1


def _info(m: Market) -> MarketInfo:
    return MarketInfo(m.ticker, m.open_time, m.close_time,
                      float(m.floor_strike) if m.floor_strike is not None else None)


ComponentFactory = Callable[[Runtime], list[Component]]
AsyncFn = Callable[..., Awaitable[None]]
