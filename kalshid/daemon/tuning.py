"""Process tuning of ``kalshid run``: where the event loop runs, the collector, the C heap, the RSS.

:func:`run_tuned` runs a :class:`~kalshid.daemon.supervisor.Supervisor` with all of it; the CLI's
``run`` command (and the benches that measure it) enter it, and nothing else in the daemon does:

- **CPU placement**: the loop thread is pinned to ``runtime.loop_cpu`` and helper threads avoid that
  CPU (:mod:`kalshid.threads` holds the mechanism; docs/performance.md, "CPU placement").
- **The collector**: once every component is ready, the start-up heap is frozen (:func:`freeze_heap`).
- **The C heap**: CPython hands objects over 512 bytes (socket reads, JSON bodies, SQLite's page
  cache) to the C allocator, and glibc keeps what they free inside a heap that cannot shrink while its
  top is in use, so over a day the free space inside it only grows. ``malloc_trim(0)`` gives the whole
  free pages inside the heap back (``MADV_DONTNEED``); it runs every :data:`TRIM_EVERY_S` seconds,
  which keeps the daemon's RSS flat over a simulated day at 0.2-0.4 ms of the loop's time per call
  (figures and method: docs/performance.md, "Memory"). Elsewhere than glibc (musl, macOS) there is
  no ``malloc_trim``: :func:`trim_heap` is then a no-op.
- **The heartbeat**: a ``heartbeat`` log line with uptime, components and RSS every
  ``log.heartbeat_seconds``.
"""

from __future__ import annotations

import functools
import gc
import mmap
from collections.abc import Callable

import attrs
import trio

from kalshid import threads
from kalshid.daemon.supervisor import EXIT_FAILURE, Supervisor
from kalshid.logs import get_logger

log = get_logger("kalshid.supervisor")

TRIM_EVERY_S = 600.0


@functools.cache
def _malloc_trim() -> Callable[[int], int] | None:
    import ctypes  # here, not at start-up: ready is what start-up is timed to

    try:  # the symbols the interpreter is linked with (no find_library: it runs ldconfig or gcc)
        fn = getattr(ctypes.CDLL(None), "malloc_trim", None)
    except OSError:
        return None
    if fn is not None:
        fn.argtypes = [ctypes.c_size_t]
        fn.restype = ctypes.c_int
    return fn


def trim_heap() -> bool:
    """Give the C heap's free pages back to the system. False where the C library cannot (not glibc)."""
    fn = _malloc_trim()
    if fn is None:
        return False
    fn(0)
    return True


def rss_bytes() -> int | None:
    """This process's resident set size now (Linux ``/proc/self/statm``); None where there is none."""
    try:
        with open("/proc/self/statm", "rb") as f:
            return int(f.read().split()[1]) * mmap.PAGESIZE
    except (OSError, ValueError, IndexError):
        return None


def freeze_heap() -> int:
    """Collect, then move every object alive after start-up (modules, config, market data, the embedded
    simulator's history) to the permanent generation (:func:`gc.freeze`); returns how many objects
    are frozen. A full collection then scans only what trading allocates: measured at ~30 ms before,
    a pause that lands on whatever order is in flight. Objects that die later are still freed by
    reference counting; only cycles among the frozen ones would be kept, and start-up leaves none
    behind (the collection comes first)."""
    gc.collect()
    gc.freeze()
    return gc.get_freeze_count()


@attrs.define
class Tuning:
    """What the tuning of a running daemon has done so far."""

    frozen: int = 0  # objects moved out of the collector's reach once ready
    heartbeats: int = 0
    heap_trims: int = 0


async def run_tuned(supervisor: Supervisor, *, freeze: bool = True, tuning: Tuning | None = None) -> int:
    """Run ``supervisor`` in a tuned process and return its exit status.

    Before anything starts, the event loop's thread is pinned to ``runtime.loop_cpu`` (a CPU the
    process may not use logs the reason and returns :data:`EXIT_FAILURE` with nothing started); once
    every component is ready the start-up heap is frozen (``freeze``), a ``heartbeat`` line with the
    RSS is logged every ``log.heartbeat_seconds`` and the C heap is trimmed every
    :data:`TRIM_EVERY_S`; all of it ends with the supervisor, and the pin is undone.
    """
    tuning = tuning if tuning is not None else Tuning()
    cfg = supervisor.runtime.config
    cpu = cfg.runtime.loop_cpu
    try:
        threads.pin_loop_thread(cpu)
    except (threads.AffinityError, OSError) as refused:
        log.error("cannot place the event loop; not starting", reason=str(refused))
        return EXIT_FAILURE
    if cpu is not None:
        log.info("event loop pinned", cpu=cpu)
    try:
        async with trio.open_nursery() as nursery:
            nursery.start_soon(_tend, supervisor, tuning, freeze)
            status = await supervisor.run()
            nursery.cancel_scope.cancel()
        return status
    finally:
        if cpu is not None:
            threads.pin_loop_thread(None)


async def _tend(supervisor: Supervisor, tuning: Tuning, freeze: bool) -> None:
    await supervisor.wait_ready()
    if freeze:
        tuning.frozen = freeze_heap()
    async with trio.open_nursery() as nursery:
        nursery.start_soon(_heartbeat, supervisor, tuning)
        nursery.start_soon(_trim_heap, tuning)


async def _heartbeat(supervisor: Supervisor, tuning: Tuning) -> None:
    cfg = supervisor.runtime.config
    started = trio.current_time()
    while True:
        await trio.sleep(cfg.log.heartbeat_seconds)
        tuning.heartbeats += 1
        rss = rss_bytes()
        log.info("heartbeat", uptime_s=round(trio.current_time() - started),
                 components=supervisor.statistics()["started"], dry_run=cfg.dry_run,
                 rss_mb=round(rss / 2**20, 1) if rss else None)


async def _trim_heap(tuning: Tuning) -> None:
    """Every :data:`TRIM_EVERY_S`, hand the C heap's free pages back: without it RSS creeps up for
    most of a day and stays there."""
    while True:
        await trio.sleep(TRIM_EVERY_S)
        if not trim_heap():
            return  # not glibc: nothing to do, ever
        tuning.heap_trims += 1
