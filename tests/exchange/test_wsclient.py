"""The feed's WebSocket client (kalshid.exchange.wsclient) against a server the test drives frame by
frame (wsproto on a loopback TCP socket): batching per network read, fragments, control frames,
closes, refusals, and no message lost to a cancellation."""

from __future__ import annotations

import functools
from collections.abc import AsyncIterator
from typing import Any

import pytest
import trio
from wsproto import ConnectionType, WSConnection
from wsproto.events import (
    AcceptConnection,
    BytesMessage,
    CloseConnection,
    Event,
    Ping,
    Pong,
    RejectConnection,
    RejectData,
    Request,
    TextMessage,
)

from kalshid.exchange import wsclient
from kalshid.exchange.wsclient import WsClosed, WsHandshakeError


class Peer:
    """The server side of one connection, driven by the test."""

    def __init__(self, stream: trio.SocketStream) -> None:
        self.stream = stream
        self.proto = WSConnection(ConnectionType.SERVER)
        self.request: Request | None = None
        self._events: list[Event] = []

    async def next_event(self) -> Event:
        while not self._events:
            data = await self.stream.receive_some(65536)
            self.proto.receive_data(data or None)
            self._events.extend(self.proto.events())
            if not data and not self._events:
                raise EOFError
        return self._events.pop(0)

    async def read_request(self) -> Request:
        event = await self.next_event()
        assert isinstance(event, Request)
        self.request = event
        return event

    async def accept(self, *then: Event) -> None:
        """Accept the upgrade; ``then``'s frames go out in the same write as the 101 response."""
        await self.read_request()
        await self.send(AcceptConnection(), *then)

    async def answer_close(self) -> int:
        """Read until the client's close, answer it (the closing handshake); its code."""
        while True:
            event = await self.next_event()
            if isinstance(event, CloseConnection):
                await self.send(event.response())
                return event.code

    async def send(self, *events: Event) -> None:
        """All ``events`` in one socket write: the client reads them as one burst."""
        await self.stream.send_all(b"".join(self.proto.send(e) for e in events))


@pytest.fixture
async def server(nursery: trio.Nursery) -> AsyncIterator[tuple[str, trio.MemoryReceiveChannel[Peer]]]:
    send, recv = trio.open_memory_channel[Peer](8)

    async def handler(stream: trio.SocketStream) -> None:
        await send.send(Peer(stream))
        await trio.sleep_forever()  # the test drives the peer; the stream lives until the test ends

    listeners = await nursery.start(functools.partial(trio.serve_tcp, handler, 0, host="127.0.0.1"))
    port = listeners[0].socket.getsockname()[1]
    yield f"ws://127.0.0.1:{port}/trade-api/ws/v2", recv


def texts(n: int, start: int = 0) -> list[TextMessage]:
    return [TextMessage(data=f'{{"seq":{i}}}') for i in range(start, start + n)]


async def test_a_burst_read_at_once_is_handed_over_in_one_batch(server: Any) -> None:
    url, peers = server
    async with trio.open_nursery() as nursery:
        nursery.start_soon(_accept_and_burst, peers, 20)
        async with wsclient.connect(url) as ws:
            with trio.fail_after(5):
                batch = await ws.receive_batch()
            assert batch == [f'{{"seq":{i}}}' for i in range(20)]
            assert ws.stats["reads"] <= 1  # one read after the handshake's, or none: it came with the 101


async def _accept_and_burst(peers: trio.MemoryReceiveChannel[Peer], n: int) -> None:
    peer = await peers.receive()
    await peer.accept()
    await peer.send(*texts(n))
    await peer.answer_close()


async def test_batches_are_capped_and_keep_their_order(server: Any) -> None:
    url, peers = server
    async with trio.open_nursery() as nursery:
        nursery.start_soon(_accept_and_burst, peers, 20)
        async with wsclient.connect(url) as ws:
            with trio.fail_after(5):
                sizes, got = [], []
                while len(got) < 20:
                    batch = await ws.receive_batch(8)
                    sizes.append(len(batch))
                    got += batch
            assert sizes == [8, 8, 4]
            assert got == [f'{{"seq":{i}}}' for i in range(20)]


async def test_a_cancelled_receive_loses_no_message(server: Any) -> None:
    """receive_batch checkpoints before taking messages already read, so a cancellation there
    leaves them for the next call."""
    url, peers = server
    async with trio.open_nursery() as nursery:
        nursery.start_soon(_accept_and_burst, peers, 10)
        async with wsclient.connect(url) as ws:
            with trio.fail_after(5):
                first = await ws.receive_batch(4)
            with trio.CancelScope() as scope:
                scope.cancel()
                await ws.receive_batch(4)
            assert scope.cancelled_caught
            rest = []
            with trio.fail_after(5):
                while len(first) + len(rest) < 10:
                    rest += await ws.receive_batch()
            assert first + rest == [f'{{"seq":{i}}}' for i in range(10)]


async def test_frames_in_the_same_read_as_the_handshake_are_delivered(server: Any) -> None:
    url, peers = server

    async def peer_side() -> None:
        peer = await peers.receive()
        await peer.accept(*texts(3))
        await peer.answer_close()

    async with trio.open_nursery() as nursery:
        nursery.start_soon(peer_side)
        async with wsclient.connect(url) as ws:
            with trio.fail_after(5):
                assert await ws.receive_batch() == [f'{{"seq":{i}}}' for i in range(3)]


async def test_fragments_are_joined_and_binary_stays_bytes(server: Any) -> None:
    url, peers = server

    async def peer_side() -> None:
        peer = await peers.receive()
        await peer.accept()
        await peer.send(TextMessage(data='{"a":', message_finished=False))
        await peer.send(TextMessage(data='1}', message_finished=True),
                        BytesMessage(data=b"\x00\x01", message_finished=False),
                        BytesMessage(data=b"\x02", message_finished=True))
        await peer.answer_close()

    async with trio.open_nursery() as nursery:
        nursery.start_soon(peer_side)
        async with wsclient.connect(url) as ws:
            got: list[str | bytes] = []
            with trio.fail_after(5):
                while len(got) < 2:
                    got += await ws.receive_batch()
            assert got == ['{"a":1}', b"\x00\x01\x02"]


async def test_the_handshake_sends_our_headers_host_and_target(server: Any) -> None:
    url, peers = server
    seen: list[Request] = []

    async def peer_side() -> None:
        peer = await peers.receive()
        await peer.accept()
        assert peer.request is not None
        seen.append(peer.request)
        await peer.answer_close()

    async with trio.open_nursery() as nursery:
        nursery.start_soon(peer_side)
        async with wsclient.connect(url + "?x=1", headers=[("KALSHI-ACCESS-KEY", "key-id")]):
            pass
    request = seen[0]
    port = url.split(":")[2].split("/")[0]
    assert request.host == f"127.0.0.1:{port}"
    assert request.target == "/trade-api/ws/v2?x=1"
    assert (b"kalshi-access-key", b"key-id") in [(k.lower(), v) for k, v in request.extra_headers]


async def test_a_refused_handshake_says_status_and_why(server: Any) -> None:
    url, peers = server

    async def peer_side() -> None:
        peer = await peers.receive()
        await peer.read_request()
        body = b'{"error":{"code":"authentication_error","message":"bad signature"}}'
        await peer.send(RejectConnection(status_code=401, has_body=True,
                                         headers=[(b"content-length", str(len(body)).encode())]),
                        RejectData(data=body))

    async with trio.open_nursery() as nursery:
        nursery.start_soon(peer_side)
        with pytest.raises(WsHandshakeError) as caught:
            async with wsclient.connect(url):
                pytest.fail("connected although refused")
    assert caught.value.status == 401
    assert "HTTP 401" in str(caught.value) and "bad signature" in str(caught.value)


async def test_a_silent_server_times_the_handshake_out(server: Any) -> None:
    url, peers = server
    with pytest.raises(WsHandshakeError, match="no handshake"):
        async with wsclient.connect(url, connect_timeout_s=0.2):
            pytest.fail("connected without a handshake")
    assert (await peers.receive()).request is None


async def test_an_unreachable_host_is_an_os_error() -> None:
    listener = trio.socket.socket()
    await listener.bind(("127.0.0.1", 0))
    port = listener.getsockname()[1]
    listener.close()  # nothing listens there now
    with pytest.raises(OSError):
        async with wsclient.connect(f"ws://127.0.0.1:{port}/"):
            pass


async def test_not_a_websocket_url_is_refused_up_front() -> None:
    with pytest.raises(ValueError, match="not a ws:// or wss:// URL"):
        async with wsclient.connect("https://api.elections.kalshi.com/trade-api/ws/v2"):
            pass


async def test_peer_pings_are_answered(server: Any) -> None:
    url, peers = server
    pongs: list[bytes] = []

    async def peer_side() -> None:
        peer = await peers.receive()
        await peer.accept()
        await peer.send(Ping(payload=b"are-you-there"), *texts(1))
        event = await peer.next_event()
        if isinstance(event, Pong):
            pongs.append(bytes(event.payload))
        await peer.answer_close()

    async with trio.open_nursery() as nursery:
        nursery.start_soon(peer_side)
        async with wsclient.connect(url) as ws:
            with trio.fail_after(5):
                assert await ws.receive_batch() == ['{"seq":0}']  # the ping is not a message
            with trio.fail_after(5):
                while not pongs:  # noqa: ASYNC110 -- the peer task records the pong it reads
                    await trio.sleep(0.001)
    assert pongs == [b"are-you-there"]
    assert ws.stats["pings_answered"] == 1


async def test_our_ping_waits_for_its_pong(server: Any) -> None:
    url, peers = server
    answer = trio.Event()
    got_ping = trio.Event()

    async def peer_side() -> None:
        peer = await peers.receive()
        await peer.accept()
        while True:
            event = await peer.next_event()
            if isinstance(event, Ping):
                got_ping.set()
                await answer.wait()
                await peer.send(event.response())
            elif isinstance(event, CloseConnection):
                await peer.send(event.response())
                return

    async with trio.open_nursery() as outer:
        outer.start_soon(peer_side)
        async with wsclient.connect(url) as ws, trio.open_nursery() as nursery:
            nursery.start_soon(_read_forever, ws)
            done = trio.Event()

            async def pinger() -> None:
                await ws.ping()
                done.set()

            nursery.start_soon(pinger)
            with trio.fail_after(5):
                await got_ping.wait()
            await trio.testing.wait_all_tasks_blocked(0.01)
            assert not done.is_set()  # the ping is sent, its pong is not back
            answer.set()
            with trio.fail_after(5):
                await done.wait()
            nursery.cancel_scope.cancel()


async def _read_forever(ws: wsclient.WsClient) -> None:
    while True:
        await ws.receive_batch()


async def test_a_close_from_the_peer_comes_after_its_messages(server: Any) -> None:
    url, peers = server
    answered: list[CloseConnection] = []

    async def peer_side() -> None:
        peer = await peers.receive()
        await peer.accept()
        await peer.send(*texts(2), CloseConnection(code=4000, reason="maintenance"))
        event = await peer.next_event()
        assert isinstance(event, CloseConnection)
        answered.append(event)

    async with trio.open_nursery() as nursery:
        nursery.start_soon(peer_side)
        async with wsclient.connect(url) as ws:
            with trio.fail_after(5):
                assert await ws.receive_batch() == ['{"seq":0}', '{"seq":1}']
                with pytest.raises(WsClosed) as caught:
                    await ws.receive_batch()
    assert (caught.value.code, caught.value.reason) == (4000, "maintenance")
    assert answered and answered[0].code == 4000  # the closing handshake was answered


async def test_a_dropped_tcp_connection_is_an_abnormal_close(server: Any) -> None:
    url, peers = server

    async def peer_side() -> None:
        peer = await peers.receive()
        await peer.accept()
        await peer.stream.aclose()

    async with trio.open_nursery() as nursery:
        nursery.start_soon(peer_side)
        async with wsclient.connect(url) as ws:
            with trio.fail_after(5), pytest.raises(WsClosed) as caught:
                await ws.receive_batch()
            assert caught.value.code == wsclient.ABNORMAL_CLOSURE
            with pytest.raises(WsClosed):
                await ws.send_message("after the end")  # sends fail loudly too


async def test_a_protocol_violation_closes_with_1002(server: Any) -> None:
    url, peers = server
    closes: list[int] = []

    async def peer_side() -> None:
        peer = await peers.receive()
        await peer.accept()
        await peer.stream.send_all(b"\x83\x00")  # a frame with the reserved opcode 3
        event = await peer.next_event()
        if isinstance(event, CloseConnection):
            closes.append(event.code)

    async with trio.open_nursery() as nursery:
        nursery.start_soon(peer_side)
        async with wsclient.connect(url) as ws:
            with trio.fail_after(5), pytest.raises(WsClosed) as caught:
                await ws.receive_batch()
    assert caught.value.code == wsclient.PROTOCOL_ERROR
    assert closes == [wsclient.PROTOCOL_ERROR]


async def test_an_oversized_message_is_refused_with_1009(server: Any) -> None:
    url, peers = server
    closes: list[int] = []

    async def peer_side() -> None:
        peer = await peers.receive()
        await peer.accept()
        await peer.send(TextMessage(data="x" * 64))
        event = await peer.next_event()
        if isinstance(event, CloseConnection):
            closes.append(event.code)
            await peer.send(event.response())

    async with trio.open_nursery() as nursery:
        nursery.start_soon(peer_side)
        async with wsclient.connect(url, max_message_size=32) as ws:
            with trio.fail_after(5), pytest.raises(WsClosed) as caught:
                await ws.receive_batch()
    assert caught.value.code == wsclient.MESSAGE_TOO_BIG
    assert closes == [wsclient.MESSAGE_TOO_BIG]


@pytest.mark.parametrize("cancelled", [False, True])
async def test_leaving_sends_a_normal_close_even_when_cancelled(server: Any, cancelled: bool) -> None:
    url, peers = server
    closes: list[int] = []

    async def peer_side() -> None:
        peer = await peers.receive()
        await peer.accept()
        closes.append(await peer.answer_close())

    async with trio.open_nursery() as nursery:
        nursery.start_soon(peer_side)
        with trio.CancelScope() as scope:
            async with wsclient.connect(url) as ws:
                await ws.send_message('{"id":1,"cmd":"subscribe"}')
                if cancelled:
                    scope.cancel()
                    await trio.sleep_forever()
        with trio.fail_after(5):
            while not closes:  # noqa: ASYNC110 -- the peer task records the close it reads
                await trio.sleep(0.001)
    assert closes == [1000]
    assert ws.closed is not None
