"""The journal's modes: one database per exchange and mode, so dry run and live never mix.

The configuration names the file (:attr:`kalshid.config.Config.journal_path`:
``<journal.dir>/kalshid-<env>.sqlite3``, ``kalshid-<env>-dry.sqlite3`` for a dry run, unless
``journal.path`` is set; ``journal.dir`` is ``var``, relative to the working directory, which is
the state directory under systemd). The journal also records its mode inside the file and refuses
to be opened under another one (:class:`~kalshid.store.sqlbase.JournalModeError`), in case a path
is overridden.
"""

from __future__ import annotations

import enum


class JournalMode(enum.StrEnum):
    LIVE = "live"  # real orders on a real exchange (demo or prod)
    DRY = "dry"  # decisions journaled, orders filled on paper
    SIM = "sim"  # orders sent to the embedded simulator
