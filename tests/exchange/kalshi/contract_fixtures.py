"""Shared helpers: an in-process simulator with a deterministic book, clients for it, a counting transport
and a spec-checking one.

The simulator runs with its own makers and takers off, every market listed at once, and a fixed start
one minute into a window, so the only liquidity is what :func:`seed_liquidity` places (as the
simulator's internal maker user) and a test has 14 minutes of simulated (= real) time before the
market closes. :class:`SpecCheckingTransport` validates every answer the simulator gives against
Kalshi's OpenAPI v3.31.0 (``tests/sim/schemas.py``: strict, and a missing spec fails).
"""

from __future__ import annotations

import functools
import importlib.util
import json
import re
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path
from types import ModuleType
from typing import Any

import httpx
import trio
from cryptography.hazmat.primitives.asymmetric import rsa

from kalshid.core.markets import market_ticker, window_containing
from kalshid.exchange.kalshi import auth
from kalshid.exchange.kalshi.ratelimit import RateLimits
from kalshid.exchange.kalshi.rest import KalshiRest, RetryPolicy
from kalshid.sim.counts import contracts
from kalshid.sim.faults import FaultSpec
from kalshid.sim.model import OrderRequest as SimOrderRequest
from kalshid.sim.ratelimit import RateLimits as SimRateLimits
from kalshid.sim.server import MAKER_USER, SimHandle, SimSettings, serve_simulator

KEY_ID = "contract-key"
# 2026-07-08 19:01:00Z: one minute into the 19:00–19:15 window.
START = datetime(2026, 7, 8, 19, 1, tzinfo=UTC).timestamp()
BALANCE_CC = 1_000 * 10_000
# Default liquidity: YES bids 40c×10; NO bids 44c×5 and 45c×5, i.e. YES asks 55c×5 and 56c×5.
YES_BIDS = ((4000, 10),)
NO_BIDS = ((4400, 5), (4500, 5))


async def start_sim(nursery: trio.Nursery, key: rsa.RSAPrivateKey, *, faults: FaultSpec | None = None,
                    **settings: Any) -> SimHandle:
    cfg = SimSettings(keys=((KEY_ID, key.public_key()),), seed=5, start=START, makers=False, takers=False,
                      balance_cc=BALANCE_CC, faults=faults or FaultSpec(), graceful_timeout_s=0.2,
                      rate_limits=SimRateLimits(read_per_s=None, write_per_s=None), listing_delay_s=0, **settings)
    with trio.fail_after(10):
        handle: SimHandle = await nursery.start(serve_simulator, cfg)
    return handle


def sim_now(sim: SimHandle) -> datetime:
    return datetime.fromtimestamp(sim.venue.clock.now(), UTC)


def current_ticker(sim: SimHandle) -> str:
    return market_ticker(window_containing(sim_now(sim)).close_time)


def seed_liquidity(sim: SimHandle, ticker: str, *, yes: tuple[tuple[int, int], ...] = YES_BIDS,
                   no: tuple[tuple[int, int], ...] = NO_BIDS) -> None:
    """Rest bids for the simulator's internal maker directly in its engine and publish them."""
    ex, now = sim.venue.exchange, sim.venue.now()
    for side, levels in (("yes", yes), ("no", no)):
        for price, count in levels:
            ex.place_order(MAKER_USER, SimOrderRequest(ticker, side, "buy", contracts(count), price), now)  # type: ignore[arg-type]
    sim.venue.publish()


def signer(key: rsa.RSAPrivateKey) -> auth.Signer:
    return auth.Signer(KEY_ID, key)


def rest_client(sim: SimHandle, key: rsa.RSAPrivateKey, *, transport: httpx.AsyncBaseTransport | None = None,
                timeout_s: float = 5.0, retry: RetryPolicy | None = None) -> KalshiRest:
    # Rate limits are not under test here: generous buckets keep the suite fast.
    return KalshiRest(sim.rest_base_url, signer(key), transport=transport, timeout_s=timeout_s,
                      retry=retry or RetryPolicy(attempts=4, base_s=0.01, max_s=0.05),
                      in_flight_settle_s=0.05, limits=RateLimits.for_tier(100_000, 100_000))


class CountingTransport(httpx.AsyncBaseTransport):
    """A real HTTP transport that records ``(method, path)`` of every request it sends."""

    def __init__(self) -> None:
        self._inner = httpx.AsyncHTTPTransport()
        self.requests: Counter[tuple[str, str]] = Counter()

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        self.requests[(request.method, request.url.path)] += 1
        return await self._inner.handle_async_request(request)

    async def aclose(self) -> None:
        await self._inner.aclose()


@functools.cache
def load_schemas() -> ModuleType:
    """``tests/sim/schemas.py``, the strict spec validator (imported by path: tests have no packages)."""
    path = Path(__file__).resolve().parents[2] / "sim" / "schemas.py"
    spec = importlib.util.spec_from_file_location("kalshi_contract_schemas", path)
    assert spec is not None and spec.loader is not None, f"cannot load {path}"
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


class SpecCheckingTransport(httpx.AsyncBaseTransport):
    """A real HTTP transport that validates every simulator answer against openapi.yaml v3.31.0: the
    operation exists, the status is one it declares, the body matches (errors: Kalshi's envelope).
    Problems are collected in ``violations`` (raising here would look like a network error to the
    client); ``checked`` counts answers validated per ``(method, spec path, status)``."""

    PREFIX = "/trade-api/v2"

    def __init__(self) -> None:
        self._inner = httpx.AsyncHTTPTransport()
        self.schemas = load_schemas()
        spec_paths = list(self.schemas.load_spec(self.schemas.OPENAPI)["paths"])
        # static paths before templated ones, so /portfolio/orders/queue_positions is not {order_id}
        self._paths = sorted(spec_paths, key=lambda p: p.count("{"))
        self.checked: Counter[tuple[str, str, int]] = Counter()
        self.violations: list[str] = []

    def template(self, path: str) -> str | None:
        local = path.removeprefix(self.PREFIX)
        for p in self._paths:
            if re.fullmatch(re.sub(r"\{[^}]+\}", "[^/]+", p), local):
                return p
        return None

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        response = await self._inner.handle_async_request(request)
        content = await response.aread()
        method, template = request.method, self.template(request.url.path)
        try:
            assert template is not None, f"{method} {request.url.path} is not a path of openapi.yaml"
            body = json.loads(content) if content else None
            self.schemas.validate_rest(template, method, response.status_code, body)
            self.checked[(method, template, response.status_code)] += 1
        except Exception as exc:  # every mismatch is collected; none is fatal to the client here
            self.violations.append(f"{method} {request.url.path} -> {response.status_code}: {exc}")
        return httpx.Response(response.status_code, headers=response.headers, content=content,
                              extensions=response.extensions, request=request)

    async def aclose(self) -> None:
        await self._inner.aclose()
