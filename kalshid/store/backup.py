"""A consistent copy of the journal, taken while the daemon runs (``kalshid backup``).

SQLite's online backup copies the database as of one instant, whatever the daemon writes meanwhile;
the intent log is copied after it. A decision the daemon had in its intent log but not yet in SQLite at
that instant is in the copied log (the log only drops a decision once SQLite has it), and opening the
copy replays it, as a start after ``kill -9`` does; one that reached SQLite after the instant and left
the log before it was copied (a window of milliseconds) is missing, and a restore finds its order on the
exchange and adopts it, with an alert (an order the daemon did not place). The copy is checked
(``PRAGMA integrity_check``), made owner-only (0600), fsynced and only then given its final name.

Restoring: stop the daemon, put the two files back under the journal's name (``kalshid-<env>.sqlite3``
and ``kalshid-<env>.sqlite3.intents``), start it; reconciliation books what the exchange did since.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import sqlite3
from datetime import datetime
from pathlib import Path

from kalshid.files import fsync_dir, fsync_file
from kalshid.store.jobs import intent_log_path


class BackupError(Exception):
    """The journal cannot be copied (missing, unreadable, or the copy is damaged); says which."""


def backup_journal(journal: Path, out_dir: Path, *, now: datetime) -> tuple[Path, Path | None]:
    """Copy ``journal`` and its intent log into ``out_dir`` as ``<name>.<UTC time>.backup.sqlite3`` and
    ``….sqlite3.intents``; returns both paths (the second ``None`` if there is no intent log)."""
    if not journal.is_file():
        raise BackupError(f"no journal at {journal}")
    stamp = now.strftime("%Y%m%dT%H%M%S.%fZ")  # to the microsecond: two copies a second apart never collide
    # not "<name>.<time>Z.sqlite3", the name of a journal set aside (and pruned) by a start
    final = out_dir / f"{journal.name.removesuffix('.sqlite3')}.{stamp}.backup.sqlite3"
    if final.exists():
        raise BackupError(f"{final} exists already")
    log_src = intent_log_path(journal)
    log_copy = intent_log_path(final) if log_src.is_file() else None
    tmp = final.with_name(final.name + ".tmp")
    log_tmp = final.with_name(final.name + ".intents.tmp")
    try:
        out_dir.mkdir(parents=True, exist_ok=True, mode=0o700)  # a new directory: its owner alone
        _copy_database(journal, tmp)
        if log_copy is not None:
            shutil.copyfile(log_src, _owner_only(log_tmp))
            fsync_file(log_tmp)
            os.replace(log_tmp, log_copy)
        os.replace(tmp, final)
        fsync_dir(out_dir)
    except OSError as exc:
        for partial in (tmp, log_tmp):
            with contextlib.suppress(OSError):  # gone, or never made
                partial.unlink()
        raise BackupError(f"cannot write the copy under {out_dir}: {exc.strerror or exc}") from None
    return final, log_copy


def prune_backups(journal: Path, out_dir: Path, keep: int) -> list[Path]:
    """Delete all but the newest ``keep`` (>= 1) copies of ``journal`` in ``out_dir`` (the database and
    its intent log each); returns the databases deleted."""
    if keep < 1:
        raise ValueError(f"keep at least one copy, got {keep}")
    copies = sorted(out_dir.glob(f"{journal.name.removesuffix('.sqlite3')}.*Z.backup.sqlite3"))
    stale = copies[:-keep]
    for copy in stale:
        for f in (copy, intent_log_path(copy)):
            f.unlink(missing_ok=True)
    return stale


def _copy_database(journal: Path, dest: Path) -> None:
    try:
        source = sqlite3.connect(journal.resolve().as_uri() + "?mode=ro", uri=True)
    except sqlite3.Error as exc:
        raise BackupError(f"cannot read the journal {journal}: {exc}") from None
    try:
        target = sqlite3.connect(_owner_only(dest))
        try:
            source.backup(target)
            check = target.execute("PRAGMA integrity_check").fetchone()[0]
        finally:
            target.close()
    except sqlite3.Error as exc:
        dest.unlink(missing_ok=True)
        raise BackupError(f"cannot copy the journal {journal}: {exc}") from None
    finally:
        source.close()
    if check != "ok":
        dest.unlink(missing_ok=True)
        raise BackupError(f"the copy of {journal} fails SQLite's integrity check: {check}")
    fsync_file(dest)


def _owner_only(path: Path) -> Path:
    """``path`` created empty, readable by its owner only, before anything is written into it."""
    os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600))
    os.chmod(path, 0o600)  # an existing file keeps its mode through O_CREAT
    return path
