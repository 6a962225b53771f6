"""The journal's Trio face: one SQLite connection, one lock, every call on a worker thread.

``aiosqlite`` is asyncio-only and does not run under Trio, so :class:`Journal` owns a single stdlib
``sqlite3`` connection and runs each SQL function of :mod:`~kalshid.store.sql_write` /
:mod:`~kalshid.store.sql_read` through ``kalshid.threads.run_sync`` (a helper thread that never
preempts the event loop) while holding its lock (:class:`~kalshid.store.prioritylock.PriorityLock`).
The read and write methods are :class:`~kalshid.store.journalcalls.JournalCalls`; what the worker
thread runs around them (pending decisions, the intent log's compaction) is :mod:`~kalshid.store.jobs`.
The lock serializes access (the connection is not safe for concurrent use) and keeps calls in
arrival order (Trio locks are fair).

Cancellation contract: a call that has reached its worker thread is **not** abandoned when the
calling task is cancelled; the task waits for the statement to finish, so a write is either fully
committed or not started, and the lock is always released. A call cancelled while waiting for the
lock did nothing.

Durability contract: a write method that has returned is committed to the WAL (it survives
``kill -9``). Intents and in-flight marks also survive power loss:

* :meth:`Journal.record_decision` (the order's hot path) appends the decision to the intent log
  (:mod:`~kalshid.store.intentlog`) *on the event loop*, with no thread hop and no lock, and
  returns; the log gets its ``fdatasync`` right after, in a worker thread, while the order is in flight
  (:meth:`Journal.sync_intents_forever`), or before the send with ``fsync_before_send``. The
  decision's SQLite rows are written by the next journal call, first thing in its worker-thread job,
  so every later call (read or write) sees them; a power cut before that is repaired at the next
  open, which replays the log into SQLite.
* :meth:`Journal.record_intent` and :meth:`Journal.mark_in_flight` fsync their SQLite commit, as do
  breaker events and meta.

The rest comes from the exchange again at reconciliation (see :mod:`~kalshid.store.sqlbase`). An
order is sent only after its intent write has returned.

Priority: the intent writes that take the lock (``record_intent``, ``mark_in_flight``, and
``record_decision`` when the log is full) wait only for the call in progress, never behind queued
bookkeeping (fills, order updates, equity snapshots, reads): see :class:`PriorityLock`.

Usage::

    async with open_journal(Path("var/kalshid-prod.sqlite3"), "live") as journal:
        await journal.record_intent(intent)
        await journal.mark_in_flight(intent.client_order_id, now)
        ...  # send the order
"""

from __future__ import annotations

import functools
import time
from collections import OrderedDict
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any, TypeVar

import attrs
import trio

from kalshid import threads
from kalshid.logs import get_logger
from kalshid.store import sql_write
from kalshid.store.intentlog import IntentLog, IntentLogFull
from kalshid.store.jobs import (
    Decision,
    compact_log,
    flush_decisions,
    intent_log_path,
    nothing,
    open_intents,
    owner_only,
    run_job,
)
from kalshid.store.journalcalls import JournalCalls
from kalshid.store.migrations import schema_version
from kalshid.store.paths import JournalMode
from kalshid.store.prioritylock import PriorityLock
from kalshid.store.records import OrderIntent, RiskVerdict, Signal
from kalshid.store.sqlbase import connect

R = TypeVar("R")

log = get_logger("kalshid.journal")

# compact the intent log (one fsynced SQLite commit, then zero it) from a bookkeeping call once it
# holds this much: ~100 decisions, so a restart replays little and the hot path never finds it full
COMPACT_AT_BYTES = 64 * 1024
# an intent-log append (on the event loop) slower than this is logged: the disk is holding trading up
SLOW_APPEND_S = 0.02
# an intent-log fdatasync (off the loop, while orders are in flight) slower than this is logged: orders
# sent meanwhile are not yet safe from a power cut in the journal (reconciliation would adopt them)
SLOW_SYNC_S = 0.5


# decisions remembered by client_order_id so that one decided twice in this process is refused before
# it is sent (the SQLite key catches it too, but only once the deferred insert runs)
DECISIONS_REMEMBERED = 16_384


@attrs.frozen
class JournalStatistics:
    path: str
    mode: str
    schema_version: int
    calls: int
    tasks_waiting: int  # tasks queued on the lock right now: a slow disk shows here first
    busy_seconds: float  # total time holding the lock
    max_call_seconds: float
    intent_syncs: int = 0  # fdatasyncs of the intent log made after orders were sent
    max_intent_sync_seconds: float = 0.0
    intents_unsynced: int = 0  # decisions written to the log (page cache) and not fdatasynced yet


class Journal(JournalCalls):
    """The trading journal (signals, verdicts, orders, fills, settlements, equity, breaker events).

    Build it with :func:`open_journal`. Methods raise what the SQL functions raise: ``ValueError``
    subclasses for bad input (duplicate intent, unknown signal, bad cursor or limit),
    ``sqlite3.Error`` for I/O trouble, ``trio.ClosedResourceError`` after close.
    """

    def __init__(self, conn: Any, path: Path, mode: JournalMode, version: int, *, intents: IntentLog,
                 inline: bool = False, fsync_before_send: bool = False) -> None:
        self._conn = conn
        self._inline = inline
        self._intents = intents
        self._fsync_before_send = fsync_before_send
        self._appended = 0  # decisions appended to the intent log without an fdatasync, ever
        self._synced = 0    # how many of those a finished fdatasync covers
        self._sync_wanted = trio.Event()
        self._sync_done = trio.Event()
        self._sync_running = False
        self._syncs = 0
        self._max_sync = 0.0
        self.path = path
        self.mode = mode
        self._version = version
        self._lock = PriorityLock()
        self._pending: list[Decision] = []  # in the intent log, not yet in SQLite
        self._decided: OrderedDict[str, None] = OrderedDict()
        self._closed = False
        self._calls = 0
        self._busy = 0.0
        self._max_call = 0.0

    async def _run(self, fn: Callable[..., R], *args: Any, **kwargs: Any) -> R:
        return await self._call(False, functools.partial(fn, self._conn, *args, **kwargs))

    async def _run_urgent(self, fn: Callable[..., R], *args: Any) -> R:
        """For an order's intent: ahead of every queued call that is not urgent."""
        return await self._call(True, functools.partial(fn, self._conn, *args))

    async def _call(self, urgent: bool, call: Callable[[], R], *, compact: bool = False) -> R:
        if self._closed:
            raise trio.ClosedResourceError("the journal is closed")
        await self._lock.acquire(urgent=urgent)
        try:
            if self._closed:
                raise trio.ClosedResourceError("the journal is closed")
            # taken on the loop, under the lock: decisions logged from here on wait for the next call
            pending, self._pending = self._pending, []
            intents = self._intents
            if compact or (not urgent and (intents.used >= COMPACT_AT_BYTES or intents.inactive_used)):
                compact = True
                intents.seal()  # appends go on in the other region while this one is compacted
            job = functools.partial(run_job, self._conn, intents, pending, call, compact)
            start = time.perf_counter()
            try:
                if self._inline:
                    await trio.lowlevel.checkpoint()
                    return job()
                return await threads.run_sync(job)
            finally:
                self._pending[:0] = pending  # any the job could not write go first next time
                spent = time.perf_counter() - start
                self._calls += 1
                self._busy += spent
                self._max_call = max(self._max_call, spent)
        finally:
            self._lock.release()

    @property
    def dry_run(self) -> bool:
        return self.mode is not JournalMode.LIVE

    def statistics(self) -> JournalStatistics:
        return JournalStatistics(
            path=str(self.path), mode=self.mode.value, schema_version=self._version, calls=self._calls,
            tasks_waiting=self._lock.waiting, busy_seconds=self._busy,
            max_call_seconds=self._max_call, intent_syncs=self._syncs, max_intent_sync_seconds=self._max_sync,
            intents_unsynced=self._appended - self._synced,
        )

    # ---- the intent log's fdatasync, after the send ------------------------------------------------
    async def sync_intents_forever(self) -> None:
        """Make decisions appended without an fsync durable, in batches (group commit); runs for the
        journal's life (:func:`open_journal` starts it). The ``fdatasync`` runs in a worker thread
        while the orders are in flight, and never takes the journal's lock. A failed fdatasync raises
        (the disk is failing: the daemon stops, loudly; the orders already sent are the exchange's to
        tell at the next start)."""
        while not self._closed:
            await self._sync_wanted.wait()
            if self._closed:
                return
            self._sync_wanted = trio.Event()
            target = self._appended
            start = time.perf_counter()
            self._sync_running = True
            try:
                if self._inline:
                    await trio.lowlevel.checkpoint()
                    self._intents.sync()
                else:
                    await threads.run_sync(self._intents.sync)
                self._synced = target
            finally:
                self._sync_running = False
                done, self._sync_done = self._sync_done, trio.Event()
                done.set()
            spent = time.perf_counter() - start
            self._syncs += 1
            self._max_sync = max(self._max_sync, spent)
            if spent > SLOW_SYNC_S:
                log.warning("intent log fdatasync was slow (the disk is busy?); orders in flight meanwhile "
                            "were not yet safe from a power cut", seconds=round(spent, 3), journal=str(self.path))

    async def intents_durable(self) -> None:
        """Wait until every decision appended so far is fdatasynced (at once if the journal fsyncs
        before the send)."""
        target = self._appended
        while self._synced < target and not self._closed:
            await self._sync_done.wait()

    async def aclose(self) -> None:
        """Write the pending decisions and close the connection after any call in progress; idempotent."""
        if self._closed:
            return
        await self._lock.acquire()
        try:
            self._closed = True  # from here on no decision is appended to the log
            self._sync_wanted.set()  # the syncer ends
            while self._sync_running:  # the fd it syncs is closed below
                await self._sync_done.wait()
            pending, self._pending = self._pending, []
            if self._inline:
                self._close_sync(pending)
            else:
                await threads.run_sync(self._close_sync, pending)
        finally:
            self._lock.release()

    def _close_sync(self, pending: list[Decision]) -> None:
        try:
            flush_decisions(self._conn, pending)
            compact_log(self._conn, self._intents)  # a clean stop leaves the intent log empty
        finally:
            self._intents.close()
            self._conn.close()

    # ---- the order's decision ---------------------------------------------------------------------

    async def record_decision(self, signal: Signal, verdict: RiskVerdict, intent: OrderIntent) -> None:
        """Journal an order's decision (signal, verdict, intent as ``in_flight``); the order may be
        sent as soon as this returns.

        The hot path. The decision is appended to the intent log *on the event loop* (one ``pwrite``),
        with no lock and no thread hop. It returns **without a checkpoint**, so the caller sends the
        order in the same step. When it returns, the decision survives the process being killed
        (``kill -9``, a crash): it is in the kernel's page cache. Power-cut durability:

        * by default the ``fdatasync`` follows in :meth:`sync_intents_forever`, in a worker thread,
          while the order is in flight (~1 ms on the disks measured: the largest single cost on the
          order's path otherwise). A power cut in that window can lose the decision; the order is then
          the exchange's to tell at the next start: reconciliation books its fills and adopts it
          (flagged external) if it still rests, so no fill or position is lost and nothing is sent twice;
        * with ``fsync_before_send`` the ``fdatasync`` runs here, on the loop, before this returns.

        Its SQLite rows (one transaction, no fsync) are written by the next journal call, before that
        call's own statement. Only when the log's region is full does it wait: for the lock and one
        fsynced SQLite commit that covers the decision.

        Raises :class:`~kalshid.store.sql_write.DuplicateIntentError` for a ``client_order_id``
        decided already in this process, ``OSError`` if the log cannot be written (then the order
        must not be sent), ``trio.ClosedResourceError`` after close.
        """
        if self._closed:
            raise trio.ClosedResourceError("the journal is closed")
        cid = intent.client_order_id
        if cid in self._decided:
            raise sql_write.DuplicateIntentError(f"client_order_id {cid!r} is already journaled")
        start = time.perf_counter()
        decision: Decision = (signal, verdict, intent, self.dry_run)
        try:
            self._intents.append(sql_write.decision_record(*decision), sync=self._fsync_before_send)
            logged = True
            if not self._fsync_before_send:
                self._appended += 1
                self._sync_wanted.set()
        except IntentLogFull:
            logged = False
        self._pending.append(decision)
        self._remember(cid)
        if not logged:
            await self._call(True, nothing, compact=True)  # one fsynced commit covers it
            return
        spent = time.perf_counter() - start
        if spent > SLOW_APPEND_S:
            log.warning("intent log append was slow (the disk is busy?); the event loop waited",
                        seconds=round(spent, 4), journal=str(self.path))

    def _remember(self, cid: str) -> None:
        self._decided[cid] = None
        if len(self._decided) > DECISIONS_REMEMBERED:
            self._decided.popitem(last=False)


@asynccontextmanager
async def open_journal(path: str | Path, mode: JournalMode | str, *, inline: bool = False,
                       fsync_before_send: bool = False) -> AsyncIterator[Journal]:
    """Open (create, migrate) the journal at ``path`` for ``mode``; closed on exit.

    ``inline=True`` runs every statement on the event loop instead of a worker thread. It exists for
    tests under Trio's ``MockClock``: a thread looks like idleness to the autojumping clock, which
    would then leap ahead while a write is on disk. Production keeps the default.

    The intent log beside the database (:func:`intent_log_path`) is opened too, and any decision it
    holds that SQLite lost is journaled again before this yields.

    Creates the parent directory (mode 0700) if missing. Raises
    :class:`~kalshid.store.migrations.SchemaTooNewError` for a database from newer code and
    :class:`~kalshid.store.sqlbase.JournalModeError` for a database of another mode.
    """
    m = JournalMode(mode)
    p = Path(path)
    p.parent.mkdir(mode=0o700, parents=True, exist_ok=True)

    def setup() -> tuple[Any, int, IntentLog, list[str]]:
        conn = connect(p, m.value)
        try:
            version = schema_version(conn)
            intents, replayed = open_intents(conn, intent_log_path(p))
        except BaseException:
            conn.close()
            raise
        return conn, version, intents, replayed

    conn, version, intents, replayed = setup() if inline else await threads.run_sync(setup)
    owner_only(p)
    if replayed:
        log.warning("decisions recovered from the intent log: the daemon stopped (a crash, kill -9 or power "
                    "cut) before writing them to SQLite; reconciliation resolves their orders",
                    journal=str(p), count=len(replayed), client_order_ids=replayed[:20])
    journal = Journal(conn, p, m, version, inline=inline, intents=intents, fsync_before_send=fsync_before_send)
    try:
        async with trio.open_nursery() as nursery:
            nursery.start_soon(journal.sync_intents_forever)
            yield journal
            nursery.cancel_scope.cancel()
    finally:
        with trio.CancelScope(shield=True):
            await journal.aclose()
