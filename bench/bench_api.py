"""Bench: ``GET /api/status`` latency at a steady 200 requests/s against the real control API.

Run: ``.venv/bin/python bench/bench_api.py [SECONDS] [RATE]`` (defaults 5 s, 200 req/s). Prints
figures; not a test. The API (hypercorn + Quart-Trio over the in-memory FakeDaemon) runs in a child
process so server and client do not share one event loop; the client paces requests open-loop
(each request starts on schedule whether or not the previous one finished, so queueing shows up in the
tail rather than slowing the offered rate), with one keep-alive connection per in-flight request.
"""

from __future__ import annotations

import multiprocessing as mp
import statistics
import sys
import time
from multiprocessing.connection import Connection

import httpx
import trio

TOKEN = "bench-token-0123456789abcdef"


def _serve(conn: Connection) -> None:
    from kalshid.control.broadcaster import Broadcaster
    from kalshid.control.fake import FakeDaemon
    from kalshid.metrics import Metrics
    from kalshid.server.app import api_server_task
    from kalshid.server.settings import ApiSettings

    async def main() -> None:
        broadcaster = Broadcaster()
        settings = ApiSettings(port=0, token=TOKEN)
        shutdown = trio.Event()
        async with trio.open_nursery() as nursery:
            url = await nursery.start(
                lambda task_status: api_server_task(
                    FakeDaemon(broadcaster),
                    settings,
                    shutdown=shutdown,
                    broadcaster=broadcaster,
                    metrics=Metrics(),
                    task_status=task_status,
                )
            )
            conn.send(url)
            await trio.to_thread.run_sync(conn.recv)  # any message: stop
            shutdown.set()

    trio.run(main)


async def _load(url: str, seconds: float, rate: float) -> list[float]:
    latencies: list[float] = []
    errors = 0
    limits = httpx.Limits(max_connections=64, max_keepalive_connections=64)
    async with httpx.AsyncClient(
        base_url=url, headers={"Authorization": f"Bearer {TOKEN}"}, limits=limits
    ) as c:
        for _ in range(20):  # warm-up: connections, import caches
            await c.get("/api/status")

        async def one() -> None:
            nonlocal errors
            t0 = time.perf_counter()
            resp = await c.get("/api/status")
            latencies.append(time.perf_counter() - t0)
            errors += resp.status_code != 200

        n = int(seconds * rate)
        start = trio.current_time()
        async with trio.open_nursery() as nursery:
            for i in range(n):
                await trio.sleep_until(start + i / rate)
                nursery.start_soon(one)
    if errors:
        raise SystemExit(f"{errors} requests failed")
    return latencies


def main() -> None:
    seconds = float(sys.argv[1]) if len(sys.argv) > 1 else 5.0
    rate = float(sys.argv[2]) if len(sys.argv) > 2 else 200.0
    parent, child = mp.Pipe()
    server = mp.get_context("spawn").Process(target=_serve, args=(child,), daemon=True)
    server.start()
    url = parent.recv()
    try:
        lat = sorted(trio.run(_load, url, seconds, rate))
    finally:
        parent.send("stop")
        server.join(10)
    ms = [x * 1000 for x in lat]
    q = statistics.quantiles(ms, n=100)
    print(f"GET /api/status at {rate:g} req/s for {seconds:g} s: {len(ms)} requests")
    print(f"  p50 {q[49]:.2f} ms   p90 {q[89]:.2f} ms   p99 {q[98]:.2f} ms   max {ms[-1]:.2f} ms")


if __name__ == "__main__":
    main()
