"""Kalshi-style token buckets, pure: time is passed in.

Two independent buckets per API key: *read* (GETs) and *write* (everything else). A request costs
:data:`DEFAULT_COST` tokens unless its endpoint says otherwise (GetOrder, cancels and cancel-all 2;
batch create 10 per order, batch cancel 2 per order); each bucket refills at ``rate`` tokens/s up to
``capacity`` (``burst_seconds`` of budget). Basic tier: read 200, write 100 tokens/s.
"""

from __future__ import annotations

import attrs

DEFAULT_COST = 10
CANCEL_COST = 2
GET_ORDER_COST = 2
UNLIMITED_RATE = 1_000_000  # what /account/limits reports when limiting is off


@attrs.frozen
class RateLimits:
    """Refill rates in tokens per second; ``None`` disables limiting."""

    read_per_s: float | None = 200.0
    write_per_s: float | None = 100.0
    burst_seconds: float = 2.0

    def bucket(self, kind: str) -> tuple[int, int]:
        """``(refill_rate, bucket_capacity)`` of the ``read`` or ``write`` bucket, as whole tokens."""
        rate = self.read_per_s if kind == "read" else self.write_per_s
        if rate is None:
            return UNLIMITED_RATE, int(UNLIMITED_RATE * self.burst_seconds)
        return int(rate), int(rate * self.burst_seconds)


class TokenBucket:
    def __init__(self, rate: float, capacity: float, now: float) -> None:
        self.rate = rate
        self.capacity = capacity
        self.tokens = capacity
        self._last = now

    def try_take(self, cost: float, now: float) -> bool:
        """Take ``cost`` tokens if available; False (nothing taken) when the bucket is short."""
        self.tokens = min(self.capacity, self.tokens + max(0.0, now - self._last) * self.rate)
        self._last = now
        if cost > self.tokens:
            return False
        self.tokens -= cost
        return True


class RateLimiter:
    """Buckets per (key, kind). ``allow`` returns False when the request must get a 429."""

    def __init__(self, limits: RateLimits) -> None:
        self.limits = limits
        self._buckets: dict[tuple[str, str], TokenBucket] = {}
        self.rejected = 0

    def allow(self, key: str, kind: str, cost: float, now: float) -> bool:
        rate = self.limits.read_per_s if kind == "read" else self.limits.write_per_s
        if rate is None:
            return True
        bucket = self._buckets.get((key, kind))
        if bucket is None:
            bucket = self._buckets[(key, kind)] = TokenBucket(rate, rate * self.limits.burst_seconds, now)
        ok = bucket.try_take(cost, now)
        if not ok:
            self.rejected += 1
        return ok
