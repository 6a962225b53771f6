"""Token buckets under the mock clock; market discovery against a fake Exchange."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import trio

from kalshid.exchange.errors import NotFound
from kalshid.exchange.kalshi.discovery import find_next_market, find_open_market, pick_open_market
from kalshid.exchange.kalshi.ratelimit import RateLimiter, RateLimits, TokenBucket
from kalshid.exchange.types import Market


async def test_bucket_starts_full_then_paces_at_rate(autojump_clock: trio.abc.Clock) -> None:
    bucket = TokenBucket(rate=100.0, capacity=200.0)  # Basic write: 10 req/s, 2 s burst
    t0 = trio.current_time()
    for _ in range(20):
        await bucket.acquire(10)
    assert trio.current_time() - t0 == pytest.approx(0.0)  # the 2 s burst is free
    for _ in range(10):
        await bucket.acquire(10)
    assert trio.current_time() - t0 == pytest.approx(1.0)  # then 10 per second


async def test_bucket_refills_but_never_above_capacity(autojump_clock: trio.abc.Clock) -> None:
    bucket = TokenBucket(rate=200.0, capacity=200.0)
    await bucket.acquire(200)
    await trio.sleep(10)
    assert bucket.available() == pytest.approx(200.0)
    with pytest.raises(ValueError, match="capacity"):
        await bucket.acquire(201)


async def test_read_and_write_buckets_are_independent(autojump_clock: trio.abc.Clock) -> None:
    limiter = RateLimiter(RateLimits.for_tier(read_per_s=200, write_per_s=100))
    assert limiter.limits.write_capacity == 100  # Basic's write bucket holds one second
    assert RateLimits().write_capacity == 100
    assert RateLimits.for_tier(read_per_s=400, write_per_s=400).write_capacity == 800  # above Basic: two
    t0 = trio.current_time()
    for _ in range(10):
        await limiter.acquire_write()
    for _ in range(20):
        await limiter.acquire_read()  # the read bucket is untouched by writes
    assert trio.current_time() == pytest.approx(t0)
    await limiter.acquire_read()
    assert trio.current_time() - t0 == pytest.approx(0.05)


async def test_waiters_are_served_in_order(autojump_clock: trio.abc.Clock) -> None:
    bucket = TokenBucket(rate=10.0, capacity=10.0)
    await bucket.acquire(10)
    order: list[int] = []

    async def take(i: int) -> None:
        await bucket.acquire(10)
        order.append(i)

    async with trio.open_nursery() as n:
        for i in range(4):
            n.start_soon(take, i)
            await trio.lowlevel.checkpoint()
    assert order == [0, 1, 2, 3]


async def test_tokens_at_hand_are_taken_without_a_scheduler_pass(autojump_clock: trio.abc.Clock) -> None:
    bucket = TokenBucket(rate=10.0, capacity=20.0)
    with trio.CancelScope() as scope:
        scope.cancel()  # any checkpoint would raise Cancelled here
        await bucket.acquire(10)  # an order does not queue behind other tasks for tokens it has
    assert bucket.acquired == 1 and bucket.available() == pytest.approx(10.0)
    with trio.CancelScope() as scope:
        scope.cancel()
        with pytest.raises(trio.Cancelled):
            await bucket.acquire(15)  # not enough: it waits (and waiting is cancellable)
    assert bucket.acquired == 1


async def test_try_acquire_takes_only_what_is_there_and_never_jumps_the_queue(
        autojump_clock: trio.abc.Clock) -> None:
    bucket = TokenBucket(rate=10.0, capacity=20.0)
    assert bucket.try_acquire(15) and bucket.acquired == 1
    assert not bucket.try_acquire(10)  # 5 left: nothing taken
    assert bucket.available() == pytest.approx(5.0) and bucket.acquired == 1
    async with trio.open_nursery() as n:
        n.start_soon(bucket.acquire, 10)  # waits 0.5 s for its tokens
        await trio.sleep(0.6)
        # a waiter was served; now one waits again, and a try may not take tokens ahead of it
        n.start_soon(bucket.acquire, 10)
        await trio.sleep(0.1)
        assert not bucket.try_acquire(1)
    with pytest.raises(ValueError, match="capacity"):
        bucket.try_acquire(21)


NOW = datetime(2026, 7, 8, 22, 50, 5, tzinfo=UTC)  # inside the 22:45-23:00 UTC window


def mk(ticker: str, close: datetime, status: str = "active") -> Market:
    return Market(
        ticker=ticker,
        event_ticker=ticker[:-3],
        status=status,
        open_time=close - timedelta(minutes=15),
        close_time=close,
    )


def test_pick_open_skips_just_closed_market() -> None:
    closed = mk("KXSOL15M-26JUL081845-45", datetime(2026, 7, 8, 22, 45, tzinfo=UTC))
    current = mk("KXSOL15M-26JUL081900-00", datetime(2026, 7, 8, 23, 0, tzinfo=UTC))
    later = mk("KXSOL15M-26JUL081915-15", datetime(2026, 7, 8, 23, 15, tzinfo=UTC))
    assert pick_open_market([closed, later, current], NOW) == current
    assert pick_open_market([closed], NOW) is None
    assert pick_open_market([mk("X", datetime(2026, 7, 8, 23, 0, tzinfo=UTC), status="closed")], NOW) is None


class FakeExchange:
    def __init__(self, markets: list[Market]) -> None:
        self.markets = markets
        self.calls: list[tuple[str, Any]] = []

    async def list_markets(
        self,
        *,
        series_ticker: str | None = None,
        status: str | None = None,
        event_ticker: str | None = None,
        tickers: Sequence[str] | None = None,
    ) -> list[Market]:
        self.calls.append(("list", status))
        want = {"open": {"active"}, "unopened": {"initialized"}}[status or "open"]
        return [m for m in self.markets if m.status in want]

    async def get_market(self, ticker: str) -> Market:
        self.calls.append(("get", ticker))
        for m in self.markets:
            if m.ticker == ticker:
                return m
        raise NotFound(f"market {ticker} not found", status=404)


async def test_find_open_and_next_market() -> None:
    current = mk("KXSOL15M-26JUL081900-00", datetime(2026, 7, 8, 23, 0, tzinfo=UTC))
    nxt = mk("KXSOL15M-26JUL081915-15", datetime(2026, 7, 8, 23, 15, tzinfo=UTC), status="initialized")
    ex = FakeExchange([current, nxt])
    assert await find_open_market(ex, NOW) == current  # type: ignore[arg-type]
    assert await find_next_market(ex, current.close_time) == nxt  # type: ignore[arg-type]
    assert ("get", "KXSOL15M-26JUL081915-15") in ex.calls  # the computed ET ticker

    odd = mk("KXSOL15M-ODD", datetime(2026, 7, 8, 23, 15, tzinfo=UTC), status="initialized")
    ex2 = FakeExchange([current, odd])
    assert await find_next_market(ex2, current.close_time) == odd  # type: ignore[arg-type]
    assert await find_next_market(FakeExchange([current]), current.close_time) is None  # type: ignore[arg-type]


async def test_open_market_is_found_by_its_computed_ticker_before_it_is_listed() -> None:
    current = mk("KXSOL15M-26JUL081900-00", datetime(2026, 7, 8, 23, 0, tzinfo=UTC))

    class Unlisted(FakeExchange):  # GET /markets lists a new window minutes late
        async def list_markets(self, **kw: Any) -> list[Market]:
            self.calls.append(("list", kw.get("status")))
            return []

    ex = Unlisted([current])
    assert await find_open_market(ex, NOW) == current  # type: ignore[arg-type]
    assert ex.calls == [("get", "KXSOL15M-26JUL081900-00")]  # one request, no listing
    closed = Unlisted([mk("KXSOL15M-26JUL081900-00", datetime(2026, 7, 8, 23, 0, tzinfo=UTC), status="closed")])
    assert await find_open_market(closed, NOW) is None  # type: ignore[arg-type]
    assert [c[0] for c in closed.calls] == ["get", "list"]  # not open by ticker: the listing is asked
