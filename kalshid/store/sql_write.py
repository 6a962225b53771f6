"""Synchronous writes to the journal: one function per record, each one transaction.

Every function takes an open :func:`~kalshid.store.sqlbase.connect` connection and commits before
it returns, so a write that returned survives ``kill -9``. They are safe to replay: fills are keyed
by ``fill_id`` and settlements by ``ticker`` (``INSERT OR IGNORE``), order updates pass through the
state machine (:mod:`kalshid.store.orderstate`), so feeding the same exchange data twice — after a
reconnect or a restart — changes nothing.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence
from datetime import datetime
from typing import Any

import attrs

from kalshid.core.vocab import TimeInForce
from kalshid.logs import get_logger
from kalshid.store import ledger
from kalshid.store.orderstate import classify_update
from kalshid.store.records import (
    BreakerEvent,
    EquitySnapshot,
    ExternalOrder,
    Fill,
    OrderIntent,
    OrderState,
    OrderUpdate,
    RiskVerdict,
    Settlement,
    SettlementRecord,
    Signal,
    UpdateOutcome,
)
from kalshid.store.sql_read import fills_for_ticker, get_settlement
from kalshid.store.sqlbase import dumps, to_us, transaction

log = get_logger(__name__)

EXTERNAL_STRATEGY = "external"
EXTERNAL_PREFIX = "external:"


class DuplicateIntentError(ValueError):
    """An intent with this ``client_order_id`` is already journaled: one id per intent, never reused."""


def _event(conn: sqlite3.Connection, cid: str, ts_us: int, event: str, detail: dict[str, Any]) -> None:
    conn.execute(
        "INSERT INTO order_events (client_order_id, ts_us, event, detail) VALUES (?, ?, ?, ?)",
        (cid, ts_us, event, dumps(detail)),
    )


def _signal_row(conn: sqlite3.Connection, s: Signal) -> int:
    cur = conn.execute(
        "INSERT INTO signals (ts_us, strategy, ticker, side, action, price_cc, count, fair_prob, edge,"
        " confidence, reason) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        (to_us(s.ts), s.strategy, s.ticker, s.side.value, s.action.value, s.price_cc, s.count,
         float(s.fair_prob), float(s.edge), float(s.confidence), s.reason),
    )
    assert cur.lastrowid is not None
    return cur.lastrowid


def _verdict_row(conn: sqlite3.Connection, v: RiskVerdict) -> int:
    try:
        cur = conn.execute(
            "INSERT INTO risk_verdicts (signal_id, ts_us, approved, reason_code, detail) VALUES (?, ?, ?, ?, ?)",
            (v.signal_id, to_us(v.ts), int(v.approved), v.reason_code, v.detail),
        )
    except sqlite3.IntegrityError as exc:
        raise ValueError(f"risk verdict: signal_id {v.signal_id} is not in the journal ({exc})") from exc
    assert cur.lastrowid is not None
    return cur.lastrowid


def _intent_row(conn: sqlite3.Connection, i: OrderIntent, dry_run: bool, state: OrderState) -> None:
    ts = to_us(i.ts)
    if conn.execute("SELECT 1 FROM orders WHERE client_order_id = ?", (i.client_order_id,)).fetchone():
        raise DuplicateIntentError(f"client_order_id {i.client_order_id!r} is already journaled")
    try:
        conn.execute(
            "INSERT INTO orders (client_order_id, order_id, ts_us, strategy, signal_id, ticker, side,"
            " action, price_cc, count, tif, state, filled, remaining, fees_cc, last_update_us,"
            " external, dry_run)"
            " VALUES (?, NULL, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 0, ?, 0, ?, 0, ?)",
            (i.client_order_id, ts, i.strategy, i.signal_id, i.ticker, i.side.value, i.action.value,
             i.price_cc, i.count, i.tif.value, state.value, i.count, ts, int(dry_run)),
        )
    except sqlite3.IntegrityError as exc:
        raise ValueError(
            f"order intent {i.client_order_id}: signal_id {i.signal_id} is not in the journal ({exc})"
        ) from exc
    _event(conn, i.client_order_id, ts, "intent", {"state": state.value, "signal_id": i.signal_id})


def insert_signal(conn: sqlite3.Connection, s: Signal) -> int:
    with transaction(conn):
        return _signal_row(conn, s)


def insert_verdict(conn: sqlite3.Connection, v: RiskVerdict) -> int:
    """Raises :class:`ValueError` if ``v.signal_id`` is not a journaled signal."""
    with transaction(conn):
        return _verdict_row(conn, v)


def insert_rejection(conn: sqlite3.Connection, s: Signal, v: RiskVerdict) -> int:
    """A signal and the verdict that refused it, in one transaction (``v.signal_id`` is replaced by
    the new signal's id); returns the signal's id."""
    with transaction(conn):
        signal_id = _signal_row(conn, s)
        _verdict_row(conn, attrs.evolve(v, signal_id=signal_id))
        return signal_id


def prune_refusals(conn: sqlite3.Connection, before: datetime, after_id: int,
                   limit: int) -> tuple[int, int | None]:
    """One step of :meth:`~kalshid.store.journalcalls.JournalCalls.prune_refusals`: the next ``limit``
    signals by id after ``after_id``, up to the first one journaled at or after ``before`` (signals are
    written in time order), lose those that were refused (no order names them, no verdict approved
    them) and their verdicts. Returns ``(how many were deleted, the last id examined)``, that id
    ``None`` once the step reached ``before`` or the end: nothing older is left to examine."""
    cutoff = to_us(before)
    with transaction(conn):
        rows = conn.execute(
            "SELECT s.id, s.ts_us, s.id NOT IN (SELECT signal_id FROM orders WHERE signal_id IS NOT NULL)"
            " AND NOT EXISTS (SELECT 1 FROM risk_verdicts v WHERE v.signal_id = s.id AND v.approved = 1)"
            " FROM signals s WHERE s.id > ? ORDER BY s.id LIMIT ?", (after_id, limit)).fetchall()
        older = [(signal_id, prunable) for signal_id, ts_us, prunable in rows if ts_us < cutoff]
        refused = [(signal_id,) for signal_id, prunable in older if prunable]
        conn.executemany("DELETE FROM risk_verdicts WHERE signal_id = ?", refused)
        conn.executemany("DELETE FROM signals WHERE id = ?", refused)
    finished = len(rows) < limit or len(older) < len(rows)
    return len(refused), None if finished else rows[-1][0]


def insert_intent(conn: sqlite3.Connection, i: OrderIntent, dry_run: bool) -> None:
    """Journal an order intent in state ``pending``; committed (durable) when this returns.

    Raises :class:`DuplicateIntentError` for a reused ``client_order_id`` and :class:`ValueError`
    for an unknown ``signal_id``.
    """
    with transaction(conn, durable=True):
        _intent_row(conn, i, dry_run, OrderState.PENDING)


def insert_decision(conn: sqlite3.Connection, s: Signal, v: RiskVerdict, i: OrderIntent, dry_run: bool) -> int:
    """Signal, approving verdict and intent in *one* transaction, the intent already ``in_flight``:
    after a crash it is resolved by ``client_order_id`` like any in-flight order. ``v.signal_id`` and
    ``i.signal_id`` are ignored (set to the new signal's id). Returns the signal id.

    Not fsynced: the decision is made durable by the intent log before the order is sent
    (:func:`decision_record`, :mod:`kalshid.store.intentlog`), and written here afterwards, or
    replayed from the log at the next open."""
    with transaction(conn):
        signal_id = _signal_row(conn, s)
        _verdict_row(conn, attrs.evolve(v, signal_id=signal_id))
        _intent_row(conn, attrs.evolve(i, signal_id=signal_id), dry_run, OrderState.IN_FLIGHT)
    return signal_id


# ---- the intent log's records (see kalshid.store.intentlog) --------------------------------------------

DECISION = "decision"
INTENT_LOG_SYNCS_KEY = "intent_log_syncs"


def decision_record(s: Signal, v: RiskVerdict, i: OrderIntent, dry_run: bool) -> dict[str, Any]:
    """What the intent log keeps of a decision: enough to journal it again exactly (JSON-safe): every
    field of the three records, times as ISO text and enums as their values (what ``attrs.asdict``
    with a value serializer makes, field for field, at a fraction of its cost: this is on the order's
    path; ``tests/store/test_decision_record.py`` holds the two equal)."""
    return {
        "kind": DECISION, "dry_run": dry_run,
        "signal": {"ts": s.ts.isoformat(), "strategy": s.strategy, "ticker": s.ticker, "side": s.side.value,
                   "action": s.action.value, "price_cc": s.price_cc, "count": s.count, "fair_prob": s.fair_prob,
                   "edge": s.edge, "confidence": s.confidence, "reason": s.reason},
        "verdict": {"signal_id": v.signal_id, "ts": v.ts.isoformat(), "approved": v.approved,
                    "reason_code": v.reason_code, "detail": v.detail},
        "intent": {"client_order_id": i.client_order_id, "ts": i.ts.isoformat(), "strategy": i.strategy,
                   "ticker": i.ticker, "side": i.side.value, "action": i.action.value, "price_cc": i.price_cc,
                   "count": i.count, "tif": i.tif.value, "signal_id": i.signal_id},
    }


def _timed(d: dict[str, Any]) -> dict[str, Any]:
    return {**d, "ts": datetime.fromisoformat(d["ts"])}


def replay_decisions(conn: sqlite3.Connection, records: list[dict[str, Any]]) -> list[str]:
    """Journal every decision of the intent log the journal does not have (by ``client_order_id``);
    returns their ids. The log is only read at start, before anything else uses the journal, so a
    decision missing here is one a power cut took from SQLite after the order may have been sent.

    Raises :class:`ValueError` naming the record for one that cannot be read back: the log is ours
    and CRC-checked, so that is corruption or a bug, and trading must not start on a guess."""
    replayed: list[str] = []
    for n, rec in enumerate(records):
        try:
            if rec.get("kind") != DECISION:
                raise ValueError(f"unknown kind {rec.get('kind')!r}")
            s, v, i = Signal(**_timed(rec["signal"])), RiskVerdict(**_timed(rec["verdict"])), \
                OrderIntent(**_timed(rec["intent"]))
            dry_run = rec["dry_run"]
            if not isinstance(dry_run, bool):
                raise ValueError(f"dry_run: expected a bool, got {dry_run!r}")
        except (KeyError, TypeError, ValueError) as exc:
            raise ValueError(f"intent log record {n + 1}: cannot be read back ({type(exc).__name__}: {exc})"
                             ) from exc
        if conn.execute("SELECT 1 FROM orders WHERE client_order_id = ?", (i.client_order_id,)).fetchone():
            continue
        insert_decision(conn, s, v, i, dry_run)
        replayed.append(i.client_order_id)
    return replayed


def sync_durable(conn: sqlite3.Connection) -> None:
    """One fsynced commit: every earlier commit of the connection is durable once this returns (the
    WAL is append-only). It bumps a counter in ``meta`` so there is a page to write."""
    with transaction(conn, durable=True):
        conn.execute(
            "INSERT INTO meta (key, value) VALUES (?, '1')"
            " ON CONFLICT (key) DO UPDATE SET value = CAST(value AS INTEGER) + 1",
            (INTENT_LOG_SYNCS_KEY,),
        )


def _find_order(conn: sqlite3.Connection, cid: str | None, order_id: str | None) -> tuple[Any, ...] | None:
    cols = "client_order_id, order_id, state, filled, remaining, fees_cc, given_up"
    if cid:
        row = conn.execute(f"SELECT {cols} FROM orders WHERE client_order_id = ?", (cid,)).fetchone()
        if row is not None:
            return row  # type: ignore[no-any-return]
    if order_id:
        return conn.execute(  # type: ignore[no-any-return]
            f"SELECT {cols} FROM orders WHERE order_id = ?", (order_id,)
        ).fetchone()
    return None


def apply_update(conn: sqlite3.Connection, u: OrderUpdate) -> UpdateOutcome:
    """Apply an exchange update through the state machine; see :class:`UpdateOutcome`.

    ``STALE`` and ``ILLEGAL`` updates are not applied but are written to ``order_events`` (and
    logged), so a surprising exchange message is never lost nor silently obeyed. An ``order_id``
    that contradicts the stored one, or belongs to another order, is ``ILLEGAL``. An exchange state of
    an order rejected by a give-up (``gives_up``) is ``TAKEN_BACK``: applied, written to
    ``order_events`` as ``taken_back`` and logged as a warning.

    Only the move to ``in_flight`` (made before a request is sent) is fsynced; every other state
    comes from the exchange and is fetched again by reconciliation (see :mod:`.sqlbase`).
    """
    ts = to_us(u.ts)
    with transaction(conn, durable=u.state is OrderState.IN_FLIGHT):
        row = _find_order(conn, u.client_order_id, u.order_id)
        if row is None:
            return UpdateOutcome.UNKNOWN
        cid, stored_oid, state = row[0], row[1], OrderState(row[2])
        current = (row[3], row[4], row[5])
        new = (u.filled, u.remaining, u.fees_cc)
        outcome = classify_update(state, current, u.state, new, given_up=bool(row[6]))
        why = ""
        if u.order_id and stored_oid and u.order_id != stored_oid:
            outcome, why = UpdateOutcome.ILLEGAL, f"order_id {u.order_id} contradicts stored {stored_oid}"
        elif u.order_id and not stored_oid:
            other = conn.execute(
                "SELECT client_order_id FROM orders WHERE order_id = ?", (u.order_id,)
            ).fetchone()
            if other is not None:
                outcome, why = UpdateOutcome.ILLEGAL, f"order_id {u.order_id} belongs to {other[0]}"
        detail = {"from": state.value, "to": u.state.value, "filled": u.filled, "remaining": u.remaining,
                  "fees_cc": u.fees_cc, "order_id": u.order_id, "source": u.source}
        if u.detail:
            detail["detail"] = u.detail
        if outcome in (UpdateOutcome.APPLIED, UpdateOutcome.DUPLICATE, UpdateOutcome.TAKEN_BACK):
            # given_up says whether the stored state is a give-up's rejection: set by one, cleared by
            # any other state (a repeat keeps it)
            conn.execute(
                "UPDATE orders SET state = ?, filled = ?, remaining = ?, fees_cc = ?, last_update_us = ?,"
                " order_id = COALESCE(order_id, ?), given_up = ? WHERE client_order_id = ?",
                (u.state.value, u.filled, u.remaining, u.fees_cc, ts, u.order_id,
                 int(bool(row[6]) if outcome is UpdateOutcome.DUPLICATE else u.gives_up), cid),
            )
            if outcome is UpdateOutcome.APPLIED:
                _event(conn, cid, ts, "update", detail)
            elif outcome is UpdateOutcome.TAKEN_BACK:
                _event(conn, cid, ts, "taken_back", detail)
                log.warning("order given up as never sent is on the exchange after all: taken back",
                            client_order_id=cid, **detail)
        else:
            if why:
                detail["why"] = why
            _event(conn, cid, ts, f"{outcome.value}_update", detail)
            # a stale update is the feed's message overtaken by a newer state (a REST answer, a later
            # message): expected, kept for the record; an illegal one contradicts the journal: look at it
            (log.info if outcome is UpdateOutcome.STALE else log.warning)(
                "order update not applied", outcome=outcome.value, client_order_id=cid, **detail)
    return outcome


def adopt_external(conn: sqlite3.Connection, o: ExternalOrder, dry_run: bool) -> tuple[str, bool]:
    """Journal an order found on the exchange that we did not place, flagged ``external``.

    Returns ``(client_order_id, adopted)``; ``adopted`` is ``False`` if the order (by
    ``client_order_id`` or ``order_id``) is already journaled. An order without a client id is keyed
    ``external:<order_id>``.
    """
    cid = o.client_order_id or f"{EXTERNAL_PREFIX}{o.order_id}"
    ts = to_us(o.ts)
    with transaction(conn):
        if _find_order(conn, cid, o.order_id) is not None:
            return cid, False
        conn.execute(
            "INSERT INTO orders (client_order_id, order_id, ts_us, strategy, signal_id, ticker, side, action,"
            " price_cc, count, tif, state, filled, remaining, fees_cc, last_update_us, external, dry_run)"
            " VALUES (?, ?, ?, ?, NULL, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 1, ?)",
            (cid, o.order_id, ts, EXTERNAL_STRATEGY, o.ticker, o.side.value, o.action.value, o.price_cc,
             o.count, TimeInForce.GOOD_TILL_CANCELED.value, o.state.value, o.filled, o.remaining, o.fees_cc, ts,
             int(dry_run)),
        )
        _event(conn, cid, ts, "adopted_external", {"order_id": o.order_id, "state": o.state.value})
    log.warning("adopted external order", client_order_id=cid, order_id=o.order_id, ticker=o.ticker)
    return cid, True


_FILL_COLS = ("order_id", "ticker", "side", "action", "count", "price_cc", "fee_cc", "is_taker", "ts_us")


def insert_fill(conn: sqlite3.Connection, f: Fill) -> bool:
    """Journal a fill once; returns ``True`` if it was new, ``False`` if ``fill_id`` was already there.

    The strategy and client order id are filled in from the order when the fill does not carry
    them. A repeated ``fill_id`` whose contents differ is not applied; it is logged (and written to
    the order's events when the order is known) as ``fill_conflict``.
    """
    with transaction(conn):
        return _insert_fill(conn, f)


def insert_fills(conn: sqlite3.Connection, fills: Sequence[Fill]) -> list[bool]:
    """Journal the parts of one exchange fill (a netted fill's closing sell and opening buy) in one
    transaction, so a process that ends between them never leaves one without the other; each as
    :func:`insert_fill`, in order. Returns, per part, whether it was new."""
    with transaction(conn):
        return [_insert_fill(conn, f) for f in fills]


def _insert_fill(conn: sqlite3.Connection, f: Fill) -> bool:
    """:func:`insert_fill` inside the caller's transaction."""
    ts = to_us(f.ts)
    order = _find_order(conn, f.client_order_id, f.order_id)
    cid = f.client_order_id or (order[0] if order is not None else None)
    strategy = f.strategy
    if strategy is None and order is not None:
        strategy = conn.execute(
            "SELECT strategy FROM orders WHERE client_order_id = ?", (order[0],)
        ).fetchone()[0]
    values = (f.order_id, f.ticker, f.side.value, f.action.value, f.count, f.price_cc, f.fee_cc,
              int(f.is_taker), ts)
    cur = conn.execute(
        f"INSERT OR IGNORE INTO fills (fill_id, client_order_id, strategy, {', '.join(_FILL_COLS)})"
        " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        (f.fill_id, cid, strategy, *values),
    )
    if cur.rowcount == 1:
        if order is not None:
            _event(conn, order[0], ts, "fill", {"fill_id": f.fill_id, "count": f.count,
                                                "price_cc": f.price_cc, "fee_cc": f.fee_cc})
        return True
    stored = conn.execute(
        f"SELECT {', '.join(_FILL_COLS)} FROM fills WHERE fill_id = ?", (f.fill_id,)
    ).fetchone()
    if tuple(stored) != values:
        detail = {"fill_id": f.fill_id, "stored": list(stored), "received": list(values)}
        if order is not None:
            _event(conn, order[0], ts, "fill_conflict", detail)
        log.error("fill_id seen again with different contents; kept the first", **detail)
    return False


def insert_settlement(conn: sqlite3.Connection, s: Settlement) -> tuple[SettlementRecord, bool]:
    """Journal a market's settlement once, checked against the journal's fills.

    Returns ``(record, new)``. A second settlement for the same ticker is ignored (the first is
    returned); if it differs, that is logged as an error.
    """
    with transaction(conn):
        existing = get_settlement(conn, s.ticker)
        if existing is not None:
            if existing.settlement != s:
                log.error("settlement seen again with different contents; kept the first",
                          ticker=s.ticker, stored=str(existing.settlement), received=str(s))
            return existing, False
        book = ledger.ticker_ledger(s.ticker, fills_for_ticker(conn, s.ticker), s)
        check, detail = ledger.check_settlement(book, s)
        conn.execute(
            "INSERT INTO settlements (ticker, result, revenue_cc, yes_count, no_count, yes_value_cc, fee_cc,"
            " settled_ts_us, journal_check, check_detail) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (s.ticker, s.result.value, s.revenue_cc, s.yes_count, s.no_count, s.yes_value_cc, s.fee_cc,
             to_us(s.settled_ts), check.value, detail),
        )
    if detail and check.value == "mismatch":
        log.error("settlement does not match the journal", ticker=s.ticker, detail=detail)
    return SettlementRecord(s, check, detail), True


def insert_equity(conn: sqlite3.Connection, e: EquitySnapshot) -> None:
    with transaction(conn):
        conn.execute(
            "INSERT INTO equity (ts_us, cash_cc, equity_cc, peak_cc) VALUES (?, ?, ?, ?)",
            (to_us(e.ts), e.cash_cc, e.equity_cc, e.peak_cc),
        )


def insert_breaker_event(conn: sqlite3.Connection, b: BreakerEvent) -> None:
    with transaction(conn, durable=True):  # a HALTED breaker must survive a power cut
        conn.execute(
            "INSERT INTO breaker_events (ts_us, from_state, to_state, reason) VALUES (?, ?, ?, ?)",
            (to_us(b.ts), b.from_state, b.to_state, b.reason),
        )


def set_meta(conn: sqlite3.Connection, key: str, value: str) -> None:
    if not key:
        raise ValueError("meta key: must be a non-empty string")
    with transaction(conn, durable=True):
        conn.execute(
            "INSERT INTO meta (key, value) VALUES (?, ?)"
            " ON CONFLICT (key) DO UPDATE SET value = excluded.value",
            (key, value),
        )


def mark_in_flight(conn: sqlite3.Connection, client_order_id: str, ts: datetime) -> UpdateOutcome:
    """Move a ``pending`` intent to ``in_flight`` (call right before the request goes out)."""
    row = conn.execute(
        "SELECT filled, remaining, fees_cc FROM orders WHERE client_order_id = ?", (client_order_id,)
    ).fetchone()
    if row is None:
        return UpdateOutcome.UNKNOWN
    return apply_update(conn, OrderUpdate(
        state=OrderState.IN_FLIGHT, ts=ts, filled=row[0], remaining=row[1], fees_cc=row[2],
        client_order_id=client_order_id, source="journal",
    ))
