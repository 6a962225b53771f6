"""Versioned schema migrations, tracked in ``PRAGMA user_version``.

Migration *n* takes the schema from version *n - 1* to *n*. :func:`migrate` applies every pending
one, and the new ``user_version``, in **one** transaction: a crash or an error leaves the database
at its old version, never half-migrated (SQLite DDL and ``user_version`` are transactional).

To change the schema, append ``Migration(n + 1, "...", "<SQL>")`` to :data:`MIGRATIONS`; never edit
a migration that has shipped. A database whose version is newer than the code knows is refused with
:class:`SchemaTooNewError` (an older binary must not write into a newer schema).

Conventions: ``STRICT`` tables; money is ``INTEGER`` centi-cents (``*_cc``), never ``REAL``; times are
``INTEGER`` microseconds since the Unix epoch, UTC (``*_us``).
"""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence

import attrs


class MigrationError(RuntimeError):
    """A migration failed or the migration list is malformed; the database was left unchanged."""


class SchemaTooNewError(MigrationError):
    """The database was written by newer code (its ``user_version`` is above the latest known)."""


@attrs.frozen
class Migration:
    version: int
    description: str
    sql: str

    def statements(self) -> list[str]:
        """Split :attr:`sql` into complete statements (``sqlite3.complete_statement`` aware of triggers)."""
        out: list[str] = []
        buf = ""
        for line in self.sql.splitlines(keepends=True):
            buf += line
            if sqlite3.complete_statement(buf):
                out.append(buf.strip())
                buf = ""
        if buf.strip():
            raise MigrationError(f"migration {self.version}: incomplete SQL statement: {buf.strip()[:80]!r}")
        return out


_SIDE = "CHECK (side IN ('yes', 'no'))"
_ACTION = "CHECK (action IN ('buy', 'sell'))"
_STATES = "('pending', 'in_flight', 'resting', 'partially_filled', 'executed', 'canceled', 'rejected')"

_V1 = f"""
CREATE TABLE meta (
    key TEXT PRIMARY KEY,
    value TEXT NOT NULL
) STRICT;

CREATE TABLE signals (
    id INTEGER PRIMARY KEY,
    ts_us INTEGER NOT NULL,
    strategy TEXT NOT NULL,
    ticker TEXT NOT NULL,
    side TEXT NOT NULL {_SIDE},
    action TEXT NOT NULL {_ACTION},
    price_cc INTEGER NOT NULL CHECK (price_cc BETWEEN 1 AND 9999),
    count INTEGER NOT NULL CHECK (count > 0),
    fair_prob REAL NOT NULL,
    edge REAL NOT NULL,
    confidence REAL NOT NULL,
    reason TEXT NOT NULL
) STRICT;
CREATE INDEX signals_ts ON signals (ts_us);

CREATE TABLE risk_verdicts (
    id INTEGER PRIMARY KEY,
    signal_id INTEGER NOT NULL REFERENCES signals (id),
    ts_us INTEGER NOT NULL,
    approved INTEGER NOT NULL CHECK (approved IN (0, 1)),
    reason_code TEXT NOT NULL,
    detail TEXT NOT NULL
) STRICT;
CREATE INDEX risk_verdicts_signal ON risk_verdicts (signal_id);

CREATE TABLE orders (
    client_order_id TEXT PRIMARY KEY,
    order_id TEXT UNIQUE,
    ts_us INTEGER NOT NULL,
    strategy TEXT NOT NULL,
    signal_id INTEGER REFERENCES signals (id),
    ticker TEXT NOT NULL,
    side TEXT NOT NULL {_SIDE},
    action TEXT NOT NULL {_ACTION},
    price_cc INTEGER NOT NULL CHECK (price_cc BETWEEN 1 AND 9999),
    count INTEGER NOT NULL CHECK (count > 0),
    tif TEXT NOT NULL,
    state TEXT NOT NULL CHECK (state IN {_STATES}),
    filled INTEGER NOT NULL CHECK (filled >= 0),
    remaining INTEGER NOT NULL CHECK (remaining >= 0),
    fees_cc INTEGER NOT NULL CHECK (fees_cc >= 0),
    last_update_us INTEGER NOT NULL,
    external INTEGER NOT NULL CHECK (external IN (0, 1)),
    dry_run INTEGER NOT NULL CHECK (dry_run IN (0, 1))
) STRICT;
CREATE INDEX orders_ts ON orders (ts_us, client_order_id);
CREATE INDEX orders_ticker ON orders (ticker, ts_us);
CREATE INDEX orders_open ON orders (state)
    WHERE state IN ('pending', 'in_flight', 'resting', 'partially_filled');

CREATE TABLE order_events (
    id INTEGER PRIMARY KEY,
    client_order_id TEXT NOT NULL REFERENCES orders (client_order_id),
    ts_us INTEGER NOT NULL,
    event TEXT NOT NULL,
    detail TEXT NOT NULL CHECK (json_valid(detail))
) STRICT;
CREATE INDEX order_events_order ON order_events (client_order_id, id);

-- no foreign keys to orders: fills of unknown (external) orders are journaled too
CREATE TABLE fills (
    fill_id TEXT PRIMARY KEY,
    order_id TEXT NOT NULL,
    client_order_id TEXT,
    ticker TEXT NOT NULL,
    side TEXT NOT NULL {_SIDE},
    action TEXT NOT NULL {_ACTION},
    count INTEGER NOT NULL CHECK (count > 0),
    price_cc INTEGER NOT NULL CHECK (price_cc BETWEEN 1 AND 9999),
    fee_cc INTEGER NOT NULL CHECK (fee_cc >= 0),
    is_taker INTEGER NOT NULL CHECK (is_taker IN (0, 1)),
    ts_us INTEGER NOT NULL,
    strategy TEXT
) STRICT;
CREATE INDEX fills_ts ON fills (ts_us, fill_id);
CREATE INDEX fills_ticker ON fills (ticker, ts_us);
CREATE INDEX fills_order ON fills (order_id);

CREATE TABLE settlements (
    ticker TEXT PRIMARY KEY,
    result TEXT NOT NULL CHECK (result IN ('yes', 'no', 'scalar', 'void')),
    revenue_cc INTEGER NOT NULL CHECK (revenue_cc >= 0),
    yes_count INTEGER NOT NULL CHECK (yes_count >= 0),
    no_count INTEGER NOT NULL CHECK (no_count >= 0),
    yes_value_cc INTEGER,
    fee_cc INTEGER NOT NULL CHECK (fee_cc >= 0),
    settled_ts_us INTEGER NOT NULL,
    journal_check TEXT NOT NULL CHECK (journal_check IN ('ok', 'mismatch')),
    check_detail TEXT NOT NULL
) STRICT;

CREATE TABLE equity (
    id INTEGER PRIMARY KEY,
    ts_us INTEGER NOT NULL,
    cash_cc INTEGER NOT NULL,
    equity_cc INTEGER NOT NULL,
    peak_cc INTEGER NOT NULL
) STRICT;
CREATE INDEX equity_ts ON equity (ts_us);

CREATE TABLE breaker_events (
    id INTEGER PRIMARY KEY,
    ts_us INTEGER NOT NULL,
    from_state TEXT NOT NULL,
    to_state TEXT NOT NULL,
    reason TEXT NOT NULL
) STRICT;
CREATE INDEX breaker_events_ts ON breaker_events (ts_us);
"""

# an order rejected because it was given up (not found by client_order_id), not because the exchange
# refused it: the exchange may report it later, and the journal takes it back. A journal written before
# the mark has the give-ups in its events (the daemon's "resolve" and "reconcile" sources, with their
# details), so they are marked from there.
_V2 = """
ALTER TABLE orders ADD COLUMN given_up INTEGER NOT NULL DEFAULT 0 CHECK (given_up IN (0, 1));
UPDATE orders SET given_up = 1 WHERE state = 'rejected' AND EXISTS (
    SELECT 1 FROM order_events e
    WHERE e.client_order_id = orders.client_order_id AND e.event = 'update'
      AND json_extract(e.detail, '$.to') = 'rejected'
      AND ((json_extract(e.detail, '$.source') = 'resolve'
            AND json_extract(e.detail, '$.detail') LIKE 'not found by client_order_id%')
        OR (json_extract(e.detail, '$.source') = 'reconcile'
            AND json_extract(e.detail, '$.detail') LIKE 'not on the exchange after restart%')));
"""

MIGRATIONS: tuple[Migration, ...] = (
    Migration(1, "initial schema", _V1),
    Migration(2, "mark orders rejected by a give-up, not by the exchange", _V2),
)
LATEST_VERSION = MIGRATIONS[-1].version


def schema_version(conn: sqlite3.Connection) -> int:
    row = conn.execute("PRAGMA user_version").fetchone()
    return int(row[0])


def _check_sequence(migrations: Sequence[Migration]) -> None:
    for expected, m in enumerate(migrations, start=1):
        if m.version != expected:
            raise MigrationError(f"migration list: expected version {expected}, found {m.version}")


def migrate(conn: sqlite3.Connection, migrations: Sequence[Migration] = MIGRATIONS) -> tuple[int, int]:
    """Bring the schema to the latest version; returns ``(version_before, version_after)``.

    ``conn`` must be in autocommit mode (``isolation_level=None``) with no transaction open. Raises
    :class:`SchemaTooNewError` if the database is newer than ``migrations`` knows, and
    :class:`MigrationError` (chaining the SQLite error) if a migration fails; either way nothing
    was changed.
    """
    _check_sequence(migrations)
    latest = migrations[-1].version if migrations else 0
    conn.execute("BEGIN IMMEDIATE")  # take the write lock first: two openers cannot both migrate
    try:
        before = schema_version(conn)
        if before > latest:
            raise SchemaTooNewError(
                f"database schema version {before} is newer than this kalshid knows ({latest}); "
                "upgrade kalshid or open the right database file"
            )
        for m in migrations[before:]:
            for stmt in m.statements():
                try:
                    conn.execute(stmt)
                except sqlite3.Error as exc:
                    raise MigrationError(
                        f"migration {m.version} ({m.description}) failed: {exc}; statement: {stmt[:120]!r}"
                    ) from exc
        if latest != before:
            conn.execute(f"PRAGMA user_version = {int(latest)}")
        conn.execute("COMMIT")
    except BaseException:
        conn.execute("ROLLBACK")
        raise
    return before, latest
