"""Threads that stay out of the event loop's way.

The daemon's loop thread does the latency-critical work (feed → strategy → risk → order). Its helper
threads (the journal's SQLite jobs and ``fdatasync``, presigning RSA signatures, the log writer) do
work that can wait a moment. On Linux two things let a helper delay an order anyway:

- **Wake-up preemption.** A helper woken by the loop (to fsync the intent of the order just sent,
  to sign the next spare signature) is placed on the loop's CPU and, as a freshly woken task, runs
  first: the loop waits on the run queue. Helpers therefore run under ``SCHED_BATCH`` (same CPU
  share, never preempts on wake-up), set by :func:`background_thread` on each helper thread once.
- **Sharing a CPU with another busy process.** A process the loop wakes (over loopback, say) can be
  placed on the loop's CPU and be given its slice at the next tick, a ~2.5 ms stall. Only CPU
  placement avoids that: ``runtime.loop_cpu`` pins the loop thread to one CPU
  (:func:`pin_loop_thread`) and the helpers then run on the other CPUs; keep other busy processes
  off the loop's CPU (systemd ``CPUAffinity=``/``AllowedCPUs=`` for them, or ``isolcpus``). Helpers
  must not share the loop's CPU: one that gets the CPU while the loop blocks for a moment also takes
  the GIL, and the woken loop waits for it until the helper's switch interval (5 ms) runs out.

The measurements behind both: docs/performance.md, "CPU placement".

Neither needs privileges. Elsewhere than Linux both are no-ops.
"""

from __future__ import annotations

import contextlib
import os
import threading
from collections.abc import Callable
from typing import TypeVar

import trio

T = TypeVar("T")

_state = threading.local()  # .placed_for: the loop pin a helper thread was last placed for
_UNPLACED = object()
_allowed: set[int] | None = None  # the process's CPUs, remembered from the first pin on
_loop_cpu: int | None = None


class AffinityError(ValueError):
    """``runtime.loop_cpu`` names a CPU this process may not use."""


def pin_loop_thread(cpu: int | None) -> None:
    """Pin the calling thread (the event loop's) to ``cpu``; helper threads then avoid it. ``None``
    undoes a pin (back to every CPU the process had). Raises :class:`AffinityError` for a CPU the
    process may not use, and when pinning is unsupported here."""
    global _allowed, _loop_cpu
    if cpu is None:
        if _allowed is not None and _loop_cpu is not None:
            os.sched_setaffinity(0, _allowed)
        _loop_cpu = None  # helpers go back to every CPU at their next job
        return
    if not hasattr(os, "sched_setaffinity"):
        raise AffinityError("runtime.loop_cpu: CPU pinning is not supported on this platform")
    allowed = _allowed if _allowed is not None else os.sched_getaffinity(0)
    if cpu not in allowed:
        raise AffinityError(f"runtime.loop_cpu = {cpu}: not one of this process's CPUs {sorted(allowed)}")
    os.sched_setaffinity(0, {cpu})
    _allowed, _loop_cpu = set(allowed), cpu


def loop_cpu() -> int | None:
    return _loop_cpu


def background_thread() -> None:
    """Make the calling thread a helper (module docstring): ``SCHED_BATCH``, and off the loop's CPU
    when the loop is pinned (a thread inherits its creator's affinity: this also replaces the loop's
    pin in helpers the loop thread started). Cheap after the first call on a thread."""
    pinned = _loop_cpu
    if getattr(_state, "placed_for", _UNPLACED) == pinned:
        return
    _state.placed_for = pinned
    if hasattr(os, "sched_setscheduler") and hasattr(os, "SCHED_BATCH"):
        with contextlib.suppress(OSError):  # a policy we may not leave (set by the service manager)
            os.sched_setscheduler(0, os.SCHED_BATCH, os.sched_param(0))
    allowed = _allowed
    if allowed is not None and hasattr(os, "sched_setaffinity"):
        others = allowed - {pinned} if pinned is not None else allowed
        with contextlib.suppress(OSError):
            os.sched_setaffinity(0, others or allowed)


def _as_helper(fn: Callable[..., T], args: tuple[object, ...]) -> T:
    background_thread()
    return fn(*args)


async def run_sync(fn: Callable[..., T], *args: object) -> T:
    """``trio.to_thread.run_sync(fn, *args)`` on a helper thread (:func:`background_thread`)."""
    return await trio.to_thread.run_sync(_as_helper, fn, args)
