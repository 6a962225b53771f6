"""Exchange time as the pipeline sees it: the newest exchange timestamp, advanced by Trio's clock.

Decisions use the exchange's own times (index prints, message timestamps). Records that need a time
between messages (an order intent, a reconciliation) use :meth:`ExchangeClock.now`: the last exchange
time observed plus the Trio time elapsed since — so a simulator at ``--speed 20`` and Trio's
``MockClock`` behave exactly like the real exchange, and the local wall clock never enters.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import trio


class ExchangeClock:
    def __init__(self, speed: float = 1.0) -> None:
        self._ts: datetime | None = None
        self._local = 0.0
        self._speed = speed
        self._first = trio.Event()

    def observe(self, ts: datetime, local_time: float) -> None:
        if self._ts is None or ts >= self._ts:
            self._ts, self._local = ts, local_time
            self._first.set()

    @property
    def known(self) -> bool:
        return self._ts is not None

    async def wait_known(self) -> None:
        await self._first.wait()

    def now_or_epoch(self) -> datetime:
        """:meth:`now`, or the Unix epoch before the first observation (for callers that only compare
        times, such as order-expiry checks, where "nothing has expired yet" is the right answer)."""
        return self.now() if self._ts is not None else datetime(1970, 1, 1, tzinfo=UTC)

    def now(self) -> datetime:
        """Estimated exchange time now. Raises ``RuntimeError`` before the first observation."""
        if self._ts is None:
            raise RuntimeError("exchange time is not known yet: no timestamped message has arrived")
        elapsed = max(0.0, trio.current_time() - self._local) * self._speed
        return self._ts + timedelta(seconds=elapsed)
