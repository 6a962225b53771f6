"""WriteBehind: queued journal writes, in order, never lost silently, failures loud."""

from __future__ import annotations

import pytest
import trio
import trio.testing

from kalshid.trading.writebehind import WriteBehind


class Journal:
    """Records writes; a write can be held until released."""

    def __init__(self) -> None:
        self.written: list[str] = []
        self.gate: trio.Event | None = None
        self.fail: str | None = None

    def write(self, name: str):  # type: ignore[no-untyped-def]
        async def go() -> None:
            if self.gate is not None:
                await self.gate.wait()
            if name == self.fail:
                raise OSError(f"disk full writing {name}")
            self.written.append(name)
        return go


async def test_later_returns_at_once_and_writes_in_order() -> None:
    j, wb = Journal(), WriteBehind(buffer=8)
    j.gate = trio.Event()
    async with trio.open_nursery() as nursery:
        await nursery.start(wb.run)
        with trio.fail_after(1):
            for i in range(5):
                await wb.later("row", j.write(f"r{i}"))  # the writer is held: these only queue
        assert j.written == [] and wb.queued >= 4
        j.gate.set()
        await trio.testing.wait_all_tasks_blocked()
        assert j.written == [f"r{i}" for i in range(5)] and wb.written == 5
        nursery.cancel_scope.cancel()


async def test_now_waits_for_everything_queued_before_it() -> None:
    j, wb = Journal(), WriteBehind()
    async with trio.open_nursery() as nursery:
        await nursery.start(wb.run)
        j.gate = trio.Event()
        await wb.later("equity", j.write("equity"))
        done = trio.Event()

        async def breaker() -> None:
            await wb.now("breaker", j.write("breaker"))
            done.set()

        nursery.start_soon(breaker)
        await trio.testing.wait_all_tasks_blocked()
        assert not done.is_set()  # held behind the queued equity write
        j.gate.set()
        with trio.fail_after(1):
            await done.wait()
        assert j.written == ["equity", "breaker"]
        nursery.cancel_scope.cancel()


async def test_without_a_running_writer_a_write_is_awaited_in_place() -> None:
    j, wb = Journal(), WriteBehind()
    await wb.later("row", j.write("a"))
    await wb.now("row", j.write("b"))
    assert j.written == ["a", "b"]


async def test_a_failed_write_fails_the_writer_and_the_waiter() -> None:
    j, wb = Journal(), WriteBehind()
    j.fail = "bad"
    with pytest.raises(BaseExceptionGroup) as info:
        async with trio.open_nursery() as nursery:
            await nursery.start(wb.run)

            async def waiter() -> None:
                with pytest.raises(RuntimeError, match="journal write failed: breaker"):
                    await wb.now("breaker", j.write("bad"))

            nursery.start_soon(waiter)
    assert info.group_contains(OSError, match="disk full writing bad")


async def test_cancellation_writes_what_is_queued_first() -> None:
    j, wb = Journal(), WriteBehind()
    j.gate = trio.Event()
    async with trio.open_nursery() as nursery:
        await nursery.start(wb.run)
        for i in range(3):
            await wb.later("row", j.write(f"r{i}"))
        await trio.testing.wait_all_tasks_blocked()
        j.gate.set()  # the journal answers again, but the stage is being shut down
        nursery.cancel_scope.cancel()
    assert j.written == ["r0", "r1", "r2"] and wb.lost == 0


async def test_writes_that_cannot_be_made_at_shutdown_are_counted(autojump_clock: trio.abc.Clock) -> None:
    j, wb = Journal(), WriteBehind(drain_s=1.0)
    j.gate = trio.Event()  # never released: the journal is stuck
    async with trio.open_nursery() as nursery:
        await nursery.start(wb.run)
        for i in range(3):
            await wb.later("row", j.write(f"r{i}"))
        await trio.testing.wait_all_tasks_blocked()
        nursery.cancel_scope.cancel()
    assert j.written == [] and wb.lost == 3  # given up after drain_s, and said so
