"""OrderPath: when the order path is busy, and that waiting for it to clear ends when it clears."""

from __future__ import annotations

import pytest
import trio
import trio.testing

from kalshid.control.broadcaster import OrderPath


def test_poll_interval_must_be_positive() -> None:
    with pytest.raises(ValueError, match="poll_s must be > 0"):
        OrderPath(poll_s=0)


async def test_a_hold_keeps_the_path_busy_and_its_release_clears_it_at_once() -> None:
    path = OrderPath(poll_s=60)  # a release must not wait for a poll
    cleared: list[float] = []

    async def waiter() -> None:
        await path.wait_clear()
        cleared.append(trio.current_time())

    with trio.fail_after(5):
        async with trio.open_nursery() as nursery:
            with path.hold(), path.hold():
                assert path.busy()
                nursery.start_soon(waiter)
                await trio.testing.wait_all_tasks_blocked()
                assert cleared == []
            assert not path.busy()
    assert len(cleared) == 1


async def test_every_waiter_of_a_hold_is_woken_by_its_release() -> None:
    # the recorder link and the dashboard's delivery both wait for the path; the second to arrive during
    # a hold must not strand the first (which would stop recording for good)
    path = OrderPath(poll_s=60)
    cleared: list[str] = []

    async def waiter(name: str) -> None:
        await path.wait_clear()
        cleared.append(name)

    with trio.fail_after(5):
        async with trio.open_nursery() as nursery:
            with path.hold():
                nursery.start_soon(waiter, "recorder")
                await trio.testing.wait_all_tasks_blocked()
                nursery.start_soon(waiter, "dashboard")
                await trio.testing.wait_all_tasks_blocked()
                assert cleared == []
            # the next hold, after both were released: a waiter arriving now waits for its release only
            await trio.testing.wait_all_tasks_blocked()
            assert sorted(cleared) == ["dashboard", "recorder"]
            with path.hold():
                nursery.start_soon(waiter, "later")
                await trio.testing.wait_all_tasks_blocked()
                assert sorted(cleared) == ["dashboard", "recorder"]
    assert sorted(cleared) == ["dashboard", "later", "recorder"]


async def test_a_stage_with_messages_waiting_or_at_work_is_busy(autojump_clock: trio.abc.Clock) -> None:
    path = OrderPath(poll_s=0.001)
    send, inbox = trio.open_memory_channel[int](4)
    path.watch(inbox)
    assert path.busy()  # producers, and nobody waiting to receive: the stage is at work (or not started)
    got: list[int] = []

    async def stage() -> None:
        async for item in inbox:
            got.append(item)
            await trio.sleep(1.0)  # working on it

    async with trio.open_nursery() as nursery:
        nursery.start_soon(stage)
        await trio.testing.wait_all_tasks_blocked()
        assert not path.busy()  # waiting for its next message
        send.send_nowait(1)
        send.send_nowait(2)
        assert path.busy()  # messages waiting
        start = trio.current_time()
        await path.wait_clear()
        assert got == [1, 2] and trio.current_time() - start == pytest.approx(2.0, abs=0.01)
        send.close()
    assert not path.busy()  # no producers, nothing waiting: finished

