"""Fan-out of daemon events to WebSocket clients without ever blocking the publisher.

The pipeline calls `Broadcaster.publish` (synchronous, never awaits, never blocks). Each event is
encoded to JSON text once and offered to every subscriber's own bounded queue with ``send_nowait``. A
subscriber whose queue is full is *evicted*: its queue is closed and its `Subscription.overflowed` event
is set, so its consumer (a WebSocket handler) can disconnect the slow client with a reason. A slow
client therefore costs at most its own queue, and can never slow trading (trio-websocket's
backpressure advice: visible, bounded, never an unbounded queue).

Delivery yields to trading. Without a delivery task, ``publish`` offers the event to every queue at
once. With `Broadcaster.run` running (the daemon starts it beside the API server), ``publish`` only
appends the encoded event to a pending list, and the delivery task moves pending events to the
subscriber queues a few subscribers at a time (``chunk``), each time the order path is clear
(:class:`OrderPath`: no order being placed, every trading stage waiting for its next message), or
``max_defer_s`` has passed. Each subscriber woken is a WebSocket send of ~80 µs of Python per event, so
100 clients woken at once would put several milliseconds of sends in front of the order that caused the
event. A subscriber still gets every event, in order; events pile up in the pending list only while the
order path is busy, and past ``max_pending`` they are delivered at once, as without a delivery task.

Chunks are small (2 subscribers) because each subscriber woken sends everything queued for it, a
send per scheduler pass, and every hop of a tick's way to an order (feed, strategy, risk, execution)
runs in some pass: with chunks of eight a hop could wait behind eight sends, ~0.6 ms with 100 clients
connected. No new chunk starts until the order path is clear again and the scheduler has run what was
runnable, so about two sends share a pass with trading. Two finer-grained designs evict clients (see
docs/performance.md): a global turn held for a whole send (one client whose socket is full holds up
everyone's sends until their queues overflow and all are evicted), and a turn per send granted once per
scheduler pass (delivery falls below the event rate of 100 clients × ~15 events/s when the loop is
busy, with the same result).

Wire shape of an event: ``{"type": <one of EVENT_TYPES>, "data": {...}, "ts": "<ISO-8601 UTC>"}``.
"""

from __future__ import annotations

import contextlib
import json
from collections import deque
from collections.abc import AsyncIterator, Callable, Iterator, Mapping
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
        "audit",  # an operator action (kalshid.daemon.audit)
        "risk_rejection",  # a signal risk refused: counted, shown, never an alert
        "notice",  # any other info-level notice
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

    def receive_waiting(self, limit: int) -> list[str]:
        """Up to ``limit`` events already queued, without waiting (none if the queue is empty or ended):
        a consumer that has just received one takes the rest of a burst in the same scheduler step."""
        taken: list[str] = []
        try:
            while len(taken) < limit:
                taken.append(self._receive.receive_nowait())
        except (trio.WouldBlock, trio.EndOfChannel, trio.ClosedResourceError):
            pass
        return taken

    def close(self) -> None:
        self._broadcaster._forget(self)
        self._receive.close()

    async def __aenter__(self) -> Subscription:
        return self

    async def __aexit__(self, *exc: object) -> None:
        self.close()


class OrderPath:
    """Whether the order path is busy: the priority that work which must give way to trading (the
    dashboard's delivery) waits on.

    The path is busy while a placement holds it (:meth:`hold`: execution holds it from the decision
    until the order's answer, so the journal write on a worker thread, during which the loop looks
    idle, is covered), or while a stage inbox it watches (:meth:`watch`) has messages waiting, or has
    producers but no task waiting to receive (its stage is working on a message). :meth:`wait_clear`
    returns once none is the case; a release wakes it at once, a working stage is polled every
    ``poll_s``.
    """

    def __init__(self, *, poll_s: float = 0.001) -> None:
        if poll_s <= 0:
            raise ValueError(f"poll_s must be > 0, got {poll_s}")
        self._poll_s = poll_s
        self._inboxes: list[trio.MemoryReceiveChannel[Any]] = []
        self._holds = 0
        self._released = trio.Event()

    def watch(self, inbox: trio.MemoryReceiveChannel[Any]) -> None:
        """Count ``inbox``'s stage as part of the order path."""
        self._inboxes.append(inbox)

    @contextlib.contextmanager
    def hold(self) -> Iterator[None]:
        """The path is busy inside the block (holds nest and may overlap)."""
        self._holds += 1
        try:
            yield
        finally:
            self._holds -= 1
            if not self._holds:
                self._released.set()

    def busy(self) -> bool:
        if self._holds:
            return True
        for inbox in self._inboxes:
            stats = inbox.statistics()
            if stats.current_buffer_used or (stats.open_send_channels and not stats.tasks_waiting_receive):
                return True
        return False

    async def wait_clear(self) -> None:
        """Until the path is clear, checked again one scheduler pass later (the tasks runnable meanwhile,
        e.g. the one a feed message just woke, get their turn and may make it busy)."""
        while True:
            if self._holds:
                # one event per hold: every waiter of this hold waits on it (a new one only once the
                # last was set, else a second waiter would strand the first on an event never set)
                if self._released.is_set():
                    self._released = trio.Event()
                await self._released.wait()
            elif self.busy():
                await trio.sleep(self._poll_s)
            else:
                await trio.lowlevel.checkpoint()
                if not self.busy():
                    return


@attrs.frozen
class BroadcasterStatistics:
    subscribers: int
    published: int
    evicted: int
    closed: bool
    pending: int = 0  # published, not yet offered to every subscriber (the loop has been busy)


class Broadcaster:
    """Publishes events to any number of subscribers, each with its own bounded queue.

    ``publish`` is safe to call from any Trio task (it is synchronous). After `close`, ``publish`` drops
    events silently (the daemon is shutting down) and ``subscribe`` returns an already-ended
    subscription.
    """

    def __init__(self, *, now: Callable[[], str] = utc_now_iso, chunk: int = 2, max_defer_s: float = 0.05,
                 max_pending: int = 10_000, order_path: OrderPath | None = None) -> None:
        if chunk < 1 or max_defer_s < 0 or max_pending < 1:
            raise ValueError(f"chunk >= 1, max_defer_s >= 0, max_pending >= 1: got {chunk}, {max_defer_s},"
                             f" {max_pending}")
        self._subs: dict[Subscription, trio.MemorySendChannel[str]] = {}
        self._now = now
        self._closed = False
        self._published = 0
        self._evicted = 0
        self._chunk = chunk
        self._max_defer_s = max_defer_s
        self._max_pending = max_pending
        self._deferring = False  # run() is delivering
        self._pending: deque[str] = deque()
        # events taken from _pending and the subscribers not yet offered them
        self._batch: tuple[list[str], list[tuple[Subscription, trio.MemorySendChannel[str]]]] | None = None
        self._wake = trio.Event()
        self.order_path = order_path or OrderPath()

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
        if not self._subs:
            return
        if not self._deferring:
            self._offer([text], list(self._subs.items()))
            return
        self._pending.append(text)
        if len(self._pending) > self._max_pending:
            self._flush()  # the loop has been busy for a long time: deliver now rather than hold more
        else:
            self._wake.set()

    def _offer(self, texts: list[str], subs: list[tuple[Subscription, trio.MemorySendChannel[str]]]) -> None:
        for sub, send in subs:
            if sub not in self._subs:
                continue  # evicted or closed since the snapshot
            try:
                for text in texts:
                    send.send_nowait(text)
            except trio.WouldBlock:
                self._evict(sub)
            except (trio.BrokenResourceError, trio.ClosedResourceError):
                self._forget(sub)

    def _flush(self) -> None:
        """Offer everything not yet offered, now: the batch being delivered, then the pending events."""
        if self._batch is not None:
            texts, subs = self._batch
            self._batch = None
            self._offer(texts, subs)
        texts = list(self._pending)
        self._pending.clear()
        if texts:
            self._offer(texts, list(self._subs.items()))

    async def run(self) -> None:
        """Deliver published events until cancelled (see the module docstring); then back to delivering
        on ``publish``, with anything still undelivered delivered first."""
        self._deferring = True
        try:
            while not self._closed:
                if not self._pending:
                    self._wake = trio.Event()
                    await self._wake.wait()
                    continue
                self._batch = (list(self._pending), list(self._subs.items()))
                self._pending.clear()
                while self._batch is not None and self._batch[1]:
                    with trio.move_on_after(self._max_defer_s):
                        await self.order_path.wait_clear()
                    if self._batch is None:
                        break  # a flush (max_pending) delivered it meanwhile
                    texts, subs = self._batch
                    self._batch = (texts, subs[self._chunk:])
                    self._offer(texts, subs[:self._chunk])
                self._batch = None
        finally:
            self._deferring = False
            self._flush()

    def hold(self) -> contextlib.AbstractContextManager[None]:
        """Delivery waits while any hold is in place (at most ``max_defer_s`` per chunk):
        :meth:`OrderPath.hold` of :attr:`order_path`."""
        return self.order_path.hold()

    def close(self) -> None:
        """End every subscription (their ``async for`` loops finish) and refuse new events; events still
        pending are delivered first."""
        self._flush()
        self._closed = True
        self._wake.set()
        for send in self._subs.values():
            send.close()
        self._subs.clear()

    def statistics(self) -> BroadcasterStatistics:
        return BroadcasterStatistics(len(self._subs), self._published, self._evicted, self._closed,
                                     len(self._pending) + (len(self._batch[0]) if self._batch else 0))

    def _evict(self, sub: Subscription) -> None:
        self._evicted += 1
        sub.overflowed.set()
        self._forget(sub)

    def _forget(self, sub: Subscription) -> None:
        send = self._subs.pop(sub, None)
        if send is not None:
            send.close()
