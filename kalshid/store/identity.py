"""Which exchange a journal belongs to: a journal is only ever reconciled against its own exchange.

The journal records, in ``meta``, the identity of the exchange it trades with
(:func:`exchange_identity`). Two kinds of exchange exist:

* **persistent** (Kalshi demo/prod, an external ``kalshid sim``): the identity is the environment and
  the REST base URL. A journal stamped with another identity is refused before anything trades
  (:class:`JournalIdentityError`, whose message says what to do);
* **paper** (a dry run against a real exchange): the paper account is rebuilt from its journal at
  every start (:mod:`kalshid.trading.paperrestore`), so its identity (:func:`paper_identity`) is as
  persistent as the exchange's and names the same environment and REST base URL;
* **fresh** (the embedded simulator, with or without a dry run): the exchange lives in memory and
  starts empty on every start, so the journal must start empty too. Before such a journal is opened,
  :func:`set_aside_stale_journal` moves a previous run's journal (with its WAL, shared-memory and
  intent-log files) aside to ``<stem>.<UTC time>.sqlite3`` and keeps the newest
  :data:`KEEP_SET_ASIDE` of those. A journal stamped for a persistent exchange is never moved: it is
  refused. A paper journal is opened where a fresh one stood after :func:`set_aside_fresh_journal`
  has moved that one aside likewise.
"""

from __future__ import annotations

import os
import sqlite3
from datetime import UTC, datetime
from pathlib import Path

from kalshid.store.sqlbase import JournalError

IDENTITY_KEY = "exchange_identity"
FRESH_PREFIX = "fresh:"
PAPER_PREFIX = "paper:"
KEEP_SET_ASIDE = 5
# tables whose rows mean the journal holds a run's trading (an empty, migrated file does not count)
_TRADING_TABLES = ("signals", "orders", "fills", "settlements")
_COMPANIONS = ("-wal", "-shm", ".intents")


class JournalIdentityError(JournalError):
    """The journal belongs to another exchange; the message names both and what to do."""


def exchange_identity(env: str, rest_url: str, *, fresh: bool) -> str:
    """``fresh:<env>`` for an in-memory exchange, else ``<env> <rest url>`` (no credentials in it)."""
    return f"{FRESH_PREFIX}{env}" if fresh else f"{env} {rest_url.rstrip('/')}"


def paper_identity(env: str, rest_url: str) -> str:
    """``paper:<env> <rest url>``: the paper account of a dry run on that exchange."""
    return PAPER_PREFIX + exchange_identity(env, rest_url, fresh=False)


def _describe(identity: str) -> str:
    if identity.startswith(PAPER_PREFIX):
        return f"the dry-run paper account on {identity.removeprefix(PAPER_PREFIX)!r}"
    if identity.startswith(FRESH_PREFIX):
        return f"a fresh in-memory exchange ({identity.removeprefix(FRESH_PREFIX)})"
    return repr(identity)


def check_identity(path: str | Path, stored: str | None, identity: str) -> None:
    """Raise :class:`JournalIdentityError` unless ``stored`` (the journal's stamp; None: unstamped)
    is ``identity``."""
    if stored is None or stored == identity:
        return
    raise JournalIdentityError(
        f"journal {path} belongs to {_describe(stored)}, not to {_describe(identity)}: set "
        f"KALSHID_JOURNAL__PATH to another file for this exchange, or move {path} away to start afresh")


def _read(path: Path) -> tuple[str | None, bool]:
    """(the stamp, whether any trading record exists) of the journal at ``path``."""
    conn = sqlite3.connect(path)
    try:
        tables = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
        stamp = None
        if "meta" in tables:
            row = conn.execute("SELECT value FROM meta WHERE key = ?", (IDENTITY_KEY,)).fetchone()
            stamp = None if row is None else str(row[0])
        used = any(conn.execute(f"SELECT 1 FROM {t} LIMIT 1").fetchone() is not None
                   for t in _TRADING_TABLES if t in tables)
        return stamp, used
    finally:
        conn.close()


def set_aside_stale_journal(path: str | Path, identity: str, *, now: datetime | None = None) -> Path | None:
    """Before opening ``path`` for a fresh exchange: move a previous run's journal aside.

    Returns where it went, or None when there was nothing to move (no file, or no trading record in
    it). Raises :class:`JournalIdentityError` for a journal stamped for a persistent exchange, and
    :class:`JournalError` when the file cannot be read or moved.
    """
    p = Path(path)
    found = _existing(p)
    if found is None:
        return None
    stamp, used = found
    if stamp is not None and not stamp.startswith(FRESH_PREFIX):
        check_identity(p, stamp, identity)
    if not used:
        return None
    return _move_aside(p, now)


def set_aside_fresh_journal(path: str | Path, *, now: datetime | None = None) -> Path | None:
    """Before opening ``path`` for a paper account: move a journal stamped for a fresh exchange (the
    embedded simulator's, used or not) aside as :func:`set_aside_stale_journal` does; returns where it
    went, or None (no file, or another stamp: :meth:`~kalshid.store.Journal.bind_exchange` checks it)."""
    p = Path(path)
    found = _existing(p)
    if found is None or found[0] is None or not found[0].startswith(FRESH_PREFIX):
        return None
    return _move_aside(p, now)


def _existing(p: Path) -> tuple[str | None, bool] | None:
    """:func:`_read` of the journal at ``p``, or None when there is no file there."""
    if not p.exists():
        return None
    try:
        return _read(p)
    except sqlite3.Error as exc:
        raise JournalError(f"journal {p} cannot be read ({exc}): move it away to start afresh") from None


def _move_aside(p: Path, now: datetime | None) -> Path:
    when = (now or datetime.now(UTC)).strftime("%Y%m%dT%H%M%S%fZ")
    target = p.with_name(f"{p.stem}.{when}{p.suffix}")
    try:
        for suffix in _COMPANIONS:
            companion = p.with_name(p.name + suffix)
            if companion.exists():
                os.replace(companion, target.with_name(target.name + suffix))
        os.replace(p, target)
    except OSError as exc:
        raise JournalError(f"journal {p} cannot be moved aside ({exc.strerror}): move it away by hand") from None
    _prune(p)
    return target


def read_meta(path: str | Path, key: str) -> str | None:
    """One ``meta`` value of the journal file at ``path`` (closed), or None. For carrying what is not
    the exchange's (the operator's decisions) from a set-aside journal to the fresh one."""
    conn = sqlite3.connect(path)
    try:
        row = conn.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
        return None if row is None else str(row[0])
    except sqlite3.Error:
        return None
    finally:
        conn.close()


def _prune(path: Path) -> None:
    """Keep the newest :data:`KEEP_SET_ASIDE` set-aside journals of ``path``."""
    old = sorted(path.parent.glob(f"{path.stem}.*Z{path.suffix}"))
    for stale in old[:-KEEP_SET_ASIDE]:
        for suffix in ("", *_COMPANIONS):
            stale.with_name(stale.name + suffix).unlink(missing_ok=True)
