"""Fixtures: a real simulator (Hypercorn on 127.0.0.1:0), signed httpx clients, WS connections."""

from __future__ import annotations

import json
import time
from collections.abc import AsyncIterator, Generator
from typing import Any

import attrs
import httpx
import pytest
import trio
import trio_websocket
from cryptography.hazmat.primitives.asymmetric import rsa
from simfakes import T0, TICKER, FnIndex

from kalshid.exchange.kalshi.auth import Signer
from kalshid.sim.counts import parse_count
from kalshid.sim.model import OrderRequest
from kalshid.sim.ratelimit import RateLimits
from kalshid.sim.server import SimHandle, SimSettings, serve_simulator
from kalshid.sim.wire import user_uuid

KEY_ID = "11111111-2222-3333-4444-555555555555"


@pytest.fixture(scope="session")
def private_key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


@pytest.fixture(scope="session")
def signer(private_key: rsa.RSAPrivateKey) -> Signer:
    return Signer(KEY_ID, private_key)


class KalshiAuth(httpx.Auth):
    """Signs each request the way Kalshi clients do (wall-clock ms, path without query)."""

    def __init__(self, signer: Signer, *, skew_ms: int = 0) -> None:
        self.signer = signer
        self.skew_ms = skew_ms

    def auth_flow(self, request: httpx.Request) -> Generator[httpx.Request, httpx.Response, None]:
        ts = int(time.time() * 1000) + self.skew_ms
        request.headers.update(self.signer.headers(ts, request.method, request.url.path))
        yield request


def wavy_index() -> FnIndex:
    return FnIndex(lambda ts: 150 + (ts % 7))


def sim_settings(private_key: rsa.RSAPrivateKey, **overrides: Any) -> SimSettings:
    base = SimSettings(
        start=T0,
        seed=7,
        keys=((KEY_ID, private_key.public_key()),),
        makers=False,
        takers=False,
        rate_limits=RateLimits(read_per_s=None, write_per_s=None),
        index=wavy_index(),
        listing_delay_s=0,
    )
    return attrs.evolve(base, **overrides)


@pytest.fixture
async def sim(nursery: trio.Nursery, private_key: rsa.RSAPrivateKey) -> AsyncIterator[SimHandle]:
    handle: SimHandle = await nursery.start(serve_simulator, sim_settings(private_key))
    yield handle
    handle.stop()


@pytest.fixture
async def client(sim: SimHandle, signer: Signer) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=sim.rest_base_url, auth=KalshiAuth(signer), timeout=10) as c:
        yield c


def ws_headers(signer: Signer, path: str = "/trade-api/ws/v2", skew_ms: int = 0) -> list[tuple[bytes, bytes]]:
    headers = signer.headers(int(time.time() * 1000) + skew_ms, "GET", path)
    return [(k.encode(), v.encode()) for k, v in headers.items()]


async def ws_recv(ws: trio_websocket.WebSocketConnection, limit_s: float = 5) -> dict[str, Any]:
    with trio.fail_after(limit_s):
        return json.loads(await ws.get_message())  # type: ignore[no-any-return]


async def ws_recv_until(
    ws: trio_websocket.WebSocketConnection, kind: str, limit_s: float = 5
) -> dict[str, Any]:
    with trio.fail_after(limit_s):
        while True:
            msg = json.loads(await ws.get_message())
            if msg["type"] == kind:
                return msg  # type: ignore[no-any-return]


def other_rests(sim: SimHandle, side: str, count: str, price_cc: int) -> None:
    """Another user (not the test's key) rests a buy of ``count`` (a count string) ``side`` at ``price_cc``."""
    other = user_uuid("other")
    ex = sim.venue.exchange
    if other not in ex.accounts:
        ex.open_account(other, 10_000_000)
    ex.place_order(other, OrderRequest(TICKER, side, "buy", parse_count(count), price_cc),  # type: ignore[arg-type]
                   sim.venue.now())
    sim.venue.publish()
