"""A damaged journal is refused at open, before anything reads or trades on it, with what to do."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest
from storefakes import T0, intent, signal

from kalshid.config import load_config
from kalshid.daemon.failures import explain, is_known
from kalshid.store import sql_write
from kalshid.store.records import RiskVerdict
from kalshid.store.sqlbase import JournalDamagedError, connect, is_damage

ADVICE = "restore the newest copy `kalshid backup` made of"


def journal_with_rows(path: Path) -> int:
    """A closed live journal holding a few hundred decisions; the root page of its ``signals`` table."""
    conn = connect(path, "live")
    try:
        verdict = RiskVerdict(signal_id=1, ts=T0, approved=True, reason_code="ok", detail="")
        for n in range(300):
            sql_write.insert_decision(conn, signal(), verdict, intent(f"cid-{n}"), False)
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        return int(conn.execute("SELECT rootpage FROM sqlite_master WHERE name = 'signals'").fetchone()[0])
    finally:
        conn.close()


def overwrite_page(path: Path, page: int, data: bytes) -> None:
    size = 4096
    with path.open("r+b") as f:
        f.seek((page - 1) * size)
        f.write(data.ljust(size, b"\xa5"))


def test_a_damaged_page_is_refused_with_what_to_do(tmp_path: Path) -> None:
    path = tmp_path / "kalshid-prod.sqlite3"
    root = journal_with_rows(path)
    overwrite_page(path, root, b"\x0d\xff\xff\xff")  # a leaf page header that points nowhere
    with pytest.raises(JournalDamagedError) as info:
        connect(path, "live")
    text = str(info.value)
    assert text.startswith(f"journal {path} is damaged (") and ADVICE in text and "\n" not in text


def test_a_file_that_is_not_a_database_is_refused_with_what_to_do(tmp_path: Path) -> None:
    path = tmp_path / "kalshid-prod.sqlite3"
    journal_with_rows(path)
    overwrite_page(path, 1, b"not an sqlite file")
    with pytest.raises(JournalDamagedError, match=r"is damaged \(file is not a database\): stop here: restore"):
        connect(path, "live")


def test_damage_found_while_running_is_named_with_the_journal_and_what_to_do(tmp_path: Path) -> None:
    path = tmp_path / "j.sqlite3"
    root = journal_with_rows(path)
    conn = sqlite3.connect(path)
    try:
        overwrite_page(path, root, b"\x0d\xff\xff\xff")
        with pytest.raises(sqlite3.DatabaseError) as info:
            conn.execute("SELECT * FROM signals").fetchall()
    finally:
        conn.close()
    assert is_damage(info.value) and is_known(info.value)
    cfg = load_config(environ={"KALSHID_JOURNAL__DIR": str(tmp_path / "var")}, cwd=tmp_path).config
    line = explain("execution", info.value, cfg)
    assert line.startswith(f"execution: journal {cfg.journal_path} is damaged (database disk image is malformed): ")
    assert ADVICE in line
