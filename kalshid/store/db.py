"""The journal's Trio face: one SQLite connection, one lock, every call on a worker thread.

``aiosqlite`` does not run under Trio (STACK-NOTES P6), so :class:`Journal` owns a single stdlib
``sqlite3`` connection and runs each SQL function of :mod:`~kalshid.store.sql_write` /
:mod:`~kalshid.store.sql_read` through ``trio.to_thread.run_sync`` while holding a ``trio.Lock``.
The lock serializes access (the connection is not safe for concurrent use) and keeps calls in
arrival order (Trio locks are fair).

Cancellation contract: a call that has reached its worker thread is **not** abandoned when the
calling task is cancelled; the task waits for the statement to finish, so a write is either fully
committed or not started, and the lock is always released. A call cancelled while waiting for the
lock did nothing.

Durability contract: a write method that has returned is committed to the WAL (it survives
``kill -9``). Intents, in-flight marks (:meth:`Journal.record_decision`, :meth:`Journal.record_intent`,
:meth:`Journal.mark_in_flight`), breaker events and meta are also fsynced (they survive power loss);
the rest comes from the exchange again at reconciliation (see :mod:`~kalshid.store.sqlbase`). An
order is sent only after its intent write has returned.

Usage::

    async with open_journal(journal_path(state_dir(), "live"), "live") as journal:
        await journal.record_intent(intent)
        await journal.mark_in_flight(intent.client_order_id, now)
        ...  # send the order
"""

from __future__ import annotations

import functools
import time
from collections.abc import AsyncIterator, Callable, Collection
from contextlib import asynccontextmanager
from datetime import datetime
from pathlib import Path
from typing import Any, TypeVar

import attrs
import trio

from kalshid.store import sql_read, sql_write
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

UNACKNOWLEDGED = (OrderState.PENDING, OrderState.IN_FLIGHT)
LIVE_STATES = (OrderState.PENDING, OrderState.IN_FLIGHT, OrderState.RESTING, OrderState.PARTIALLY_FILLED)


@attrs.frozen
class JournalStatistics:
    path: str
    mode: str
    schema_version: int
    calls: int
    tasks_waiting: int  # tasks queued on the lock right now: a slow disk shows here first
    busy_seconds: float  # total time holding the lock
    max_call_seconds: float


class Journal:
    """The trading journal (signals, verdicts, orders, fills, settlements, equity, breaker events).

    Build it with :func:`open_journal`. Methods raise what the SQL functions raise: ``ValueError``
    subclasses for bad input (duplicate intent, unknown signal, bad cursor or limit),
    ``sqlite3.Error`` for I/O trouble, ``trio.ClosedResourceError`` after close.
    """

    def __init__(self, conn: Any, path: Path, mode: JournalMode, version: int, *, inline: bool = False) -> None:
        self._conn = conn
        self._inline = inline
        self.path = path
        self.mode = mode
        self._version = version
        self._lock = trio.Lock()
        self._closed = False
        self._calls = 0
        self._busy = 0.0
        self._max_call = 0.0

    async def _run(self, fn: Callable[..., R], *args: Any, **kwargs: Any) -> R:
        if self._closed:
            raise trio.ClosedResourceError("the journal is closed")
        async with self._lock:
            if self._closed:
                raise trio.ClosedResourceError("the journal is closed")
            start = time.perf_counter()
            try:
                call = functools.partial(fn, self._conn, *args, **kwargs)
                if self._inline:
                    await trio.lowlevel.checkpoint()
                    return call()
                return await trio.to_thread.run_sync(call)
            finally:
                spent = time.perf_counter() - start
                self._calls += 1
                self._busy += spent
                self._max_call = max(self._max_call, spent)

    @property
    def dry_run(self) -> bool:
        return self.mode is not JournalMode.LIVE

    def statistics(self) -> JournalStatistics:
        return JournalStatistics(
            path=str(self.path), mode=self.mode.value, schema_version=self._version, calls=self._calls,
            tasks_waiting=self._lock.statistics().tasks_waiting, busy_seconds=self._busy,
            max_call_seconds=self._max_call,
        )

    async def aclose(self) -> None:
        """Close the connection after any call in progress; idempotent."""
        if self._closed:
            return
        async with self._lock:
            self._closed = True
            if self._inline:
                self._conn.close()
            else:
                await trio.to_thread.run_sync(self._conn.close)

    # ---- writes -----------------------------------------------------------------------------------

    async def record_signal(self, signal: Signal) -> int:
        """Journal a strategy signal; returns its id (for the verdict and the intent)."""
        return await self._run(sql_write.insert_signal, signal)

    async def record_verdict(self, verdict: RiskVerdict) -> int:
        return await self._run(sql_write.insert_verdict, verdict)

    async def record_decision(self, signal: Signal, verdict: RiskVerdict, intent: OrderIntent) -> int:
        """Signal, verdict and intent (as ``in_flight``) in one durable transaction; returns the signal
        id. The order may be sent as soon as this returns (see :func:`sql_write.insert_decision`)."""
        return await self._run(sql_write.insert_decision, signal, verdict, intent, self.dry_run)

    async def record_intent(self, intent: OrderIntent) -> None:
        """Journal an order intent as ``pending``. Durable on return: only then send the order."""
        await self._run(sql_write.insert_intent, intent, self.dry_run)

    async def mark_in_flight(self, client_order_id: str, ts: datetime) -> UpdateOutcome:
        """``pending`` -> ``in_flight``: the request is about to go out; its outcome is unknown."""
        return await self._run(sql_write.mark_in_flight, client_order_id, ts)

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

    async def _ledgers(self) -> list[TickerLedger]:
        inputs = await self._run(sql_read.ledger_inputs)
        # the replay is pure Python: run it off the lock so writers are not held up by a long history
        return await trio.to_thread.run_sync(sql_read.compute_ledgers, inputs)

    async def positions(self, include_settled: bool = False) -> list[Position]:
        """Per-market positions derived from fills and settlements (FIFO cost basis)."""
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
async def open_journal(path: str | Path, mode: JournalMode | str, *, inline: bool = False
                       ) -> AsyncIterator[Journal]:
    """Open (create, migrate) the journal at ``path`` for ``mode``; closed on exit.

    ``inline=True`` runs every statement on the event loop instead of a worker thread. It exists for
    tests under Trio's ``MockClock``: a thread looks like idleness to the autojumping clock, which
    would then leap ahead while a write is on disk. Production keeps the default.

    Creates the parent directory (mode 0700) if missing. Raises
    :class:`~kalshid.store.migrations.SchemaTooNewError` for a database from newer code and
    :class:`~kalshid.store.sqlbase.JournalModeError` for a database of another mode.
    """
    m = JournalMode(mode)
    p = Path(path)
    p.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    if inline:
        conn = connect(p, m.value)
        version = schema_version(conn)
    else:
        conn = await trio.to_thread.run_sync(connect, p, m.value)
        version = await trio.to_thread.run_sync(schema_version, conn)
    journal = Journal(conn, p, m, version, inline=inline)
    try:
        yield journal
    finally:
        with trio.CancelScope(shield=True):
            await journal.aclose()
