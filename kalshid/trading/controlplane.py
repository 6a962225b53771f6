"""The control-plane components of ``kalshid run``: API server, control socket, systemd watchdog."""

from __future__ import annotations

import os
from typing import TYPE_CHECKING, Any

import trio

from kalshid.alerts import build_alert_service
from kalshid.control.server import LOCAL_SOCKET_PATH, SOCKET_NAME, control_socket_task
from kalshid.daemon.watchdog import watchdog_task
from kalshid.logs import get_logger, lines_dropped, register_secret
from kalshid.server.app import api_server_task
from kalshid.server.settings import ApiSettings, resolve_token
from kalshid.trading.control_impl import DaemonControlImpl
from kalshid.trading.risk import marks_for

if TYPE_CHECKING:
    from kalshid.daemon.supervisor import Runtime
    from kalshid.trading.wiring import TradingDaemon

log = get_logger("kalshid.components")


def api_settings(daemon: TradingDaemon, environ: dict[str, str] | None = None) -> ApiSettings:
    env = os.environ if environ is None else environ
    api = daemon.cfg.api
    token_file = api.token_file
    if not api.token and not token_file:
        creds = env.get("CREDENTIALS_DIRECTORY")
        if creds and os.path.exists(os.path.join(creds, "api-token")):
            token_file = os.path.join(creds, "api-token")
        else:
            state = (env.get("STATE_DIRECTORY") or "").split(":")[0] or daemon.cfg.journal.dir
            token_file = os.path.join(state, "api-token")
    return ApiSettings(host=api.host, port=api.port, token=api.token or None, token_file=token_file or None,
                       cors_origins=api.cors_origins, max_request_bytes=api.max_request_bytes)


def socket_path(daemon: TradingDaemon, environ: dict[str, str] | None = None) -> str:
    env = os.environ if environ is None else environ
    configured = daemon.cfg.control.socket_path
    runtime_dir = (env.get("RUNTIME_DIRECTORY") or "").split(":")[0]
    if runtime_dir and configured == LOCAL_SOCKET_PATH:
        return os.path.join(runtime_dir, SOCKET_NAME)
    return configured


def control_for(daemon: TradingDaemon) -> DaemonControlImpl:
    if getattr(daemon, "control", None) is None:
        daemon.control = DaemonControlImpl(daemon)
    return daemon.control  # type: ignore[no-any-return]


async def api_task(daemon: TradingDaemon, runtime: Runtime, *, task_status: trio.TaskStatus[Any]) -> None:
    settings = api_settings(daemon)
    token = resolve_token(settings)
    register_secret(token)
    settings = ApiSettings(host=settings.host, port=settings.port, token=token, token_file=None,
                           cors_origins=settings.cors_origins, max_request_bytes=settings.max_request_bytes)
    async with trio.open_nursery() as delivery:
        # dashboard events reach the WebSocket clients when the loop is idle, never ahead of an order
        delivery.start_soon(daemon.broadcaster.run)
        alerts = build_alert_service(daemon.cfg.alerts, control_for(daemon))
        if alerts is not None:  # its own subscription and thread: never on the trading path
            delivery.start_soon(alerts.run, daemon.broadcaster)
            log.info("alerts on", targets=alerts.targets)
        async with trio.open_nursery() as nursery:
            url = await nursery.start(lambda *, task_status: api_server_task(
                control_for(daemon), settings, shutdown=runtime.shutdown, broadcaster=daemon.broadcaster,
                metrics=daemon.metrics, task_status=task_status))
            daemon.api_url = url
            log.info("control API listening", url=url, token_file=api_settings(daemon).token_file)
            task_status.started(url)
        delivery.cancel_scope.cancel()


async def control_task(daemon: TradingDaemon, runtime: Runtime, *, task_status: trio.TaskStatus[Any]) -> None:
    path = socket_path(daemon)
    async with trio.open_nursery() as nursery:
        daemon.control_path = await nursery.start(control_socket_task, control_for(daemon), path)
        log.info("control socket listening", path=path)
        task_status.started(path)
        await runtime.shutdown.wait()
        nursery.cancel_scope.cancel()


async def watchdog_component(daemon: TradingDaemon, runtime: Runtime, *,
                             task_status: trio.TaskStatus[Any]) -> None:
    """The systemd watchdog (fed only while :meth:`TradingDaemon.liveness` holds) and the gauges
    that are sampled rather than counted (P&L, exposure, book age, channel use), once a second."""
    async with trio.open_nursery() as nursery:
        interval = await nursery.start(lambda *, task_status: watchdog_task(daemon.liveness,
                                                                            task_status=task_status))
        nursery.start_soon(_sample_gauges, daemon)
        task_status.started(interval)
        await runtime.shutdown.wait()
        nursery.cancel_scope.cancel()


async def _sample_gauges(daemon: TradingDaemon) -> None:
    metrics = daemon.metrics
    while True:
        state, snapshots = daemon.p.state, daemon.p.snapshots
        if state.ready:
            port = snapshots.risk.portfolio
            marks = marks_for(port, snapshots.strategy.tops)
            unrealized = sum(p.value_cc(marks.get(t)) - p.cost_basis_cc for t, p in port.positions.items())
            metrics.set_pnl(realized_cc=port.realized_pnl_cc, unrealized_cc=unrealized)
            metrics.set_exposure(port.worst_case_loss_cc())
            metrics.set_breaker(snapshots.risk.breaker.status.value == "halted")
            current = state.current_market
            age = snapshots.strategy.book_age_seconds(current.ticker) if current else None
            if age is not None:
                metrics.book_staleness(age)
        metrics.log_lines_dropped(lines_dropped())
        for name, pair in (("market_data", daemon.p.market_data), ("orders", daemon.p.execution_in),
                           ("reports", daemon.p.risk_in)):
            if pair is not None:
                stats = pair[0].statistics()
                metrics.channel_usage(name, stats.current_buffer_used, int(stats.max_buffer_size))
        await trio.sleep(1.0)
