"""Simulated time on top of Trio's clock.

``sim_now = start + (trio_now − trio_origin) × speed``. Real time by default (``speed`` 1, ``start``
= the wall clock when the simulator starts); ``speed`` N runs N× faster. Under pytest-trio's
``autojump_clock`` Trio's clock is virtual, so a 15-minute window passes in milliseconds. The
simulator reads time only through this object (auth skew checks are the one wall-clock use).
"""

from __future__ import annotations

import math
import time

import trio


class SimClock:
    """Maps Trio's clock to simulated Unix seconds. Create it inside ``trio.run``."""

    def __init__(self, *, start: float | None = None, speed: float = 1.0) -> None:
        if not (math.isfinite(speed) and speed > 0):
            raise ValueError(f"speed must be a positive finite number, got {speed!r}")
        self.speed = speed
        self.start = time.time() if start is None else float(start)
        self._origin = trio.current_time()

    def now(self) -> float:
        """Current simulated Unix time in seconds."""
        return self.start + (trio.current_time() - self._origin) * self.speed

    def to_trio(self, sim_ts: float) -> float:
        """The Trio clock reading at which simulated time reaches ``sim_ts``."""
        return self._origin + (sim_ts - self.start) / self.speed

    async def sleep_until(self, sim_ts: float) -> None:
        """Sleep until simulated time ``sim_ts`` (returns at once if it has passed)."""
        await trio.sleep_until(max(self.to_trio(sim_ts), trio.current_time()))

    async def sleep(self, sim_seconds: float) -> None:
        await trio.sleep(max(0.0, sim_seconds) / self.speed)
