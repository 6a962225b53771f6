"""A loopback HTTP receiver for alert tests: records each POST's path, headers and JSON body."""

from __future__ import annotations

import functools
import json
from typing import Any

import attrs
import h11
import trio


@attrs.define
class Received:
    path: str
    headers: dict[str, str]
    body: Any


@attrs.define
class Receiver:
    """Answers every request 200 and keeps what was posted; `arrived` is set on each one."""

    port: int = 0
    requests: list[Received] = attrs.field(factory=list)
    arrived: trio.Event = attrs.field(factory=trio.Event)

    async def wait_for(self, count: int) -> list[Received]:
        while len(self.requests) < count:
            await self.arrived.wait()
            self.arrived = trio.Event()
        return self.requests

    async def handle(self, stream: trio.SocketStream) -> None:
        conn = h11.Connection(h11.SERVER)
        path, headers, chunks = "", {}, []
        while True:
            event = conn.next_event()
            if event is h11.NEED_DATA:
                data = await stream.receive_some(65536)
                conn.receive_data(data)
                if not data:
                    return
                continue
            if isinstance(event, h11.Request):
                path = event.target.decode()
                headers = {k.decode().lower(): v.decode() for k, v in event.headers}
            elif isinstance(event, h11.Data):
                chunks.append(bytes(event.data))
            elif isinstance(event, h11.EndOfMessage):
                break
            elif isinstance(event, h11.ConnectionClosed):
                return
        raw = b"".join(chunks)
        try:
            body: Any = json.loads(raw)
        except ValueError:
            body = raw.decode(errors="replace")
        self.requests.append(Received(path, headers, body))
        self.arrived.set()
        await stream.send_all(conn.send(h11.Response(status_code=200, headers=[("content-length", "2"),
                                                                               ("connection", "close")])))
        await stream.send_all(conn.send(h11.Data(data=b"ok")))
        await stream.send_all(conn.send(h11.EndOfMessage()))
        await stream.aclose()


async def start_receiver(nursery: trio.Nursery) -> Receiver:
    receiver = Receiver()
    listeners = await nursery.start(functools.partial(trio.serve_tcp, receiver.handle, 0, host="127.0.0.1"))
    receiver.port = listeners[0].socket.getsockname()[1]
    return receiver
