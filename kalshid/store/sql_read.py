"""Synchronous queries on the journal: orders, fills, positions, P&L, settlements, equity, meta.

Lists are keyset-paginated, newest first, with an opaque cursor (never ``OFFSET``): a page boundary
is the ``(time, id)`` of the last row shown, so rows inserted while a client pages through do not
shift or repeat what it sees. Positions and P&L are derived from fills and settlements by
:mod:`kalshid.store.ledger` on each call (the journal holds hundreds of fills a day, not millions).
"""

from __future__ import annotations

import base64
import binascii
import json
import sqlite3
from collections.abc import Collection, Sequence
from datetime import datetime
from typing import Any, Literal

from kalshid.core.vocab import Action, Side
from kalshid.store import ledger
from kalshid.store.records import (
    BreakerEvent,
    Decision,
    EquitySnapshot,
    Fill,
    JournalCheck,
    OrderEvent,
    OrderRecord,
    OrderState,
    Page,
    PnlRow,
    Position,
    Settlement,
    SettlementRecord,
    SettlementResult,
    Signal,
    journal_tif,
)
from kalshid.store.sqlbase import from_us, to_us

MAX_PAGE = 1000
PnlGrouping = Literal["day", "strategy", "ticker"]


class CursorError(ValueError):
    """A pagination cursor was not produced by this journal (or was altered)."""


def encode_cursor(ts_us: int, key: str) -> str:
    raw = json.dumps([ts_us, key], separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(cursor: str) -> tuple[int, str]:
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        ts_us, key = json.loads(raw)
    except (binascii.Error, ValueError, TypeError) as exc:
        raise CursorError(f"cursor {cursor[:40]!r} is not a valid journal cursor") from exc
    if isinstance(ts_us, bool) or not isinstance(ts_us, int) or not isinstance(key, str):
        raise CursorError(f"cursor {cursor[:40]!r} is not a valid journal cursor")
    return ts_us, key


def _check_limit(limit: int) -> None:
    if isinstance(limit, bool) or not isinstance(limit, int) or not 1 <= limit <= MAX_PAGE:
        raise ValueError(f"limit: {limit!r} is not an integer in [1, {MAX_PAGE}]")


def _page(
    conn: sqlite3.Connection, select: str, key: str, where: list[str], args: list[Any],
    limit: int, cursor: str | None,
) -> tuple[list[tuple[Any, ...]], str | None]:
    """Run ``select`` newest first by ``(ts_us, key)``; ``key`` must be column 0, ``ts_us`` column 1."""
    _check_limit(limit)
    where, args = list(where), list(args)
    if cursor is not None:
        where.append(f"(ts_us, {key}) < (?, ?)")
        args.extend(decode_cursor(cursor))
    sql = select + (" WHERE " + " AND ".join(where) if where else "")
    sql += f" ORDER BY ts_us DESC, {key} DESC LIMIT ?"
    rows = conn.execute(sql, (*args, limit + 1)).fetchall()
    if len(rows) <= limit:
        return rows, None
    rows = rows[:limit]
    return rows, encode_cursor(rows[-1][1], rows[-1][0])


def _equal_filters(where: list[str], args: list[Any], pairs: Sequence[tuple[str, Any]]) -> None:
    """``column = value`` for each pair whose value is given (None: no filter on that column)."""
    for col, val in pairs:
        if val is not None:
            where.append(f"{col} = ?")
            args.append(val)


def _time_filters(where: list[str], args: list[Any], since: datetime | None, until: datetime | None) -> None:
    if since is not None:
        where.append("ts_us >= ?")
        args.append(to_us(since))
    if until is not None:
        where.append("ts_us < ?")
        args.append(to_us(until))


# ---- orders ----------------------------------------------------------------------------------------

_ORDER_COLS = (
    "client_order_id, ts_us, order_id, strategy, signal_id, ticker, side, action, price_cc, count, tif,"
    " state, filled, remaining, fees_cc, last_update_us, external, dry_run, given_up"
)


def _order(r: Sequence[Any]) -> OrderRecord:
    return OrderRecord(
        client_order_id=r[0], ts=from_us(r[1]), order_id=r[2], strategy=r[3], signal_id=r[4], ticker=r[5],
        side=Side(r[6]), action=Action(r[7]), price_cc=r[8], count=r[9], tif=journal_tif(r[10]),
        state=OrderState(r[11]), filled=r[12], remaining=r[13], fees_cc=r[14],
        last_update=from_us(r[15]), external=bool(r[16]), dry_run=bool(r[17]), given_up=bool(r[18]),
    )


def get_order(conn: sqlite3.Connection, client_order_id: str) -> OrderRecord | None:
    row = conn.execute(
        f"SELECT {_ORDER_COLS} FROM orders WHERE client_order_id = ?", (client_order_id,)
    ).fetchone()
    return None if row is None else _order(row)


def get_order_by_order_id(conn: sqlite3.Connection, order_id: str) -> OrderRecord | None:
    row = conn.execute(f"SELECT {_ORDER_COLS} FROM orders WHERE order_id = ?", (order_id,)).fetchone()
    return None if row is None else _order(row)


def orders_in_states(conn: sqlite3.Connection, states: Collection[OrderState]) -> list[OrderRecord]:
    """Orders whose state is in ``states``, oldest first (e.g. the unacknowledged intents)."""
    marks = ", ".join("?" * len(states))
    rows = conn.execute(
        f"SELECT {_ORDER_COLS} FROM orders WHERE state IN ({marks}) ORDER BY ts_us, client_order_id",
        [s.value for s in states],
    ).fetchall()
    return [_order(r) for r in rows]


def list_orders(
    conn: sqlite3.Connection, *, ticker: str | None = None, strategy: str | None = None,
    states: Collection[OrderState] | None = None, external: bool | None = None,
    since: datetime | None = None, until: datetime | None = None, limit: int = 100, cursor: str | None = None,
) -> Page[OrderRecord]:
    """Orders matching every given filter, newest intent first; ``since`` inclusive, ``until`` exclusive."""
    where: list[str] = []
    args: list[Any] = []
    _equal_filters(where, args, (("ticker", ticker), ("strategy", strategy)))
    if states is not None:
        where.append(f"state IN ({', '.join('?' * len(states))})")
        args.extend(OrderState(s).value for s in states)
    if external is not None:
        where.append("external = ?")
        args.append(int(external))
    _time_filters(where, args, since, until)
    select = f"SELECT {_ORDER_COLS} FROM orders"
    rows, nxt = _page(conn, select, "client_order_id", where, args, limit, cursor)
    return Page(tuple(_order(r) for r in rows), nxt)


def order_events(conn: sqlite3.Connection, client_order_id: str) -> list[OrderEvent]:
    rows = conn.execute(
        "SELECT client_order_id, ts_us, event, detail FROM order_events"
        " WHERE client_order_id = ? ORDER BY id",
        (client_order_id,),
    ).fetchall()
    return [OrderEvent(r[0], from_us(r[1]), r[2], json.loads(r[3])) for r in rows]


# ---- decisions -------------------------------------------------------------------------------------


def list_decisions(
    conn: sqlite3.Connection, *, ticker: str | None = None, strategy: str | None = None, refused: bool = False,
    limit: int = 100, cursor: str | None = None,
) -> Page[Decision]:
    """Journaled signals with their verdicts and orders, newest first; ``refused``: only the signals
    risk refused (kept for ``journal.refusals_retention_days``)."""
    _check_limit(limit)
    where: list[str] = []
    args: list[Any] = []
    _equal_filters(where, args, (("s.ticker", ticker), ("s.strategy", strategy)))
    if refused:
        where.append("v.approved = 0")
    if cursor is not None:
        ts_us, key = decode_cursor(cursor)
        if not key.isdigit():
            raise CursorError(f"cursor {cursor[:40]!r} is not a valid journal cursor")
        where.append("(s.ts_us, s.id) < (?, ?)")
        args.extend((ts_us, int(key)))
    sql = ("SELECT s.id, s.ts_us, s.strategy, s.ticker, s.side, s.action, s.price_cc, s.count, s.fair_prob, s.edge,"
           " s.confidence, s.reason, v.approved, v.reason_code, v.detail, o.client_order_id, o.count FROM signals s"
           " LEFT JOIN risk_verdicts v ON v.signal_id = s.id LEFT JOIN orders o ON o.signal_id = s.id"
           + (" WHERE " + " AND ".join(where) if where else "") + " ORDER BY s.ts_us DESC, s.id DESC LIMIT ?")
    rows = conn.execute(sql, (*args, limit + 1)).fetchall()
    nxt = encode_cursor(rows[limit - 1][1], str(rows[limit - 1][0])) if len(rows) > limit else None
    return Page(tuple(_decision(r) for r in rows[:limit]), nxt)


def _decision(r: Sequence[Any]) -> Decision:
    signal = Signal(ts=from_us(r[1]), strategy=r[2], ticker=r[3], side=r[4], action=r[5], price_cc=r[6], count=r[7],
                    fair_prob=r[8], edge=r[9], confidence=r[10], reason=r[11])
    return Decision(r[0], signal, None if r[12] is None else bool(r[12]), r[13], r[14], r[15], r[16])


# ---- fills -----------------------------------------------------------------------------------------

_FILL_COLS = ("fill_id, ts_us, order_id, client_order_id, ticker, side, action, count, price_cc, fee_cc,"
              " is_taker, strategy")


def _fill(r: Sequence[Any]) -> Fill:
    return Fill(
        fill_id=r[0], ts=from_us(r[1]), order_id=r[2], client_order_id=r[3], ticker=r[4], side=Side(r[5]),
        action=Action(r[6]), count=r[7], price_cc=r[8], fee_cc=r[9], is_taker=bool(r[10]), strategy=r[11],
    )


def list_fills(
    conn: sqlite3.Connection, *, ticker: str | None = None, strategy: str | None = None,
    order_id: str | None = None, since: datetime | None = None, until: datetime | None = None,
    limit: int = 100, cursor: str | None = None,
) -> Page[Fill]:
    """Fills (trades) matching every given filter, newest first; ``since`` inclusive, ``until`` exclusive."""
    where: list[str] = []
    args: list[Any] = []
    _equal_filters(where, args, (("ticker", ticker), ("strategy", strategy), ("order_id", order_id)))
    _time_filters(where, args, since, until)
    rows, nxt = _page(conn, f"SELECT {_FILL_COLS} FROM fills", "fill_id", where, args, limit, cursor)
    return Page(tuple(_fill(r) for r in rows), nxt)


# Fills replayed in time order (positions, P&L, the portfolio at a start) break ties of time by the
# order they were booked in (the table's rowid, which nothing renumbers: no VACUUM, and backups copy
# pages): the order the daemon applied them in. Fills of one market at the same microsecond can only be
# replayed in that order; by fill_id, a random text, a sale could come before the buy it sells.
_TIME_ORDER = "ORDER BY ts_us, rowid"


def fills_for_ticker(conn: sqlite3.Connection, ticker: str) -> list[Fill]:
    """The market's fills in time order (ties: as booked)."""
    rows = conn.execute(f"SELECT {_FILL_COLS} FROM fills WHERE ticker = ? {_TIME_ORDER}", (ticker,)).fetchall()
    return [_fill(r) for r in rows]


def fills_in_time_order(conn: sqlite3.Connection) -> list[Fill]:
    """Every fill in time order (ties: as booked), to be replayed."""
    return [_fill(r) for r in conn.execute(f"SELECT {_FILL_COLS} FROM fills {_TIME_ORDER}")]


def fees_by_ticker(conn: sqlite3.Connection, tickers: Sequence[str]) -> dict[str, int]:
    """The fees of every journaled fill in each of ``tickers`` (a market with none is left out)."""
    marks = ", ".join("?" * len(tickers))
    rows = conn.execute(f"SELECT ticker, SUM(fee_cc) FROM fills WHERE ticker IN ({marks}) GROUP BY ticker",
                        tuple(tickers)).fetchall() if tickers else []
    return {str(t): int(f) for t, f in rows}


def orders_short_of_fills(conn: sqlite3.Connection) -> list[tuple[str, str]]:
    """``(order_id, ticker)`` of every order the exchange says filled more contracts than the journal
    has booked for it (a fill's netted parts add up to it), oldest first."""
    rows = conn.execute(
        "SELECT o.order_id, o.ticker FROM orders o WHERE o.order_id IS NOT NULL AND o.filled >"
        " (SELECT COALESCE(SUM(f.count), 0) FROM fills f WHERE f.order_id = o.order_id)"
        " ORDER BY o.ts_us, o.client_order_id").fetchall()
    return [(r[0], r[1]) for r in rows]


def last_fill(conn: sqlite3.Connection) -> Fill | None:
    """The latest fill journaled (by exchange time, then ``fill_id``): where reconciliation resumes."""
    row = conn.execute(f"SELECT {_FILL_COLS} FROM fills ORDER BY ts_us DESC, fill_id DESC LIMIT 1").fetchone()
    return None if row is None else _fill(row)


# ---- settlements, positions, P&L -------------------------------------------------------------------

_SETTLEMENT_COLS = ("ticker, result, revenue_cc, yes_count, no_count, settled_ts_us, fee_cc, yes_value_cc,"
                    " journal_check, check_detail")


def _settlement(r: Sequence[Any]) -> SettlementRecord:
    s = Settlement(
        ticker=r[0], result=SettlementResult(r[1]), revenue_cc=r[2], yes_count=r[3], no_count=r[4],
        settled_ts=from_us(r[5]), fee_cc=r[6], yes_value_cc=r[7],
    )
    return SettlementRecord(s, JournalCheck(r[8]), r[9])


def get_settlement(conn: sqlite3.Connection, ticker: str) -> SettlementRecord | None:
    row = conn.execute(f"SELECT {_SETTLEMENT_COLS} FROM settlements WHERE ticker = ?", (ticker,)).fetchone()
    return None if row is None else _settlement(row)


def list_settlements(conn: sqlite3.Connection, check: JournalCheck | None = None) -> list[SettlementRecord]:
    sql = f"SELECT {_SETTLEMENT_COLS} FROM settlements"
    args: tuple[Any, ...] = ()
    if check is not None:
        sql, args = sql + " WHERE journal_check = ?", (check.value,)
    return [_settlement(r) for r in conn.execute(sql + " ORDER BY settled_ts_us, ticker", args)]


LedgerInputs = tuple[list[Fill], dict[str, Settlement]]


def ledger_inputs(conn: sqlite3.Connection) -> LedgerInputs:
    """Every fill and settlement, read in one transaction so that they agree with each other."""
    conn.execute("BEGIN")
    try:
        fills = fills_in_time_order(conn)
        settlements = {s.settlement.ticker: s.settlement for s in list_settlements(conn)}
    finally:
        conn.execute("COMMIT")
    return fills, settlements


def compute_ledgers(inputs: LedgerInputs) -> list[ledger.TickerLedger]:
    """Replay every market (pure; needs no connection, so callers run it without the journal lock)."""
    fills, settlements = inputs
    by_ticker: dict[str, list[Fill]] = {t: [] for t in settlements}
    for f in fills:
        by_ticker.setdefault(f.ticker, []).append(f)
    return [ledger.ticker_ledger(t, fs, settlements.get(t)) for t, fs in sorted(by_ticker.items())]


def positions_from(ledgers: Sequence[ledger.TickerLedger], include_settled: bool = False) -> list[Position]:
    """Per-market positions; settled markets only if asked."""
    return [b.position for b in ledgers if include_settled or not b.position.settled]


_GROUPINGS = {"day": ledger.day_key, "strategy": ledger.strategy_key, "ticker": ledger.ticker_key}


def pnl_from(
    ledgers: Sequence[ledger.TickerLedger], group_by: PnlGrouping, since: datetime | None = None,
    until: datetime | None = None,
) -> list[PnlRow]:
    """Realized P&L (gross, fees, net) grouped by UTC day, strategy or ticker (window).

    An entry is counted at its own time: a closing sell or fee on the fill's time, a settlement on
    ``settled_ts``. ``since`` is inclusive, ``until`` exclusive.
    """
    if group_by not in _GROUPINGS:
        raise ValueError(f"group_by: {group_by!r} is not one of {sorted(_GROUPINGS)}")
    entries = [
        e for b in ledgers for e in b.entries
        if (since is None or e.ts >= since) and (until is None or e.ts < until)
    ]
    return ledger.aggregate(entries, _GROUPINGS[group_by])


# ---- equity, breaker, meta, counts -----------------------------------------------------------------


def latest_equity(conn: sqlite3.Connection) -> EquitySnapshot | None:
    row = conn.execute(
        "SELECT ts_us, cash_cc, equity_cc, peak_cc FROM equity ORDER BY ts_us DESC, id DESC LIMIT 1"
    ).fetchone()
    return None if row is None else EquitySnapshot(from_us(row[0]), row[1], row[2], row[3])


def breaker_events(conn: sqlite3.Connection, since: datetime | None = None) -> list[BreakerEvent]:
    rows = conn.execute(
        "SELECT ts_us, from_state, to_state, reason FROM breaker_events WHERE ts_us >= ? ORDER BY ts_us, id",
        (to_us(since) if since is not None else -(2**62),),
    ).fetchall()
    return [BreakerEvent(from_us(r[0]), r[1], r[2], r[3]) for r in rows]


def get_meta(conn: sqlite3.Connection, key: str) -> str | None:
    row = conn.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
    return None if row is None else str(row[0])


TABLES = ("signals", "risk_verdicts", "orders", "order_events", "fills", "settlements", "equity",
          "breaker_events")


def table_counts(conn: sqlite3.Connection) -> dict[str, int]:
    return {t: conn.execute(f"SELECT count(*) FROM {t}").fetchone()[0] for t in TABLES}
