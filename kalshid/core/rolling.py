"""Mean and variance over a sliding time window, in O(1) per point.

:class:`RollingWindow` keeps ``(timestamp, value)`` points in time order and the sums of
``value − K`` and ``(value − K)²`` for a reference ``K`` (the first value kept when the sums were
last rebuilt). Shifting by ``K`` is the classic guard against the cancellation of the naive
``E[x²] − E[x]²`` formula: for prices near 0.5 with a tiny spread, the shifted terms are small and
exact-ish, and a constant series gives exactly zero variance (never a spurious huge z-score).

Float drift from many add/remove pairs is bounded by rebuilding the sums from the kept points
(with ``math.fsum``) whenever as many points have been removed as are kept — amortised O(1).
"""

from __future__ import annotations

import math
from collections import deque


class RollingWindow:
    """Points ``(t, x)`` with ``t`` in seconds (any epoch), kept while ``t ≥ newest_cutoff``."""

    __slots__ = ("_points", "_ref", "_removed", "_sum", "_sumsq")

    def __init__(self) -> None:
        self._points: deque[tuple[float, float]] = deque()
        self._ref = 0.0
        self._sum = 0.0     # Σ (x − ref)
        self._sumsq = 0.0   # Σ (x − ref)²
        self._removed = 0

    def __len__(self) -> int:
        return len(self._points)

    def clear(self) -> None:
        self._points.clear()
        self._sum = self._sumsq = 0.0
        self._removed = 0

    @property
    def last_time(self) -> float | None:
        return self._points[-1][0] if self._points else None

    @property
    def last_value(self) -> float | None:
        return self._points[-1][1] if self._points else None

    def copy(self) -> RollingWindow:
        new = RollingWindow()
        new._points = self._points.copy()
        new._ref, new._sum, new._sumsq, new._removed = self._ref, self._sum, self._sumsq, self._removed
        return new

    def append(self, t: float, x: float) -> None:
        """Add a point; ``t`` must not be older than the newest point (``ValueError`` otherwise)."""
        if self._points and t < self._points[-1][0]:
            raise ValueError(f"point at t={t} is older than the newest point (t={self._points[-1][0]})")
        if not self._points:
            self._ref = x
        d = x - self._ref
        self._points.append((t, x))
        self._sum += d
        self._sumsq += d * d

    def drop_before(self, cutoff: float) -> None:
        """Forget the points older than ``cutoff``."""
        points = self._points
        while points and points[0][0] < cutoff:
            _, x = points.popleft()
            d = x - self._ref
            self._sum -= d
            self._sumsq -= d * d
            self._removed += 1
        if not points:
            self.clear()
        elif self._removed >= len(points):
            self._rebuild()

    def _rebuild(self) -> None:
        self._ref = self._points[0][1]
        ds = [x - self._ref for _, x in self._points]
        self._sum = math.fsum(ds)
        self._sumsq = math.fsum(d * d for d in ds)
        self._removed = 0

    def mean(self) -> float | None:
        moments = self.moments()
        return None if moments is None else moments[1]

    def moments(self) -> tuple[int, float, float, float] | None:
        """``(count, mean, population variance clamped at 0, newest value)``, or ``None`` when empty
        (rounding can leave a variance a hair below 0)."""
        points = self._points
        n = len(points)
        if n == 0:
            return None
        m = self._sum / n
        var = self._sumsq / n - m * m
        return n, self._ref + m, var if var > 0.0 else 0.0, points[-1][1]

    def variance(self) -> float | None:
        """Population variance, clamped at 0 (rounding can leave a tiny negative)."""
        moments = self.moments()
        return None if moments is None else moments[2]
