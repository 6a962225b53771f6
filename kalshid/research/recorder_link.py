"""Recording inside the daemon without slowing it: the Parquet work runs in a child process.

**The trading path** calls :meth:`RecorderLink.offer` for each feed event: it appends the event and its
wall-clock receive time to the current batch (no encoding, no lock, no thread); beyond ``queue_size``
waiting events new ones are dropped and counted, so nothing the recorder does can hold up an order.

**Its own task**, :meth:`RecorderLink.run` (started in the feed's nursery, not on the order path),
ships the batch every ``batch_seconds``: pickled in slices of at most :data:`SLICE` events, each once
``give_way`` returns (the daemon passes its order path's ``wait_clear``: a slice is not pickled while
a tick is on its way to an order), or after :data:`GIVE_WAY_MAX` seconds of waiting for it (an order
path busy for that long must not stop the recording), and written as length-prefixed frames to the
stdin of the **recorder process** (:mod:`kalshid.research.recorder_main`), which encodes and writes
the Parquet files exactly as ``kalshid record`` does (:mod:`kalshid.research.recorder`).

**Crashes.** ``kill -9`` of the daemon closes the pipe: the recorder process writes everything it
received and exits, so what is lost is at most the last ``batch_seconds`` not yet shipped; finished
files are never touched again (written as ``*.tmp``, fsynced, renamed). A recorder process that dies
loses at most its last ``flush_seconds``. It dies with the daemon (end of input) and never outlives it.

**A dead recorder process is loud and restarted**: the link logs an error, calls ``on_exit`` (the
daemon raises an alert and counts it), and starts another after a back-off (1 s doubling to 30 s);
meanwhile events wait in the bounded batch. Trading never waits for any of it.

**The disk is kept for trading**: with ``min_free_bytes``, the link's task reads the free space of the
recordings' filesystem every :data:`DISK_CHECK_SECONDS`; below it, recording pauses (the trading path
counts the events it does not keep as ``skipped``, and nothing more is shipped), the link logs an
error and calls ``on_disk(False, free)``; once the space is 10 % above the threshold again it resumes,
logs how many events were not recorded and calls ``on_disk(True, free)``. The journal shares the
disk, and a journal that cannot be written stops the daemon: a full disk must not come from the
recordings.

**Dropped events are loud too**: the link's task notices new drops within :data:`WATCH_INTERVAL`; the
first of an episode logs a warning, every drop is passed to ``on_dropped`` (the daemon counts them in
a metric and raises an alert), and the end of the episode (the waiting batch back to half the queue
or less) logs how many were lost. :meth:`RecorderLink.statistics` is in the daemon's status.
"""

from __future__ import annotations

import pickle
import shutil
import subprocess
import sys
import time
from collections.abc import Awaitable, Callable
from pathlib import Path

import trio

from kalshid.logs import get_logger
from kalshid.research.recorder_main import HEADER

log = get_logger("kalshid.recorder")

SLICE = 16  # events pickled per step of the shipping task: a book takes ~20-40 µs, so a step holds the loop < 1 ms
BACKOFF_FIRST, BACKOFF_MAX = 1.0, 30.0
SEND_TIMEOUT = 10.0  # wall seconds a batch may take to enter the pipe before the recorder process is replaced
STABLE_SECONDS = 60.0  # a recorder process that lived this long resets the back-off
WATCH_INTERVAL = 0.1
GIVE_WAY_MAX = 1.0  # seconds a slice waits for the order path to clear before it is shipped anyway
FINISH_TIMEOUT = 30.0  # wall seconds the recorder process gets at shutdown to write what it holds
DISK_CHECK_SECONDS = 5.0  # wall seconds between reads of the recordings' free disk space
MIB = 1024 * 1024


def free_bytes(path: Path) -> int:
    """Bytes free to this user on the filesystem of ``path``, or of its nearest existing parent (the
    recordings' directory is made by the recorder process)."""
    while not path.exists() and path.parent != path:
        path = path.parent
    return shutil.disk_usage(path).free


class RecorderLink:
    """The daemon's end of the recorder process (module docstring). ``on_exit(returncode, detail)`` is
    called from the link's task each time the recorder process ends unasked; ``on_dropped(count,
    first)`` when it notices ``count`` more events dropped (``first``: the start of an episode).

    ``on_disk(recording, free)`` when recording pauses for lack of disk space (``recording`` false)
    and when it resumes, ``free`` the bytes free then; ``min_free_bytes`` 0 never pauses; ``free``
    reads a directory's free bytes (:func:`free_bytes`).

    ``virtual_clock``: the loop runs on a virtual test clock (``trio.testing.MockClock``); then the
    link waits for the recorder process with bare checkpoints instead of short timers (:meth:`_pause`)."""

    def __init__(self, root: Path, *, flush_seconds: float = 2.0, retention_days: float = 14.0,
                 queue_size: int = 65_536, batch_seconds: float = 0.25,
                 on_exit: Callable[[int | None, str], None] | None = None, virtual_clock: bool = False,
                 give_way: Callable[[], Awaitable[None]] | None = None,
                 on_dropped: Callable[[int, bool], None] | None = None, min_free_bytes: int = 0,
                 on_disk: Callable[[bool, int], None] | None = None,
                 free: Callable[[Path], int] = free_bytes) -> None:
        self.root = Path(root)
        self.flush_seconds = flush_seconds
        self.retention_days = retention_days
        self.queue_size = queue_size
        self.batch_seconds = batch_seconds
        self.on_exit = on_exit
        self.virtual_clock = virtual_clock
        self.give_way = give_way
        self.on_dropped = on_dropped
        self._batch: list[tuple[object, float]] = []
        self.offered = 0
        self.dropped = 0
        self.shipped = 0
        self.exits = 0
        self.pid: int | None = None
        self.last_exit: str | None = None
        self._sending_since: float | None = None
        self._dropped_seen = 0  # drops already reported
        self._episode_dropped = 0  # drops of the episode under way (0: none)
        self.min_free_bytes = min_free_bytes
        self.on_disk = on_disk
        self._free = free
        self.low_disk = False  # paused: the recordings' disk has less than min_free_bytes free
        self.skipped = 0  # events not kept while paused
        self._skipped_before = 0  # skipped when the pause under way began
        self.disk_free: int | None = None  # bytes free at the last read
        self._next_disk_check = 0.0

    # --- the trading side ---------------------------------------------------------------------
    def offer(self, event: object) -> None:
        """Keep ``event`` for the next shipment; O(1), never waits (beyond ``queue_size`` waiting
        events it is dropped and counted; while recording is paused for disk space, skipped and
        counted)."""
        self.offered += 1
        if self.low_disk:
            self.skipped += 1
        elif len(self._batch) < self.queue_size:
            self._batch.append((event, time.time()))
        else:
            self.dropped += 1

    def statistics(self) -> dict[str, object]:
        return {"dir": str(self.root), "offered": self.offered, "dropped": self.dropped,
                "shipped": self.shipped, "queued": len(self._batch), "dropping": self._episode_dropped > 0,
                "recorder_exits": self.exits, "recorder_pid": self.pid, "last_exit": self.last_exit,
                "paused_low_disk": self.low_disk, "skipped_low_disk": self.skipped,
                "disk_free_mb": None if self.disk_free is None else self.disk_free // MIB}

    def check_disk(self, now: float | None = None) -> None:
        """Pause or resume recording by the free disk space (module docstring); reads it at most every
        :data:`DISK_CHECK_SECONDS` of ``now`` (``time.monotonic``). Called from the link's task."""
        if not self.min_free_bytes:
            return
        now = time.monotonic() if now is None else now
        if now < self._next_disk_check:
            return
        self._next_disk_check = now + DISK_CHECK_SECONDS
        try:
            free = self.disk_free = self._free(self.root)
        except OSError as exc:  # unreadable: the state stands, and the next read may succeed
            log.warning("cannot read the recordings' free disk space", dir=str(self.root), error=str(exc))
            return
        if not self.low_disk and free < self.min_free_bytes:
            self.low_disk = True
            self._skipped_before = self.skipped
            log.error("recording paused: the recordings' disk is low on space; trading goes on",
                      dir=str(self.root), free_mb=free // MIB, min_free_mb=self.min_free_bytes // MIB)
        elif self.low_disk and free >= self.min_free_bytes + self.min_free_bytes // 10:
            self.low_disk = False
            log.warning("recording resumed: disk space is back", dir=str(self.root), free_mb=free // MIB,
                        not_recorded=self.skipped - self._skipped_before)
        else:
            return
        if self.on_disk is not None:
            try:
                self.on_disk(not self.low_disk, free)
            except Exception as exc:  # a failing alert must not stop the recording
                log.error("recorder disk callback failed", error=f"{type(exc).__name__}: {exc}")

    def check_drops(self) -> None:
        """Report drops not reported yet (module docstring); called from the link's task."""
        new = self.dropped - self._dropped_seen
        if new > 0:
            self._dropped_seen = self.dropped
            first = self._episode_dropped == 0
            self._episode_dropped += new
            if first:
                log.warning("recording is dropping events: the recorder is behind", dropped=new,
                            queued=len(self._batch), queue_size=self.queue_size)
            if self.on_dropped is not None:
                try:
                    self.on_dropped(new, first)
                except Exception as exc:  # a failing alert must not stop the recording
                    log.error("recorder drop callback failed", error=f"{type(exc).__name__}: {exc}")
        elif self._episode_dropped and len(self._batch) <= self.queue_size // 2:  # room again, with a margin
            log.warning("recording caught up", dropped=self._episode_dropped, total_dropped=self.dropped)
            self._episode_dropped = 0

    def command(self) -> list[str]:
        return [sys.executable, "-m", "kalshid.research.recorder_main", str(self.root),
                "--flush-seconds", repr(self.flush_seconds), "--retention-days", repr(self.retention_days),
                "--queue-size", str(self.queue_size)]

    # --- the shipping task ----------------------------------------------------------------------
    async def run(self, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        """Start the recorder process and ship batches to it until cancelled; then ship the rest,
        close its input and wait for it to finish writing. Never raises but ``Cancelled``."""
        backoff = BACKOFF_FIRST
        started = False
        proc: trio.Process | None = None
        try:
            while True:
                try:
                    proc = await trio.lowlevel.open_process(self.command(), stdin=subprocess.PIPE)
                except OSError as exc:
                    self._exited(None, f"could not start the recorder process: {exc}")
                else:
                    self.pid = proc.pid
                    log.info("recorder process started", pid=proc.pid, dir=str(self.root))
                    if not started:
                        started = True
                        task_status.started()
                    born = time.monotonic()
                    await self._ship_while_alive(proc)
                    code = await proc.wait()
                    self._exited(code, f"the recorder process {proc.pid} exited with status {code}")
                    if time.monotonic() - born >= STABLE_SECONDS:
                        backoff = BACKOFF_FIRST
                    proc = None
                if not started:
                    started = True
                    task_status.started()
                self.check_drops()
                await trio.sleep(backoff)
                backoff = min(2 * backoff, BACKOFF_MAX)
        finally:
            if proc is not None:
                with trio.CancelScope(shield=True):
                    await self._finish(proc)

    async def _ship_while_alive(self, proc: trio.Process) -> None:
        async with trio.open_nursery() as nursery:
            nursery.start_soon(self._watch, proc, None)
            while proc.poll() is None:
                await trio.sleep(self.batch_seconds)
                try:
                    await self._ship(proc, patient=True)
                except (trio.BrokenResourceError, trio.ClosedResourceError, BrokenPipeError):
                    if proc.poll() is None:  # alive but its input is broken: replace it
                        proc.kill()
                    break
            nursery.cancel_scope.cancel()

    async def _watch(self, proc: trio.Process, deadline: float | None) -> None:
        """Kill ``proc`` once a batch has waited ``SEND_TIMEOUT`` wall seconds to enter its pipe, or
        once ``deadline`` (``time.monotonic``) passes. Wall time, not Trio's: a test's virtual clock
        must not declare a working recorder process stuck. While the link waits on the recorder
        process (a send, or its exit), it polls with :meth:`_pause`."""
        while proc.poll() is None:
            if deadline is not None or self._sending_since is not None:
                await self._pause()
            else:
                await trio.sleep(WATCH_INTERVAL)
            self.check_drops()
            now = time.monotonic()
            self.check_disk(now)
            if deadline is not None and now >= deadline:
                log.error("the recorder process did not finish in time; killed", pid=proc.pid,
                          timeout=FINISH_TIMEOUT)
                proc.kill()
            elif self._sending_since is not None and now - self._sending_since > SEND_TIMEOUT:
                log.error("the recorder process stopped reading; killed", pid=proc.pid, timeout=SEND_TIMEOUT)
                proc.kill()

    async def _ship(self, proc: trio.Process, *, patient: bool = False) -> None:
        """Send what is waiting, a slice at a time; a slice is taken from the batch only once sent.
        ``patient``: each slice first waits for ``give_way`` (not at shutdown, when nothing trades)."""
        assert proc.stdin is not None
        while self._batch:
            if patient and self.give_way is not None:
                with trio.move_on_after(GIVE_WAY_MAX):
                    await self.give_way()
            part = self._batch[:SLICE]
            body = pickle.dumps(part, protocol=pickle.HIGHEST_PROTOCOL)
            # a frame is sent whole (a cancelled write would leave half of one); _watch kills a recorder
            # process that stops reading, which breaks the pipe and ends the write
            self._sending_since = time.monotonic()
            try:
                with trio.CancelScope(shield=True):
                    await proc.stdin.send_all(HEADER.pack(len(body)) + body)
            finally:
                self._sending_since = None
            del self._batch[:len(part)]
            self.shipped += len(part)
            await trio.lowlevel.checkpoint()

    async def _finish(self, proc: trio.Process) -> None:
        """Ship the rest, close the recorder process's input and wait for it to write (bounded by
        ``FINISH_TIMEOUT`` wall seconds)."""
        assert proc.stdin is not None
        async with trio.open_nursery() as nursery:
            nursery.start_soon(self._watch, proc, time.monotonic() + FINISH_TIMEOUT)
            try:
                if proc.poll() is None:
                    await self._ship(proc)
            except (trio.BrokenResourceError, trio.ClosedResourceError, BrokenPipeError):
                pass
            await proc.stdin.aclose()
            while proc.poll() is None:  # _watch kills it at the deadline
                await self._pause()
            await proc.wait()
            nursery.cancel_scope.cancel()
        if self._batch:
            log.warning("events not recorded at shutdown", count=len(self._batch))

    async def _pause(self) -> None:
        """A short wait for another process (real time): 10 ms on the system clock. Under a virtual test
        clock (``virtual_clock``) a bare checkpoint instead: a timer would let the clock jump ahead (to a
        shutdown grace period, say) while no real time passes, and an idle loop would let it autojump."""
        if self.virtual_clock:
            await trio.lowlevel.checkpoint()
        else:
            await trio.sleep(0.01)

    def _exited(self, code: int | None, detail: str) -> None:
        self.exits += 1
        self.pid = None
        self.last_exit = detail
        log.error("recording interrupted: restarting the recorder process", detail=detail, returncode=code,
                  queued=len(self._batch), restarts=self.exits)
        if self.on_exit is not None:
            try:
                self.on_exit(code, detail)
            except Exception as exc:  # a failing alert must not stop the recorder's restarts
                log.error("recorder exit callback failed", error=f"{type(exc).__name__}: {exc}")
