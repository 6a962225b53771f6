"""Opening a journal connection, transactions, time and row conversions shared by the SQL modules.

Durability choice: **WAL; ``synchronous=FULL`` for the commits that must survive power loss,
``NORMAL`` for the rest.** Every commit survives a process crash (``kill -9``): a committed
transaction is in the WAL file, which the OS keeps. Power loss or a kernel panic can drop the last
``NORMAL`` commits, never a ``FULL`` one — and because the WAL is append-only, the fsync of a ``FULL``
commit makes every earlier commit durable too.

* **Durable** (``transaction(conn, durable=True)``: fsync before ``COMMIT`` returns): order intents
  and in-flight marks — journaled *before* the order is sent precisely so that they cannot vanish
  while the order exists on the exchange — breaker events and meta (a HALTED breaker must still be
  HALTED after a power cut). The order's hot path is the exception: its decision goes to the intent
  log (:mod:`kalshid.store.intentlog`) before the send, and that log's own fsync (which does not
  write out everyone else's pages) follows while the order is in flight, or precedes the send with
  ``journal.fsync_before_send``; the decision is committed here afterwards without an fsync.
* **Not fsynced**: order updates, fills, settlements, adopted orders, rejected signals, equity
  snapshots. The exchange is the source of truth for all of them and startup reconciliation fetches
  them again (fills since the last one journaled, open orders, positions, settlements), so losing
  the tail of them to a power cut loses nothing; not paying an fsync for each keeps the journal lock
  free for the next intent (the order's hot path).
"""

from __future__ import annotations

import contextlib
import json
import os
import sqlite3
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from kalshid.store.migrations import migrate

BUSY_TIMEOUT_MS = 5_000
MODE_KEY = "trading_mode"
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


class JournalError(RuntimeError):
    """The journal cannot be used as asked (wrong mode, not WAL, ...); the message says why."""


class JournalDamagedError(JournalError):
    """The database file is damaged (SQLite finds it malformed, or not a database at all)."""


DAMAGED_CODES = frozenset({sqlite3.SQLITE_CORRUPT, sqlite3.SQLITE_NOTADB})


def damaged_advice(path: str | Path) -> str:
    """What to do about a damaged journal at ``path``: the words every refusal of one ends with."""
    return (f"stop here: restore the newest copy `kalshid backup` made of {path} and its .intents file "
            "(docs/operations.md, Backups) and start with trading stopped; or move the journal and its "
            "-wal, -shm and .intents files away to start a new one")


def is_damage(exc: BaseException) -> bool:
    """Whether ``exc`` is SQLite finding a database malformed or not a database."""
    return isinstance(exc, sqlite3.DatabaseError) and (
        getattr(exc, "sqlite_errorcode", None) in DAMAGED_CODES
        or str(exc) in ("database disk image is malformed", "file is not a database"))


class JournalModeError(JournalError):
    """The database belongs to another trading mode (e.g. a dry-run journal opened for live)."""


def to_us(t: datetime) -> int:
    """Aware datetime to integer microseconds since the epoch (exact; raises on naive times)."""
    if t.tzinfo is None or t.utcoffset() is None:
        raise ValueError(f"naive datetime {t!r}: pass a timezone-aware time")
    delta = t - _EPOCH
    return (delta.days * 86_400 + delta.seconds) * 1_000_000 + delta.microseconds


def from_us(us: int) -> datetime:
    return _EPOCH + timedelta(microseconds=us)


def dumps(detail: dict[str, Any]) -> str:
    return json.dumps(detail, sort_keys=True, separators=(",", ":"), default=str)


@contextlib.contextmanager
def transaction(conn: sqlite3.Connection, *, durable: bool = False) -> Iterator[sqlite3.Connection]:
    """``BEGIN IMMEDIATE`` … ``COMMIT``; rolls back and re-raises on any exception.

    ``durable=True`` commits with ``synchronous=FULL`` (the WAL is fsynced before ``COMMIT`` returns);
    otherwise the connection's ``NORMAL`` applies. The pragma cannot change inside a transaction,
    so it is set around it.
    """
    if durable:
        conn.execute("PRAGMA synchronous = FULL")
    try:
        conn.execute("BEGIN IMMEDIATE")
        try:
            yield conn
        except BaseException:
            conn.execute("ROLLBACK")
            raise
        conn.execute("COMMIT")
    finally:
        if durable:
            conn.execute("PRAGMA synchronous = NORMAL")


def connect(path: str | Path, mode: str) -> sqlite3.Connection:
    """Open (creating if needed) and migrate the journal at ``path`` for trading ``mode``.

    The connection is autocommit (explicit transactions), usable from any one thread at a time
    (``check_same_thread=False``: the caller serializes access), in WAL mode with foreign keys on.
    The first open records ``mode`` in ``meta``; opening the file later under another mode raises
    :class:`JournalModeError` so dry-run and live data never mix. Raises
    :class:`~kalshid.store.migrations.SchemaTooNewError` for a database from newer code.
    """
    # created owner-only before SQLite opens it: SQLite gives the -wal and -shm files the database's mode,
    # so no journal file is ever readable by others, not even for the moment before open_journal's chmod
    os.close(os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600))
    conn = sqlite3.connect(
        str(path), check_same_thread=False, isolation_level=None, timeout=BUSY_TIMEOUT_MS / 1000
    )
    try:
        conn.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
        got = conn.execute("PRAGMA journal_mode = WAL").fetchone()[0]
        if str(got).lower() != "wal":
            raise JournalError(f"{path}: could not switch to WAL (journal_mode={got!r})")
        conn.execute("PRAGMA synchronous = NORMAL")  # durable commits raise it to FULL (module docstring)
        conn.execute("PRAGMA foreign_keys = ON")
        # a damaged page is refused before anything reads or trades on it (~0.1 s per 100 MB)
        found = [line for r in conn.execute("PRAGMA quick_check(3)") for line in str(r[0]).splitlines()
                 if line and not line.startswith("***")]
        if found != ["ok"]:
            raise JournalDamagedError(f"journal {path} is damaged ({'; '.join(found)}): {damaged_advice(path)}")
        migrate(conn)
        with transaction(conn, durable=True):
            row = conn.execute("SELECT value FROM meta WHERE key = ?", (MODE_KEY,)).fetchone()
            if row is None:
                conn.execute("INSERT INTO meta (key, value) VALUES (?, ?)", (MODE_KEY, mode))
            elif row[0] != mode:
                raise JournalModeError(
                    f"{path} is a {row[0]!r} journal; refusing to open it for {mode!r} "
                    "(dry run and live must never share a database)"
                )
    except sqlite3.DatabaseError as exc:
        conn.close()
        if is_damage(exc):
            raise JournalDamagedError(f"journal {path} is damaged ({exc}): {damaged_advice(path)}") from exc
        raise
    except BaseException:
        conn.close()
        raise
    return conn
