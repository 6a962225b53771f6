"""PresignedOrders: a signature made ahead of time is used once, fresh, and only for order POSTs."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import pytest
import trio
from cryptography.hazmat.primitives.asymmetric import rsa

from kalshid.exchange.kalshi.auth import HEADER_SIGNATURE, HEADER_TIMESTAMP, Signer, verify
from kalshid.exchange.kalshi.presign import PresignedOrders

PATH = "/trade-api/v2/portfolio/orders"
KEY = rsa.generate_private_key(public_exponent=65537, key_size=2048)


class WallClock:
    def __init__(self, ms: int) -> None:
        self.ms = ms

    def __call__(self) -> int:
        return self.ms


@asynccontextmanager
async def running(wall: WallClock, **kw: Any) -> AsyncIterator[PresignedOrders]:
    """A presigner running in the background, its first header set already made."""
    p = PresignedOrders(Signer("key-id", KEY), PATH, wall_ms=wall, **kw)
    with trio.fail_after(10):
        async with trio.open_nursery() as nursery:
            await nursery.start(p.run)
            await p.wait_signed(1)
            yield p
            nursery.cancel_scope.cancel()


async def test_a_presigned_order_signature_verifies_and_is_used_once() -> None:
    wall = WallClock(1_703_123_456_789)
    async with running(wall, depth=1) as p:
        assert p.take("GET", PATH) is None and p.take("POST", PATH + "/batched") is None  # not orders
        wall.ms += 100
        headers = p.take("POST", PATH)
        assert headers is not None
        assert headers[HEADER_TIMESTAMP] == "1703123456789"
        assert verify(KEY.public_key(), 1_703_123_456_789, "POST", PATH, headers[HEADER_SIGNATURE])
        assert p.take("POST", PATH) is None  # consumed: the next request signs inline ...
        await p.wait_signed(2)  # ... and the refill starts at once
        second = p.take("POST", PATH)
        assert second is not None and second[HEADER_SIGNATURE] != headers[HEADER_SIGNATURE]
    assert p.stats["used"] == 2 and p.stats["missed"] == 1


async def test_a_stale_or_future_signature_is_never_used() -> None:
    wall = WallClock(1_000_000)
    async with running(wall, max_age_s=0.5, refresh_s=0.2, depth=1) as p:
        wall.ms += 501
        assert p.take("POST", PATH) is None
        await p.wait_signed(2)
        wall.ms -= 10_000  # the wall clock stepped back: the timestamp would be in the future
        assert p.take("POST", PATH) is None
    assert p.stats["expired"] == 2 and p.stats["used"] == 0


async def test_an_unused_signature_is_replaced_as_it_ages() -> None:
    wall = WallClock(5)
    async with running(wall, max_age_s=0.5, refresh_s=0.01) as p:
        wall.ms = 7
        await p.wait_signed(3)  # nobody took one: replaced every refresh_s anyway
        headers = p.take("POST", PATH)
    assert headers is not None and headers[HEADER_TIMESTAMP] == "7"  # the newest, not the first


async def test_two_orders_back_to_back_both_take_a_presigned_set_the_newest_first() -> None:
    wall = WallClock(1_000)
    async with running(wall, max_age_s=0.5, refresh_s=0.2, depth=2) as p:
        await p.wait_signed(2)
        first, second = p.take("POST", PATH), p.take("POST", PATH)
        assert first is not None and second is not None
        assert first[HEADER_SIGNATURE] != second[HEADER_SIGNATURE]  # each set is used once
        assert p.take("POST", PATH) is None  # a third signs inline
        await p.wait_signed(4)  # both are made again
    assert p.stats["used"] == 2 and p.stats["missed"] == 1


async def test_the_oldest_set_is_renewed_each_refresh_so_none_outlives_the_age_limit(
        autojump_clock: trio.abc.Clock) -> None:
    # under the autojump clock the worker thread's signing looks like idleness: time jumps while it
    # signs, so only the ordering is checked, with the wall clock following Trio's
    p = PresignedOrders(Signer("key-id", KEY), PATH, wall_ms=lambda: int(trio.current_time() * 1000),
                        max_age_s=0.5, refresh_s=0.2, depth=2)
    async with trio.open_nursery() as nursery:
        await nursery.start(p.run)
        await p.wait_signed(6)
        stamps = [ts for ts, _ in p._ready]
        assert len(stamps) == 2 and stamps == sorted(stamps)
        assert trio.current_time() * 1000 - stamps[0] < 500
        nursery.cancel_scope.cancel()


def test_refresh_must_be_shorter_than_the_age_limit() -> None:
    with pytest.raises(ValueError, match="refresh_s \\* depth < max_age_s"):
        PresignedOrders(Signer("k", KEY), PATH, wall_ms=WallClock(0), max_age_s=0.2, refresh_s=0.2, depth=1)
    with pytest.raises(ValueError, match="refresh_s \\* depth < max_age_s"):
        PresignedOrders(Signer("k", KEY), PATH, wall_ms=WallClock(0), max_age_s=0.5, refresh_s=0.2, depth=3)
