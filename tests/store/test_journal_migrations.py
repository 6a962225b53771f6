"""Schema migrations: fresh create, upgrade, atomic failure, refusal of newer schemas and other modes."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from kalshid.store import JournalModeError, SchemaTooNewError, open_journal
from kalshid.store.migrations import LATEST_VERSION, MIGRATIONS, Migration, MigrationError, migrate
from kalshid.store.sqlbase import connect

EXPECTED_TABLES = {"meta", "signals", "risk_verdicts", "orders", "order_events", "fills", "settlements",
                   "equity", "breaker_events"}


def _tables(conn: sqlite3.Connection) -> set[str]:
    return {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}


def _version(path: Path) -> int:
    with sqlite3.connect(path) as c:
        return int(c.execute("PRAGMA user_version").fetchone()[0])


def test_migrate_from_empty_creates_every_table(tmp_path: Path) -> None:
    conn = sqlite3.connect(tmp_path / "j.sqlite3", isolation_level=None)
    assert migrate(conn) == (0, LATEST_VERSION)
    assert _tables(conn) >= EXPECTED_TABLES
    assert migrate(conn) == (LATEST_VERSION, LATEST_VERSION)  # idempotent
    # money columns are INTEGER in STRICT tables: a REAL is rejected, not stored
    with pytest.raises(sqlite3.IntegrityError):
        conn.execute("INSERT INTO equity (ts_us, cash_cc, equity_cc, peak_cc) VALUES (1, 1.5, 1, 1)")


def test_connect_sets_wal_normal_sync_and_foreign_keys(tmp_path: Path) -> None:
    conn = connect(tmp_path / "j.sqlite3", "dry")
    assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    assert conn.execute("PRAGMA synchronous").fetchone()[0] == 1  # NORMAL; durable commits raise it
    assert conn.execute("PRAGMA foreign_keys").fetchone()[0] == 1
    assert conn.execute("PRAGMA busy_timeout").fetchone()[0] == 5000
    conn.close()


V2 = Migration(2, "add a note column to fills",
               "ALTER TABLE fills ADD COLUMN note TEXT NOT NULL DEFAULT '';\n"
               "CREATE INDEX fills_note ON fills (note);")


def test_upgrade_v1_to_v2_keeps_data(tmp_path: Path) -> None:
    path = tmp_path / "j.sqlite3"
    conn = sqlite3.connect(path, isolation_level=None)
    assert migrate(conn, MIGRATIONS[:1]) == (0, 1)
    conn.execute("INSERT INTO meta (key, value) VALUES ('k', 'v')")
    assert migrate(conn, (*MIGRATIONS[:1], V2)) == (1, 2)
    assert conn.execute("SELECT value FROM meta WHERE key = 'k'").fetchone() == ("v",)
    cols = {r[1] for r in conn.execute("PRAGMA table_info(fills)")}
    assert "note" in cols
    assert _version(path) == 2


def test_failed_migration_changes_nothing(tmp_path: Path) -> None:
    path = tmp_path / "j.sqlite3"
    conn = sqlite3.connect(path, isolation_level=None)
    migrate(conn, MIGRATIONS[:1])
    bad = Migration(2, "half good", "CREATE TABLE extra (x INTEGER);\nINSERT INTO nowhere VALUES (1);")
    with pytest.raises(MigrationError, match=r"migration 2 .*half good"):
        migrate(conn, (*MIGRATIONS[:1], bad))
    assert _version(path) == 1
    assert "extra" not in _tables(conn)  # the first statement was rolled back with the second


def test_migration_list_must_be_contiguous(tmp_path: Path) -> None:
    conn = sqlite3.connect(tmp_path / "j.sqlite3", isolation_level=None)
    with pytest.raises(MigrationError, match="expected version 2, found 3"):
        migrate(conn, (MIGRATIONS[0], Migration(3, "gap", "SELECT 1;")))


def test_incomplete_sql_is_reported() -> None:
    with pytest.raises(MigrationError, match="incomplete SQL"):
        Migration(9, "broken", "CREATE TABLE t (x INTEGER)").statements()


async def test_refuses_a_newer_schema(tmp_path: Path) -> None:
    path = tmp_path / "j.sqlite3"
    async with open_journal(path, "dry"):
        pass
    with sqlite3.connect(path) as c:
        c.execute(f"PRAGMA user_version = {LATEST_VERSION + 1}")
    with pytest.raises(SchemaTooNewError, match=f"version {LATEST_VERSION + 1} is newer"):
        async with open_journal(path, "dry"):
            pass
    assert _version(path) == LATEST_VERSION + 1  # untouched


async def test_refuses_a_journal_of_another_mode(tmp_path: Path) -> None:
    path = tmp_path / "j.sqlite3"
    async with open_journal(path, "dry") as j:
        assert j.dry_run
    with pytest.raises(JournalModeError, match="'dry' journal; refusing to open it for 'live'"):
        async with open_journal(path, "live"):
            pass
    async with open_journal(path, "dry") as j:  # the right mode still opens
        assert j.statistics().schema_version == LATEST_VERSION
