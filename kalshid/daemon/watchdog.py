"""systemd watchdog feeder: pings ``WATCHDOG=1`` only while the pipeline says it is alive.

With ``WatchdogSec=30`` systemd sets ``$WATCHDOG_USEC`` (and ``$WATCHDOG_PID``) and restarts the daemon
(``Restart=on-failure``) if no ping arrives within that time. A blind timer would keep a wedged daemon
alive, so each ping is gated on ``liveness()`` — a cheap, synchronous check supplied by the pipeline
(e.g. "the market-data loop made progress within the last N seconds"). We ping at half the timeout, as
sd_watchdog_enabled(3) advises, so one late tick never kills a healthy daemon.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable, Mapping

import trio

log = logging.getLogger("kalshid.watchdog")

Notify = Callable[[str], bool]


def watchdog_interval_s(environ: Mapping[str, str] | None = None, pid: int | None = None) -> float | None:
    """Seconds between pings (half of ``$WATCHDOG_USEC``), or None when no watchdog applies to us.

    None if ``WATCHDOG_USEC`` is unset, or ``WATCHDOG_PID`` names another process. Raises ValueError for
    a malformed or non-positive ``WATCHDOG_USEC`` (systemd never sends one; a hand-set one is a mistake).
    """
    env = os.environ if environ is None else environ
    raw = env.get("WATCHDOG_USEC")
    if not raw:
        return None
    watchdog_pid = env.get("WATCHDOG_PID")
    if watchdog_pid and watchdog_pid != str(os.getpid() if pid is None else pid):
        return None
    if not raw.isdigit() or int(raw) <= 0:
        raise ValueError(f"WATCHDOG_USEC must be a positive integer of microseconds, got {raw!r}")
    return int(raw) / 1_000_000 / 2


async def watchdog_task(
    liveness: Callable[[], bool],
    *,
    notify: Notify | None = None,
    environ: Mapping[str, str] | None = None,
    task_status: trio.TaskStatus[float | None] = trio.TASK_STATUS_IGNORED,
) -> None:
    """Ping the systemd watchdog every half-period while ``liveness()`` is true; runs until cancelled.

    Reports the ping interval (None: no watchdog configured, and the task returns at once). A false
    ``liveness()`` withholds the ping and logs a warning; systemd then restarts the service once the
    timeout passes. An OSError sending the ping is logged and retried next period rather than raised:
    a missed ping already has the right consequence.
    """
    interval = watchdog_interval_s(environ)
    if notify is None:
        from kalshid.daemon.sdnotify import sd_notify

        notify = sd_notify
    task_status.started(interval)
    if interval is None:
        return
    log.info("systemd watchdog enabled: pinging every %.1f s while alive", interval)
    while True:
        if liveness():
            try:
                notify("WATCHDOG=1")
            except OSError as exc:
                log.warning("watchdog ping failed: %s", exc)
        else:
            log.warning("pipeline not alive: withholding the systemd watchdog ping")
        await trio.sleep(interval)
