"""Fan-out of daemon events to WebSocket clients without ever blocking the publisher.

The pipeline calls `Broadcaster.publish` (synchronous, never awaits, never blocks). Each event is
encoded to JSON text once and offered to every subscriber's own bounded queue with ``send_nowait``. A
subscriber whose queue is full is *evicted*: its queue is closed and its `Subscription.overflowed` event
is set, so its consumer (a WebSocket handler) can disconnect the slow client with a reason. A slow
client therefore costs at most its own queue, and can never slow trading (trio-websocket's
backpressure advice: visible, bounded, never an unbounded queue).

Wire shape of an event: ``{"type": <one of EVENT_TYPES>, "data": {...}, "ts": "<ISO-8601 UTC>"}``.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Callable, Mapping
from datetime import UTC, datetime
from typing import Any, Final

import attrs
import trio

EVENT_TYPES: Final = frozenset(
    {
        "status_update",
        "trading_signal",
        "trade_execution",
        "alert",
        "order_update",
        "position_update",
        "market_update",
    }
)


def utc_now_iso() -> str:
    """Current time as ISO-8601 UTC with milliseconds, e.g. ``2024-10-01T12:00:00.123Z``."""
    return datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def encode_event(event: Mapping[str, Any], now: Callable[[], str] = utc_now_iso) -> str:
    """Validate an event and encode it as compact JSON text, adding ``ts`` if absent.

    Raises ValueError for an unknown ``type`` or a ``data`` that is not a mapping, and TypeError for data
    that is not JSON-able: those are programming errors in the publisher, so they surface loudly.
    """
    event_type = event.get("type")
    if event_type not in EVENT_TYPES:
        raise ValueError(f"event type must be one of {sorted(EVENT_TYPES)}, got {event_type!r}")
    data = event.get("data", {})
    if not isinstance(data, Mapping):
        raise ValueError(f"event data must be a mapping, got {type(data).__name__}")
    ts = event.get("ts") or now()
    return json.dumps({"type": event_type, "data": dict(data), "ts": ts}, separators=(",", ":"))


@attrs.define(eq=False)
class Subscription:
    """One consumer's bounded queue of encoded events.

    Iterate it (``async for text in sub``) to receive events. Iteration ends when the broadcaster
    closes (shutdown) or evicts this subscriber; check `overflowed` to tell which. Close it (or use it as
    an async context manager) when the consumer goes away so the broadcaster forgets it.
    """

    _receive: trio.MemoryReceiveChannel[str]
    _broadcaster: Broadcaster
    overflowed: trio.Event = attrs.field(factory=trio.Event)

    def __aiter__(self) -> AsyncIterator[str]:
        return self._receive.__aiter__()

    async def receive(self) -> str:
        return await self._receive.receive()

    def close(self) -> None:
        self._broadcaster._forget(self)
        self._receive.close()

    async def __aenter__(self) -> Subscription:
        return self

    async def __aexit__(self, *exc: object) -> None:
        self.close()


@attrs.frozen
class BroadcasterStatistics:
    subscribers: int
    published: int
    evicted: int
    closed: bool


class Broadcaster:
    """Publishes events to any number of subscribers, each with its own bounded queue.

    ``publish`` is safe to call from any Trio task (it is synchronous). After `close`, ``publish`` drops
    events silently (the daemon is shutting down) and ``subscribe`` returns an already-ended
    subscription.
    """

    def __init__(self, *, now: Callable[[], str] = utc_now_iso) -> None:
        self._subs: dict[Subscription, trio.MemorySendChannel[str]] = {}
        self._now = now
        self._closed = False
        self._published = 0
        self._evicted = 0

    def subscribe(self, queue_size: int) -> Subscription:
        """A new subscriber with room for ``queue_size`` undelivered events (≥ 1)."""
        if queue_size < 1:
            raise ValueError(f"queue_size must be >= 1, got {queue_size}")
        send, receive = trio.open_memory_channel[str](queue_size)
        sub = Subscription(receive, self)
        if self._closed:
            send.close()
        else:
            self._subs[sub] = send
        return sub

    def publish(self, event: Mapping[str, Any]) -> None:
        """Offer an event to every subscriber; evicts any whose queue is full. Never blocks.

        Raises ValueError/TypeError for a malformed event (see `encode_event`), even with no subscribers,
        so publisher bugs show up in tests rather than only when a client is connected.
        """
        text = encode_event(event, self._now)
        if self._closed:
            return
        self._published += 1
        for sub, send in list(self._subs.items()):
            try:
                send.send_nowait(text)
            except trio.WouldBlock:
                self._evict(sub)
            except (trio.BrokenResourceError, trio.ClosedResourceError):
                self._forget(sub)

    def close(self) -> None:
        """End every subscription (their ``async for`` loops finish) and refuse new events."""
        self._closed = True
        for send in self._subs.values():
            send.close()
        self._subs.clear()

    def statistics(self) -> BroadcasterStatistics:
        return BroadcasterStatistics(len(self._subs), self._published, self._evicted, self._closed)

    def _evict(self, sub: Subscription) -> None:
        self._evicted += 1
        sub.overflowed.set()
        self._forget(sub)

    def _forget(self, sub: Subscription) -> None:
        send = self._subs.pop(sub, None)
        if send is not None:
            send.close()
