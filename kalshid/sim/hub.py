"""WebSocket fan-out: connections, subscriptions, per-sid ``seq`` and bounded outbound queues.

The engine's events are rendered once per event (JSON text of the ``msg`` body) and wrapped per
subscription with ``type``/``sid``/``seq``. Each connection has a bounded outbound channel; a
client that cannot keep up (its queue is full) is disconnected with close reason
``slow consumer`` — the engine never waits for a socket. ``seq`` is per subscription on the channels
whose AsyncAPI messages carry one (order book, trade, lifecycle, CF Benchmarks) and starts at 1; a
fault injector may skip order book numbers on purpose (``seq_gap_rate``), and send a ``fill`` or
``user_order`` again after the connection's next private message (``repeat_private_rate``).

Publishing is synchronous (``send_nowait``), so a subscribe's snapshot and the deltas after it
are in order without locks: everything runs on the one Trio thread.
"""

from __future__ import annotations

import itertools
import json
from collections.abc import Callable, Iterable
from typing import Any

import attrs
import trio

from kalshid.sim import wsmsg
from kalshid.sim.faults import FaultInjector
from kalshid.sim.model import (
    BookEvent,
    Event,
    FillEvent,
    LifecycleEvent,
    OrderEvent,
    PositionEvent,
    TickerEvent,
    TradeEvent,
)

SLOW_CONSUMER = "slow consumer: outbound queue full"
SEQ_CHANNELS = frozenset({"orderbook_delta", "trade", "market_lifecycle_v2", "cfbenchmarks_value"})
REPEATABLE = frozenset({"fill", "user_orders"})  # the private channels repeat_private_rate repeats on


@attrs.define
class Subscription:
    sid: int
    channel: str
    tickers: set[str] | None  # None: every market
    index_ids: set[str] = attrs.Factory(set)
    seq: int = 0
    use_yes_price: bool = False  # orderbook_delta: NO side in YES-leg pricing
    skip_ticker_ack: bool = False  # ``ok`` replies leave out the market list


class Connection:
    """One WebSocket client: its user, subscriptions and bounded outbound queue of JSON texts."""

    def __init__(self, conn_id: int, user_id: str, queue_size: int) -> None:
        self.conn_id = conn_id
        self.user_id = user_id
        self.subs: dict[int, Subscription] = {}
        self._next_sid = itertools.count(1)
        self.send_channel, self.receive_channel = trio.open_memory_channel[str](queue_size)
        self.close_reason: str | None = None
        self.sent = 0
        self.repeats: list[str] = []  # private messages to send again after the next one (a fault)

    def new_sid(self) -> int:
        return next(self._next_sid)

    def offer(self, text: str) -> bool:
        """Queue a message; on overflow close the queue with :data:`SLOW_CONSUMER`. False if dropped."""
        if self.close_reason is not None:
            return False
        try:
            self.send_channel.send_nowait(text)
        except trio.WouldBlock:
            self.close(SLOW_CONSUMER)
            return False
        except (trio.BrokenResourceError, trio.ClosedResourceError):
            self.close("connection closed")
            return False
        self.sent += 1
        return True

    def close(self, reason: str) -> None:
        if self.close_reason is None:
            self.close_reason = reason
        self.send_channel.close()


def envelope(kind: str, sid: int, body_json: str, seq: int | None = None) -> str:
    seq_part = f',"seq":{seq}' if seq is not None else ""
    return f'{{"type":"{kind}","sid":{sid}{seq_part},"msg":{body_json}}}'


def dumps(obj: Any) -> str:
    return json.dumps(obj, separators=(",", ":"))


class Hub:
    """All live connections. ``publish`` fans one engine event out; never blocks."""

    def __init__(
        self,
        *,
        queue_size: int = 1000,
        faults: FaultInjector | None = None,
        now: Callable[[], float] = lambda: 0.0,
    ) -> None:
        self.queue_size = queue_size
        self.faults = faults
        self._now = now
        self.connections: dict[int, Connection] = {}
        self._ids = itertools.count(1)
        self.published = 0

    def connect(self, user_id: str) -> Connection:
        conn = Connection(next(self._ids), user_id, self.queue_size)
        self.connections[conn.conn_id] = conn
        return conn

    def disconnect(self, conn: Connection) -> None:
        self.connections.pop(conn.conn_id, None)
        conn.close(conn.close_reason or "closed")
        if self.faults is not None:
            self.faults.forget(conn.conn_id)

    def close_all(self, reason: str = "server shutting down") -> None:
        for conn in list(self.connections.values()):
            conn.close(reason)

    def next_seq(self, sub: Subscription, *, may_skip: bool = True) -> int:
        """The subscription's next ``seq``; the fault injector may skip one (never on a snapshot)."""
        sub.seq += 1
        if (
            may_skip
            and self.faults is not None
            and self.faults.skip_seq(now=self._now(), detail=f"sid={sub.sid}")
        ):
            sub.seq += 1
        return sub.seq

    def _fan(
        self,
        channel: str,
        kind: str,
        body: dict[str, Any],
        ticker: str | None,
        user_id: str | None = None,
    ) -> None:
        body_json: str | None = None
        for conn in list(self.connections.values()):
            if user_id is not None and conn.user_id != user_id:
                continue
            for sub in list(conn.subs.values()):
                if sub.channel != channel or (sub.tickers is not None and ticker not in sub.tickers):
                    continue
                if body_json is None:
                    body_json = dumps(body)
                seq = self.next_seq(sub, may_skip=False) if channel in SEQ_CHANNELS else None
                text = envelope(kind, sub.sid, body_json, seq)
                conn.offer(text)
                self.published += 1
                if channel in REPEATABLE:
                    self._repeat_later(conn, text, f"{kind} conn={conn.conn_id}")

    def _repeat_later(self, conn: Connection, text: str, detail: str) -> None:
        """After a private message: send the ones held back for a repeat, then maybe hold this one."""
        held, conn.repeats = conn.repeats, []
        for old in held:
            conn.offer(old)
        if self.faults is not None and self.faults.repeat_private(now=self._now(), detail=detail):
            conn.repeats.append(text)

    def publish_all(self, events: Iterable[Event]) -> None:
        for event in events:
            self.publish(event)

    def publish(self, event: Event) -> None:
        if isinstance(event, BookEvent):
            d = event.delta
            # the resting order's owner sees its client_order_id; others do not
            texts: dict[tuple[bool, bool], str] = {}
            for conn in list(self.connections.values()):
                subs = [
                    s
                    for s in conn.subs.values()
                    if s.channel == "orderbook_delta" and s.tickers is not None and event.ticker in s.tickers
                ]
                if not subs:
                    continue
                own = event.client_order_id is not None and event.user_id == conn.user_id
                coid = event.client_order_id if own else None
                for sub in subs:
                    key = (own, sub.use_yes_price)
                    text = texts.get(key)
                    if text is None:
                        body = wsmsg.delta(
                            event.ticker, d.book_side, d.price_cc, d.delta, event.ts, coid, sub.use_yes_price
                        )
                        text = texts[key] = dumps(body)
                    conn.offer(envelope("orderbook_delta", sub.sid, text, self.next_seq(sub)))
                    self.published += 1
        elif isinstance(event, TickerEvent):
            self._fan(
                "ticker",
                "ticker",
                wsmsg.ticker(
                    event.market,
                    event.yes_bid_cc,
                    event.yes_ask_cc,
                    event.yes_bid_size,
                    event.yes_ask_size,
                    event.ts,
                ),
                event.market.ticker,
            )
        elif isinstance(event, TradeEvent):
            self._fan("trade", "trade", wsmsg.trade(event.trade), event.trade.ticker)
        elif isinstance(event, FillEvent):
            self._fan("fill", "fill", wsmsg.fill(event.fill), event.fill.ticker, event.fill.user_id)
        elif isinstance(event, OrderEvent):
            self._fan(
                "user_orders",
                "user_order",
                wsmsg.user_order(event.order),
                event.order.ticker,
                event.order.user_id,
            )
        elif isinstance(event, PositionEvent):
            self._fan(
                "market_positions",
                "market_position",
                wsmsg.market_position(event.position),
                event.position.ticker,
                event.position.user_id,
            )
        elif isinstance(event, LifecycleEvent):
            self._fan("market_lifecycle_v2", "market_lifecycle_v2", wsmsg.lifecycle(event), None)

    def publish_index(self, index_id: str, body: dict[str, Any]) -> None:
        body_json = dumps(body)
        for conn in list(self.connections.values()):
            for sub in list(conn.subs.values()):
                if sub.channel == "cfbenchmarks_value" and wsmsg.tracks_index(sub.index_ids, index_id):
                    conn.offer(envelope("cfbenchmarks_value", sub.sid, body_json, self.next_seq(sub, may_skip=False)))
                    self.published += 1
