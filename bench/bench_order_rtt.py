"""Bench: signed REST order round trip, ``KalshiRest.create_order`` → in-process simulator on loopback.

Run: ``.venv/bin/python bench/bench_order_rtt.py [N_ORDERS]`` (default 1000). Prints figures; not a
test. Measures the real client path a daemon order takes: build the body, RSA-2048-PSS sign, HTTP/1.1
keep-alive POST, the simulator verifies the signature, matches and answers, the client parses the
``Order``. Two workloads, sequential (one order in flight at a time):

- ``ioc``: an IOC buy that does not cross (comes back ``canceled``, nothing rests);
- ``rest+cancel``: a resting buy, then its cancel (the figure is each request's own round trip).

Caveat: client and simulator share one process and one Trio loop, so each round trip includes both
sides' work on one thread (no network, no TLS). Rate limits are off on both sides.
"""

from __future__ import annotations

import statistics
import sys
import time
import uuid
from datetime import UTC, datetime

import trio
from cryptography.hazmat.primitives.asymmetric import rsa

from kalshid.core.markets import market_ticker, window_containing
from kalshid.exchange.kalshi.auth import Signer
from kalshid.exchange.kalshi.ratelimit import RateLimits
from kalshid.exchange.kalshi.rest import KalshiRest
from kalshid.exchange.types import OrderRequest
from kalshid.sim.ratelimit import RateLimits as SimRateLimits
from kalshid.sim.server import SimHandle, SimSettings, serve_simulator

START = datetime(2026, 7, 8, 19, 1, tzinfo=UTC).timestamp()


def summary(name: str, samples_s: list[float]) -> str:
    ms = sorted(s * 1000 for s in samples_s)

    def p(q: float) -> float:
        return ms[min(len(ms) - 1, int(q * len(ms)))]

    return (f"{name:<12} n={len(ms):5d}  p50={p(0.50):6.3f} ms  p90={p(0.90):6.3f} ms  "
            f"p99={p(0.99):6.3f} ms  max={ms[-1]:7.3f} ms  mean={statistics.fmean(ms):6.3f} ms")


async def main(n: int) -> None:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    settings = SimSettings(keys=(("bench-key", key.public_key()),), start=START, makers=False, takers=False,
                           rate_limits=SimRateLimits(read_per_s=None, write_per_s=None),
                           balance_cc=10_000_000 * 10_000, graceful_timeout_s=0.2)
    async with trio.open_nursery() as nursery:
        sim: SimHandle = await nursery.start(serve_simulator, settings)
        now = datetime.fromtimestamp(sim.venue.clock.now(), UTC)
        ticker = market_ticker(window_containing(now).close_time)
        async with KalshiRest(sim.rest_base_url, Signer("bench-key", key),
                              limits=RateLimits.for_tier(1e9, 1e9)) as rest:
            for _ in range(20):  # warm up: connection, imports, JIT-free but cache-warm paths
                await rest.create_order(OrderRequest(ticker, "yes", "buy", 1, 1000, str(uuid.uuid4()),
                                                     time_in_force="immediate_or_cancel"))
            ioc: list[float] = []
            for i in range(n):
                req = OrderRequest(ticker, "yes" if i % 2 else "no", "buy", 1, 1000 + 100 * (i % 20),
                                   str(uuid.uuid4()), time_in_force="immediate_or_cancel")
                t0 = time.perf_counter()
                order = await rest.create_order(req)
                ioc.append(time.perf_counter() - t0)
                assert order.status == "canceled", order
            create: list[float] = []
            cancel: list[float] = []
            for i in range(n // 2):
                req = OrderRequest(ticker, "yes", "buy", 1, 1000 + 100 * (i % 20), str(uuid.uuid4()))
                t0 = time.perf_counter()
                order = await rest.create_order(req)
                t1 = time.perf_counter()
                result = await rest.cancel_order(order.order_id, ticker=ticker)
                t2 = time.perf_counter()
                assert result.reduced_by == 1, result
                create.append(t1 - t0)
                cancel.append(t2 - t1)
        print(f"signed REST order round trip, in-process simulator on loopback, {n} orders")
        print(summary("ioc", ioc))
        print(summary("rest", create))
        print(summary("cancel", cancel))
        sim.stop()


if __name__ == "__main__":
    trio.run(main, int(sys.argv[1]) if len(sys.argv) > 1 else 1000)
