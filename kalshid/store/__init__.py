"""The SQLite journal: what kalshid decided, sent, got filled and was paid, surviving ``kill -9``.

Entry point: :func:`open_journal` (async context manager) yielding a :class:`Journal`. Records are in
:mod:`kalshid.store.records`; the journal's modes in :mod:`kalshid.store.paths`.
"""

from kalshid.store.db import Journal, JournalStatistics, open_journal
from kalshid.store.migrations import MigrationError, SchemaTooNewError
from kalshid.store.paths import JournalMode
from kalshid.store.sql_read import CursorError
from kalshid.store.sql_write import DuplicateIntentError
from kalshid.store.sqlbase import JournalError, JournalModeError

__all__ = [
    "CursorError",
    "DuplicateIntentError",
    "Journal",
    "JournalError",
    "JournalMode",
    "JournalModeError",
    "JournalStatistics",
    "MigrationError",
    "SchemaTooNewError",
    "open_journal",
]
