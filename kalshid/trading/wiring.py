"""``kalshid run``'s trading components, composed: the one place that knows every room and channel.

:class:`TradingDaemon` builds the pipeline's state and stages, the rooms that own the outside world
(:class:`~kalshid.trading.venue.Venue`: journal, REST client, simulator; :class:`~kalshid.trading.feed.Feed`:
the WebSocket and the router into the stages; :class:`~kalshid.trading.markets.Markets`: window discovery),
and the memory channels between the stages, as locals of :meth:`TradingDaemon._wire`: each stage gets
its inbox's receive end, every producer gets a clone of the send end it writes to, and the original
send ends are the control plane's (``Pipeline.execution_in`` / ``risk_in``: kill switch, breaker reset).

:meth:`TradingDaemon.components` lists them in dependency order, and the supervisor nests each one's
lifetime inside the one before (:mod:`kalshid.daemon.supervisor`):

    exchange → feed → markets → risk → execution (reconciles first) → [control plane] → strategy

so the graceful stop runs innermost first: strategy stops proposing; the control plane (API, control
socket, watchdog) closes; execution cancels resting orders (if ``trading.cancel_on_shutdown``), resolves
what is in flight, books the last fills and closes its ends; risk, whose last producer end (the control
plane's) it closes on its own stop, ends when its inbox is drained; then markets, the feed, and last the
exchange (REST client, journal, embedded simulator). Every resource is closed by the component that
opened it, after every component that uses it has ended. Nothing waits on another component's "done" flag.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import attrs
import trio

from kalshid.config import Config
from kalshid.config.limits import breaker_config, risk_limits
from kalshid.control.broadcaster import EVENT_TYPES, Broadcaster
from kalshid.core.breaker import Breaker
from kalshid.core.portfolio import Portfolio
from kalshid.core.risk import DayLedger, RiskEngine
from kalshid.core.strategies.evidence import LiveGate, live_gate
from kalshid.core.strategies.registry import StrategyRegistry
from kalshid.core.units import format_dollars
from kalshid.daemon.supervisor import Component, Runtime
from kalshid.exchange.base import FeedEvent
from kalshid.logs import get_logger
from kalshid.metrics import Metrics
from kalshid.trading.exchangeclock import ExchangeClock
from kalshid.trading.execution import ExecutionSettings, ExecutionStage
from kalshid.trading.feed import Feed
from kalshid.trading.markets import Markets
from kalshid.trading.messages import (
    Counters,
    ExecutionInput,
    Pipeline,
    RiskInput,
    ShutdownRequested,
    TradingState,
)
from kalshid.trading.recovery import recover
from kalshid.trading.risk import RiskStage
from kalshid.trading.strategy import StrategyStage
from kalshid.trading.venue import Venue

log = get_logger("kalshid.pipeline")

# Execution's share of ``trading.shutdown_grace_seconds``: the API's drain comes before it and the
# feed's and venue's closes after it, all under the one deadline, so an answer that never comes (or a
# cancel that hangs) leaves an order in flight for the next start rather than forcing the exit.
EXECUTION_DRAIN_SHARE = 0.6


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
    # every strategy with a config section gets its parameters; one without uses its defaults
    params = {a.name: attrs.asdict(getattr(cfg.strategies, a.name)) for a in attrs.fields(type(cfg.strategies))}
    return StrategyRegistry.from_config(strategy_gate(cfg).allowed, params)


class TradingDaemon:
    """One daemon's trading parts, composed once (module docstring).

    What the control plane reads: ``p`` (state, snapshots, registry, journal, exchange), the stages
    (``risk_stage``, ``execution``, ``strategy``: their inboxes), the rooms (``venue``, ``feed``,
    ``markets``), ``gate``, ``clock``, ``metrics``, ``broadcaster``, the operator's ``param_overrides``;
    the control plane sets ``control``, ``api_url`` and ``control_path``. It runs nothing itself: the
    components it lists do, under the supervisor."""

    def __init__(self, runtime: Runtime, *, broadcaster: Broadcaster | None = None,
                 metrics: Metrics | None = None, virtual_clock: bool = False) -> None:
        cfg = runtime.config
        self.runtime = runtime
        self.cfg = cfg
        # the loop runs on a virtual clock (tests and benches under Trio's MockClock): no worker threads,
        # which would look idle to an autojumping clock (the journal works inline, orders are signed at
        # send time), and the recorder link waits for its process by checkpoints (RecorderLink)
        self.virtual_clock = virtual_clock
        self.metrics = metrics or Metrics()
        self.notices = Counters()  # info-level alerts published, by kind (``info_<kind>``); the status shows them
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
        self.risk_stage = RiskStage(self.p, RiskEngine(risk_limits(cfg)), self.metrics)
        self.execution = ExecutionStage(self.p, self.clock, ExecutionSettings(
            order_timeout_s=cfg.exchange.request_timeout, cancel_on_shutdown=cfg.trading.cancel_on_shutdown,
            drain_timeout_s=cfg.trading.shutdown_grace_seconds * EXECUTION_DRAIN_SHARE,
            position_audit_every_s=cfg.trading.position_audit_seconds), self.metrics)
        # without a recording nothing would take the stage's evaluation rows: none are built, on the
        # order's path (docs/performance.md, "Each stage's handling of one order")
        self.strategy = StrategyStage(self.p, underlying=cfg.exchange.underlying,
                                      record=self._record if cfg.record.enabled else None)
        # parameters set by an operator (API, ctl), journaled with the rest of the operator state
        self.param_overrides: dict[str, dict[str, Any]] = {}
        self.operator_restored = False  # the operator state came back from the journal at start
        self.control: Any = None
        self.api_url: str | None = None
        self.control_path: str | None = None
        self.venue = Venue(cfg, self.p, self.clock, runtime.signer, journal_inline=virtual_clock)
        self._trading = self._wire()

    # what the status reports of the rooms
    @property
    def connected(self) -> bool:
        return self.feed.connected

    @property
    def rest_url(self) -> str:
        return self.venue.rest_url

    @property
    def ws_url(self) -> str:
        return self.venue.ws_url

    def _record(self, row: object) -> None:
        self.feed.record(row)

    def _publish(self, type_: str, data: dict[str, Any]) -> None:
        """Publish an event to the dashboards. Money goes out as dollar strings like REST's (each
        integer ``x_cc`` field gains an ``x`` twin); an info-level ``alert`` needs no human, so it is
        counted (:attr:`notices`, ``info_<kind>``) and published as an event of its own kind instead."""
        if type_ == "alert" and data.get("level") == "info":
            kind = str(data.get("kind", "notice"))
            self.notices.bump(f"info_{kind}")
            type_ = kind if kind in EVENT_TYPES else "notice"
        data = with_dollars(data)
        try:
            self.broadcaster.publish({"type": type_, "data": data})
        except (TypeError, ValueError) as exc:  # a publisher bug must be loud, but must not stop trading
            log.error("event not publishable", event_type=type_, error=str(exc))

    def components(self, control_plane: Sequence[Component] = ()) -> list[Component]:
        """Every component in dependency order, ``control_plane`` (API, control socket, watchdog) inside
        execution and risk (it sends them commands) and outside strategy, so that a graceful stop stops
        proposing first (:func:`kalshid.trading.app.components`)."""
        *core, strategy = self._trading
        return [*core, *control_plane, strategy]

    def market_data_components(self) -> list[Component]:
        """Only what watches the market (``kalshid record``): exchange, feed and market discovery. The
        feed never delivers to the stages (no reconciliation turns it on), so its events are observed
        and recorded, never traded on."""
        return [c for c in self._trading if c.name in ("exchange", "feed", "markets")]

    def _wire(self) -> list[Component]:
        """Create the channels (locals: each end handed to the one component that uses it) and the
        components that run the rooms and stages; strategy last."""
        cfg, p = self.cfg, self.p
        ch = cfg.channels
        md_send, md_recv = trio.open_memory_channel[FeedEvent](ch.market_data)
        ex_send, ex_recv = trio.open_memory_channel[ExecutionInput](ch.orders)
        risk_send, risk_recv = trio.open_memory_channel[RiskInput](ch.fills)
        # the dashboard's delivery gives way while any stage has work (control/broadcaster.py, OrderPath)
        for inbox in (md_recv, ex_recv, risk_recv):
            self.broadcaster.order_path.watch(inbox)
        # the original send ends: the control plane's (commands), and its gauges' view of each channel
        p.market_data, p.execution_in, p.risk_in = (md_send, md_recv), (ex_send, ex_recv), (risk_send, risk_recv)
        self.feed = Feed(cfg, p, self.venue, self.clock, self.metrics, self._publish,
                         md_send.clone(), ex_send.clone(), virtual_clock=self.virtual_clock,
                         give_way=self.broadcaster.order_path.wait_clear)
        self.markets = Markets(cfg, p, self.clock, self.feed, self._publish)

        risk_orders = ex_send.clone()

        async def risk_task(runtime: Runtime, *, task_status: trio.TaskStatus[Any]) -> None:
            """Every order passes here. Ends when its inbox does: strategy's and execution's ends close
            as they end (both run inside this component), and the control plane's on this one's stop."""
            task_status.started()
            async with trio.open_nursery() as nursery:
                async def close_control_end() -> None:
                    await runtime.shutdown.wait()
                    risk_send.close()
                nursery.start_soon(close_control_end)
                await self.risk_stage.run(risk_recv, risk_orders)
                nursery.cancel_scope.cancel()

        reports, stop_orders = risk_send.clone(), ex_send.clone()

        async def execution_task(runtime: Runtime, *, task_status: trio.TaskStatus[Any]) -> None:
            """Reconciles (:func:`kalshid.trading.recovery.recover`) before it reports started, then
            places and tracks orders; on its stop it drains (cancel resting orders if configured,
            resolve what is in flight, book the last fills) and closes its ends."""
            async with stop_orders, ex_send:
                self.operator_restored = await recover(cfg, p, self.clock, self.feed, (ex_recv, md_recv),
                                                       self._publish, self.param_overrides,
                                                       start_stopped=runtime.stopped or cfg.trading.start_stopped)
                task_status.started()
                async with trio.open_nursery() as nursery:
                    async def ask_shutdown() -> None:
                        await runtime.shutdown.wait()
                        await send_or_drop(stop_orders, ShutdownRequested(), "shutdown")
                    nursery.start_soon(ask_shutdown)
                    await self.execution.run(ex_recv, reports)
                    nursery.cancel_scope.cancel()

        proposals, closing = risk_send.clone(), ex_send.clone()

        async def strategy_task(runtime: Runtime, *, task_status: trio.TaskStatus[Any]) -> None:
            """Market data in, proposals out, until its stop (the first of the graceful stop)."""
            async with md_recv, md_send, proposals, closing:
                task_status.started()
                async with trio.open_nursery() as nursery:
                    async def stop_on_shutdown() -> None:
                        await runtime.shutdown.wait()
                        nursery.cancel_scope.cancel()
                    nursery.start_soon(stop_on_shutdown)
                    await self.strategy.run(md_recv, proposals, closing)  # type: ignore[arg-type]

        return [
            Component("exchange", self.venue.run),
            Component("feed", self.feed.run),
            Component("markets", self.markets.run),
            Component("risk", risk_task),
            Component("execution", execution_task),
            Component("strategy", strategy_task),
        ]

    def liveness(self) -> bool:
        """For the systemd watchdog: the feed is connected and the pipeline processed data recently."""
        if not self.connected or not self.p.state.ready:
            return False
        return trio.current_time() - self.p.state.last_progress < 30.0


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
