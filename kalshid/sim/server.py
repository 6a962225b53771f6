"""Wiring: the simulator's nursery (HTTP/WS server, lifecycle, index, makers, takers).

Embed it with ``handle = await nursery.start(serve_simulator, settings)``; ``handle`` carries the
bound URLs. Stop it by ``handle.stop()`` (graceful: WebSocket queues are closed so handlers end
with code 1000, then Hypercorn drains) or by cancelling the nursery.
Loopback only: a non-loopback ``host`` is refused (the simulator has no TLS and weak secrecy).
"""

from __future__ import annotations

import ipaddress
import logging
from decimal import Decimal
from functools import partial
from pathlib import Path
from typing import Any

import attrs
import trio
from hypercorn.config import Config as HyperConfig
from hypercorn.trio import serve

from kalshid.sim.authn import DEFAULT_MAX_SKEW_S, KeyRegistry, PublicKey, load_public_key
from kalshid.sim.clock import SimClock
from kalshid.sim.engine import Exchange
from kalshid.sim.faults import FaultInjector, FaultSpec
from kalshid.sim.hub import Hub
from kalshid.sim.index import IndexSource, default_index
from kalshid.sim.lifecycle_ops import KEEP_FINALIZED
from kalshid.sim.makers import InformedTaker, MakerModel
from kalshid.sim.ratelimit import RateLimiter, RateLimits
from kalshid.sim.rest import PREFIX, create_app
from kalshid.sim.tasks import index_task, lifecycle_task, maker_task, taker_task
from kalshid.sim.venue import Venue
from kalshid.sim.wire import user_uuid
from kalshid.sim.ws import WS_PATH, add_websocket_route

log = logging.getLogger("kalshid.sim")

TRADER_USER = user_uuid("trader")
MAKER_USER = user_uuid("maker")
TAKER_USER = user_uuid("taker")
DEFAULT_LISTING_DELAY_S = 180.0
INTERNAL_BALANCE_CC = 100_000_000 * 10_000  # $100M each: the house never runs out of collateral


@attrs.frozen
class SimSettings:
    """Everything the simulator needs. ``keys`` maps API key ids to RSA or Ed25519 public keys (objects
    or PEM paths).

    ``start``: simulated start (Unix s; ``None`` = wall clock now). ``max_skew_s``: accepted
    difference between a request's signed timestamp and the *wall* clock (``None`` = no check;
    use that under a mock clock). ``history_markets``: settled markets whose orders, fills and
    settlements are kept (older ones are forgotten whole, so a long run's memory stays bounded).
    ``ws_queue_size``: messages buffered per WS client before it is disconnected as a slow consumer.
    ``index``: overrides the default price source. ``listing_delay_s``: how long after it opens a
    market appears in the ``GET /markets`` list (Kalshi's list lags a new window by minutes; 0 lists
    every created market at once); ``GET /markets/{ticker}`` always answers at once. ``fee_type`` and
    ``fee_multiplier``: the series' fee structure (``GET /series``); ``event_fee_type_override`` and
    ``event_fee_multiplier_override``: the override every event publishes (``GET /events``; None: none);
    the fills are charged the effective structure.
    """

    host: str = "127.0.0.1"
    port: int = 0
    speed: float = 1.0
    seed: int = 0
    start: float | None = None
    keys: tuple[tuple[str, PublicKey | Path], ...] = ()
    balance_cc: int = 1_000 * 10_000
    faults: FaultSpec = attrs.field(factory=FaultSpec)
    rate_limits: RateLimits = attrs.field(factory=RateLimits)
    max_skew_s: float | None = DEFAULT_MAX_SKEW_S
    settlement_timer_seconds: int = 60
    history_markets: int = KEEP_FINALIZED
    makers: bool = True
    takers: bool = True
    ws_queue_size: int = 1000
    ws_ping_interval_s: float | None = 10.0
    keep_alive_timeout_s: float = 5.0
    graceful_timeout_s: float = 1.0
    index: IndexSource | None = None
    listing_delay_s: float = DEFAULT_LISTING_DELAY_S
    fee_type: str = "quadratic"
    fee_multiplier: Decimal = Decimal(1)
    event_fee_type_override: str | None = None
    event_fee_multiplier_override: Decimal | None = None


@attrs.frozen
class SimHandle:
    """A running simulator: its URLs, state (for tests and the embedding daemon) and stop switch."""

    rest_base_url: str
    ws_url: str
    venue: Venue
    shutdown: trio.Event

    def stop(self) -> None:
        self.shutdown.set()


def _check_loopback(host: str) -> None:
    if host == "localhost":
        return
    try:
        ok = ipaddress.ip_address(host).is_loopback
    except ValueError:
        ok = False
    if not ok:
        raise ValueError(f"the simulator binds to loopback only; {host!r} is not a loopback address")


def build_venue(settings: SimSettings) -> Venue:
    """The shared state for ``settings``; call inside ``trio.run`` (the clock reads Trio's clock)."""
    clock = SimClock(start=settings.start, speed=settings.speed)
    exchange = Exchange(seed=settings.seed, settlement_timer_seconds=settings.settlement_timer_seconds,
                        keep_finalized=settings.history_markets, fee_type=settings.fee_type,
                        fee_multiplier=settings.fee_multiplier,
                        event_fee_type_override=settings.event_fee_type_override,
                        event_fee_multiplier_override=settings.event_fee_multiplier_override)
    exchange.open_account(TRADER_USER, settings.balance_cc)
    exchange.open_account(MAKER_USER, INTERNAL_BALANCE_CC)
    exchange.open_account(TAKER_USER, INTERNAL_BALANCE_CC)
    exchange.internal_users = {MAKER_USER, TAKER_USER}
    keys = KeyRegistry(max_skew_s=settings.max_skew_s)
    for key_id, key in settings.keys:
        keys.register(key_id, load_public_key(key) if isinstance(key, Path) else key, TRADER_USER)
    faults = (
        FaultInjector(
            settings.faults,
            settings.seed,
            on_event=lambda e: log.warning("fault injected: %s %s", e.kind, e.detail),
        )
        if settings.faults.any
        else None
    )
    hub = Hub(queue_size=settings.ws_queue_size, faults=faults, now=clock.now)
    index = settings.index or default_index(settings.seed, int(clock.now()))
    return Venue(
        exchange=exchange,
        clock=clock,
        keys=keys,
        limiter=RateLimiter(settings.rate_limits),
        hub=hub,
        index=index,
        faults=faults,
        listing_delay_s=settings.listing_delay_s,
    )


async def serve_simulator(settings: SimSettings, *, task_status: Any = trio.TASK_STATUS_IGNORED) -> None:
    """Run the simulator until ``handle.stop()`` or cancellation; reports a :class:`SimHandle` when
    the server is accepting connections and the current window's market is open."""
    _check_loopback(settings.host)
    venue = build_venue(settings)
    shutdown = trio.Event()
    app = create_app(venue)
    add_websocket_route(app, venue)
    cfg = HyperConfig()
    cfg.bind = [f"{settings.host}:{settings.port}"]
    cfg.graceful_timeout = settings.graceful_timeout_s
    cfg.keep_alive_timeout = settings.keep_alive_timeout_s
    cfg.websocket_ping_interval = settings.ws_ping_interval_s
    cfg.errorlog = logging.getLogger("hypercorn.error")
    cfg.accesslog = None  # per-request access logs cost more than the request at bench rates

    async with trio.open_nursery() as nursery:
        await nursery.start(lifecycle_task, venue)
        await nursery.start(index_task, venue)
        if settings.makers:
            await nursery.start(maker_task, venue, MakerModel(settings.seed), MAKER_USER)
        if settings.takers:
            await nursery.start(taker_task, venue, InformedTaker(settings.seed + 1), TAKER_USER)

        async def http(*, task_status: Any = trio.TASK_STATUS_IGNORED) -> None:
            await serve(app, cfg, shutdown_trigger=shutdown.wait, task_status=task_status)
            nursery.cancel_scope.cancel()  # server drained: stop the background tasks (P4)

        async def close_websockets_on_shutdown() -> None:
            await shutdown.wait()
            venue.hub.close_all()  # ws handlers end with 1000 instead of waiting out graceful_timeout (P2)

        binds = await nursery.start(partial(http))
        nursery.start_soon(close_websockets_on_shutdown)
        base = binds[0]
        handle = SimHandle(
            rest_base_url=base + PREFIX,
            ws_url=base.replace("http://", "ws://", 1) + WS_PATH,
            venue=venue,
            shutdown=shutdown,
        )
        log.info(
            "simulator listening: REST %s  WS %s  (speed %gx, %d key(s))",
            handle.rest_base_url,
            handle.ws_url,
            settings.speed,
            len(venue.keys),
        )
        task_status.started(handle)
