"""A request the simulator refuses never wedges its keep-alive connection.

A raw HTTP/1.1 client (h11 over one TCP socket) sends, 20 times on the same connection, a JSON body
to a route that refuses it (404 no such route, 405 wrong method, 410 retired V1 write, 401 unsigned,
400 bad body) and then a plain GET. Every request must be answered in order; a body left unread by a
refusal would otherwise be parsed as the start of the next request and leave it unanswered.
"""

from __future__ import annotations

import json
from urllib.parse import urlsplit

import h11
import pytest
import trio

from kalshid.sim.server import SimHandle

REFUSED = [
    ("POST", "/trade-api/v2/no/such/route", 404),
    ("PUT", "/trade-api/v2/markets", 405),
    ("POST", "/trade-api/v2/portfolio/orders", 410),
    ("POST", "/trade-api/v2/portfolio/events/orders", 401),
    ("DELETE", "/trade-api/v2/portfolio/orders/batched", 410),
]


class RawClient:
    """One keep-alive HTTP/1.1 connection driven by h11."""

    def __init__(self, stream: trio.SocketStream, host: str) -> None:
        self.stream = stream
        self.host = host
        self.conn = h11.Connection(h11.CLIENT)

    async def request(self, method: str, path: str, body: bytes = b"", *, split: bool = False) -> tuple[int, bytes]:
        headers = [("Host", self.host), ("Content-Length", str(len(body)))]
        if body:
            headers.append(("Content-Type", "application/json"))
        head = self.conn.send(h11.Request(method=method, target=path, headers=headers))
        data = self.conn.send(h11.Data(data=body)) if body else b""
        end = self.conn.send(h11.EndOfMessage())
        if split:  # headers first, the body in a later segment
            await self.stream.send_all(head)
            await trio.testing.wait_all_tasks_blocked()
            await self.stream.send_all(data + end)
        else:
            await self.stream.send_all(head + data + end)
        status, chunks = 0, []
        with trio.fail_after(5):
            while True:
                event = self.conn.next_event()
                if event is h11.NEED_DATA:
                    self.conn.receive_data(await self.stream.receive_some(65536))
                elif isinstance(event, h11.Response):
                    status = event.status_code
                elif isinstance(event, h11.Data):
                    chunks.append(bytes(event.data))
                elif isinstance(event, h11.EndOfMessage):
                    break
                elif isinstance(event, h11.ConnectionClosed):
                    raise AssertionError(f"server closed the connection after {method} {path}")
        self.conn.start_next_cycle()
        return status, b"".join(chunks)


@pytest.mark.parametrize("split", [False, True], ids=["one-segment", "split-body"])
async def test_refused_requests_with_bodies_never_wedge_the_connection(sim: SimHandle, split: bool) -> None:
    url = urlsplit(sim.rest_base_url)
    assert url.hostname is not None and url.port is not None
    stream = await trio.open_tcp_stream(url.hostname, url.port)
    client = RawClient(stream, f"{url.hostname}:{url.port}")
    body = json.dumps({"ticker": "KXSOL15M-X", "side": "bid", "count": "1", "pad": "x" * 2048}).encode()
    answered = 0
    for i in range(20):
        method, path, expected = REFUSED[i % len(REFUSED)]
        status, reply = await client.request(method, path, body, split=split)
        assert status == expected, (i, method, path, reply)
        assert "error" in json.loads(reply)
        status, reply = await client.request("GET", "/trade-api/v2/exchange/status")
        assert status == 200 and json.loads(reply)["exchange_active"] is True, (i, reply)
        answered += 1
    assert answered == 20
    await stream.aclose()
