"""The ``exchange`` component: everything kalshid talks to the venue through, opened and closed in one place.

:class:`Venue` opens, in order, the journal (set aside first when the exchange starts empty: the embedded
simulator), the embedded simulator (``exchange.env = "sim"`` without ``api_base_url``), the
signed REST client with this key's rate limits, and either the paper exchange (dry run: rebuilt from the
journal, :mod:`kalshid.trading.paperrestore`, unless on the embedded simulator) or the live order
machinery (request presigner, order lane). It publishes them on the :class:`~kalshid.trading.messages.Pipeline`
(``journal``, ``exchange``, ``sim_handle``) and reports started only then.

Lifetime: it is the outermost trading component, so every other one runs and ends inside it. It closes
what it opened (REST client and lane, journal, simulator, in reverse order) only when its own stop comes,
which is after every component using them has ended: nothing can use a closed journal or client.
"""

from __future__ import annotations

import secrets
import uuid
from datetime import UTC, datetime
from typing import Any

import trio
from cryptography.hazmat.primitives.asymmetric import rsa

from kalshid.config import Config
from kalshid.daemon.supervisor import Runtime
from kalshid.exchange.errors import ExchangeError
from kalshid.exchange.kalshi import hosts
from kalshid.exchange.kalshi.auth import Signer
from kalshid.exchange.kalshi.ratelimit import RateLimits
from kalshid.exchange.kalshi.rest import KalshiRest
from kalshid.logs import get_logger, register_secret
from kalshid.store import Journal, open_journal
from kalshid.store.identity import (
    exchange_identity,
    paper_identity,
    read_meta,
    set_aside_fresh_journal,
    set_aside_stale_journal,
)
from kalshid.trading.exchangeclock import ExchangeClock
from kalshid.trading.messages import Pipeline
from kalshid.trading.operator_state import KEY as OPERATOR_KEY
from kalshid.trading.reconcile import ReconciliationError
from kalshid.trading.retention import prune_refusals_forever

log = get_logger("kalshid.pipeline")

EMBEDDED_START_INTO_WINDOW_S = 30


class Venue:
    """The exchange connection of one daemon (module docstring). ``rest_url``/``ws_url`` and ``signer``
    are known once :meth:`run` has started (for the embedded simulator, only then)."""

    def __init__(self, cfg: Config, p: Pipeline, clock: ExchangeClock, signer: Signer | None, *,
                 journal_inline: bool = False) -> None:
        self.cfg = cfg
        self.p = p
        self.clock = clock
        self.signer = signer
        self.journal_inline = journal_inline  # tests under MockClock: see open_journal
        self.rest_url = ""
        self.ws_url = ""

    @property
    def embedded(self) -> bool:
        """The daemon runs its own simulator."""
        return self.cfg.exchange.env == "sim" and not self.cfg.exchange.api_base_url

    async def run(self, runtime: Runtime, *, task_status: trio.TaskStatus[Any] = trio.TASK_STATUS_IGNORED) -> None:
        cfg = self.cfg
        if not self.embedded:
            self._external_endpoints()
        # the embedded simulator starts empty: so does its journal. A dry run's paper account on a real
        # exchange is rebuilt from its journal instead (kalshid.trading.paperrestore)
        if self.embedded:
            identity = exchange_identity(cfg.exchange.env, self.rest_url, fresh=True)
        elif cfg.dry_run:
            identity = paper_identity(cfg.exchange.env, self.rest_url)
        else:
            identity = exchange_identity(cfg.exchange.env, self.rest_url, fresh=False)
        operator: str | None = None  # the operator's decisions outlive the exchange's state
        if self.embedded or cfg.dry_run:
            moved = (set_aside_stale_journal(cfg.journal_path, identity) if self.embedded
                     else set_aside_fresh_journal(cfg.journal_path))
            if moved is not None:
                operator = read_meta(moved, OPERATOR_KEY)
                log.info("the exchange starts empty, so the journal does too; the previous run's journal "
                         "was set aside" if self.embedded else
                         "a journal of an in-memory exchange was set aside: the dry run's paper account keeps "
                         "its own journal, from this run on", journal=cfg.journal_path, set_aside=str(moved))
        try:
            await self._serve(runtime, identity, operator, task_status)
        finally:
            self.p.journal = None  # closed: a late use fails loudly (require_journal) instead of writing nowhere

    async def _serve(self, runtime: Runtime, identity: str, operator: str | None,
                     task_status: trio.TaskStatus[Any]) -> None:
        cfg = self.cfg
        async with open_journal(cfg.journal_path, cfg.journal_mode, inline=self.journal_inline,
                                fsync_before_send=cfg.journal.fsync_before_send) as journal, \
                trio.open_nursery() as nursery:
            await journal.bind_exchange(identity)
            if operator is not None:
                await journal.set_meta(OPERATOR_KEY, operator)
            self.p.journal = journal
            nursery.start_soon(prune_refusals_forever, journal, cfg.journal.refusals_retention_days, self.clock)
            if self.embedded:
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
                    self.p.exchange = await self._paper(rest, journal)
                else:
                    if cfg.exchange.presign_orders and not self.journal_inline:
                        # not under MockClock (journal_inline): a worker thread looks idle to its autojump
                        await nursery.start(rest.presigner().run)
                    if cfg.exchange.order_lane and (lane := rest.order_lane()) is not None:
                        await nursery.start(lane.run)
                log.info("exchange ready", rest=self.rest_url, ws=self.ws_url, mode=self.p.state.mode,
                         journal=cfg.journal_path)
                task_status.started()
                await runtime.shutdown.wait()  # every component using the venue has ended
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

    async def _paper(self, rest: KalshiRest, journal: Journal) -> Any:
        """The dry run's paper account: empty on the embedded simulator, else rebuilt from the journal."""
        from kalshid.exchange.paper import PaperExchange
        from kalshid.trading.paperrestore import paper_bankroll, restore_paper_account

        if self.embedded:
            return PaperExchange(rest, starting_balance_cc=self.cfg.trading.bankroll_cc,
                                 now=self.clock.now_or_epoch)
        bankroll = await paper_bankroll(journal, self.cfg.trading.bankroll_cc)
        paper = PaperExchange(rest, starting_balance_cc=bankroll, now=self.clock.now_or_epoch)
        await restore_paper_account(paper, journal, datetime.now(UTC))  # the exchange clock has no reading yet
        return paper

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
                               fee_type=cfg.sim.fee_type, fee_multiplier=cfg.sim.fee_multiplier,
                               event_fee_type_override=cfg.sim.event_fee_type_override,
                               event_fee_multiplier_override=cfg.sim.event_fee_multiplier_override,
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
