"""Client-side token buckets matching Kalshi's rate limits (API-NOTES §6).

Kalshi meters two independent buckets, *read* and *write*, in tokens; a default request costs 10.
Waiting here is cheaper than a 429 (which carries no Retry-After and wastes a round trip), so every
request first takes its tokens from the right bucket. Waiters are served first come, first served.
The clock is ``trio.current_time``, so tests run under ``MockClock(autojump_threshold=0)``.
"""

from __future__ import annotations

import attrs
import trio

DEFAULT_COST = 10
_EPSILON = 1e-6


@attrs.frozen
class RateLimits:
    """Refill rates (tokens/s) and capacities (tokens). Defaults: Kalshi's Basic tier; the write
    bucket holds 2 s of budget, the read bucket 1 s."""

    read_per_s: float = 200.0
    write_per_s: float = 100.0
    read_capacity: float = 200.0
    write_capacity: float = 200.0
    cost: int = DEFAULT_COST

    @classmethod
    def for_tier(cls, read_per_s: float, write_per_s: float) -> RateLimits:
        return cls(read_per_s=read_per_s, write_per_s=write_per_s,
                   read_capacity=read_per_s, write_capacity=2 * write_per_s)


class TokenBucket:
    """A token bucket: ``rate`` tokens/s up to ``capacity``; starts full.

    :meth:`acquire` waits (cancellably) until the tokens are available, in FIFO order.
    A cost above the capacity can never be met and raises ``ValueError`` at once.
    """

    def __init__(self, rate: float, capacity: float) -> None:
        if rate <= 0 or capacity <= 0:
            raise ValueError(f"token bucket needs rate > 0 and capacity > 0 (got {rate}, {capacity})")
        self.rate = rate
        self.capacity = capacity
        self._tokens = capacity
        self._stamp: float | None = None
        self._lock = trio.Lock()  # trio.Lock is fair: waiters proceed in arrival order
        self.waited_s = 0.0
        self.acquired = 0

    def _refill(self) -> None:
        now = trio.current_time()
        if self._stamp is not None:
            self._tokens = min(self.capacity, self._tokens + (now - self._stamp) * self.rate)
        self._stamp = now

    def available(self) -> float:
        self._refill()
        return self._tokens

    def try_acquire(self, cost: float) -> bool:
        """Take ``cost`` tokens now if they are there and nobody is waiting ahead; else take nothing."""
        if cost > self.capacity:
            raise ValueError(f"cost {cost} exceeds bucket capacity {self.capacity}")
        if self._lock.locked():
            return False
        self._refill()
        if self._tokens < cost - _EPSILON:
            return False
        self._tokens -= cost
        self.acquired += 1
        return True

    async def acquire(self, cost: float) -> None:
        if self.try_acquire(cost):  # nobody waiting ahead and enough tokens: no scheduler pass
            return
        async with self._lock:
            start = trio.current_time()
            self._refill()
            # The epsilon stops float residue (9.999999999 < 10) from looping on ever-tinier sleeps.
            while self._tokens < cost - _EPSILON:
                await trio.sleep((cost - self._tokens) / self.rate)
                self._refill()
            self._tokens -= cost
            self.waited_s += trio.current_time() - start
            self.acquired += 1

    def statistics(self) -> dict[str, float]:
        return {"tokens": self.available(), "rate": self.rate, "capacity": self.capacity,
                "acquired": self.acquired, "waited_s": self.waited_s}


class RateLimiter:
    """The read and write buckets for one API key."""

    def __init__(self, limits: RateLimits | None = None) -> None:
        self.limits = limits or RateLimits()
        self.read = TokenBucket(self.limits.read_per_s, self.limits.read_capacity)
        self.write = TokenBucket(self.limits.write_per_s, self.limits.write_capacity)

    async def acquire_read(self, cost: int | None = None) -> None:
        await self.read.acquire(self.limits.cost if cost is None else cost)

    async def acquire_write(self, cost: int | None = None) -> None:
        await self.write.acquire(self.limits.cost if cost is None else cost)

    def try_acquire_write(self, cost: int | None = None) -> bool:
        return self.write.try_acquire(self.limits.cost if cost is None else cost)
