"""The order lane (kalshid.exchange.kalshi.orderlane): orders reach the socket before any other task
runs, connections are kept warm and replaced when closed or old, and a lost answer is an order in
flight, never a retry."""

from __future__ import annotations

import contextlib
import datetime as dt
import functools
import ipaddress
import json
import select
import socket
import ssl
import tempfile
import threading
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import h11
import httpx
import pytest
import trio
import trio.testing
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import NameOID

from kalshid.exchange.errors import OrderInFlight
from kalshid.exchange.kalshi import auth, orderlane
from kalshid.exchange.kalshi.discovery import find_open_market
from kalshid.exchange.kalshi.orderlane import LaneConnection, LaneError, OrderLane
from kalshid.exchange.kalshi.ratelimit import RateLimits
from kalshid.exchange.kalshi.rest import KalshiRest
from kalshid.exchange.types import OrderRequest
from kalshid.sim.server import SimHandle, SimSettings, serve_simulator
from tests.exchange.kalshi.kalshi_fakes import create_answer

ORDER_JSON = json.dumps(create_answer()).encode()

# ---- a small HTTP/1.1 server whose behaviour each test chooses --------------------------------------

Handler = Callable[[h11.Request, bytes], Awaitable[tuple[int, list[tuple[str, str]], bytes] | None]]


async def ok(request: h11.Request, body: bytes) -> tuple[int, list[tuple[str, str]], bytes]:
    return 201, [], ORDER_JSON


class Server:
    """Serves requests with ``handler``; a handler returning None closes the connection unanswered.
    While ``closing`` is set, connections are closed as soon as they are idle."""

    def __init__(self, handler: Handler = ok, ssl_context: ssl.SSLContext | None = None) -> None:
        self.handler = handler
        self.ssl_context = ssl_context
        self.accepted = 0
        self.requests: list[bytes] = []
        self.closing = False
        self._idle: set[trio.CancelScope] = set()
        self.port = 0

    def close_idle(self) -> None:
        self.closing = True
        for scope in self._idle:
            scope.cancel()

    async def serve(self, stream: trio.abc.Stream) -> None:
        self.accepted += 1
        if self.ssl_context is not None:
            stream = trio.SSLStream(stream, self.ssl_context, server_side=True, https_compatible=True)
        conn = h11.Connection(h11.SERVER)
        try:
            while True:
                event = conn.next_event()
                if event is h11.NEED_DATA:
                    with trio.CancelScope() as idle:
                        if conn.our_state is h11.IDLE and conn.their_state is h11.IDLE:
                            self._idle.add(idle)
                            if self.closing:
                                idle.cancel()
                        data = await stream.receive_some()
                    self._idle.discard(idle)
                    if idle.cancelled_caught:
                        return  # closed while idle
                    conn.receive_data(data)
                    continue
                if isinstance(event, h11.Request):
                    request, body = event, b""
                elif isinstance(event, h11.Data):
                    body += event.data
                elif isinstance(event, h11.EndOfMessage):
                    self.requests.append(body)
                    answer = await self.handler(request, body)
                    if answer is None:
                        return
                    status, headers, content = answer
                    out = conn.send(h11.Response(status_code=status, headers=[
                        ("Content-Type", "application/json"), ("Content-Length", str(len(content))), *headers]))
                    out += conn.send(h11.Data(data=content)) + conn.send(h11.EndOfMessage())  # type: ignore[operator]
                    await stream.send_all(out)  # type: ignore[arg-type]
                    if conn.our_state is not h11.DONE or conn.their_state is not h11.DONE:
                        return
                    conn.start_next_cycle()
                elif isinstance(event, h11.ConnectionClosed):
                    return
        except (trio.BrokenResourceError, trio.ClosedResourceError, h11.ProtocolError):
            return
        finally:
            await trio.aclose_forcefully(stream)


@asynccontextmanager
async def serving(server: Server) -> AsyncIterator[Server]:
    async with trio.open_nursery() as nursery:
        [listener] = await nursery.start(functools.partial(trio.serve_tcp, server.serve, 0, host="127.0.0.1"))
        server.port = listener.socket.getsockname()[1]
        yield server
        nursery.cancel_scope.cancel()


@asynccontextmanager
async def running(lane: OrderLane) -> AsyncIterator[OrderLane]:
    async with trio.open_nursery() as nursery:
        await nursery.start(lane.run)
        with trio.fail_after(10):
            await lane.wait_idle()
        yield lane
        nursery.cancel_scope.cancel()


# ---- against the simulator: what the daemon does -------------------------------------------------------

ORDER_WRITTEN = "order bytes to the socket"


@pytest.fixture
async def sim(nursery: trio.Nursery, rsa_key: rsa.RSAPrivateKey) -> AsyncIterator[SimHandle]:
    """A simulator on loopback that knows ``rsa_key`` as ``key-1``."""
    settings = SimSettings(keys=(("key-1", rsa_key.public_key()),), seed=3)
    with trio.fail_after(10):
        handle: SimHandle = await nursery.start(serve_simulator, settings)
    yield handle
    handle.stop()


@pytest.fixture
def order_writes(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """A list that gets :data:`ORDER_WRITTEN` each time a POST request's bytes are handed to a socket
    (on the order lane or through httpx: both end in ``SocketStream.send_all``)."""
    events: list[str] = []
    real_send_all = trio.SocketStream.send_all

    async def send_all(self: trio.SocketStream, data: Any) -> None:
        if bytes(data).startswith(b"POST"):
            events.append(ORDER_WRITTEN)
        await real_send_all(self, data)

    monkeypatch.setattr(trio.SocketStream, "send_all", send_all)
    return events


@pytest.mark.parametrize("use_lane", [True, False])
async def test_an_order_reaches_the_socket_before_any_other_task_runs(
        nursery: trio.Nursery, sim: SimHandle, rsa_key: rsa.RSAPrivateKey, order_writes: list[str],
        use_lane: bool) -> None:
    now = dt.datetime.fromtimestamp(sim.venue.clock.now(), dt.UTC)
    async with KalshiRest(sim.rest_base_url, auth.Signer("key-1", rsa_key)) as rest:
        lane = rest.order_lane() if use_lane else None
        if lane is not None:
            await nursery.start(lane.run)
            await lane.wait_idle()
        market = await find_open_market(rest, now)
        assert market is not None
        events = order_writes

        async def other() -> None:
            events.append("another task ran")

        for _ in range(2):
            events.clear()
            nursery.start_soon(other)  # runnable from now on: it runs at this task's first checkpoint
            order = await rest.create_order(OrderRequest(market.ticker, "yes", "buy", 1, 100, str(uuid.uuid4()),
                                                         time_in_force="immediate_or_cancel"))
            assert order.status in ("canceled", "executed")
            if use_lane:
                assert events[0] == ORDER_WRITTEN
            else:  # through httpx's pool, other tasks run first (why the lane exists)
                assert events[0] == "another task ran"
        if lane is not None:
            # the first order's connection was kept alive for the second; one more was opened beside it
            # while the first was busy (there is always one ready)
            assert lane.stats["used"] == 2 and lane.stats["opened"] == 2 and lane.idle == 2


async def test_submit_writes_now_only_when_nothing_needs_waiting_for(
        nursery: trio.Nursery, sim: SimHandle, rsa_key: rsa.RSAPrivateKey, order_writes: list[str]) -> None:
    """submit hands the bytes to the socket before it returns when a lane connection and the write
    tokens are there; otherwise it sends nothing and the reply makes the whole request (tokens taken
    once, a lane miss counted once)."""
    now = dt.datetime.fromtimestamp(sim.venue.clock.now(), dt.UTC)
    limits = RateLimits(write_per_s=100.0, write_capacity=10.0)  # one order's tokens, refilled in 0.1 s
    written = order_writes

    def request() -> OrderRequest:
        return OrderRequest(market.ticker, "yes", "buy", 1, 100, str(uuid.uuid4()), time_in_force="immediate_or_cancel")

    with trio.fail_after(10):
        async with KalshiRest(sim.rest_base_url, auth.Signer("key-1", rsa_key), limits=limits) as rest:
            market = await find_open_market(rest, now)
            assert market is not None
            lane = rest.order_lane()
            assert lane is not None
            # no connection ready yet: nothing written, the tokens are taken once, by submit
            reply = await rest.submit(request())
            assert written == [] and lane.stats["missed"] == 1 and rest.limiter.write.acquired == 1
            assert (await reply.order()).status in ("canceled", "executed")
            assert len(written) == 1 and lane.stats["used"] == 0  # through httpx
            assert lane.stats["missed"] == 1 and rest.limiter.write.acquired == 1
            await nursery.start(lane.run)
            await lane.wait_idle()
            # the bucket is empty now: nothing is written until the reply has waited for the tokens
            reply = await rest.submit(request())
            assert len(written) == 1 and rest.limiter.write.acquired == 1
            assert (await reply.order()).status in ("canceled", "executed")
            assert len(written) == 2 and lane.stats["used"] == 1 and rest.limiter.write.acquired == 2
            # tokens and a connection: written before submit returns
            await trio.sleep(0.15)  # the bucket refills (real time: the simulator runs on it too)
            await lane.wait_idle()
            reply = await rest.submit(request())
            assert len(written) == 3 and lane.stats["used"] == 2 and rest.limiter.write.acquired == 3
            assert (await reply.order()).status in ("canceled", "executed")
            assert lane.stats["missed"] == 1


async def test_no_lane_through_a_proxy_or_a_test_transport(monkeypatch: pytest.MonkeyPatch,
                                                           rsa_key: rsa.RSAPrivateKey) -> None:
    signer = auth.Signer("key-1", rsa_key)
    mock = httpx.MockTransport(lambda request: httpx.Response(500))
    async with KalshiRest("http://127.0.0.1:9/trade-api/v2", signer, transport=mock) as rest:
        assert rest.order_lane() is None
    monkeypatch.setenv("HTTP_PROXY", "http://127.0.0.1:3128")
    monkeypatch.delenv("NO_PROXY", raising=False)
    monkeypatch.delenv("no_proxy", raising=False)
    async with KalshiRest("http://exchange.example:8080/trade-api/v2", signer) as rest:
        assert rest.order_lane() is None
    monkeypatch.delenv("HTTP_PROXY")
    async with KalshiRest("https://api.elections.kalshi.com/trade-api/v2", signer) as rest:
        lane = rest.order_lane()
        assert lane is not None and (lane.host, lane.port, lane.tls) == ("api.elections.kalshi.com", 443, True)


# ---- connections: warm, replaced, never reused after trouble -----------------------------------------

def lazy_lane(port: int, *, tls: bool = False, ssl_context: ssl.SSLContext | None = None) -> OrderLane:
    """A lane whose task looks at its connections only when asked (take), never on its own timer."""
    return OrderLane("127.0.0.1", port, tls=tls, ssl_context=ssl_context, check_s=300, max_idle_s=600)


async def readable(sock: Any) -> None:
    """Until ``sock`` has something to read (polled: waiting on it would compete with the lane's task)."""
    with trio.fail_after(10):
        while not sock.is_readable():  # noqa: ASYNC110 (a socket another task owns)
            await trio.sleep(0.001)


async def exchange(lane: OrderLane, conn: LaneConnection, target: str = "/trade-api/v2/portfolio/events/orders",
                   *, timeout_s: float = 5) -> bytes:
    """One request on ``conn``: send, then receive, under one deadline."""
    deadline = trio.current_time() + timeout_s
    await lane.send(conn, target, [("KALSHI-ACCESS-KEY", "k")], b"{}", deadline=deadline)
    return (await lane.receive(conn, deadline=deadline)).content


async def post(lane: OrderLane) -> bytes:
    conn = lane.take()
    assert conn is not None
    return await exchange(lane, conn)


async def test_a_connection_the_server_closed_while_idle_is_replaced_not_used() -> None:
    async with serving(Server()) as server, running(lazy_lane(server.port)) as lane:
        sock = lane._idle[0].sock
        server.close_idle()
        await readable(sock)  # the end of the stream is here
        assert lane.take() is None  # not handed out
        server.closing = False
        with trio.fail_after(10):
            await lane.wait_idle()  # the lane task opened another
        assert await post(lane) == ORDER_JSON
        assert lane.stats["closed_idle"] == 1 and lane.stats["opened"] == 2 and server.accepted == 2


async def test_connections_are_renewed_before_they_grow_old(autojump_clock: trio.abc.Clock) -> None:
    lane = OrderLane("127.0.0.1", 0, tls=False, max_idle_s=4, check_s=0.5)
    async with serving(Server()) as server:
        lane.port = server.port
        async with running(lane):
            await trio.sleep(10)
            assert lane.stats["expired"] == 2 and lane.idle == 1 and server.accepted == 3
            assert await post(lane) == ORDER_JSON


async def test_an_answer_lost_mid_request_closes_the_connection_and_is_in_flight(
        rsa_key: rsa.RSAPrivateKey) -> None:
    answers: list[bool] = [False, True]

    async def flaky(request: h11.Request, body: bytes) -> tuple[int, list[tuple[str, str]], bytes] | None:
        return (201, [], ORDER_JSON) if answers.pop(0) else None  # the first: read, then hang up

    async with serving(Server(flaky)) as server, KalshiRest(
            f"http://127.0.0.1:{server.port}/trade-api/v2", auth.Signer("k", rsa_key)) as rest:
        lane = rest.order_lane()
        assert lane is not None
        async with running(lane):
            request = OrderRequest("KXSOL15M-26JUL011215-15", "yes", "buy", 1, 50, "c-1")
            with pytest.raises(OrderInFlight):
                await rest.create_order(request)
            assert lane.stats["failed"] == 1 and len(server.requests) == 1  # sent once, never retried
            with trio.fail_after(10):
                await lane.wait_idle()
            order = await rest.create_order(request)
            assert order.order_id == "o-1" and lane.stats["used"] == 2 and server.accepted == 2


async def test_a_response_marked_connection_close_is_not_reused() -> None:
    async def closing(request: h11.Request, body: bytes) -> tuple[int, list[tuple[str, str]], bytes]:
        return 201, [("Connection", "close")], ORDER_JSON

    async with serving(Server(closing)) as server, running(OrderLane("127.0.0.1", server.port, tls=False)) as lane:
        assert await post(lane) == ORDER_JSON
        assert lane.stats["closed_idle"] == 1
        with trio.fail_after(10):
            await lane.wait_idle()
        assert server.accepted == 2


async def test_a_timeout_is_a_lane_error_and_the_connection_is_dropped(autojump_clock: trio.abc.Clock) -> None:
    async def never(request: h11.Request, body: bytes) -> None:
        await trio.sleep_forever()

    async with serving(Server(never)) as server, running(OrderLane("127.0.0.1", server.port, tls=False)) as lane:
        conn = lane.take()
        assert conn is not None
        with pytest.raises(LaneError, match="no whole response by the deadline"):
            await exchange(lane, conn, "/x", timeout_s=3)
        assert lane.stats["failed"] == 1 and conn not in lane._idle


# ---- TLS ------------------------------------------------------------------------------------------------

def tls_contexts() -> tuple[ssl.SSLContext, ssl.SSLContext]:
    """A server context with a fresh self-signed certificate for 127.0.0.1, and a client context
    that trusts only it."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = dt.datetime.now(dt.UTC)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
            .serial_number(x509.random_serial_number()).not_valid_before(now - dt.timedelta(days=1))
            .not_valid_after(now + dt.timedelta(days=1))
            .add_extension(x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
                           critical=False)
            .sign(key, hashes.SHA256()))
    pem = cert.public_bytes(serialization.Encoding.PEM)
    key_pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                serialization.NoEncryption())
    server = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    with tempfile.TemporaryDirectory() as d:  # load_cert_chain reads files only
        path = Path(d) / "server.pem"
        path.write_bytes(pem + key_pem)
        server.load_cert_chain(path)
    client = ssl.create_default_context(cadata=pem.decode())
    client.set_alpn_protocols(["http/1.1"])
    return server, client


class BlockingTlsServer:
    """A TLS server on blocking sockets in a thread (not Trio: Trio's SSLStream holds TLS 1.3 session
    tickets back until its first write, while OpenSSL servers send them right after the handshake, so
    an idle client socket turns readable without any application data). Answers every request with
    ORDER_JSON; closes its connections when ``close`` is set."""

    def __init__(self, ctx: ssl.SSLContext) -> None:
        self.ctx = ctx
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = self.listener.getsockname()[1]
        self.close = threading.Event()
        self.accepted = 0
        self.closed = 0
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while True:
            try:
                raw, _ = self.listener.accept()
            except OSError:
                return
            self.accepted += 1
            threading.Thread(target=self._serve, args=(raw,), daemon=True).start()

    def _serve(self, raw: socket.socket) -> None:
        with contextlib.suppress(OSError, h11.ProtocolError):  # the lane closes sockets without close_notify
            self._serve_one(raw)
        self.closed += 1

    def _serve_one(self, raw: socket.socket) -> None:
        with self.ctx.wrap_socket(raw, server_side=True) as tls:  # the handshake; tickets follow at once
            http = h11.Connection(h11.SERVER)
            while not self.close.is_set():
                if not select.select([tls], [], [], 0.01)[0] and not tls.pending():
                    continue
                data = tls.recv(65536)
                if not data:
                    return
                http.receive_data(data)
                while (event := http.next_event()) is not h11.NEED_DATA:
                    if isinstance(event, h11.EndOfMessage):
                        tls.sendall(http.send(h11.Response(status_code=201, headers=[  # type: ignore[arg-type]
                            ("Content-Length", str(len(ORDER_JSON)))])) + http.send(h11.Data(data=ORDER_JSON))
                            + http.send(h11.EndOfMessage()))  # type: ignore[operator]
                        http.start_next_cycle()

    def stop(self) -> None:
        self.close.set()
        self.listener.close()


async def test_over_tls_session_tickets_do_not_pass_for_a_closed_connection() -> None:
    server_ctx, client_ctx = tls_contexts()
    server = BlockingTlsServer(server_ctx)
    try:
        async with running(lazy_lane(server.port, tls=True, ssl_context=client_ctx)) as lane:
            first = lane._idle[0]
            await readable(first.sock)  # TLS 1.3: the server's session tickets
            assert lane.take() is None  # not trusted until looked at ...
            with trio.fail_after(10):
                await lane.wait_idle()  # ... and back: only TLS records had arrived
            assert lane._idle == [first] and lane.stats["closed_idle"] == 0 and lane.stats["opened"] == 1
            assert await post(lane) == ORDER_JSON  # on it (one more is opened while it was busy)
            with trio.fail_after(10):
                await lane.wait_idle(2)
            assert lane.stats["opened"] == 2
            server.close.set()  # the server closes both: close_notify, then the end of the stream
            with trio.fail_after(10):
                while server.closed < 2:  # noqa: ASYNC110 (the server's threads)
                    await trio.sleep(0.01)
                while lane.stats["closed_idle"] < 2:  # state of the lane's task
                    assert lane.take() is None
                    await trio.sleep(0.01)
            assert lane.stats["closed_idle"] >= 2  # (the server keeps closing the new ones too)
    finally:
        server.stop()


async def test_a_host_that_refuses_is_retried_with_backoff_and_orders_are_not_held(
        autojump_clock: trio.abc.Clock) -> None:
    with socket.create_server(("127.0.0.1", 0)) as probe:
        port = probe.getsockname()[1]  # closed below: connections to it are refused
    lane = OrderLane("127.0.0.1", port, tls=False, check_s=0.5, max_idle_s=4)
    async with trio.open_nursery() as nursery:
        await nursery.start(lane.run)
        await trio.sleep(60)
        assert lane.take() is None  # the caller goes through httpx, at once
        # attempts at 0, 1, 3, 7, 15, 31 s, then every 30 s: not one every 0.5 s
        assert 5 <= lane.stats["connect_errors"] <= 7
        nursery.cancel_scope.cancel()


# ---- the request's bytes ---------------------------------------------------------------------------

def h11_bytes(target: str, fields: list[tuple[str, str]], body: bytes) -> bytes:
    http = h11.Connection(h11.CLIENT)
    data = http.send(h11.Request(method="POST", target=target, headers=fields))
    return data + http.send(h11.Data(data=body)) + http.send(h11.EndOfMessage())


def test_an_order_request_is_written_as_h11_writes_it() -> None:
    body = b'{"ticker":"KXSOL15M-26DEC040315-15","count":"3"}'
    for authority in ("127.0.0.1:8080", "[::1]:8443", "api.elections.kalshi.com"):
        fields = [("Host", authority), ("User-Agent", "kalshid"), ("Content-Length", str(len(body))),
                  ("KALSHI-ACCESS-SIGNATURE", "a+b/c=="), ("X-Spaced", "two words\tand a tab")]
        assert orderlane._request_bytes("/trade-api/v2/portfolio/events/orders", fields, body) == \
            h11_bytes("/trade-api/v2/portfolio/events/orders", fields, body)
    # what only h11 may judge is left to it: surrounding blanks, control characters, non-ASCII
    for value in ("padded ", "line\r\nbreak", "caf\u00e9", ""):
        assert orderlane._request_bytes("/x", [("Host", "h"), ("X-Test", value)], b"") is None
    assert orderlane._request_bytes("/x", [("Host", "h"), ("Bad Name", "v")], b"") is None


async def test_a_header_h11_refuses_is_not_sent_and_the_next_order_still_goes() -> None:
    async with serving(Server()) as server, running(OrderLane("127.0.0.1", server.port, tls=False)) as lane:
        with trio.fail_after(10):
            await lane.wait_idle()
        conn = lane.take()
        assert conn is not None
        with pytest.raises(LaneError, match="not sendable"):
            await lane.send(conn, "/orders", [("X-Test", "padded ")], b"{}", deadline=trio.current_time() + 5)
        assert lane.stats["failed"] == 1
        with trio.fail_after(10):
            await lane.wait_idle()
        for _ in range(3):  # written by hand, told to h11 before each read, and kept alive for the next
            assert await post(lane) == ORDER_JSON
            with trio.fail_after(10):
                await lane.wait_idle()
        assert lane.stats["failed"] == 1 and lane.stats["closed_idle"] == 0
