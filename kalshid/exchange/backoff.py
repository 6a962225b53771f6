"""What the exchange feeds share about failing and retrying: which errors are transient, and how long
to wait before the next attempt (exponential backoff with jitter)."""

from __future__ import annotations

from collections.abc import Callable


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
