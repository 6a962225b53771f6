"""FrameSplitter (kalshid.exchange.wsframes): a server's byte stream read through the splitter and
wsproto together yields exactly what wsproto alone yields — the same messages, control frames and
errors, in the same order — however the stream is cut into reads."""

from __future__ import annotations

import itertools
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st
from wsproto import ConnectionType, WSConnection
from wsproto.events import (
    AcceptConnection,
    BytesMessage,
    CloseConnection,
    Event,
    Message,
    Ping,
    Pong,
    Request,
    TextMessage,
)
from wsproto.utilities import RemoteProtocolError

from kalshid.exchange import wsclient
from kalshid.exchange.wsframes import FrameSplitter

MAX = 4096


def pair() -> tuple[WSConnection, WSConnection]:
    """An open (client, server) pair."""
    client, server = WSConnection(ConnectionType.CLIENT), WSConnection(ConnectionType.SERVER)
    server.receive_data(client.send(Request(host="h", target="/")))
    next(server.events())
    client.receive_data(server.send(AcceptConnection()))
    assert isinstance(next(client.events()), AcceptConnection)
    return client, server


def outcome(client: WSConnection, data: bytes | None, parts: list[Any], got: list[Any]) -> bool:
    """Feed wsproto; append what it yields to ``got`` (messages joined); False once it failed or the
    peer closed (the client delivers nothing after that)."""
    try:
        client.receive_data(data)
        for event in client.events():
            if isinstance(event, Message):
                parts.append(event.data)
                if event.message_finished:
                    got.append("".join(parts) if isinstance(event, TextMessage) else b"".join(parts))
                    parts.clear()
            else:
                got.append((type(event).__name__, getattr(event, "code", None), bytes(getattr(event, "payload", b""))))
                if isinstance(event, CloseConnection):
                    return False
    except RemoteProtocolError as exc:
        got.append(("error", str(exc)))
        return False
    return True


def via_wsproto(stream: bytes, cuts: list[int]) -> list[Any]:
    client, _ = pair()
    got: list[Any] = []
    parts: list[Any] = []
    for chunk in chunks(stream, cuts):
        if not outcome(client, chunk, parts, got):
            break
    return got


def via_splitter(stream: bytes, cuts: list[int], max_size: int = MAX) -> list[Any]:
    client, _ = pair()
    splitter = FrameSplitter(max_size)
    got: list[Any] = []
    parts: list[Any] = []
    for chunk in chunks(stream, cuts):
        for for_wsproto, item in splitter.feed(chunk):
            if not for_wsproto:
                got.append(item)
            elif not outcome(client, item, parts, got):
                return got
    return got


def chunks(stream: bytes, cuts: list[int]) -> list[bytes]:
    points = sorted({c % (len(stream) + 1) for c in cuts} | {0, len(stream)})
    return [stream[a:b] for a, b in itertools.pairwise(points) if b > a]


def frames(events: list[Event]) -> bytes:
    _, server = pair()
    return b"".join(server.send(e) for e in events)


text_st = st.text(max_size=300)
event_st = st.one_of(
    st.builds(TextMessage, data=text_st),
    st.builds(TextMessage, data=st.text(min_size=126, max_size=600)),  # 16-bit lengths
    st.builds(BytesMessage, data=st.binary(max_size=300)),
    st.builds(Ping, payload=st.binary(max_size=20)),
    st.builds(Pong, payload=st.binary(max_size=20)),
)


@st.composite
def stream_st(draw: st.DrawFn) -> list[Event]:
    """Whole messages and control frames, some messages sent in fragments with control frames between."""
    out: list[Event] = []
    for event in draw(st.lists(event_st, max_size=12)):
        if isinstance(event, TextMessage) and len(event.data) > 3 and draw(st.booleans()):
            k = draw(st.integers(1, len(event.data) - 1))
            out.append(TextMessage(data=event.data[:k], message_finished=False))
            if draw(st.booleans()):
                out.append(Ping(payload=b"mid"))
            out.append(TextMessage(data=event.data[k:], message_finished=True))
        else:
            out.append(event)
    if draw(st.booleans()):
        out.append(CloseConnection(code=1000, reason="bye"))
    return out


@settings(max_examples=300, deadline=None)
@given(events=stream_st(), cuts=st.lists(st.integers(0, 10_000), max_size=8))
def test_the_splitter_and_wsproto_read_every_stream_as_wsproto_alone(events: list[Event], cuts: list[int]) -> None:
    stream = frames(events)
    assert via_splitter(stream, cuts) == via_wsproto(stream, cuts)


def test_frames_wsproto_must_judge_are_judged_by_it() -> None:
    good = frames([TextMessage(data="before")])
    bad = [
        b"\x81\x02\xc3\x28",  # text that is not UTF-8
        b"\x81\x7e\x00\x05hello",  # a length that fits in 7 bits sent in 16
        b"\x81\x85abcd" + bytes(b ^ b"abcd"[i % 4] for i, b in enumerate(b"hello")),  # masked by a server
        b"\xc1\x05hello",  # an extension bit nobody negotiated
        b"\x80\x05hello",  # a continuation with no message to continue
        b"\x01\x03abc\x81\x03def",  # a new message before the fragmented one has ended
    ]
    for frame in bad:
        stream = good + frame + good
        for cuts in ([], [3], list(range(len(stream)))):
            got = via_splitter(stream, cuts)
            assert got == via_wsproto(stream, cuts)
            assert got[0] == "before" and got[-1] != "before"  # the bad frame ended the stream there


def test_a_frame_over_the_limit_goes_to_wsproto_from_there_on() -> None:
    splitter = FrameSplitter(100)
    stream = frames([TextMessage(data="small"), TextMessage(data="x" * 101), TextMessage(data="after")])
    items = splitter.feed(stream)
    assert items[0] == (False, "small")
    assert items[1][0] is True and splitter.bypassed
    assert splitter.feed(b"more") == [(True, b"more")]


def test_a_partial_frame_waits_for_the_rest() -> None:
    splitter = FrameSplitter(MAX)
    stream = frames([TextMessage(data="one"), TextMessage(data="two" * 60)])
    first = splitter.feed(stream[:10])
    assert first == [(False, "one")]
    assert splitter.feed(stream[10:]) == [(False, "two" * 60)]
    assert splitter.feed(b"") == []


class Reads:
    """A stream that returns ``data`` ``size`` bytes per read."""

    def __init__(self, data: bytes, size: int) -> None:
        self.data, self.size = data, size

    async def receive_some(self, max_bytes: int | None = None) -> bytes:
        out, self.data = self.data[:self.size], self.data[self.size:]
        return out


async def test_the_handshake_gives_wsproto_the_answer_only_and_returns_the_frames_after_it() -> None:
    for size in (1, 2, 3, 5, 64, 4096):
        client, server = WSConnection(ConnectionType.CLIENT), WSConnection(ConnectionType.SERVER)
        server.receive_data(client.send(Request(host="h", target="/")))
        next(server.events())
        after = frames([TextMessage(data="first"), Ping(payload=b"p"), TextMessage(data="second")])
        stream = Reads(server.send(AcceptConnection()) + after, size)
        rest = await wsclient._handshake(stream, client, 65536)  # type: ignore[arg-type]  # duck-typed stream
        assert rest + stream.data == after
        assert list(client.events()) == []  # wsproto holds no frame: the splitter reads them all

