"""What the journal's worker thread runs besides a call's own statement: the decisions the hot path
left in the intent log, written to SQLite first; compaction of the log; opening the log at start
(replaying what SQLite lost). See :mod:`kalshid.store.db` for the contracts."""

from __future__ import annotations

import os
from collections.abc import Callable
from contextlib import suppress
from pathlib import Path
from typing import Any, TypeVar

from kalshid.logs import get_logger
from kalshid.store import sql_write
from kalshid.store.intentlog import IntentLog
from kalshid.store.records import OrderIntent, RiskVerdict, Signal

R = TypeVar("R")

log = get_logger("kalshid.journal")

Decision = tuple[Signal, RiskVerdict, OrderIntent, bool]  # signal, verdict, intent, dry_run


def flush_decisions(conn: Any, pending: list[Decision]) -> None:
    """Write to SQLite (no fsync) the decisions the hot path put in the intent log, oldest first; each
    leaves ``pending`` once committed, so a failure leaves the rest for the next call."""
    while pending:
        s, v, i, dry_run = pending[0]
        try:
            sql_write.insert_decision(conn, s, v, i, dry_run)
        except sql_write.DuplicateIntentError:
            # journaled already, by an earlier run: that row stays the record; this is a bug upstream
            log.error("decision's client_order_id was already journaled; kept the journaled one",
                      client_order_id=i.client_order_id)
        del pending[0]


def run_job(conn: Any, intents: IntentLog, pending: list[Decision], call: Callable[[], R], compact: bool) -> R:
    """One worker-thread job: the pending decisions, then ``call``; with ``compact``, one fsynced
    commit (every decision of the sealed region is in SQLite by then), then the sealed region is zeroed."""
    flush_decisions(conn, pending)
    result = call()
    if compact:
        sql_write.sync_durable(conn)
        intents.zero_inactive()
    return result


def compact_log(conn: Any, intents: IntentLog) -> None:
    """Make SQLite durable (everything the log holds is in it), then empty the whole log."""
    sql_write.sync_durable(conn)
    intents.reset()


def nothing() -> None:
    return None


def owner_only(path: Path) -> None:
    """The journal, its WAL, shared-memory and intent-log files: readable by their owner only (0600)."""
    for f in (path, path.with_name(path.name + "-wal"), path.with_name(path.name + "-shm"), intent_log_path(path)):
        with suppress(FileNotFoundError):
            os.chmod(f, 0o600)


def intent_log_path(journal: Path) -> Path:
    """The intent log beside a journal database (one per database, so per trading mode)."""
    return journal.with_name(journal.name + ".intents")


def open_intents(conn: Any, path: Path) -> tuple[IntentLog, list[str]]:
    """Open the intent log, journal the decisions SQLite does not have (the process stopped before
    writing them, or a power cut took them), then empty it."""
    intents = IntentLog(path)
    try:
        replayed = sql_write.replay_decisions(conn, intents.records())
        if intents.used:
            compact_log(conn, intents)
    except BaseException:
        intents.close()
        raise
    return intents, replayed
