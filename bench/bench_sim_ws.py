"""Bench: WebSocket ``orderbook_delta`` fan-out to 10 subscribers (goal ≥ 20,000 msgs/s in total).

Run: ``.venv/bin/python bench/bench_sim_ws.py [N_DELTAS] [SUBSCRIBERS]``. Prints figures; not a test.
The simulator runs in this process and produces book changes by placing resting orders straight
into the engine (no REST in the loop); the subscribers run in a separate process and count what
they receive. Queues are sized so no subscriber is cut off as a slow consumer during the run.
"""

from __future__ import annotations

import json
import multiprocessing
import sys
import time
from datetime import UTC, datetime
from multiprocessing.connection import Connection

import trio
import trio.lowlevel
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from wsproto import ConnectionType, WSConnection
from wsproto.events import AcceptConnection, CloseConnection, Message, Ping, Request, TextMessage

from kalshid.core.vocab import Side
from kalshid.exchange.kalshi.auth import Signer
from kalshid.sim.counts import contracts
from kalshid.sim.model import OrderRequest
from kalshid.sim.ratelimit import RateLimits
from kalshid.sim.server import SimHandle, SimSettings, serve_simulator
from kalshid.sim.wire import user_uuid

START = datetime(2026, 7, 8, 22, 50, tzinfo=UTC).timestamp()
TICKER = "KXSOL15M-26JUL081900-00"


async def _subscriber(url: str, headers: dict[str, str], expect: int) -> int:
    """One lean subscriber on raw wsproto (trio-websocket costs more per message than the server
    spends sending it, which would make the client the bottleneck). Returns deltas received."""
    host_port, path = url.split("//", 1)[1].split("/", 1)
    host, port = host_port.split(":")
    stream = await trio.open_tcp_stream(host, int(port))
    ws = WSConnection(ConnectionType.CLIENT)
    extra = [(k.encode(), v.encode()) for k, v in headers.items()]
    await stream.send_all(ws.send(Request(host=host_port, target="/" + path, extra_headers=extra)))
    cmd = {"id": 1, "cmd": "subscribe", "params": {"channels": ["orderbook_delta"], "market_ticker": TICKER}}
    count, subscribed = 0, False
    async with stream:
        while count < expect:
            data = await stream.receive_some(1 << 18)
            if not data:
                raise RuntimeError("server closed the connection")
            ws.receive_data(data)
            for event in ws.events():
                if isinstance(event, AcceptConnection) and not subscribed:
                    await stream.send_all(ws.send(Message(data=json.dumps(cmd))))
                    subscribed = True
                elif isinstance(event, TextMessage) and '"type":"orderbook_delta"' in event.data:
                    count += 1
                elif isinstance(event, Ping):
                    await stream.send_all(ws.send(event.response()))
        await stream.send_all(ws.send(CloseConnection(code=1000)))
    return count


async def _subscribers(url: str, pem: bytes, n_subs: int, expect: int, pipe: Connection) -> None:
    signer = Signer("bench-key", serialization.load_pem_private_key(pem, password=None))  # type: ignore[arg-type]
    counts: list[int] = []

    async def one() -> None:
        headers = signer.headers(int(time.time() * 1000), "GET", "/trade-api/ws/v2")
        counts.append(await _subscriber(url, headers, expect))

    async with trio.open_nursery() as nursery:
        for _ in range(n_subs):
            nursery.start_soon(one)
        pipe.send("ready")
        t0 = time.time()
    pipe.send((sum(counts), time.time() - t0))


def _subscriber_process(url: str, pem: bytes, n_subs: int, expect: int, pipe: Connection) -> None:
    trio.run(_subscribers, url, pem, n_subs, expect, pipe)


async def main(n_deltas: int, n_subs: int) -> None:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    pem = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    settings = SimSettings(
        start=START,
        keys=(("bench-key", key.public_key()),),
        makers=False,
        takers=False,
        rate_limits=RateLimits(None, None),
        ws_queue_size=n_deltas + 10,
    )
    async with trio.open_nursery() as nursery:
        sim: SimHandle = await nursery.start(serve_simulator, settings)
        ex, user = sim.venue.exchange, user_uuid("bench-maker")
        ex.open_account(user, 10**14)
        parent, child = multiprocessing.get_context("spawn").Pipe()
        proc = multiprocessing.get_context("spawn").Process(
            target=_subscriber_process, args=(sim.ws_url, pem, n_subs, n_deltas, child)
        )
        proc.start()
        assert await trio.to_thread.run_sync(parent.recv) == "ready"
        with trio.fail_after(30):
            while sum(len(c.subs) for c in sim.venue.hub.connections.values()) < n_subs:  # noqa: ASYNC110
                await trio.sleep(0.01)
        t0 = time.perf_counter()
        for i in range(n_deltas):
            side: Side = "yes" if i % 2 else "no"
            ex.place_order(user, OrderRequest(TICKER, side, "buy", contracts(1), 100 * (1 + i % 40)), sim.venue.now())
            sim.venue.publish()
            if i % 50 == 49:
                await trio.lowlevel.checkpoint()  # let the per-connection send loops drain
        produced = time.perf_counter() - t0
        total, elapsed = await trio.to_thread.run_sync(parent.recv)
        proc.join()
        print(
            f"WS fan-out: {n_deltas} deltas x {n_subs} subscribers = {total:,} messages received in "
            f"{elapsed:.2f} s: {total / elapsed:,.0f} msgs/s total (engine produced them in {produced:.2f} s)"
        )
        sim.stop()


if __name__ == "__main__":
    argv = [int(a) for a in sys.argv[1:]]
    n_deltas, n_subs = (argv + [20_000, 10][len(argv) :])[:2]
    trio.run(main, n_deltas, n_subs)
