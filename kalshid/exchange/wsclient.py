"""A WebSocket client that hands over messages a network read at a time (RFC 6455 over wsproto).

Why not trio-websocket here: its connection runs a reader task that puts each message into a
channel with an awaited ``send`` and its ``get_message`` awaits a ``receive``, so every message
costs two scheduler passes, and a burst of N frames that arrived in one TCP read is handed to the
feed, and from it to the strategy, one message per pass, in lockstep. The strategy then evaluates
N times on N intermediate states, and an order for the last message waits behind all of them (the
tick-to-order tail, README "Benchmarks"). :meth:`WsClient.receive_batch` instead returns every
message completed by one read, with exactly one checkpoint per call, so the feed handles a burst
in one step and the strategy evaluates once on its final state.

The protocol work (framing, masking, UTF-8, the opening handshake) is wsproto's, the library
trio-websocket itself is built on; this module is only the I/O around it:

- the opening handshake with extra headers (Kalshi's signed ``KALSHI-ACCESS-*``), bounded by a
  timeout; a refusal raises :class:`WsHandshakeError` with the HTTP status and the start of the body;
- pings from the peer are answered as they are read; :meth:`WsClient.ping` sends one and waits
  for its pong (pongs are read by whoever is in :meth:`WsClient.receive_batch`);
- a close from the peer is answered; messages read before it are still delivered, then
  :class:`WsClosed` carries its code and reason. A dropped TCP connection is code 1006, a
  protocol violation 1002, a message over ``max_message_size`` 1009 (we close it);
- leaving :func:`connect` sends a close and waits a bounded, shielded moment for the peer's.

Sends (commands, pongs, pings, close) are serialized by a lock: several tasks may send.
"""

from __future__ import annotations

import ssl
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from urllib.parse import urlsplit

import trio
from wsproto import ConnectionType, WSConnection
from wsproto.connection import ConnectionState
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
from wsproto.utilities import LocalProtocolError, RemoteProtocolError

from kalshid.exchange.wsframes import FrameSplitter

ABNORMAL_CLOSURE = 1006
PROTOCOL_ERROR = 1002
MESSAGE_TOO_BIG = 1009

Message = str | bytes


class WsError(Exception):
    """A WebSocket connection could not be opened or has ended."""


class WsClosed(WsError):
    """The connection is closed: by the peer (its code and reason), by us, or dropped (1006)."""

    def __init__(self, code: int, reason: str = "") -> None:
        super().__init__(f"websocket closed: {code}{' ' + reason if reason else ''}")
        self.code = code
        self.reason = reason


class WsHandshakeError(WsError):
    """The opening handshake failed: refused (``status`` and the start of the body) or timed out."""

    def __init__(self, message: str, status: int | None = None) -> None:
        super().__init__(message)
        self.status = status


class WsClient:
    """One open client connection (made by :func:`connect`)."""

    def __init__(self, stream: trio.abc.Stream, proto: WSConnection, *, max_message_size: int,
                 receive_bytes: int) -> None:
        self._stream = stream
        self._proto = proto
        self._frames = FrameSplitter(max_message_size)
        self._max_message_size = max_message_size
        self._receive_bytes = receive_bytes
        self._send_lock = trio.StrictFIFOLock()
        self._ready: list[Message] = []
        self._parts: list[Message] = []
        self._size = 0
        self._closed: WsClosed | None = None
        self._pings: dict[bytes, trio.Event] = {}
        self._ping_counter = 0
        self.stats = {"reads": 0, "pings_answered": 0}  # messages are counted by the caller

    @property
    def closed(self) -> WsClosed | None:
        """Why the connection ended, once it has (messages already read may still be pending)."""
        return self._closed

    async def receive_batch(self, limit: int = 256) -> list[Message]:
        """The next messages, oldest first, at most ``limit``: those left from the last read, else
        all completed by the next read(s). Never empty; raises :class:`WsClosed` once the
        connection has ended and every message read before that has been returned. Exactly one
        checkpoint per call."""
        if self._ready:
            await trio.lowlevel.checkpoint()
        while not self._ready:
            if self._closed is not None:
                await trio.lowlevel.checkpoint()
                raise self._closed
            try:
                data = await self._stream.receive_some(self._receive_bytes)
            except (trio.BrokenResourceError, trio.ClosedResourceError) as exc:
                self._end(WsClosed(ABNORMAL_CLOSURE, f"connection lost: {exc or type(exc).__name__}"))
                continue
            self.stats["reads"] += 1
            if not data:
                self._end(WsClosed(ABNORMAL_CLOSURE, "the peer closed the TCP connection"))
                continue
            await self._take(_as_bytes(data))
        if len(self._ready) <= limit:
            out, self._ready = self._ready, []
        else:
            out, self._ready = self._ready[:limit], self._ready[limit:]
        return out

    async def send_message(self, message: Message) -> None:
        """Send one text (``str``) or binary (``bytes``) message."""
        event: Event = TextMessage(data=message) if isinstance(message, str) else BytesMessage(data=message)
        await self._send(event)

    async def ping(self) -> None:
        """Send a ping and wait for its pong (which a concurrent :meth:`receive_batch` reads).
        Raises :class:`WsClosed` if the connection ends first."""
        self._ping_counter += 1
        payload = self._ping_counter.to_bytes(8, "big")
        answered = self._pings[payload] = trio.Event()
        try:
            await self._send(Ping(payload=payload))
            await answered.wait()
        finally:
            self._pings.pop(payload, None)
        if self._closed is not None:
            raise self._closed

    async def aclose(self, code: int = 1000, reason: str = "", *, timeout_s: float = 1.0) -> None:
        """Close: send a close frame, wait up to ``timeout_s`` for the peer's (shielded, so this also
        runs when the caller is being cancelled), then close the TCP connection."""
        try:
            with trio.move_on_after(timeout_s, shield=True):
                if self._closed is None and self._proto.state is ConnectionState.OPEN:
                    await self._send_quietly(CloseConnection(code=code, reason=reason or None))
                while self._closed is None and self._proto.state is ConnectionState.LOCAL_CLOSING:
                    data = await self._stream.receive_some(self._receive_bytes)
                    if not data:
                        break
                    for for_wsproto, item in self._frames.feed(_as_bytes(data)):
                        if for_wsproto:  # messages after our close are dropped
                            self._proto.receive_data(item)  # type: ignore[arg-type]  # bytes for wsproto
                            for _ in self._proto.events():
                                pass
        except (trio.BrokenResourceError, trio.ClosedResourceError, RemoteProtocolError):
            pass
        finally:
            if self._closed is None:
                self._closed = WsClosed(code, reason or "closed by us")
            self._wake_pings()
            await trio.aclose_forcefully(self._stream)

    # ------------------------------------------------------------------ internals

    async def _take(self, data: bytes) -> None:
        """Read what ``data`` completes: plain messages here (:mod:`~kalshid.exchange.wsframes`),
        every other frame through wsproto, in the order they came."""
        for for_wsproto, item in self._frames.feed(data):
            if not for_wsproto:
                if self._closed is None:
                    self._ready.append(item)
                continue
            try:
                self._proto.receive_data(item)  # type: ignore[arg-type]  # bytes for wsproto
            except RemoteProtocolError as exc:
                self._end(WsClosed(PROTOCOL_ERROR, str(exc)))
                return
            await self._process_events()

    async def _process_events(self) -> None:
        for event in self._proto.events():
            if isinstance(event, TextMessage | BytesMessage):
                if self._closed is not None:
                    continue
                self._size += len(event.data)
                if self._size > self._max_message_size:
                    await self._close_ourselves(MESSAGE_TOO_BIG,
                                                f"message over {self._max_message_size} bytes")
                    continue
                self._parts.append(event.data if isinstance(event.data, str) else _as_bytes(event.data))
                if event.message_finished:
                    parts, self._parts, self._size = self._parts, [], 0
                    message: Message = (parts[0] if len(parts) == 1 else
                                        "".join(parts) if isinstance(event, TextMessage)  # type: ignore[arg-type]
                                        else b"".join(parts))  # type: ignore[arg-type]
                    self._ready.append(message)
            elif isinstance(event, Ping):
                self.stats["pings_answered"] += 1
                await self._send_quietly(event.response())
            elif isinstance(event, Pong):
                waiter = self._pings.get(bytes(event.payload))
                if waiter is not None:
                    waiter.set()
            elif isinstance(event, CloseConnection):
                if self._proto.state is ConnectionState.REMOTE_CLOSING:
                    await self._send_quietly(event.response())  # the closing handshake's answer
                elif self._proto.state is ConnectionState.OPEN:  # wsproto reports a bad frame this way
                    await self._send_quietly(CloseConnection(code=event.code, reason=event.reason))
                self._end(WsClosed(event.code, event.reason or ""))

    async def _close_ourselves(self, code: int, reason: str) -> None:
        await self._send_quietly(CloseConnection(code=code, reason=reason))
        self._end(WsClosed(code, reason))

    def _end(self, closed: WsClosed) -> None:
        if self._closed is None:
            self._closed = closed
        self._parts, self._size = [], 0
        self._wake_pings()

    def _wake_pings(self) -> None:
        for waiter in self._pings.values():
            waiter.set()

    async def _send(self, event: Event) -> None:
        if self._closed is not None:
            raise self._closed
        try:
            data = self._proto.send(event)
        except LocalProtocolError as exc:  # e.g. a message after our close frame
            raise WsClosed(ABNORMAL_CLOSURE, str(exc)) from None
        async with self._send_lock:
            try:
                await self._stream.send_all(data)
            except (trio.BrokenResourceError, trio.ClosedResourceError) as exc:
                lost = WsClosed(ABNORMAL_CLOSURE, f"connection lost: {exc or type(exc).__name__}")
                self._end(lost)
                raise lost from None

    async def _send_quietly(self, event: Event) -> None:
        """A protocol answer (pong, close): a connection already gone is reported by the next read."""
        try:
            data = self._proto.send(event)
            async with self._send_lock:
                await self._stream.send_all(data)
        except (LocalProtocolError, trio.BrokenResourceError, trio.ClosedResourceError):
            pass


@asynccontextmanager
async def connect(url: str, *, headers: Sequence[tuple[str, str]] = (), connect_timeout_s: float = 10.0,
                  close_timeout_s: float = 1.0, max_message_size: int = 1 << 20,
                  receive_bytes: int = 1 << 16,
                  ssl_context: ssl.SSLContext | None = None) -> AsyncIterator[WsClient]:
    """Open ``url`` (``ws://`` or ``wss://``), yield the connection, close it on the way out.

    Connecting and the handshake together are bounded by ``connect_timeout_s``
    (:class:`WsHandshakeError` when it passes); an unreachable host raises ``OSError``."""
    parts = urlsplit(url)
    if parts.scheme not in ("ws", "wss") or not parts.hostname:
        raise ValueError(f"not a ws:// or wss:// URL: {url!r}")
    secure = parts.scheme == "wss"
    host = parts.hostname
    port = parts.port or (443 if secure else 80)
    target = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    host_header = host if parts.port is None else f"{host}:{port}"
    proto = WSConnection(ConnectionType.CLIENT)
    stream: trio.abc.Stream | None = None
    try:
        with trio.fail_after(connect_timeout_s):
            if secure:
                stream = await trio.open_ssl_over_tcp_stream(
                    host, port, ssl_context=ssl_context or ssl.create_default_context(), https_compatible=True)
            else:
                stream = await trio.open_tcp_stream(host, port)
            extra = [(k.encode(), v.encode()) for k, v in headers]
            await stream.send_all(proto.send(Request(host=host_header, target=target, extra_headers=extra)))
            after = await _handshake(stream, proto, receive_bytes)
    except BaseException as exc:
        if stream is not None:
            await trio.aclose_forcefully(stream)
        if isinstance(exc, trio.TooSlowError):
            raise WsHandshakeError(f"no handshake with {host_header} within {connect_timeout_s}s") from None
        raise
    client = WsClient(stream, proto, max_message_size=max_message_size, receive_bytes=receive_bytes)
    try:
        await client._take(after)  # frames that came in the same read as the 101 response
        yield client
    finally:
        await client.aclose(timeout_s=close_timeout_s)


def _as_bytes(data: bytes | bytearray) -> bytes:
    """wsproto takes ``bytes``; trio's streams (and wsproto's binary frames) may hold a bytearray."""
    return bytes(data) if isinstance(data, bytearray) else data


async def _handshake(stream: trio.abc.Stream, proto: WSConnection, receive_bytes: int) -> bytes:
    """Read the server's answer to the upgrade request; returns the bytes that came after it (the
    first frames, for :class:`~kalshid.exchange.wsframes.FrameSplitter`: wsproto is given the answer's
    header block only, so that it holds no partial frame)."""
    status: int | None = None
    body = b""
    seen = b""  # the end of what was read, to find the header block's end across reads
    head_done = False
    while True:
        try:
            data = await stream.receive_some(receive_bytes)
        except (trio.BrokenResourceError, trio.ClosedResourceError) as exc:
            raise WsHandshakeError(f"connection lost during the handshake: {exc}") from None
        data = _as_bytes(data)
        after = b""
        if data and not head_done:
            end = (seen + data).find(b"\r\n\r\n")
            if end >= 0:
                head_done = True
                cut = end + 4 - len(seen)
                data, after = data[:cut], data[cut:]
            seen = (seen + data)[-3:]
        for chunk in ((data or None), after) if after else ((data or None),):  # None: the end of the stream
            try:
                proto.receive_data(chunk)
            except RemoteProtocolError as exc:
                raise WsHandshakeError(f"bad handshake response: {exc}", status) from None
            for event in proto.events():
                if isinstance(event, AcceptConnection):
                    return after if chunk is not after else b""
                if isinstance(event, RejectConnection):
                    status = event.status_code
                    if not event.has_body:
                        raise WsHandshakeError(f"handshake refused: HTTP {status}", status)
                elif isinstance(event, RejectData):
                    body += event.data
                    if event.body_finished or len(body) > 512:
                        text = body[:200].decode("utf-8", "replace").strip()
                        raise WsHandshakeError(f"handshake refused: HTTP {status}: {text}", status)
        if not data:
            raise WsHandshakeError("the server closed the connection during the handshake", status)
