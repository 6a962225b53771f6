"""Reading the daemon's event stream from inside the daemon, off the trading path.

`follow_events` gives an in-process consumer (the decision tracker, the alert service) its own
broadcaster subscription, decoded: the broadcaster never waits for it, and if it falls behind it is
evicted and resubscribes (losing the events in between, never delaying an order).
"""

from __future__ import annotations

import json
import logging
import weakref
from collections.abc import Callable
from typing import Any

import trio

from kalshid.control.broadcaster import Broadcaster

log = logging.getLogger("kalshid.control.tap")

_INTERNAL: weakref.WeakKeyDictionary[Broadcaster, int] = weakref.WeakKeyDictionary()


def client_subscribers(broadcaster: Broadcaster) -> int:
    """Subscribers that are not in-process consumers (i.e. WebSocket clients)."""
    return max(0, broadcaster.statistics().subscribers - _INTERNAL.get(broadcaster, 0))


async def follow_events(broadcaster: Broadcaster, on_event: Callable[[dict[str, Any]], None], *,
                        queue_size: int, name: str) -> None:
    """Call ``on_event`` with each event (a dict) until the broadcaster closes."""
    while not broadcaster.statistics().closed:
        sub = broadcaster.subscribe(queue_size)
        _INTERNAL[broadcaster] = _INTERNAL.get(broadcaster, 0) + 1
        try:
            async for text in sub:
                try:
                    event = json.loads(text)
                except ValueError:
                    continue
                if isinstance(event, dict):
                    on_event(event)
        finally:
            sub.close()
            _INTERNAL[broadcaster] -= 1
        if not sub.overflowed.is_set():
            return
        log.warning("%s fell behind the event stream; resubscribing", name)
        await trio.lowlevel.checkpoint()
