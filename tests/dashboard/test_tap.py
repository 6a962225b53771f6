"""In-process event consumers: a slow one is evicted and resubscribes; the publisher never waits."""

from __future__ import annotations

from typing import Any

import trio
import trio.testing

from kalshid.control.broadcaster import Broadcaster
from kalshid.control.tap import client_subscribers, follow_events


async def test_a_consumer_that_falls_behind_resubscribes_and_ends_with_the_broadcaster() -> None:
    broadcaster = Broadcaster()
    seen: list[int] = []

    def on_event(event: dict[str, Any]) -> None:
        seen.append(event["data"]["n"])

    async with trio.open_nursery() as nursery:
        done = trio.Event()

        async def run() -> None:
            await follow_events(broadcaster, on_event, queue_size=2, name="test consumer")
            done.set()

        nursery.start_soon(run)
        await trio.testing.wait_all_tasks_blocked()
        client = broadcaster.subscribe(10)
        assert broadcaster.statistics().subscribers == 2 and client_subscribers(broadcaster) == 1
        client.close()
        assert client_subscribers(broadcaster) == 0
        for n in range(5):  # all at once: the consumer's queue of 2 overflows and it is evicted
            broadcaster.publish({"type": "status_update", "data": {"n": n}})
        await trio.testing.wait_all_tasks_blocked()
        assert broadcaster.statistics().evicted == 1 and broadcaster.statistics().subscribers == 1
        broadcaster.publish({"type": "status_update", "data": {"n": 99}})
        await trio.testing.wait_all_tasks_blocked()
        broadcaster.close()
        with trio.fail_after(5):
            await done.wait()
    # what was queued before the eviction, in order; the overflow lost; then events after resubscribing
    assert seen[-1] == 99 and seen[:-1] == list(range(len(seen) - 1)) and len(seen) < 6
