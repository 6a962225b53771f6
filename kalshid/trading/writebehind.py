"""Journal writes a stage hands off instead of waiting for them (write-behind), in order.

Every journal call is a hop to the journal's worker thread, behind whatever the journal is already
doing (an order's SQLite commit and its ``fsync``, a compaction). The risk stage is on every order's
path: while it waited for an equity snapshot after a fill, the next tick's proposal sat in its inbox
for as long as the helper thread took to be scheduled, ~10-20 ms in the tick-to-order bench when
the helper's CPU was busy. Risk now *queues* the records nothing has to wait for (equity snapshots,
rejected signals and their verdicts) to a task of its own that writes them in order, and waits only
for breaker transitions, which must be on disk before trading goes on (a restart reads them back).

Failure stays loud: a write that fails fails the writer's task, and with it the stage and the daemon,
as an awaited write did. On cancellation (shutdown) the writer still writes what is queued, shielded
and bounded by ``drain_s``; what cannot be written then (the journal already closed) is logged with
its count, never dropped silently. The queue is bounded: a journal that cannot keep up slows the
stage (back-pressure), never grows memory.

Why not the journal's own deferred list (``Journal.record_decision``'s pending decisions, written by
the next journal call): those are already durable in the intent log, and written by whichever call
comes next. These records are not, so they need a task that writes them even when no other call
comes, and whose failure is the stage's, not that of an unrelated caller's.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

import attrs
import trio

from kalshid.logs import get_logger

log = get_logger("kalshid.writebehind")

Write = Callable[[], Awaitable[Any]]


@attrs.define
class _Job:
    what: str
    write: Write
    done: trio.Event | None = None
    error: BaseException | None = None


class WriteBehind:
    """A bounded queue of journal writes and the task (:meth:`run`) that performs them in order."""

    def __init__(self, buffer: int = 256, drain_s: float = 2.0) -> None:
        if buffer < 1 or drain_s < 0:
            raise ValueError(f"buffer >= 1 and drain_s >= 0, got {buffer}, {drain_s}")
        self._send, self._receive = trio.open_memory_channel[_Job](buffer)
        self._drain_s = drain_s
        self._running = False
        self.written = 0
        self.lost = 0

    @property
    def queued(self) -> int:
        return self._receive.statistics().current_buffer_used

    async def later(self, what: str, write: Write) -> None:
        """Queue ``write`` (waits only while the queue is full). Without a running writer it is
        awaited here, as before: nothing is ever queued that no task will write."""
        if not self._running:
            await write()
            return
        await self._send.send(_Job(what, write))

    async def now(self, what: str, write: Write) -> None:
        """Queue ``write`` behind everything queued and wait until it is written; its error is raised
        here too (the writer task fails as well)."""
        if not self._running:
            await write()
            return
        job = _Job(what, write, trio.Event())
        await self._send.send(job)
        assert job.done is not None
        await job.done.wait()
        if job.error is not None:
            raise RuntimeError(f"journal write failed: {what}") from job.error

    async def run(self, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        """Write queued jobs in order until cancelled; then write what is left (shielded, bounded)."""
        self._running = True
        task_status.started()
        current: _Job | None = None
        try:
            async for job in self._receive:
                current = job
                await self._do(job)
                current = None
        finally:
            self._running = False
            with trio.CancelScope(shield=True):
                # a job cancelled mid-way never reached the journal's thread (a call that did is
                # finished by the journal, not abandoned): it goes first
                await self._drain([] if current is None or current.error is not None else [current])

    async def _do(self, job: _Job) -> None:
        try:
            await job.write()
        except trio.Cancelled:
            raise  # not done: the drain writes it
        except BaseException as exc:
            job.error = exc
            if job.done is not None:
                job.done.set()
            raise
        self.written += 1
        if job.done is not None:
            job.done.set()

    async def _drain(self, left: list[_Job]) -> None:
        while True:
            try:
                left.append(self._receive.receive_nowait())
            except (trio.WouldBlock, trio.EndOfChannel, trio.ClosedResourceError):
                break
        failed = 0
        with trio.move_on_after(self._drain_s):
            while left:
                try:
                    await self._do(left[0])
                except Exception as exc:  # the journal is gone (closed, failing): say which
                    log.error("journal write failed at shutdown", what=left[0].what, error=str(exc))
                    failed += 1
                left.pop(0)
        for job in left:  # not reached within drain_s: no waiter may hang on them
            if job.done is not None:
                job.done.set()
        if failed or left:
            self.lost += failed + len(left)
            log.error("journal writes lost at shutdown", lost=failed + len(left),
                      unwritten=sorted({job.what for job in left}))
