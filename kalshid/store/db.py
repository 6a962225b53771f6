"""The journal's Trio face: one SQLite connection, one lock, every call on a worker thread.

``aiosqlite`` is asyncio-only and does not run under Trio, so :class:`Journal` owns a single stdlib
``sqlite3`` connection and runs each SQL function of :mod:`~kalshid.store.sql_write` /
:mod:`~kalshid.store.sql_read` through ``kalshid.threads.run_sync`` (a helper thread that never
preempts the event loop) while holding a ``trio.Lock``.
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

    async with open_journal(journal_path(state_dir(), "live"), "live") as journal:
        await journal.record_intent(intent)
        await journal.mark_in_flight(intent.client_order_id, now)
        ...  # send the order
"""

from __future__ import annotations

import functools
import os
import time
from collections import OrderedDict
from collections.abc import AsyncIterator, Callable, Collection
from contextlib import asynccontextmanager, suppress
from datetime import datetime
from pathlib import Path
from typing import Any, TypeVar

import attrs
import trio

from kalshid import threads
from kalshid.logs import get_logger
from kalshid.store import sql_read, sql_write
from kalshid.store.identity import FRESH_PREFIX, IDENTITY_KEY, check_identity
from kalshid.store.intentlog import IntentLog, IntentLogFull
from kalshid.store.ledger import TickerLedger
from kalshid.store.migrations import schema_version
from kalshid.store.paths import JournalMode
from kalshid.store.records import (
    BreakerEvent,
    EquitySnapshot,
    ExternalOrder,
    Fill,
    JournalCheck,
    OrderEvent,
    OrderIntent,
    OrderRecord,
    OrderState,
    OrderUpdate,
    Page,
    PnlRow,
    Position,
    RiskVerdict,
    Settlement,
    SettlementRecord,
    Signal,
    UpdateOutcome,
)
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

UNACKNOWLEDGED = (OrderState.PENDING, OrderState.IN_FLIGHT)
LIVE_STATES = (OrderState.PENDING, OrderState.IN_FLIGHT, OrderState.RESTING, OrderState.PARTIALLY_FILLED)


class PriorityLock:
    """A fair lock with two queues: an urgent waiter is served before every ordinary one (the holder
    still finishes first). Ownership passes straight to the next waiter on release, so a task woken
    holds the lock; a waiter cancelled in the queue never gets it."""

    def __init__(self) -> None:
        self._held = False
        self._urgent = trio.lowlevel.ParkingLot()
        self._normal = trio.lowlevel.ParkingLot()

    async def acquire(self, *, urgent: bool = False) -> None:
        await trio.lowlevel.checkpoint_if_cancelled()
        if self._held or self._urgent or self._normal:
            await (self._urgent if urgent else self._normal).park()  # woken as the owner
        else:
            self._held = True
            await trio.lowlevel.cancel_shielded_checkpoint()

    def release(self) -> None:
        if not self._held:
            raise RuntimeError("PriorityLock released while not held")
        if self._urgent:
            self._urgent.unpark()
        elif self._normal:
            self._normal.unpark()
        else:
            self._held = False

    @property
    def locked(self) -> bool:
        return self._held

    @property
    def waiting(self) -> int:
        return len(self._urgent) + len(self._normal)


# decisions remembered by client_order_id so that one decided twice in this process is refused before
# it is sent (the SQLite key catches it too, but only once the deferred insert runs)
DECISIONS_REMEMBERED = 16_384

Decision = tuple[Signal, RiskVerdict, OrderIntent, bool]  # signal, verdict, intent, dry_run


def _flush(conn: Any, pending: list[Decision]) -> None:
    """Write to SQLite (no fsync) the decisions the hot path put in the intent log, oldest first; each
    leaves ``pending`` once committed, so a failure leaves the rest for the next call."""
    while pending:
        s, v, i, dry_run = pending[0]
        try:
            sql_write.insert_decision(conn, s, v, i, dry_run)
        except sql_write.DuplicateIntentError:
            # journaled already, by an earlier run: that row stays the record; this is a bug upstream
            log.error("decision's client_order_id was already journaled; kept the journaled one",
                      client_order_id=i.client_order_id)
        del pending[0]


def _job(conn: Any, intents: IntentLog, pending: list[Decision], call: Callable[[], R], compact: bool) -> R:
    """One worker-thread job: the pending decisions, then ``call``; with ``compact``, one fsynced
    commit (every decision of the sealed region is in SQLite by then), then the sealed region is zeroed."""
    _flush(conn, pending)
    result = call()
    if compact:
        sql_write.sync_durable(conn)
        intents.zero_inactive()
    return result


def _compact(conn: Any, intents: IntentLog) -> None:
    """Make SQLite durable (everything the log holds is in it), then empty the whole log."""
    sql_write.sync_durable(conn)
    intents.reset()


def _nothing() -> None:
    return None


def _owner_only(path: Path) -> None:
    """The journal, its WAL, shared-memory and intent-log files: readable by their owner only (0600)."""
    for f in (path, path.with_name(path.name + "-wal"), path.with_name(path.name + "-shm"), intent_log_path(path)):
        with suppress(FileNotFoundError):
            os.chmod(f, 0o600)


def intent_log_path(journal: Path) -> Path:
    """The intent log beside a journal database (one per database, so per trading mode)."""
    return journal.with_name(journal.name + ".intents")


def _open_intents(conn: Any, path: Path) -> tuple[IntentLog, list[str]]:
    """Open the intent log, journal the decisions SQLite does not have (the process stopped before
    writing them, or a power cut took them), then empty it."""
    intents = IntentLog(path)
    try:
        replayed = sql_write.replay_decisions(conn, intents.records())
        if intents.used:
            _compact(conn, intents)
    except BaseException:
        intents.close()
        raise
    return intents, replayed


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


class Journal:
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
            job = functools.partial(_job, self._conn, intents, pending, call, compact)
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
            _flush(self._conn, pending)
            _compact(self._conn, self._intents)  # a clean stop leaves the intent log empty
        finally:
            self._intents.close()
            self._conn.close()

    # ---- writes -----------------------------------------------------------------------------------

    async def record_signal(self, signal: Signal) -> int:
        """Journal a strategy signal; returns its id (for the verdict and the intent)."""
        return await self._run(sql_write.insert_signal, signal)

    async def record_verdict(self, verdict: RiskVerdict) -> int:
        return await self._run(sql_write.insert_verdict, verdict)

    async def record_rejection(self, signal: Signal, verdict: RiskVerdict) -> int:
        """Journal a refused signal and its verdict together (one transaction); returns the signal's id."""
        return await self._run(sql_write.insert_rejection, signal, verdict)

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
            await self._call(True, _nothing, compact=True)  # one fsynced commit covers it
            return
        spent = time.perf_counter() - start
        if spent > SLOW_APPEND_S:
            log.warning("intent log append was slow (the disk is busy?); the event loop waited",
                        seconds=round(spent, 4), journal=str(self.path))

    def _remember(self, cid: str) -> None:
        self._decided[cid] = None
        if len(self._decided) > DECISIONS_REMEMBERED:
            self._decided.popitem(last=False)

    async def record_intent(self, intent: OrderIntent) -> None:
        """Journal an order intent as ``pending``. Durable on return: only then send the order."""
        await self._run_urgent(sql_write.insert_intent, intent, self.dry_run)

    async def mark_in_flight(self, client_order_id: str, ts: datetime) -> UpdateOutcome:
        """``pending`` -> ``in_flight``: the request is about to go out; its outcome is unknown."""
        return await self._run_urgent(sql_write.mark_in_flight, client_order_id, ts)

    async def apply_order_update(self, update: OrderUpdate) -> UpdateOutcome:
        """Apply an exchange order update through the state machine (illegal ones are only logged)."""
        return await self._run(sql_write.apply_update, update)

    async def adopt_external_order(self, order: ExternalOrder) -> tuple[str, bool]:
        """Journal an exchange order we did not place, flagged external; ``(client_order_id, new)``."""
        return await self._run(sql_write.adopt_external, order, self.dry_run)

    async def record_fill(self, fill: Fill) -> bool:
        """Journal a fill once, keyed by ``fill_id``; ``True`` if it was new."""
        return await self._run(sql_write.insert_fill, fill)

    async def record_settlement(self, settlement: Settlement) -> tuple[SettlementRecord, bool]:
        """Journal the exchange's settlement, checked against the journal; ``(record, new)``."""
        return await self._run(sql_write.insert_settlement, settlement)

    async def record_equity(self, snapshot: EquitySnapshot) -> None:
        await self._run(sql_write.insert_equity, snapshot)

    async def record_breaker_event(self, event: BreakerEvent) -> None:
        await self._run(sql_write.insert_breaker_event, event)

    async def set_meta(self, key: str, value: str) -> None:
        await self._run(sql_write.set_meta, key, value)

    async def bind_exchange(self, identity: str) -> None:
        """Stamp the journal with the exchange it trades with (:mod:`kalshid.store.identity`), or raise
        :class:`~kalshid.store.identity.JournalIdentityError` if it is stamped for another one. A
        journal for a fresh exchange is restamped (its previous run's file was set aside)."""
        stored = await self.get_meta(IDENTITY_KEY)
        if stored is not None and not (stored.startswith(FRESH_PREFIX) and identity.startswith(FRESH_PREFIX)):
            check_identity(self.path, stored, identity)
        if stored != identity:
            await self.set_meta(IDENTITY_KEY, identity)

    # ---- reads ------------------------------------------------------------------------------------

    async def get_meta(self, key: str) -> str | None:
        return await self._run(sql_read.get_meta, key)

    async def get_order_by_client_id(self, client_order_id: str) -> OrderRecord | None:
        return await self._run(sql_read.get_order, client_order_id)

    async def unacknowledged_intents(self) -> list[OrderRecord]:
        """Intents journaled but possibly never acknowledged (``pending``, ``in_flight``), oldest first.

        After a crash each must be resolved by ``client_order_id`` with the exchange: a ``pending``
        one may have been sent if the crash hit between the send and :meth:`mark_in_flight`.
        """
        return await self._run(sql_read.orders_in_states, UNACKNOWLEDGED)

    async def live_orders(self) -> list[OrderRecord]:
        """Every non-terminal order (unacknowledged, resting, partially filled), oldest first."""
        return await self._run(sql_read.orders_in_states, LIVE_STATES)

    async def list_orders(
        self, *, ticker: str | None = None, strategy: str | None = None,
        states: Collection[OrderState] | None = None, external: bool | None = None,
        since: datetime | None = None, until: datetime | None = None, limit: int = 100,
        cursor: str | None = None,
    ) -> Page[OrderRecord]:
        return await self._run(
            sql_read.list_orders, ticker=ticker, strategy=strategy, states=states, external=external,
            since=since, until=until, limit=limit, cursor=cursor,
        )

    async def order_events(self, client_order_id: str) -> list[OrderEvent]:
        return await self._run(sql_read.order_events, client_order_id)

    async def list_fills(
        self, *, ticker: str | None = None, strategy: str | None = None, order_id: str | None = None,
        since: datetime | None = None, until: datetime | None = None, limit: int = 100,
        cursor: str | None = None,
    ) -> Page[Fill]:
        return await self._run(
            sql_read.list_fills, ticker=ticker, strategy=strategy, order_id=order_id, since=since,
            until=until, limit=limit, cursor=cursor,
        )

    async def all_fills(self, *, ticker: str | None = None) -> list[Fill]:
        """Every journaled fill (of ``ticker``, if given), newest first, read page by page."""
        fills: list[Fill] = []
        cursor: str | None = None
        while True:
            page = await self.list_fills(ticker=ticker, limit=1000, cursor=cursor)
            fills.extend(page.items)
            cursor = page.next_cursor
            if not cursor:
                return fills

    async def last_fill_seen(self) -> Fill | None:
        return await self._run(sql_read.last_fill)

    async def orders_short_of_fills(self) -> list[tuple[str, str]]:
        """``(order_id, ticker)`` of the orders with fewer contracts booked than filled; see
        :func:`sql_read.orders_short_of_fills`."""
        return await self._run(sql_read.orders_short_of_fills)

    async def _ledgers(self) -> list[TickerLedger]:
        inputs = await self._run(sql_read.ledger_inputs)
        # the replay is pure Python: run it off the lock so writers are not held up by a long history
        return await threads.run_sync(sql_read.compute_ledgers, inputs)

    async def positions(self, include_settled: bool = False) -> list[Position]:
        """Per-market positions derived from fills and settlements (average cost, :mod:`kalshid.core.pnl`)."""
        return sql_read.positions_from(await self._ledgers(), include_settled)

    async def pnl(
        self, group_by: sql_read.PnlGrouping, since: datetime | None = None, until: datetime | None = None
    ) -> list[PnlRow]:
        """Realized P&L by ``"day"`` (UTC), ``"strategy"`` or ``"ticker"``; see :func:`sql_read.pnl_from`."""
        if group_by not in ("day", "strategy", "ticker"):
            raise ValueError(f"group_by: {group_by!r} is not one of ['day', 'strategy', 'ticker']")
        return sql_read.pnl_from(await self._ledgers(), group_by, since, until)

    async def get_settlement(self, ticker: str) -> SettlementRecord | None:
        return await self._run(sql_read.get_settlement, ticker)

    async def settlements(self, check: JournalCheck | None = None) -> list[SettlementRecord]:
        return await self._run(sql_read.list_settlements, check)

    async def latest_equity(self) -> EquitySnapshot | None:
        return await self._run(sql_read.latest_equity)

    async def breaker_events(self, since: datetime | None = None) -> list[BreakerEvent]:
        return await self._run(sql_read.breaker_events, since)

    async def table_counts(self) -> dict[str, int]:
        return await self._run(sql_read.table_counts)


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
            intents, replayed = _open_intents(conn, intent_log_path(p))
        except BaseException:
            conn.close()
            raise
        return conn, version, intents, replayed

    conn, version, intents, replayed = setup() if inline else await threads.run_sync(setup)
    _owner_only(p)
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
