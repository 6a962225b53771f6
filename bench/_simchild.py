"""The tick-to-order bench's simulator in its own process (``--sim process``): both ends of the pipe.

Child (:func:`child_main`, run as ``bench_tick_to_order.py --sim-child SPEED KEY_ID PUBLIC_KEY POLICY``):
serves :func:`kalshid.sim.server.serve_simulator` on a loopback port, prints ``REST_URL WS_URL`` as its
first stdout line, and stamps with ``time.perf_counter()`` (CLOCK_MONOTONIC, the same clock in every
process on Linux):

- every message queued for the trader's WebSocket connection ("published"), keyed by an 8-byte BLAKE2b
  digest of its text (``hash(str)`` is randomized per process); kept ~30 s. The per-message cost is one
  encode and one hash: it sits on the simulator's publish path, so it must stay small;
- every WebSocket text frame as it is written to the socket ("written"), keyed the same way;
- every ``POST /portfolio/events/orders``: the kernel's receive timestamp of its first bytes (``SO_TIMESTAMPNS``:
  when loopback handed them to the simulator's socket, i.e. when the exchange's host *received* them),
  when the simulator's loop *read* them off the socket, and Quart's ``before_request``
  (``client_order_id`` -> time).

It reads queries from stdin, one per line: ``Q <client_order_id> <digest hex> <arrival perf time>``,
answered at once with the latest publish and write stamps of that text at or before the arrival (or
``null``), and kept. ``END`` makes it print ``{"published": {cid: [published, written]}, "arrived":
{...}, "received": {...}, "handled": {...}}`` as one JSON line and exit.
EOF on stdin (the parent died) makes it exit too.

Parent (:class:`SimChild`): starts the child, reads its URLs, batches queries (written to the pipe
every 0.25 s by a background task, not on the order path), and at :meth:`SimChild.finish` collects the
stamps. The child is killed on every exit path of the ``async with``.
"""

from __future__ import annotations

import hashlib
import json
import os
import socket
import struct
import subprocess
import sys
import time
from collections import deque
from collections.abc import AsyncIterator, Callable, Iterable
from contextlib import asynccontextmanager
from decimal import Decimal
from pathlib import Path
from typing import Any

import trio

HISTORY_S = 30.0
FLUSH_EVERY_S = 0.25
SEED = 11
START = "2026-07-08T22:45:20+00:00"
BALANCE_DOLLARS = "1000000"
# <asm-generic/socket.h>: SO_TIMESTAMPNS (the "old" 64-bit-timespec one on x86-64), also the cmsg type of
# its stamp; Python's socket module has no name for it. A struct timespec is two 64-bit integers.
SO_TIMESTAMPNS = 35
_TIMESPEC = struct.Struct("qq")
_STAMP_SPACE = socket.CMSG_SPACE(_TIMESPEC.size)
MAX_RECV = 65536  # trio's SocketStream default receive size


def digest(text: str | bytes) -> bytes:
    return hashlib.blake2b(text.encode() if isinstance(text, str) else text, digest_size=8).digest()


def ws_text_payload(data: bytes | bytearray | memoryview) -> bytes | None:
    """The payload of ``data`` if it is exactly one unmasked, uncompressed, final WebSocket text frame
    (what the simulator's server writes per message); else None (HTTP bytes, pings, other frames)."""
    if len(data) < 2 or data[0] != 0x81 or data[1] & 0x80:
        return None
    n, i = data[1] & 0x7F, 2
    if n == 126:
        n, i = int.from_bytes(data[2:4], "big"), 4
    elif n == 127:
        n, i = int.from_bytes(data[2:10], "big"), 10
    return bytes(data[i:]) if len(data) == i + n else None


def kernel_receipt(ancdata: Iterable[tuple[int, int, bytes]], clock: Callable[[], float]) -> float | None:
    """The ``SO_TIMESTAMPNS`` stamp in a ``recvmsg`` result, on ``clock``'s scale (None if absent). The
    kernel stamps CLOCK_REALTIME; it is moved onto ``clock`` (perf_counter: CLOCK_MONOTONIC) by the two
    clocks' offset read now, a few ms at most after the stamp (any NTP slew in between is negligible).
    For TCP it is the stamp of the last segment this read took: never earlier than the first byte's."""
    for level, kind, data in ancdata:
        if level == socket.SOL_SOCKET and kind == SO_TIMESTAMPNS and len(data) >= _TIMESPEC.size:
            sec, nsec = _TIMESPEC.unpack_from(data)
            return clock() - (time.time() - (sec + nsec / 1e9))
    return None


def install_socket_stamps(clock: Callable[[], float], on_write: Callable[[bytes, float], None]
                          ) -> Callable[[Any], tuple[float, float] | None]:
    """Stamp when a request's first bytes reach the simulator's socket (Hypercorn's TCP server): the
    kernel's receive timestamp, and when the simulator's loop reads them; and when it *writes* a
    WebSocket text frame: ``on_write(payload, t)`` just before the write (Trio's ``send_all`` makes the
    ``send`` system call before its first checkpoint).

    The kernel stamp is the exchange's host receiving the order, whatever its own event loop is doing;
    the read is that plus the simulator's scheduling (its loop busy with its makers, takers and other
    connections, or waiting for a CPU), which is the exchange's processing, not the trader's. Reads go
    through ``recvmsg`` on the stream's socket with ``SO_TIMESTAMPNS`` on (the read time doubles as the
    receipt when the stamp is missing).

    Returns ``take(scope_client)``: (receipt, read) of the request now being handled on the connection
    from that peer (ASGI ``scope["client"]``), forgotten once taken. Call it after the body is read,
    so the body's own chunk does not start the next request's stamp. httpx does not pipeline, so the
    first chunk after a request was taken belongs to the next request.
    """
    from hypercorn.trio import tcp_server

    pending: dict[tuple[str, int], tuple[float, float]] = {}

    class StampedStream:
        def __init__(self, inner: Any) -> None:
            self._inner = inner
            self._sock: Any = getattr(inner, "socket", None)
            try:
                host, port = self._sock.getpeername()[:2]
                self._peer: tuple[str, int] | None = (host, port)
                self._sock.setsockopt(socket.SOL_SOCKET, SO_TIMESTAMPNS, 1)
            except (AttributeError, OSError):
                self._peer = None

        async def receive_some(self, max_bytes: int | None = None) -> bytes:
            if self._peer is None:
                return await self._inner.receive_some(max_bytes)  # type: ignore[no-any-return]
            try:  # what trio's SocketStream.receive_some does, through recvmsg for the stamp
                data, ancdata, _, _ = await self._sock.recvmsg(max_bytes or MAX_RECV, _STAMP_SPACE)
            except OSError as exc:
                raise trio.BrokenResourceError(f"socket read failed: {exc}") from exc
            if data and self._peer not in pending:
                read = clock()
                receipt = kernel_receipt(ancdata, clock)
                pending[self._peer] = (read if receipt is None else min(receipt, read), read)
            return data  # type: ignore[no-any-return]

        async def send_all(self, data: bytes | bytearray | memoryview) -> None:
            payload = ws_text_payload(data)
            if payload is not None:
                on_write(payload, clock())
            await self._inner.send_all(data)

        def __getattr__(self, name: str) -> Any:
            return getattr(self._inner, name)

    orig_init = tcp_server.TCPServer.__init__

    def init(self: Any, app: Any, config: Any, context: Any, state: Any, stream: Any) -> None:
        orig_init(self, app, config, context, state, StampedStream(stream))  # type: ignore[arg-type]  # duck-typed proxy

    tcp_server.TCPServer.__init__ = init  # type: ignore[method-assign]

    def take(client: Any) -> tuple[float, float] | None:
        if not isinstance(client, list | tuple) or len(client) < 2:
            return None
        return pending.pop((str(client[0]), int(client[1])), None)

    return take


# --- child ------------------------------------------------------------------------------------------

class SimStamps:
    """Publish, write and receipt stamps (perf_counter seconds) kept in the simulator's process: the
    child's, or the bench's own with ``--sim inprocess``. Queries are answered into ``answers``."""

    def __init__(self) -> None:
        self.order: deque[tuple[float, bytes]] = deque()
        self.published: dict[bytes, list[float]] = {}
        self.written_order: deque[tuple[float, bytes]] = deque()
        self.written: dict[bytes, list[float]] = {}  # a message's frame written to the daemon's socket
        self.arrived: dict[str, float] = {}   # the request's first bytes reached the socket (kernel stamp)
        self.received: dict[str, float] = {}  # the request's first bytes read off the socket
        self.handled: dict[str, float] = {}   # Quart's before_request (after Hypercorn parsed it)
        self.answers: dict[str, tuple[float | None, float | None]] = {}  # (published, written)

    def on_publish(self, text: str, t: float) -> None:
        _remember(self.order, self.published, digest(text), t)

    def on_write(self, payload: bytes, t: float) -> None:
        _remember(self.written_order, self.written, digest(payload), t)

    def on_order(self, cid: str, arrived: float, read: float, handled: float) -> None:
        self.arrived[cid] = arrived
        self.received[cid] = read
        self.handled[cid] = handled

    def prune(self, before: float) -> None:
        for order, stamps in ((self.order, self.published), (self.written_order, self.written)):
            while order and order[0][0] < before:
                _, d = order.popleft()
                times = stamps[d]
                del times[0]
                if not times:
                    del stamps[d]

    def answer(self, cid: str, key: bytes, arrival: float) -> None:
        self.answers[cid] = (_latest_at_or_before(self.published.get(key, ()), arrival),
                             _latest_at_or_before(self.written.get(key, ()), arrival))


async def prune_forever(stamps: SimStamps) -> None:
    """Drop stamps older than ``HISTORY_S``, once a second."""
    while True:
        await trio.sleep(1.0)
        stamps.prune(time.perf_counter() - HISTORY_S)


def _remember(order: deque[tuple[float, bytes]], stamps: dict[bytes, list[float]], key: bytes, t: float) -> None:
    order.append((t, key))
    times = stamps.get(key)
    if times is None:
        stamps[key] = [t]
    else:
        times.append(t)


def _latest_at_or_before(times: Iterable[float], t: float) -> float | None:
    found = [x for x in times if x <= t]
    return found[-1] if found else None


def install_sim_hooks(clock: Callable[[], float], on_publish: Callable[[str, float], None],
                      on_write: Callable[[bytes, float], None],
                      on_order: Callable[[str, float, float, float], None]) -> None:
    """Monkeypatch the simulator's publish and receipt points in this process (both ``--sim`` modes).

    ``on_publish(text, t)``: a message queued for the trader's WebSocket connection.
    ``on_write(payload, t)``: a WebSocket text frame about to be written to a socket (the simulator
    serves WebSocket connections only to the trader in the bench).
    ``on_order(client_order_id, arrived, read, handled)``: an order request's first bytes reached the
    socket (kernel stamp) and were read off it, and its handler was reached (after Hypercorn parsed it).
    Times come from ``clock``.
    """
    from kalshid.sim import hub as sim_hub
    from kalshid.sim import rest as sim_rest
    from kalshid.sim import server as sim_server
    from kalshid.sim.server import TRADER_USER

    orig_offer = sim_hub.Connection.offer

    def offer(self: sim_hub.Connection, text: str) -> bool:
        t = clock()
        ok = orig_offer(self, text)
        if ok and self.user_id == TRADER_USER:
            on_publish(text, t)
        return ok

    sim_hub.Connection.offer = offer  # type: ignore[method-assign]

    orig_create_app = sim_rest.create_app
    take_read_time = install_socket_stamps(clock, on_write)

    def create_app(venue: Any) -> Any:
        from quart import request

        app = orig_create_app(venue)

        @app.before_request
        async def stamp() -> None:
            # every request takes its connection's read stamp (else a GET's would be left for the next order)
            if not (request.method == "POST" and request.path.endswith("/portfolio/events/orders")):
                take_read_time(request.scope.get("client"))
                return
            t = clock()
            body = await request.get_json(force=True, silent=True)  # cached: the handler reuses it
            stamps = take_read_time(request.scope.get("client"))
            arrived, read = stamps if stamps is not None else (t, t)
            if isinstance(body, dict) and isinstance(body.get("client_order_id"), str):
                on_order(body["client_order_id"], arrived, read, t)

        return app

    sim_server.create_app = create_app  # type: ignore[attr-defined]  # serve_simulator's global


async def _child(speed: float, key_id: str, public_key: Path) -> None:
    from datetime import datetime

    from kalshid.core.units import dollars_to_cc
    from kalshid.sim.ratelimit import RateLimits
    from kalshid.sim.server import SimHandle, SimSettings, serve_simulator

    stamps = SimStamps()
    install_sim_hooks(time.perf_counter, stamps.on_publish, stamps.on_write, stamps.on_order)
    # As the embedded simulator is configured by the bench's env (seed, start, balance, N x Basic-tier
    # rate limits), with the ``kalshid sim`` CLI defaults otherwise (30 s signature skew).
    settings = SimSettings(port=0, speed=speed, seed=SEED, start=datetime.fromisoformat(START).timestamp(),
                           keys=((key_id, public_key),), balance_cc=dollars_to_cc(Decimal(BALANCE_DOLLARS)),
                           rate_limits=RateLimits(200.0 * speed, 100.0 * speed))
    stdin = trio.lowlevel.FdStream(os.dup(sys.stdin.fileno()))
    async with trio.open_nursery() as nursery:
        handle: SimHandle = await nursery.start(serve_simulator, settings)
        print(f"{handle.rest_base_url} {handle.ws_url}", flush=True)

        nursery.start_soon(prune_forever, stamps)
        buf = b""
        ended = False
        while not ended:
            chunk = await stdin.receive_some()
            if not chunk:
                break  # the parent is gone
            buf += chunk
            *lines, buf = buf.split(b"\n")
            for raw in lines:
                parts = raw.decode().split()
                if parts == ["END"]:
                    ended = True
                elif len(parts) == 4 and parts[0] == "Q":
                    stamps.answer(parts[1], bytes.fromhex(parts[2]), float(parts[3]))
                else:
                    raise ValueError(f"sim child: bad command line {raw!r}")
        if ended:
            print(json.dumps({"published": stamps.answers, "arrived": stamps.arrived,
                              "received": stamps.received, "handled": stamps.handled}), flush=True)
        handle.stop()
        nursery.cancel_scope.cancel()
    await stdin.aclose()


SIM_POLICIES = ("batch", "normal")


def child_main(speed: float, key_id: str, public_key: str, policy: str = "batch") -> int:
    """Run the child. ``policy`` "batch": the process runs under Linux's ``SCHED_BATCH``: the same
    CPU share as any other process, but waking up (e.g. when the daemon's order arrives) does not
    preempt the task running on that core. A real exchange is on other machines; without this the
    simulator, woken by the daemon's own socket write, takes the daemon's core mid-order. "normal":
    ``SCHED_OTHER``, as started."""
    if policy not in SIM_POLICIES:
        raise ValueError(f"sim child: policy {policy!r} is not one of {SIM_POLICIES}")
    if policy == "batch":
        os.sched_setscheduler(0, os.SCHED_BATCH, os.sched_param(0))
    trio.run(_child, speed, key_id, Path(public_key))
    return 0


# --- parent -----------------------------------------------------------------------------------------

def place_process(pid: int, cpus: set[int] | None) -> None:
    """Confine a just-started child to ``cpus`` (None: leave it). Set on its main thread right after
    the spawn, before its interpreter has started any other thread, so every thread inherits it."""
    if cpus is not None:
        os.sched_setaffinity(pid, cpus)


class SimChild:
    """The parent's handle on the simulator process: its URLs, the query batch and the final stamps."""

    def __init__(self, proc: trio.Process) -> None:
        self.proc = proc
        self.rest_url = ""
        self.ws_url = ""
        self._buf = b""
        self._pending: list[tuple[str, str, float]] = []  # queries, encoded by the flusher
        self._flusher: trio.CancelScope | None = None

    async def readline(self) -> str:
        """The child's next stdout line (callers bound the wait); RuntimeError if it exits first."""
        assert self.proc.stdout is not None
        while b"\n" not in self._buf:
            chunk = await self.proc.stdout.receive_some()
            if not chunk:
                raise RuntimeError(f"sim child exited (status {self.proc.poll()}) before writing a line")
            self._buf += chunk
        line, self._buf = self._buf.split(b"\n", 1)
        return line.decode()

    def query(self, cid: str, text: str, arrival_perf: float) -> None:
        """Ask for the stamps of ``text`` at or before ``arrival_perf``; hashed and sent by the flusher
        (this runs on the daemon's order path: it only appends)."""
        self._pending.append((cid, text, arrival_perf))

    async def _flush(self, end: bool = False) -> None:
        if self._pending or end:
            lines = [f"Q {cid} {digest(text).hex()} {arrival!r}\n" for cid, text, arrival in self._pending]
            data, self._pending = ("".join(lines) + ("END\n" if end else "")).encode(), []
            assert self.proc.stdin is not None
            await self.proc.stdin.send_all(data)

    async def flusher(self) -> None:
        with trio.CancelScope() as self._flusher:
            while True:
                await trio.sleep(FLUSH_EVERY_S)
                await self._flush()

    async def finish(self) -> tuple[dict[str, list[float | None]], dict[str, float], dict[str, float],
                                    dict[str, float]]:
        """Send what is pending and ``END``; the child's ([published, written], arrived, received,
        handled) stamps by cid."""
        if self._flusher is not None:
            self._flusher.cancel()
        await self._flush(end=True)
        with trio.fail_after(30):
            found = json.loads(await self.readline())
        return found["published"], found["arrived"], found["received"], found["handled"]


@asynccontextmanager
async def sim_child(script: str, speed: float, key_id: str, public_key: Path,
                    policy: str = "batch", cpus: set[int] | None = None) -> AsyncIterator[SimChild]:
    """Start ``script --sim-child ...`` (on ``cpus`` only, when given); yields once its URLs are
    known. Kills it on the way out."""
    proc = await trio.lowlevel.open_process(
        [sys.executable, script, "--sim-child", repr(speed), key_id, str(public_key), policy],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE)
    place_process(proc.pid, cpus)
    try:
        child = SimChild(proc)
        with trio.fail_after(60):
            child.rest_url, child.ws_url = (await child.readline()).split()
        yield child
    finally:
        with trio.CancelScope(shield=True):
            if proc.stdin is not None:
                await proc.stdin.aclose()  # EOF: the child stops its simulator and exits
            with trio.move_on_after(5):
                await proc.wait()
            if proc.returncode is None:
                proc.kill()
                await proc.wait()
            if proc.stdout is not None:
                await proc.stdout.aclose()
