"""Reading a journal without a daemon (``kalshid journal``): a stopped daemon's, a running one's, or a
backup copy, opened read-only, so nothing is replayed, migrated or written.

What it shows is what the control plane shows from a live daemon, in the same shapes
(:mod:`kalshid.store.views`): orders, fills, realised P&L, the journal's positions; plus what only the
journal knows: the decisions (each signal, the verdict on it and the order it became), an order's
events (every update the exchange sent, including the ones not applied), the breaker's history, the
``meta`` entries (the exchange it belongs to, the trading mode, the operator's stops) and the
decisions of the intent log the database does not have yet (the next start replays them).
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from kalshid.core.units import format_dollars
from kalshid.store import records, sql_read
from kalshid.store.intentlog import read_records
from kalshid.store.jobs import intent_log_path
from kalshid.store.views import JSON, decision_json, fill_json, order_json, pnl_grouping, pnl_json


class InspectError(ValueError):
    """The file cannot be read as a journal; the message names it and why."""


@contextmanager
def read_only(path: Path) -> Iterator[sqlite3.Connection]:
    """A read-only connection to the journal at ``path`` (refused if it is missing or not a journal)."""
    if not path.is_file():
        raise InspectError(f"{path}: no journal there (kalshid run writes var/kalshid-<env>.sqlite3; "
                           "pass --journal or --config)")
    try:
        conn = sqlite3.connect(path.resolve().as_uri() + "?mode=ro", uri=True)
    except sqlite3.Error as exc:
        raise InspectError(f"{path}: cannot be opened ({exc})") from None
    try:
        try:
            sql_read.table_counts(conn)
        except sqlite3.DatabaseError as exc:
            raise InspectError(f"{path}: not a kalshid journal ({exc})") from None
        yield conn
    finally:
        conn.close()


def summary(conn: sqlite3.Connection, path: Path) -> JSON:
    """What the journal holds: its rows, meta, realised P&L, open positions, the breaker's last
    transition, and the intent log's decisions that are not in the database yet."""
    ledgers = sql_read.compute_ledgers(sql_read.ledger_inputs(conn))
    rows = sql_read.pnl_from(ledgers, "ticker")
    newest = sql_read.list_fills(conn, limit=1, cursor=None).items  # newest first
    breaker = sql_read.breaker_events(conn)
    pending = not_in_journal(conn, path)
    return {
        "journal": str(path),
        "meta": meta(conn),
        "rows": sql_read.table_counts(conn),
        "last_fill": newest[0].ts.isoformat() if newest else None,
        "realized": format_dollars(sum(r.realized_cc for r in rows)),
        "fees": format_dollars(sum(r.fees_cc for r in rows)),
        "net": format_dollars(sum(r.net_cc for r in rows)),
        "open_positions": len(sql_read.positions_from(ledgers)),
        "breaker": (f"{breaker[-1].to_state} at {breaker[-1].ts.isoformat()}: {breaker[-1].reason}"
                    if breaker else "never tripped"),
        "intent_log": {"decisions_not_in_journal": pending},
    }


def meta(conn: sqlite3.Connection) -> JSON:
    """Every ``meta`` entry; a value holding a JSON object (the operator's state) is shown parsed."""
    out: JSON = {}
    for key, value in conn.execute("SELECT key, value FROM meta ORDER BY key"):
        try:
            parsed = json.loads(value)
        except (TypeError, ValueError):
            parsed = None
        out[str(key)] = parsed if isinstance(parsed, dict) else value
    return out


def not_in_journal(conn: sqlite3.Connection, path: Path) -> list[str]:
    """The ``client_order_id`` of each decision in the journal's intent log that the database lacks."""
    out = []
    for rec in read_records(intent_log_path(path)):
        intent = rec.get("intent")
        cid = intent.get("client_order_id") if isinstance(intent, dict) else None
        if isinstance(cid, str) and sql_read.get_order(conn, cid) is None:
            out.append(cid)
    return out


def orders(conn: sqlite3.Connection, *, ticker: str | None, states: list[records.OrderState] | None,
           limit: int, cursor: str | None) -> JSON:
    page = sql_read.list_orders(conn, ticker=ticker, states=states, limit=limit, cursor=cursor)
    return {"items": [order_json(o) for o in page.items], "cursor": page.next_cursor}


def trades(conn: sqlite3.Connection, *, ticker: str | None, limit: int, cursor: str | None) -> JSON:
    page = sql_read.list_fills(conn, ticker=ticker, limit=limit, cursor=cursor)
    return {"items": [fill_json(f) for f in page.items], "cursor": page.next_cursor}


def decisions(conn: sqlite3.Connection, *, ticker: str | None, strategy: str | None, refused: bool, limit: int,
              cursor: str | None) -> JSON:
    """Signals with the verdicts on them and the orders they became, newest first."""
    page = sql_read.list_decisions(conn, ticker=ticker, strategy=strategy, refused=refused, limit=limit,
                                   cursor=cursor)
    return {"items": [decision_json(d) for d in page.items], "cursor": page.next_cursor}


def pnl(conn: sqlite3.Connection, group_by: str) -> list[JSON]:
    """Realised P&L by ``day``, ``strategy`` or ``window``."""
    try:
        grouping = pnl_grouping(group_by)
    except ValueError as exc:
        raise InspectError(str(exc)) from None
    ledgers = sql_read.compute_ledgers(sql_read.ledger_inputs(conn))
    return pnl_json(sql_read.pnl_from(ledgers, grouping), group_by)


def positions(conn: sqlite3.Connection) -> list[JSON]:
    """The journal's open positions (from its fills and settlements; no market marks offline)."""
    ledgers = sql_read.compute_ledgers(sql_read.ledger_inputs(conn))
    return [{"ticker": p.ticker, "yes_count": p.yes_count, "no_count": p.no_count,
             "cost_basis": format_dollars(p.cost_basis_cc), "fees": format_dollars(p.fees_cc),
             "updated": p.updated.isoformat()} for p in sql_read.positions_from(ledgers)]


def breaker(conn: sqlite3.Connection) -> list[JSON]:
    """Every circuit-breaker transition, oldest first (a trip, a stop of entries, a reset)."""
    return [{"ts": e.ts.isoformat(), "from": e.from_state, "to": e.to_state, "reason": e.reason}
            for e in sql_read.breaker_events(conn)]


def order(conn: sqlite3.Connection, client_order_id: str) -> JSON:
    """One order with its events (each exchange update, applied or not) and its fills."""
    record = sql_read.get_order(conn, client_order_id)
    if record is None:
        raise InspectError(f"no order {client_order_id!r} in the journal")
    events: list[Any] = [{"ts": e.ts.isoformat(), "event": e.event, **e.detail}
                         for e in sql_read.order_events(conn, client_order_id)]
    fills = [fill_json(f) for f in sql_read.fills_for_ticker(conn, record.ticker)
             if f.client_order_id == client_order_id or (record.order_id and f.order_id == record.order_id)]
    return {"order": order_json(record), "events": events, "fills": fills}
