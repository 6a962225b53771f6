"""Bench: REST order placement throughput against the simulator on loopback (goal ≥ 1,000 orders/s).

Run: ``.venv/bin/python bench/bench_sim_rest.py [N_ORDERS] [CONCURRENCY] [CLIENT_PROCESSES]``.
Prints figures; not a test. The simulator runs in its own process (``kalshid.sim.main``, rate
limits off, no internal liquidity); clients run in separate processes so server and client do
not share one event loop. Every request is RSA-2048-PSS signed and verified by the server, as
with Kalshi; clients sign before the clock starts (well inside the 30 s skew window) and use a
minimal HTTP/1.1 keep-alive loop, so the figure measures the server rather than a client library.
"""

from __future__ import annotations

import json
import multiprocessing
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import trio
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from kalshid.exchange.kalshi.auth import Signer

START = "2026-07-08T22:50:00Z"
TICKER = "KXSOL15M-26JUL081900-00"


async def _client(
    base: str, pem: bytes, first: int, n_orders: int, concurrency: int
) -> tuple[dict[int, int], float]:
    """A minimal keep-alive HTTP/1.1 load generator (like wrk): requests are signed *before* the
    clock starts, so the figure measures the server, not the client library."""
    key = serialization.load_pem_private_key(pem, password=None)
    signer = Signer("bench-key", key)  # type: ignore[arg-type]
    host, port = base.split("//", 1)[1].split("/", 1)[0].split(":")
    path = "/trade-api/v2/portfolio/events/orders"
    requests: list[bytes] = []
    for i in range(first, first + n_orders):
        cents = 10 + i % 30  # bids at $0.10-0.39, asks at $0.61-0.90: resting orders that never cross
        body = json.dumps(
            {
                "ticker": TICKER,
                "side": "bid" if i % 2 else "ask",
                "count": "1",
                "price": f"0.{cents if i % 2 else 100 - cents:02d}",
                "time_in_force": "good_till_canceled",
                "self_trade_prevention_type": "taker_at_cross",
                "client_order_id": f"bench-{i}",
            }
        ).encode()
        headers = signer.headers(int(time.time() * 1000), "POST", path)
        head = "".join(f"{k}: {v}\r\n" for k, v in headers.items())
        requests.append(
            f"POST {path} HTTP/1.1\r\nHost: {host}:{port}\r\nContent-Type: application/json\r\n"
            f"Content-Length: {len(body)}\r\n{head}\r\n".encode()
            + body
        )
    statuses: dict[int, int] = {}
    todo = iter(requests)

    async def connection() -> None:
        stream = await trio.open_tcp_stream(host, int(port))
        buffer = b""
        async with stream:
            for request in todo:
                await stream.send_all(request)
                while b"\r\n\r\n" not in buffer:
                    buffer += await stream.receive_some(65536)
                head, _, buffer = buffer.partition(b"\r\n\r\n")
                status = int(head.split(b" ", 2)[1])
                length = int(re.search(rb"(?i)content-length: *(\d+)", head).group(1))  # type: ignore[union-attr]
                while len(buffer) < length:
                    buffer += await stream.receive_some(65536)
                buffer = buffer[length:]
                statuses[status] = statuses.get(status, 0) + 1

    t0 = time.time()
    async with trio.open_nursery() as nursery:
        for _ in range(concurrency):
            nursery.start_soon(connection)
    return statuses, t0


def _client_process(args: tuple[str, bytes, int, int, int]) -> tuple[dict[int, int], float]:
    return trio.run(_client, *args)


def main(n_orders: int, concurrency: int, processes: int) -> None:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    with tempfile.TemporaryDirectory() as tmp:
        pub = Path(tmp) / "bench.pub.pem"
        pub.write_bytes(
            key.public_key().public_bytes(
                serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
            )
        )
        server = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "kalshid.sim.main",
                "--port",
                "0",
                "--start",
                START,
                "--key",
                f"bench-key={pub}",
                "--balance",
                "100000000",
                "--rate-limit",
                "off",
                "--no-liquidity",
            ],
            stdout=subprocess.PIPE,
            text=True,
        )
        try:
            assert server.stdout is not None
            line = server.stdout.readline()
            match = re.search(r"REST (\S+)", line)
            if not match:
                raise SystemExit(f"simulator did not start: {line!r}")
            base = match.group(1)
            pem = key.private_bytes(
                serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
            )
            per = n_orders // processes
            jobs = [(base, pem, p * per, per, concurrency) for p in range(processes)]
            with multiprocessing.get_context("spawn").Pool(processes) as pool:
                results = pool.map(_client_process, jobs)
            elapsed = time.time() - min(t0 for _, t0 in results)
        finally:
            server.terminate()
            server.wait(10)
    statuses: dict[int, int] = {}
    for r, _ in results:
        for k, v in r.items():
            statuses[k] = statuses.get(k, 0) + v
    total = per * processes
    print(
        f"REST order placement: {total} orders, {processes} client process(es) x {concurrency} in flight: "
        f"{elapsed:.2f} s, {total / elapsed:,.0f} orders/s (statuses {statuses})"
    )


if __name__ == "__main__":
    argv = [int(a) for a in sys.argv[1:]]
    main(*(argv + [4000, 4, 2][len(argv) :]))
