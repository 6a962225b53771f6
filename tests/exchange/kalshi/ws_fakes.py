"""A tiny Kalshi WebSocket server speaking the protocol subset the feed needs (asyncapi 2.0.0):
signed handshake, one ``subscribed`` per channel, per-sid ``seq``, snapshots from its own book,
deltas (optionally with a deliberate gap), update_subscription, unsubscribe, drops."""

from __future__ import annotations

import contextlib
import json
from typing import Any

import trio
import trio_websocket
from cryptography.hazmat.primitives.asymmetric import rsa

from kalshid.core.units import format_count, format_dollars
from kalshid.exchange.kalshi import auth

WS_PATH = "/trade-api/ws/v2"
INITIAL = {"yes": {4100: 120, 4200: 35}, "no": {5500: 80, 5600: 10}}


class FakeKalshiWs:
    def __init__(self, public_key: rsa.RSAPublicKey) -> None:
        self.public_key = public_key
        self.connections: list[ServerConn] = []
        self.rejected = 0
        self.books: dict[str, dict[str, dict[int, int]]] = {}
        self._next_sid = 0
        self._changed = trio.Event()

    def book(self, ticker: str) -> dict[str, dict[int, int]]:
        return self.books.setdefault(ticker, {s: dict(levels) for s, levels in INITIAL.items()})

    def new_sid(self) -> int:
        self._next_sid += 1
        return self._next_sid

    async def wait_until(self, pred: Any) -> None:
        """Wait (under the caller's deadline) until ``pred()`` holds; re-checked on every server event."""
        while not pred():
            await self._changed.wait()

    def changed(self) -> None:
        self._changed.set()
        self._changed = trio.Event()

    async def handler(self, request: trio_websocket.WebSocketRequest) -> None:
        h = {k.decode().upper(): v.decode() for k, v in request.headers}
        ts = h.get(auth.HEADER_TIMESTAMP, "")
        if not (
            ts.isdigit()
            and request.path == WS_PATH
            and h.get(auth.HEADER_KEY) == "key-123"
            and auth.verify(self.public_key, int(ts), "GET", request.path, h.get(auth.HEADER_SIGNATURE, ""))
        ):
            self.rejected += 1
            self.changed()
            with contextlib.suppress(trio_websocket.ConnectionClosed):  # the client may leave first
                await request.reject(401, body=b'{"error": "unauthorized"}')
            return
        conn = ServerConn(self, await request.accept())
        self.connections.append(conn)
        self.changed()
        await conn.serve()


class ServerConn:
    def __init__(self, fake: FakeKalshiWs, ws: trio_websocket.WebSocketConnection) -> None:
        self.fake = fake
        self.ws = ws
        self.commands: list[dict[str, Any]] = []
        self.sid_of: dict[str, int] = {}
        self.seq: dict[int, int] = {}
        self.markets: dict[int, set[str]] = {}
        self.closed = trio.Event()

    async def send(self, obj: dict[str, Any]) -> None:
        await self.ws.send_message(json.dumps(obj))

    async def serve(self) -> None:
        try:
            while True:
                msg = json.loads(await self.ws.get_message())
                self.commands.append(msg)
                self.fake.changed()
                await self.on_command(msg)
        except trio_websocket.ConnectionClosed:
            pass
        finally:
            self.closed.set()

    async def wait_command(self, pred: Any) -> dict[str, Any]:
        while True:
            for c in self.commands:
                if pred(c):
                    return c
            await self.fake._changed.wait()

    def _next_seq(self, sid: int) -> int:
        self.seq[sid] = self.seq.get(sid, 0) + 1
        return self.seq[sid]

    async def snapshot(self, sid: int, ticker: str) -> None:
        book = self.fake.book(ticker)
        msg: dict[str, Any] = {"market_ticker": ticker, "market_id": "mid"}
        for side in ("yes", "no"):
            if book[side]:
                msg[f"{side}_dollars_fp"] = [
                    [format_dollars(p), format_count(n)] for p, n in sorted(book[side].items())
                ]
        await self.send({"type": "orderbook_snapshot", "sid": sid, "seq": self._next_seq(sid), "msg": msg})

    async def on_command(self, msg: dict[str, Any]) -> None:
        cid, cmd, p = msg["id"], msg["cmd"], msg.get("params", {})
        if cmd == "subscribe":
            for ch in p["channels"]:
                sid = self.fake.new_sid()
                self.sid_of[ch] = sid
                await self.send({"id": cid, "type": "subscribed", "msg": {"channel": ch, "sid": sid}})
                if ch == "orderbook_delta":
                    self.markets[sid] = set(p["market_tickers"])
                    for t in p["market_tickers"]:
                        await self.snapshot(sid, t)
        elif cmd == "unsubscribe":
            for sid in p["sids"]:
                self.markets.pop(sid, None)
                self.sid_of = {c: s for c, s in self.sid_of.items() if s != sid}
                await self.send({"id": cid, "sid": sid, "seq": self.seq.get(sid, 0), "type": "unsubscribed"})
        elif cmd == "update_subscription":
            (sid,) = p["sids"]
            tickers = p["market_tickers"]
            if sid in self.markets:
                if p["action"] == "add_markets":
                    self.markets[sid] |= set(tickers)
                else:
                    self.markets[sid] -= set(tickers)
            await self.send({"id": cid, "sid": sid, "type": "ok", "msg": {"market_tickers": tickers}})
            if sid in self.markets and p["action"] == "add_markets":
                for t in tickers:
                    await self.snapshot(sid, t)

    async def delta(self, ticker: str, side: str, price_cc: int, delta: int, *, skip: bool = False) -> None:
        """Apply a delta to the server's book and send it; ``skip`` applies it but never sends it
        (the seq number is used up, so the client sees a gap at the next delta)."""
        book = self.fake.book(ticker)[side]
        book[price_cc] = book.get(price_cc, 0) + delta
        if not book[price_cc]:
            del book[price_cc]
        sid = self.sid_of["orderbook_delta"]
        seq = self._next_seq(sid)
        if skip:
            return
        await self.send(
            {
                "type": "orderbook_delta",
                "sid": sid,
                "seq": seq,
                "msg": {
                    "market_ticker": ticker,
                    "market_id": "mid",
                    "side": side,
                    "price_dollars": format_dollars(price_cc),
                    "delta_fp": format_count(delta),
                    "ts_ms": 1783551300500,
                },
            }
        )

    async def push(self, channel: str, typ: str, msg: dict[str, Any]) -> None:
        await self.send({"type": typ, "sid": self.sid_of[channel], "msg": msg})
