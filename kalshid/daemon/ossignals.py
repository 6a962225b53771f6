"""The signal watcher: SIGTERM/SIGINT ask for a stop, SIGHUP asks for a config reload.

What a stop means (graceful first, hard on a repeat) is the supervisor's decision: this task only
translates signals into calls. It must run in the main thread (Trio's signal receiver requires it).
"""

import signal
from collections.abc import Awaitable, Callable

import trio

from kalshid.logs import get_logger

log = get_logger("kalshid.signals")

STOP_SIGNALS = (signal.SIGTERM, signal.SIGINT)


async def signal_watcher_task(
    on_stop: Callable[[str], None],
    on_reload: Callable[[], Awaitable[None]],
    *,
    task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED,
) -> None:
    """Call ``on_stop(signal_name)`` for each SIGTERM/SIGINT and ``await on_reload()`` for SIGHUP.

    Reports started only once the handlers are installed, so a signal sent after ``nursery.start``
    returns is never lost. Runs until cancelled.
    """
    with trio.open_signal_receiver(*STOP_SIGNALS, signal.SIGHUP) as signals:
        task_status.started()
        async for signum in signals:
            name = signal.Signals(signum).name
            if signum == signal.SIGHUP:
                log.info("signal received: reloading configuration", signal=name)
                await on_reload()
            else:
                on_stop(name)
