"""What the exchange feeds share about failing and retrying: which errors are transient, how long to
wait before the next attempt (exponential backoff with jitter), and the reconnect loop itself."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

import trio

from kalshid.logs import get_logger

log = get_logger(__name__)


def is_transient(exc: BaseException, kinds: tuple[type[BaseException], ...]) -> bool:
    """True if ``exc`` is one of ``kinds`` — for a group, if *every* member is (one fatal error in a
    group makes the whole failure fatal)."""
    if isinstance(exc, BaseExceptionGroup):
        return all(is_transient(e, kinds) for e in exc.exceptions)
    return isinstance(exc, kinds)


def backoff_delay(failures: int, *, base_s: float, max_s: float, rng: Callable[[], float]) -> float:
    """Seconds to wait after ``failures`` consecutive failures (≥ 1): a cap doubling from ``base_s`` up
    to ``max_s``, and a uniformly random delay in its upper half so reconnecting clients spread out."""
    cap: float = min(max_s, base_s * 2.0 ** (max(1, failures) - 1))
    return cap / 2 + float(rng()) * cap / 2


async def reconnect_forever(serve_once: Callable[[], Awaitable[None]], *, healthy: Callable[[], bool],
                            transient: tuple[type[BaseException], ...], base_s: float, max_s: float,
                            rng: Callable[[], float], on_disconnect: Callable[[str], Awaitable[None]],
                            name: str) -> None:
    """Run ``serve_once`` (one connection's life) again and again. A transient failure or a connection
    that simply ended is followed by ``on_disconnect(reason)`` and a jittered backoff — reset when the
    last connection was ``healthy()`` (it delivered data), growing otherwise; anything else propagates.
    Never returns: the caller cancels it."""
    failures = 0
    while True:
        try:
            await serve_once()
            reason = "connection ended"
        except Exception as exc:
            if not is_transient(exc, transient):
                raise
            reason = f"{type(exc).__name__}: {exc}"
        was_healthy = healthy()
        await on_disconnect(reason)
        failures = 1 if was_healthy else failures + 1
        delay = backoff_delay(failures, base_s=base_s, max_s=max_s, rng=rng)
        log.warning(f"{name}_reconnect", reason=reason, attempt=failures, delay_s=round(delay, 3))
        await trio.sleep(delay)
