"""Client-side token buckets matching Kalshi's rate limits (Trade API v3.31 ``BucketLimit``).

Kalshi meters two independent buckets, *read* and *write*, in tokens; a request costs its endpoint's
tokens (:class:`EndpointCosts`: 10 by default; reading one order and cancels 2; a batch create 10 and a
batch cancel 2 per order). ``GET /account/limits`` gives the buckets, ``/account/endpoint_costs`` the
costs that differ from the default; :func:`limits_from_account` and :meth:`EndpointCosts.from_account`
read them.
Waiting here is cheaper than a 429 (which carries no Retry-After and wastes a round trip), so every
request first takes its tokens from the right bucket. Waiters are served first come, first served.
The clock is ``trio.current_time``, so tests run under Trio's autojumping ``MockClock``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import attrs
import trio

DEFAULT_COST = 10
_EPSILON = 1e-6
API_PREFIX = "/trade-api/v2"
# The exchange's bucket refills on its clock, from its first request, and sees our requests a little
# later and not always in the order we took their tokens: spending a little under the stated budget
# keeps the two buckets from disagreeing into a 429.
ACCOUNT_HEADROOM = 0.95

# The costs the spec states (the rest are the default). Paths are templates without the API prefix.
STATED_COSTS: dict[tuple[str, str], int] = {
    ("GET", "/portfolio/orders/{order_id}"): 2,
    ("DELETE", "/portfolio/events/orders/{order_id}"): 2,
    ("DELETE", "/portfolio/events/orders"): 2,
    ("DELETE", "/portfolio/events/orders/batched"): 2,   # per order in the batch
    ("POST", "/portfolio/events/orders/batched"): 10,    # per order in the batch
}
BATCH_ROUTES = frozenset({("DELETE", "/portfolio/events/orders/batched"),
                          ("POST", "/portfolio/events/orders/batched")})


@attrs.frozen
class EndpointCosts:
    """Token cost per (method, path template); batch routes cost that much per item."""

    default: int = DEFAULT_COST
    table: Mapping[tuple[str, str], int] = attrs.field(factory=lambda: dict(STATED_COSTS))

    def cost(self, method: str, template: str, items: int = 1) -> int:
        each = self.table.get((method.upper(), template), self.default)
        return each * max(1, items) if (method.upper(), template) in BATCH_ROUTES else each

    @classmethod
    def from_account(cls, body: Any) -> EndpointCosts:
        """From ``GET /account/endpoint_costs``: ``{default_cost, endpoint_costs: [{method, path, cost}]}``
        (paths with or without the ``/trade-api/v2`` prefix). Raises ``ValueError`` on another shape."""
        if not isinstance(body, Mapping) or not isinstance(body.get("default_cost"), int) \
                or not isinstance(body.get("endpoint_costs"), list):
            raise ValueError("endpoint_costs: expected {default_cost: int, endpoint_costs: [...]}")
        table = dict(STATED_COSTS)
        for item in body["endpoint_costs"]:
            if not (isinstance(item, Mapping) and isinstance(item.get("method"), str)
                    and isinstance(item.get("path"), str) and isinstance(item.get("cost"), int)):
                raise ValueError(f"endpoint_costs: malformed entry {item!r}")
            path = item["path"].removeprefix(API_PREFIX)
            table[(item["method"].upper(), path)] = item["cost"]
        return cls(default=body["default_cost"], table=table)


BASIC_WRITE_PER_S = 100.0  # Kalshi's Basic tier refills its write bucket at 100 tokens a second


@attrs.frozen
class RateLimits:
    """Refill rates (tokens/s) and capacities (tokens). Defaults: Kalshi's Basic tier, each bucket
    holding one second of budget (the spec: "write buckets at non-Basic tiers hold two seconds of
    budget", so Basic's holds one)."""

    read_per_s: float = 200.0
    write_per_s: float = BASIC_WRITE_PER_S
    read_capacity: float = 200.0
    write_capacity: float = BASIC_WRITE_PER_S
    cost: int = DEFAULT_COST

    @classmethod
    def for_tier(cls, read_per_s: float, write_per_s: float) -> RateLimits:
        """The buckets of a tier known by its refill rates (used when ``/account/limits`` cannot be
        read): the read bucket holds one second; the write bucket two above Basic's rate, else one."""
        write_seconds = 2 if write_per_s > BASIC_WRITE_PER_S else 1
        return cls(read_per_s=read_per_s, write_per_s=write_per_s,
                   read_capacity=read_per_s, write_capacity=write_seconds * write_per_s)


def limits_from_account(body: Any, *, cost: int = DEFAULT_COST) -> RateLimits:
    """From ``GET /account/limits``: ``{usage_tier, read: {refill_rate, bucket_capacity}, write: {…}}``,
    less :data:`ACCOUNT_HEADROOM`. Raises ``ValueError`` on another shape."""
    def bucket(name: str) -> tuple[float, float]:
        b = body.get(name) if isinstance(body, Mapping) else None
        if not isinstance(b, Mapping):
            raise ValueError(f"account limits: missing {name!r} bucket")
        rate, cap = b.get("refill_rate"), b.get("bucket_capacity")
        if isinstance(rate, bool) or isinstance(cap, bool) or not isinstance(rate, int) \
                or not isinstance(cap, int) or rate <= 0 or cap <= 0:
            raise ValueError(f"account limits: {name} needs positive integer refill_rate and "
                             f"bucket_capacity, got {b!r}")
        return float(rate), float(cap)

    (rr, rc), (wr, wc) = bucket("read"), bucket("write")
    h = ACCOUNT_HEADROOM
    return RateLimits(read_per_s=rr * h, write_per_s=wr * h, read_capacity=rc * h, write_capacity=wc * h, cost=cost)


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
    """The read and write buckets for one API key, and what each endpoint costs."""

    def __init__(self, limits: RateLimits | None = None, costs: EndpointCosts | None = None) -> None:
        self.limits = limits or RateLimits()
        self.costs = costs or EndpointCosts(default=self.limits.cost)
        self.read = TokenBucket(self.limits.read_per_s, self.limits.read_capacity)
        self.write = TokenBucket(self.limits.write_per_s, self.limits.write_capacity)

    def cost(self, method: str, template: str, items: int = 1) -> int:
        return self.costs.cost(method, template, items)

    async def acquire_read(self, cost: int | None = None) -> None:
        await self.read.acquire(self.limits.cost if cost is None else cost)

    async def acquire_write(self, cost: int | None = None) -> None:
        await self.write.acquire(self.limits.cost if cost is None else cost)

    def try_acquire_write(self, cost: int | None = None) -> bool:
        return self.write.try_acquire(self.limits.cost if cost is None else cost)
