"""The journal's SQL statements as async methods: each runs as one worker-thread job under the
journal's lock (:meth:`kalshid.store.db.Journal._call`, which also writes the decisions the hot path
left pending first). :class:`~kalshid.store.db.Journal` adds the lock, the thread, the intent log and
the order's hot path."""

from __future__ import annotations

from collections.abc import Callable, Collection, Sequence
from datetime import datetime
from pathlib import Path
from typing import Any, TypeVar

from kalshid import threads
from kalshid.store import sql_read, sql_write
from kalshid.store.identity import FRESH_PREFIX, IDENTITY_KEY, check_identity
from kalshid.store.ledger import TickerLedger
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

R = TypeVar("R")

PRUNE_STEP = 100  # signals examined per retention job (sql_write.prune_refusals)

UNACKNOWLEDGED = (OrderState.PENDING, OrderState.IN_FLIGHT)
LIVE_STATES = (OrderState.PENDING, OrderState.IN_FLIGHT, OrderState.RESTING, OrderState.PARTIALLY_FILLED)


class JournalCalls:
    """Every journal read and write but the order's decision (see the module docstring)."""

    path: Path

    @property
    def dry_run(self) -> bool:
        raise NotImplementedError

    async def _run(self, fn: Callable[..., R], *args: Any, **kwargs: Any) -> R:
        """Run ``fn(conn, *args, **kwargs)`` as one journal call."""
        raise NotImplementedError

    async def _run_urgent(self, fn: Callable[..., R], *args: Any) -> R:
        """:meth:`_run`, ahead of every queued call that is not urgent."""
        raise NotImplementedError

    # ---- writes -----------------------------------------------------------------------------------

    async def record_signal(self, signal: Signal) -> int:
        """Journal a strategy signal; returns its id (for the verdict and the intent)."""
        return await self._run(sql_write.insert_signal, signal)

    async def record_verdict(self, verdict: RiskVerdict) -> int:
        return await self._run(sql_write.insert_verdict, verdict)

    async def record_rejection(self, signal: Signal, verdict: RiskVerdict) -> int:
        """Journal a refused signal and its verdict together (one transaction); returns the signal's id."""
        return await self._run(sql_write.insert_rejection, signal, verdict)

    async def prune_refusals(self, before: datetime, *, batch: int = PRUNE_STEP) -> int:
        """Delete the refused signals (and their verdicts) journaled before ``before``, ``batch`` rows
        examined per job, so that an order's intent never waits behind more than one (about half a
        millisecond, ``bench/bench_journal_growth.py``); returns how many went. Orders, approved
        decisions, fills and settlements are never touched."""
        deleted, after = 0, 0
        while True:
            n, last = await self._run(sql_write.prune_refusals, before, after, batch)
            deleted += n
            if last is None:
                return deleted
            after = last

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

    async def record_fill_parts(self, parts: Sequence[Fill]) -> list[bool]:
        """Journal the parts of one netted fill together (one transaction: never one without the
        other); per part, ``True`` if it was new."""
        return await self._run(sql_write.insert_fills, list(parts))

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

    async def get_order_by_order_id(self, order_id: str) -> OrderRecord | None:
        """The order the exchange knows as ``order_id`` (journaled once an answer or update named it)."""
        return await self._run(sql_read.get_order_by_order_id, order_id)

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

    async def fees_by_ticker(self, tickers: Sequence[str]) -> dict[str, int]:
        """Each market's fees, every fill of it counted (a fill that flipped a position included)."""
        return await self._run(sql_read.fees_by_ticker, list(tickers))

    async def fills_in_time_order(self) -> list[Fill]:
        """Every journaled fill, oldest first; fills of the same time in the order they were booked."""
        return await self._run(sql_read.fills_in_time_order)

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
