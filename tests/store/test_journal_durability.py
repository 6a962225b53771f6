"""Which journal commits are fsynced (synchronous=FULL) and which are not (see kalshid.store.sqlbase)."""

from __future__ import annotations

import os
import sqlite3
import stat
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from storefakes import T0, fill, intent, signal

from kalshid.store import sql_write
from kalshid.store.records import BreakerEvent, EquitySnapshot, OrderState, OrderUpdate, RiskVerdict
from kalshid.store.sqlbase import connect, transaction


@pytest.fixture
def conn(tmp_path: Path) -> Iterator[sqlite3.Connection]:
    c = connect(tmp_path / "j.sqlite3", "live")
    yield c
    c.close()


def sync_at_commit(conn: sqlite3.Connection, write: Callable[[], object]) -> list[int]:
    """The ``synchronous`` level in force at each COMMIT ``write`` issues (2 = FULL, 1 = NORMAL)."""
    levels: list[int] = []
    current = [int(conn.execute("PRAGMA synchronous").fetchone()[0])]

    def trace(stmt: str) -> None:
        s = stmt.strip().upper()
        if s.startswith("PRAGMA SYNCHRONOUS ="):
            current[0] = {"FULL": 2, "NORMAL": 1}[s.rsplit("=", 1)[1].strip()]
        elif s == "COMMIT":
            levels.append(current[0])

    conn.set_trace_callback(trace)
    try:
        write()
    finally:
        conn.set_trace_callback(None)
    return levels


def test_the_pragma_is_really_full_inside_a_durable_transaction_and_normal_after(conn: sqlite3.Connection) -> None:
    with transaction(conn, durable=True):
        inside_durable = conn.execute("PRAGMA synchronous").fetchone()[0]
    with transaction(conn):
        inside_plain = conn.execute("PRAGMA synchronous").fetchone()[0]
    assert (inside_durable, inside_plain) == (2, 1)
    assert conn.execute("PRAGMA synchronous").fetchone()[0] == 1


def test_a_failed_durable_transaction_rolls_back_and_restores_normal(conn: sqlite3.Connection) -> None:
    with pytest.raises(RuntimeError), transaction(conn, durable=True):
        conn.execute("INSERT INTO meta (key, value) VALUES ('x', 'y')")
        raise RuntimeError("boom")
    assert conn.execute("SELECT COUNT(*) FROM meta WHERE key = 'x'").fetchone()[0] == 0
    assert conn.execute("PRAGMA synchronous").fetchone()[0] == 1


def test_what_precedes_an_order_request_is_fsynced(conn: sqlite3.Connection) -> None:
    # (an order's decision is made durable by the intent log, not by SQLite: see below)
    assert sync_at_commit(conn, lambda: sql_write.insert_intent(conn, intent("c-2"), False)) == [2]
    assert sync_at_commit(conn, lambda: sql_write.mark_in_flight(conn, "c-2", T0)) == [2]
    assert sync_at_commit(conn, lambda: sql_write.insert_breaker_event(
        conn, BreakerEvent(ts=T0, from_state="active", to_state="halted", reason="daily_loss"))) == [2]
    assert sync_at_commit(conn, lambda: sql_write.set_meta(conn, "k", "v")) == [2]


def test_what_the_exchange_can_tell_again_is_not_fsynced(conn: sqlite3.Connection) -> None:
    sql_write.insert_intent(conn, intent("c-1"), False)
    update = OrderUpdate(state=OrderState.RESTING, ts=T0, filled=0, remaining=5, fees_cc=0,
                         client_order_id="c-1", order_id="oid-1", source="exchange")
    assert sync_at_commit(conn, lambda: sql_write.apply_update(conn, update)) == [1]
    assert sync_at_commit(conn, lambda: sql_write.insert_fill(conn, fill("f-1"))) == [1]
    assert sync_at_commit(conn, lambda: sql_write.insert_equity(
        conn, EquitySnapshot(ts=T0, cash_cc=1, equity_cc=1, peak_cc=1))) == [1]
    assert sync_at_commit(conn, lambda: sql_write.insert_signal(conn, signal())) == [1]
    # the decision's rows follow the fsynced intent-log record (kalshid.store.intentlog)
    verdict = RiskVerdict(signal_id=1, ts=T0, approved=True, reason_code="ok", detail="")
    assert sync_at_commit(conn, lambda: sql_write.insert_decision(
        conn, signal(), verdict, intent("c-2"), False)) == [1]


def test_the_journal_and_its_wal_are_owner_only_from_their_creation(tmp_path: Path) -> None:
    old = os.umask(0o022)  # a umask that would leave SQLite's files readable by everyone
    try:
        c = connect(tmp_path / "j.sqlite3", "live")
        c.execute("INSERT INTO meta (key, value) VALUES ('probe', '1')")  # the WAL holds data now
    finally:
        os.umask(old)
    try:
        modes = {f.name: stat.S_IMODE(f.stat().st_mode) for f in tmp_path.iterdir()}
    finally:
        c.close()
    assert modes == {"j.sqlite3": 0o600, "j.sqlite3-wal": 0o600, "j.sqlite3-shm": 0o600}
