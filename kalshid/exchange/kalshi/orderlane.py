"""The order lane: keep-alive HTTP/1.1 connections kept open and used only to place orders.

Why. Through httpx, an order request passed a connection pool (a lock, an event, a connection's state
lock) before its first byte reached the socket; each of those is a Trio checkpoint, where every other
runnable task (the next market-data message, the dashboard, logs) may run first. Measured at ~0.7 ms
p50 from ``create_order`` to the socket in ``bench/bench_tick_to_order.py``. On the lane the request is
serialized (h11) and handed to the kernel in the caller's own scheduler step: no lock, event or
checkpoint comes before the ``send``.

How.

* :meth:`OrderLane.run` (a task) keeps ``warm`` connections open and idle: it opens them (TCP, and
  TLS with certifi's CAs and hostname checks for ``https``, as httpx does) off the hot path, checks
  the idle ones every ``check_s``, and replaces any the server closed or that have been idle for
  ``max_idle_s`` (below the server's keep-alive timeout, so a request does not race the server
  closing its connection). An idle connection whose socket turns readable was closed by the server,
  except over TLS 1.3, where session tickets arrive after the handshake: the task reads (with a
  short deadline) to tell which, off the hot path.
* :meth:`OrderLane.take` hands out an idle, live connection, or ``None``: then the caller sends the
  order the ordinary way (httpx). The lane never holds an order back; it never opens a connection on
  the hot path.
* :meth:`OrderLane.send` writes one request, and :meth:`OrderLane.receive` reads its response later
  (the caller goes on between the two), both under one deadline. Anything but a
  whole response (a timeout, a reset, a malformed answer, a cancellation) closes the connection and
  raises :class:`LaneError`; for an order that means *in flight* (the caller resolves it by
  ``client_order_id``), exactly as a transport error through httpx does. A response the server marks
  ``Connection: close`` closes it too; otherwise the connection goes back to the idle set.

The lane is not used when a proxy applies to the exchange's URL (httpx honours proxy variables from
the environment; the lane would not), nor with a test transport.
"""

from __future__ import annotations

import contextlib
import math
import re
import ssl
from collections.abc import Iterator, Sequence

import attrs
import h11
import trio

from kalshid.logs import get_logger

log = get_logger(__name__)

USER_AGENT = "kalshid"
MAX_RETRY_S = 30.0  # the longest wait between connection attempts while the host refuses them
MAX_RESPONSE_BYTES = 1 << 20


class LaneError(Exception):
    """The request's outcome is unknown (nothing, or not a whole response, came back)."""


@attrs.frozen
class LaneResponse:
    status: int
    headers: tuple[tuple[bytes, bytes], ...]
    content: bytes


@attrs.define(eq=False)
class LaneConnection:
    stream: trio.abc.Stream
    sock: trio.socket.SocketType
    http: h11.Connection
    idle_since: float
    # a request written without h11 (target, headers, body, the bytes sent): h11 is told before the read
    untold: tuple[str, list[tuple[str, str]], bytes, bytes] | None = None


_TOKEN = re.compile(r"[-!#$%&'*+.^_`|~0-9A-Za-z]+")  # a header name (RFC 9110)
_VALUE = re.compile(r"[!-~](?:[ -~\t]*[!-~])?")  # a plain-ASCII header value, as h11 accepts it


def _request_bytes(target: str, fields: Sequence[tuple[str, str]], body: bytes) -> bytes | None:
    """The bytes h11 writes for ``POST target`` with ``fields`` (Host first) and ``body`` (framed by its
    Content-Length), or ``None`` when a field is not plain ASCII (then h11 must validate it)."""
    if not _VALUE.fullmatch(target):
        return None
    lines = [f"POST {target} HTTP/1.1"]
    for name, value in fields:
        if not (_TOKEN.fullmatch(name) and _VALUE.fullmatch(value)):
            return None
        lines.append(f"{name}: {value}")
    lines.append("\r\n")
    return "\r\n".join(lines).encode("ascii") + body


def _tell_h11(conn: LaneConnection) -> None:
    """Run a request :meth:`OrderLane.send` wrote by hand through ``conn``'s h11 state machine, so it
    can read the response. Raises ``h11.LocalProtocolError`` if h11 would have written other bytes."""
    if conn.untold is None:
        return
    target, fields, body, sent = conn.untold
    conn.untold = None
    http = conn.http
    data = http.send(h11.Request(method="POST", target=target, headers=fields))
    data += http.send(h11.Data(data=body)) + http.send(h11.EndOfMessage())
    if data != sent:
        raise h11.LocalProtocolError("the request written differs from h11's")


class OrderLane:
    """Open connections to ``host:port`` (TLS when ``tls``) for order requests; see the module docstring."""

    def __init__(self, host: str, port: int, *, tls: bool, ssl_context: ssl.SSLContext | None = None,
                 warm: int = 1, max_idle_s: float = 4.0, check_s: float = 0.5,
                 connect_timeout_s: float = 10.0) -> None:
        if warm < 1 or not 0 < check_s < max_idle_s:
            raise ValueError(f"order lane: need warm >= 1 and 0 < check_s < max_idle_s, "
                             f"got {warm}, {check_s}, {max_idle_s}")
        self.host, self.port, self.tls = host, port, tls
        self._ssl = ssl_context
        self.warm = warm
        self.max_idle_s = max_idle_s
        self.check_s = check_s
        self.connect_timeout_s = connect_timeout_s
        name = f"[{host}]" if ":" in host else host  # an IPv6 address
        self._authority = name if port == (443 if tls else 80) else f"{name}:{port}"
        self._idle: list[LaneConnection] = []
        self._suspect: list[LaneConnection] = []  # idle, but the socket is readable: closed, or TLS tickets?
        self._changed = trio.Event()  # a connection left the idle set, or was closed
        self._grew = trio.Event()  # a connection joined the idle set
        self._failures = 0  # connection attempts failed in a row
        self._retry_at = -math.inf  # no attempt before this (Trio time): backoff while the host is down
        self.stats = {"used": 0, "missed": 0, "opened": 0, "closed_idle": 0, "expired": 0, "failed": 0,
                      "connect_errors": 0}

    # ---- the hot path ---------------------------------------------------------------------------
    def take(self) -> LaneConnection | None:
        """An idle connection that is still open, or ``None`` (counted as a miss). No checkpoint."""
        now = trio.current_time()
        while self._idle:
            conn = self._idle.pop()
            if self._still_usable(conn, now):
                self._changed.set()
                return conn
        self.stats["missed"] += 1
        self._changed.set()
        return None

    async def send(self, conn: LaneConnection, target: str, headers: Sequence[tuple[str, str]], body: bytes,
                   *, deadline: float) -> None:
        """Write ``POST target`` on ``conn`` (from :meth:`take`); :meth:`receive` reads the answer.

        The request's bytes are handed to the socket before the first checkpoint. They are written
        here as h11 would write them, without h11's per-header validation and state machine, when
        every header is plain ASCII (always, for an order); h11 is told of the request afterwards,
        in :meth:`receive`, off the order's path, and a difference from what was sent closes the
        connection (the outcome is then unknown). Raises :class:`LaneError` when the outcome is
        unknown (the write failed or missed ``deadline``, a Trio time); ``conn`` is closed then,
        and also if this is cancelled."""
        http = conn.http
        fields = [("Host", self._authority), ("User-Agent", USER_AGENT), ("Accept", "application/json"),
                  ("Content-Type", "application/json"), ("Content-Length", str(len(body))), *headers]
        data = _request_bytes(target, fields, body) if http.our_state is h11.IDLE else None
        if data is not None:
            conn.untold = (target, fields, body, data)
        else:
            try:
                data = http.send(h11.Request(method="POST", target=target, headers=fields))
                data += http.send(h11.Data(data=body)) + http.send(h11.EndOfMessage())
            except h11.LocalProtocolError as exc:  # nothing was sent
                self._discard(conn, "failed")
                raise LaneError(f"request not sendable: {exc}") from exc
        self.stats["used"] += 1
        with self._unknown_unless_done(conn, deadline, "the request was not written"):
            await conn.stream.send_all(data)

    async def receive(self, conn: LaneConnection, *, deadline: float) -> LaneResponse:
        """The whole response to the request :meth:`send` wrote on ``conn``. Then ``conn`` goes back to
        the idle set, or is closed if the server will close it. Raises :class:`LaneError` when the
        outcome is unknown (no whole response by ``deadline``, a reset, a malformed answer); ``conn`` is
        closed then, and also if this is cancelled."""
        http = conn.http
        with self._unknown_unless_done(conn, deadline, "no whole response"):
            _tell_h11(conn)
            response = await self._read(conn)
        if http.our_state is h11.DONE and http.their_state is h11.DONE:
            http.start_next_cycle()
            conn.idle_since = trio.current_time()
            self._add_idle(conn)
        else:  # the server will close it (Connection: close), or the exchange broke HTTP's rules
            self._discard(conn, "closed_idle")
        return response

    @contextlib.contextmanager
    def _unknown_unless_done(self, conn: LaneConnection, deadline: float, what: str) -> Iterator[None]:
        """Run the block by ``deadline``; any failure (or cancellation) closes ``conn``, and errors
        become :class:`LaneError`."""
        ok = False
        try:
            with trio.fail_at(deadline):
                yield
            ok = True
        except trio.TooSlowError:
            raise LaneError(f"{what} by the deadline") from None
        except (trio.BrokenResourceError, trio.ClosedResourceError, OSError, h11.ProtocolError) as exc:
            raise LaneError(f"{type(exc).__name__}: {exc}") from exc
        finally:
            if not ok:
                self._discard(conn, "failed")

    async def _read(self, conn: LaneConnection) -> LaneResponse:
        http = conn.http
        status = 0
        headers: tuple[tuple[bytes, bytes], ...] = ()
        chunks: list[bytes] = []
        size = 0
        while True:
            event = http.next_event()
            if event is h11.NEED_DATA:
                data = await conn.stream.receive_some(65536)
                http.receive_data(bytes(data))  # b"" is the end of the stream: next_event raises if it is early
                continue
            if isinstance(event, h11.InformationalResponse):
                continue
            if isinstance(event, h11.Response):
                status, headers = event.status_code, tuple(event.headers)
            elif isinstance(event, h11.Data):
                size += len(event.data)
                if size > MAX_RESPONSE_BYTES:
                    raise h11.RemoteProtocolError(f"response larger than {MAX_RESPONSE_BYTES} bytes")
                chunks.append(bytes(event.data))
            elif isinstance(event, h11.EndOfMessage):
                return LaneResponse(status, headers, b"".join(chunks))
            elif isinstance(event, h11.ConnectionClosed):
                raise h11.RemoteProtocolError("the server closed the connection before a whole response")

    # ---- keeping connections warm ---------------------------------------------------------------
    async def run(self, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        """Keep ``warm`` idle connections open until cancelled (then close them all). A failed
        connection attempt is logged and retried with exponential backoff (``check_s`` doubling, at
        most :data:`MAX_RETRY_S`): the lane is an optimization, orders go out through httpx meanwhile."""
        task_status.started()
        try:
            while True:
                self._changed = trio.Event()  # before looking: a take() from here on wakes the wait below
                now = trio.current_time()
                self._idle = [conn for conn in self._idle if self._still_usable(conn, now)]
                while self._suspect:
                    conn = self._suspect.pop()
                    if await self._only_tls_records(conn):
                        self._add_idle(conn)
                    else:
                        self._discard(conn, "closed_idle")
                while len(self._idle) < self.warm and trio.current_time() >= self._retry_at:
                    try:
                        conn = await self._connect()
                    except (OSError, trio.TooSlowError, trio.BrokenResourceError, ssl.SSLError) as exc:
                        self.stats["connect_errors"] += 1
                        self._failures += 1
                        delay = min(MAX_RETRY_S, self.check_s * 2 ** min(self._failures, 10))
                        self._retry_at = trio.current_time() + delay
                        log.warning("order lane: cannot connect; orders go through the ordinary client",
                                    host=self.host, port=self.port, error=f"{type(exc).__name__}: {exc}",
                                    retry_in_s=round(delay, 1))
                        break
                    if self._failures:
                        log.info("order lane: connected again", host=self.host, port=self.port)
                        self._failures = 0
                    self._add_idle(conn)
                with trio.move_on_after(self.check_s):
                    await self._changed.wait()
        finally:
            for conn in self._idle + self._suspect:
                conn.sock.close()
            self._idle.clear()
            self._suspect.clear()

    def _still_usable(self, conn: LaneConnection, now: float) -> bool:
        """For a connection taken out of the idle set: True if it may be used; else it is closed (idle
        for ``max_idle_s``) or set aside for :meth:`run` to look at (its socket is readable)."""
        if now - conn.idle_since >= self.max_idle_s:
            self._discard(conn, "expired")
            return False
        if conn.sock.is_readable():
            self._suspect.append(conn)
            return False
        return True

    async def _only_tls_records(self, conn: LaneConnection) -> bool:
        """Whether a readable idle connection is still usable: over TLS, the bytes may be TLS 1.3
        session tickets, which a read consumes without returning data. Anything else (data, the end
        of the stream, an error) means it is not."""
        if not self.tls:
            return False
        with trio.move_on_after(min(0.05, self.check_s)):
            with contextlib.suppress(trio.BrokenResourceError, trio.ClosedResourceError, OSError):
                await conn.stream.receive_some(65536)  # data or the end of the stream
            return False
        return not conn.sock.is_readable()

    async def _connect(self) -> LaneConnection:
        with trio.fail_after(self.connect_timeout_s):
            tcp = await trio.open_tcp_stream(self.host, self.port)
            stream: trio.abc.Stream = tcp
            if self.tls:
                ctx = self._ssl or default_ssl_context()
                tls = trio.SSLStream(tcp, ctx, server_hostname=self.host, https_compatible=True)
                try:
                    await tls.do_handshake()
                except BaseException:
                    await trio.aclose_forcefully(tcp)
                    raise
                if tls.selected_alpn_protocol() not in (None, "http/1.1"):
                    await trio.aclose_forcefully(tls)
                    raise OSError(f"the server chose {tls.selected_alpn_protocol()!r}, not http/1.1")
                stream = tls
        self.stats["opened"] += 1
        return LaneConnection(stream, tcp.socket, h11.Connection(h11.CLIENT), trio.current_time())

    def _discard(self, conn: LaneConnection, why: str) -> None:
        """Close ``conn`` now (no checkpoint: the socket is closed, TLS is not shut down politely)."""
        self.stats[why] += 1
        self._changed.set()
        conn.sock.close()

    def _add_idle(self, conn: LaneConnection) -> None:
        self._idle.append(conn)
        self._grew.set()
        self._grew = trio.Event()

    @property
    def idle(self) -> int:
        return len(self._idle)

    async def wait_idle(self, count: int = 1) -> None:
        """Until at least ``count`` connections are idle (start-up checks, tests)."""
        while len(self._idle) < count:
            await self._grew.wait()


def default_ssl_context() -> ssl.SSLContext:
    """What httpx would use (certifi's CAs, hostname checks), limited to HTTP/1.1."""
    import httpx

    ctx = httpx.create_ssl_context()
    ctx.set_alpn_protocols(["http/1.1"])
    return ctx
