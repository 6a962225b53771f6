"""The supervisor: the one nursery tree that runs kalshid, and the order things start and stop in.

Lifetimes nest. Each :class:`Component` runs in a nursery opened *inside* the one of the component
started before it, so a component outlives every component started after it by construction: nothing
waits on another's "done" flag, and no resource is used after the component that owns it has closed it.

Lifecycle of :meth:`Supervisor.run`:

0. take the single-instance lock on ``<journal>.lock`` (:mod:`kalshid.store.instancelock`) before
   anything else: a second daemon on the same journal is refused before it opens anything;
1. start the signal watcher, then each component in list order with ``await nursery.start`` (a
   component reports ``task_status.started()`` only when it is really ready, so later components can
   rely on earlier ones: exchange before feed before orders);
2. tell systemd ``READY=1`` (process tuning once ready: :mod:`kalshid.daemon.tuning`);
3. on the first SIGTERM/SIGINT: ``STOPPING=1`` and set ``runtime.shutdown`` (the daemon-wide flag: a
   graceful stop has begun); then stop the components **innermost first**: the last one started gets
   its own stop signal (the ``shutdown`` of the :class:`Runtime` it was given), and once it has ended
   the one before it gets its own, and so on out to the first. The whole drain runs under one
   deadline, ``trading.shutdown_grace_seconds``, after which whatever is left is cancelled; a second
   signal cancels at once (a hard stop), unless it is the same signal within
   :data:`SAME_REQUEST_WINDOW_S` of the first: one ``kill`` of a whole process group (``make run``
   forwards the SIGTERM it got to the daemon it runs) is one request, not two. This is Hypercorn's
   ``worker_serve`` shape: start in phases, signal shutdown, drain under a deadline;
4. SIGHUP re-reads the configuration, validates it, logs what changed, and applies what can change
   live (strategy parameters and risk limits, via ``runtime.on_reload``); the rest needs a restart.

Failure contract: if any component raises, or returns before a graceful stop began, every other
component is cancelled (the error leaves the nursery it failed in, which cancels everything nested
inside it, and then every nursery around it), the cause is logged with the component's name, and
``run`` returns :data:`EXIT_FAILURE`. A component may end by itself once the graceful stop has begun
(risk, when its inbox closes). A clean drained stop returns :data:`EXIT_OK`; a forced one (grace
expired, or a second signal) returns :data:`EXIT_FORCED`.
"""

import contextlib
import math
import os
from collections.abc import Awaitable, Callable, Sequence
from typing import Any, Protocol

import attrs
import trio

from kalshid import __version__, threads
from kalshid.config import Config, ConfigError, LoadedConfig
from kalshid.config.render import diff, flat_view
from kalshid.daemon import audit, failures
from kalshid.daemon.ossignals import signal_watcher_task
from kalshid.daemon.sdnotify import sd_notify
from kalshid.daemon.watchdog import watchdog_interval_s
from kalshid.exchange.kalshi.auth import Signer
from kalshid.logs import get_logger
from kalshid.store.instancelock import InstanceLockError, instance_lock

log = get_logger("kalshid.supervisor")

EXIT_OK = 0
# a repeat of the same stop request this soon after it is the same request delivered twice (a signal sent to
# a process group and forwarded by its parent), not an operator asking for a hard stop: no person repeats
# a signal within 0.2 s by hand
SAME_REQUEST_WINDOW_S = 0.2
EXIT_FAILURE = 1
EXIT_FORCED = 1


@attrs.define
class Runtime:
    """What every component receives: the config it started with, the signer, and its stop signal.

    ``shutdown`` is the stop signal. The supervisor gives each component its own view
    (:meth:`for_component`), whose ``shutdown`` is set when it is that component's turn to stop: a
    graceful stop has begun *and* every component started after it has ended. On it, stop taking new
    work, finish or cancel what is in flight (``trading.cancel_on_shutdown``), then return. The
    supervisor's own ``shutdown`` (the root view) is set as soon as a graceful stop begins.
    """

    loaded: LoadedConfig
    signer: Signer | None
    live: bool = False
    stopped: bool = False  # start with trading stopped (``kalshid run --stopped``)
    shutdown: trio.Event = attrs.field(factory=trio.Event)
    # Applies a validated new configuration to the running daemon; returns the sections it applied.
    on_reload: Callable[[LoadedConfig], Awaitable[list[str]]] | None = None

    @property
    def config(self) -> Config:
        return self.loaded.config

    def for_component(self) -> "Runtime":
        """The same runtime with a stop signal of its own (see the class docstring)."""
        return attrs.evolve(self, shutdown=trio.Event())


class ComponentFn(Protocol):
    """``async def x_task(runtime, *, task_status=trio.TASK_STATUS_IGNORED) -> None``."""

    def __call__(self, runtime: Runtime, *, task_status: trio.TaskStatus[Any]) -> Awaitable[None]: ...


@attrs.frozen
class Component:
    """A named long-lived task. It must run until ``runtime.shutdown`` is set (or it is cancelled); it
    may rely on every component listed before it for its whole life."""

    name: str
    run: ComponentFn


class ComponentFailed(Exception):
    """A component raised, or returned while kalshid was not shutting down.

    ``summary`` is the root cause in one sentence with its fix (:func:`kalshid.daemon.failures.explain`);
    ``known`` says whether that is all there is to say (a traceback would only repeat it)."""

    def __init__(self, name: str, reason: str, *, summary: str | None = None, known: bool = False) -> None:
        super().__init__(f"component {name!r} {reason}")
        self.component = name
        self.summary = summary or f"component {name!r} {reason}"
        self.known = known


def _leaf_exceptions(group: BaseExceptionGroup[Any]) -> list[BaseException]:
    """The non-group exceptions inside nested groups (each nursery level adds one)."""
    out: list[BaseException] = []
    for exc in group.exceptions:
        out.extend(_leaf_exceptions(exc) if isinstance(exc, BaseExceptionGroup) else [exc])
    return out


class Supervisor:
    """Runs components under one nursery; see the module docstring for the full contract."""

    def __init__(
        self,
        runtime: Runtime,
        components: Sequence[Component],
        *,
        reload: Callable[[], LoadedConfig] | None = None,
        instance_lock: bool = True,
        notify: Callable[[str], object] | None = None,
    ) -> None:
        self.runtime = runtime
        self._take_lock = instance_lock
        self._sd_notify = notify or sd_notify
        self.components = list(components)
        self._reload = reload
        self._stop = trio.Event()
        self._ready = False
        self._ready_event = trio.Event()
        self._forced = False
        self._stop_reason, self._stop_at = "", -math.inf  # the last stop request and its Trio time
        self._scope: trio.CancelScope | None = None
        self._started: list[str] = []
        self._reloads = 0

    def statistics(self) -> dict[str, Any]:
        return {
            "ready": self._ready,
            "stopping": self._stop.is_set(),
            "started": list(self._started),
            "reloads": self._reloads,
        }

    async def wait_ready(self) -> None:
        """Return once every component has started (never, if startup fails or is aborted)."""
        await self._ready_event.wait()

    def request_stop(self, reason: str) -> None:
        """Begin a graceful stop; a second request (or one during startup) cancels everything now."""
        now = trio.current_time()
        if self._stop.is_set() and reason == self._stop_reason and now - self._stop_at < SAME_REQUEST_WINDOW_S:
            log.info("the same stop request again at once (counted once): still draining", reason=reason)
            return
        self._stop_reason, self._stop_at = reason, now
        if self._stop.is_set() or not self._ready:
            if self._stop.is_set():
                log.warning("second stop request: hard stop, cancelling without draining", reason=reason)
                self._forced = True
            else:
                log.info("stop requested during startup: cancelling startup", reason=reason)
            if self._scope is not None:
                self._scope.cancel()
        else:
            log.info("stop requested: draining", reason=reason,
                     grace_seconds=self.runtime.config.trading.shutdown_grace_seconds)
        self._stop.set()

    async def reload_config(self) -> None:
        """SIGHUP: re-read and validate the configuration, apply what can change live (audited as the
        signal's), and log what needs a restart."""
        with audit.acting_as("signal"):
            await self._reload_config()

    async def _reload_config(self) -> None:
        self._reloads += 1
        if self._reload is None:
            log.info("config reload: no loader configured")
            return
        try:
            new = await threads.run_sync(self._reload)
        except ConfigError as exc:
            log.error("config reload rejected; keeping the running configuration",
                      problems=[str(p) for p in exc.problems])
            audit.record(lambda *_: None, "reload", before={}, after={}, outcome="refused",
                         detail="; ".join(str(p) for p in exc.problems))
            return
        changed = diff(self.runtime.config, new.config)
        applied = await self.runtime.on_reload(new) if self.runtime.on_reload is not None else []
        restart = {k: {"old": old, "new": new_v} for k, (old, new_v) in changed.items()
                   if not k.startswith(("strategies.", "risk."))}
        # the audit line (kalshid.audit) lists each running value the reload changed
        log.info("config reloaded and valid; strategy parameters and risk limits applied, "
                 "other changes take effect on restart", applied=applied, needs_restart=restart,
                 changed={k: {"old": old, "new": new_v} for k, (old, new_v) in changed.items()})

    async def run(self) -> int:
        """Run until stopped or failed; return the process exit status."""
        cfg = self.runtime.config
        with contextlib.ExitStack() as held:
            if self._take_lock:
                try:
                    held.enter_context(instance_lock(cfg.journal_path))
                except InstanceLockError as exc:
                    log.error(str(exc))
                    return EXIT_FAILURE
            return await self._run_locked(cfg)

    async def _run_locked(self, cfg: Config) -> int:
        log.info("kalshid starting", version=__version__, pid=os.getpid(), env=cfg.exchange.env,
                 dry_run=cfg.dry_run, live=self.runtime.live,
                 signer=repr(self.runtime.signer) if self.runtime.signer else None,
                 journal=cfg.journal_path, components=[c.name for c in self.components])
        log.info("effective configuration", settings=flat_view(cfg))
        status = EXIT_OK
        try:
            async with trio.open_nursery() as outer:
                await outer.start(signal_watcher_task, self.request_stop, self.reload_config)
                outer.start_soon(self._startup_keepalive)
                try:
                    await self._run_components()
                finally:
                    outer.cancel_scope.cancel()  # the signal watcher loops forever
        except* ComponentFailed as group:
            for exc in _leaf_exceptions(group):
                cause = exc.__cause__
                exc_info = (type(cause), cause, cause.__traceback__) if cause else None
                failed = exc if isinstance(exc, ComponentFailed) else None
                summary = failed.summary if failed else str(exc)
                log.error(summary, component=getattr(exc, "component", "?"), stopping="everything")
                if exc_info is not None:  # a known cause's traceback only repeats the line above
                    (log.debug if failed is not None and failed.known else log.error)(
                        "traceback of the failure", exc_info=exc_info)
            status = EXIT_FAILURE
        if status == EXIT_OK and self._forced:
            status = EXIT_FORCED
        log.info("kalshid stopped", exit_status=status, forced=self._forced)
        return status

    async def _run_components(self) -> None:
        grace = self.runtime.config.trading.shutdown_grace_seconds
        with trio.CancelScope() as scope:
            self._scope = scope
            if self._stop.is_set():  # a signal arrived before this scope existed
                scope.cancel()
            await self._run_nested(0)
        if scope.cancelled_caught and self._ready and not self._forced:
            log.warning("components did not drain in time; cancelled", grace_seconds=grace)
            self._forced = True

    async def _run_nested(self, index: int) -> None:
        """Run ``components[index:]``, each in a nursery nested in the previous one's; return once they
        have all ended. Past the last one: report ready, wait for a stop request, begin the drain."""
        if index == len(self.components):
            await self._serve_until_stopped()
            return
        comp = self.components[index]
        own = self.runtime.for_component()
        async with trio.open_nursery() as nursery:
            log.info("starting component", component=comp.name)
            await nursery.start(self._guard, comp, own)
            self._started.append(comp.name)
            await self._run_nested(index + 1)  # every later component lives and ends in here
            log.info("stopping component", component=comp.name)
            own.shutdown.set()

    async def _serve_until_stopped(self) -> None:
        self._ready = True
        self._ready_event.set()
        self._notify("READY=1")
        log.info("kalshid ready", components=self._started)
        await self._stop.wait()
        self._notify("STOPPING=1")
        self.runtime.shutdown.set()
        assert self._scope is not None
        # one deadline for the whole drain, innermost component first (backstop for slow drains)
        self._scope.deadline = trio.current_time() + self.runtime.config.trading.shutdown_grace_seconds

    async def _guard(self, comp: Component, runtime: Runtime, *, task_status: trio.TaskStatus[Any]) -> None:
        try:
            await comp.run(runtime, task_status=task_status)
        except Exception as exc:
            raise ComponentFailed(comp.name, f"raised {type(exc).__name__}: {exc}",
                                  summary=failures.explain(comp.name, exc, self.runtime.config),
                                  known=failures.is_known(exc)) from exc
        if not self.runtime.shutdown.is_set():
            raise ComponentFailed(comp.name, "returned while kalshid was not shutting down")
        log.info("component stopped", component=comp.name)

    async def _startup_keepalive(self) -> None:
        """While components start (a reconciliation may retry for a long time), tell systemd the daemon
        is alive: ``WATCHDOG=1`` and ``EXTEND_TIMEOUT_USEC`` (so ``TimeoutStartSec`` does not kill a
        start that is waiting for the exchange) every half watchdog period, with the step in
        ``STATUS=``. Nothing without ``$WATCHDOG_USEC``; ends once ready."""
        try:
            interval = watchdog_interval_s()
        except ValueError as exc:
            log.warning("systemd watchdog not usable", error=str(exc))
            return
        if interval is None:
            return
        while not self._ready:
            step = self.components[len(self._started)].name if len(self._started) < len(self.components) else ""
            self._notify("WATCHDOG=1")
            self._notify(f"EXTEND_TIMEOUT_USEC={int(interval * 4 * 1_000_000)}")
            self._notify(f"STATUS=starting: {step}")
            with trio.move_on_after(interval):
                await self._ready_event.wait()

    def _notify(self, state: str) -> None:
        try:
            self._sd_notify(state)
        except OSError as exc:
            log.warning("sd_notify failed", state=state, error=str(exc))
