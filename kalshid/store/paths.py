"""Where journals live: one database file per trading mode, so dry run and live never mix.

The state directory is ``$STATE_DIRECTORY`` when systemd provides it (``StateDirectory=kalshid``;
systemd may pass several colon-separated paths, the first is used), else ``./var``. Inside it:
``journal-live.sqlite3``, ``journal-dry.sqlite3`` and ``journal-sim.sqlite3`` (the embedded
simulator). The journal also records its mode inside the file and refuses to be opened under
another one (:class:`~kalshid.store.sqlbase.JournalModeError`), in case a path is overridden.
"""

from __future__ import annotations

import enum
import os
from collections.abc import Mapping
from pathlib import Path

DEFAULT_STATE_DIR = Path("var")


class JournalMode(enum.StrEnum):
    LIVE = "live"  # real orders on a real exchange (demo or prod)
    DRY = "dry"  # decisions journaled, orders filled on paper
    SIM = "sim"  # orders sent to the embedded simulator


def state_dir(environ: Mapping[str, str] | None = None) -> Path:
    """The daemon's state directory: the first ``$STATE_DIRECTORY`` entry, else ``./var``."""
    env = os.environ if environ is None else environ
    value = env.get("STATE_DIRECTORY", "")
    first = value.split(":")[0].strip()
    return Path(first) if first else DEFAULT_STATE_DIR


def journal_path(directory: str | Path, mode: JournalMode | str) -> Path:
    """``<directory>/journal-<mode>.sqlite3``; raises :class:`ValueError` for an unknown mode."""
    try:
        m = JournalMode(mode)
    except ValueError:
        raise ValueError(
            f"journal mode: {mode!r} is not one of {[x.value for x in JournalMode]}"
        ) from None
    return Path(directory) / f"journal-{m.value}.sqlite3"


def default_journal_path(mode: JournalMode | str, environ: Mapping[str, str] | None = None) -> Path:
    return journal_path(state_dir(environ), mode)
