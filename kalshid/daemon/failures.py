"""One sentence for a failed component: the root cause and what to do about it.

:func:`root_cause` digs the real exception out of the exception groups that nested nurseries wrap
around it; :func:`explain` turns it into the line the supervisor logs (``port 8000 in use: set
KALSHID_API__PORT …``). Causes it does not know are named by type and message.
"""

from __future__ import annotations

import errno
import re
import sqlite3

import trio

from kalshid.config import Config
from kalshid.store.sqlbase import damaged_advice, is_damage

_ADDRESS = re.compile(r"(?:on |address \()'?([\w.:\[\]-]+?)'?(?::|, )(\d+)")


def root_cause(exc: BaseException) -> BaseException:
    """The first leaf of ``exc``'s exception groups that is not a cancellation (else the first leaf)."""
    leaves: list[BaseException] = []

    def walk(e: BaseException) -> None:
        if isinstance(e, BaseExceptionGroup):
            for inner in e.exceptions:
                walk(inner)
        else:
            leaves.append(e)

    walk(exc)
    return next((e for e in leaves if not isinstance(e, trio.Cancelled)), leaves[0] if leaves else exc)


def _port_of(component: str, cfg: Config, message: str) -> tuple[int | None, str]:
    found = _ADDRESS.search(message)
    if component == "api":
        return (int(found.group(2)) if found else cfg.api.port), "KALSHID_API__PORT"
    return (int(found.group(2)) if found else (cfg.sim.port or None)), "KALSHID_SIM__PORT"


def _disk_full(cause: BaseException) -> bool:
    """A write refused for want of space: ``ENOSPC``/``EDQUOT``, or SQLite's ``SQLITE_FULL``."""
    if isinstance(cause, OSError):
        return cause.errno in (errno.ENOSPC, errno.EDQUOT)
    return isinstance(cause, sqlite3.OperationalError) and (
        getattr(cause, "sqlite_errorcode", None) == sqlite3.SQLITE_FULL or str(cause) == "database or disk is full")


def _disk_full_line(component: str, cause: BaseException, cfg: Config) -> str:
    recordings = cfg.record.dir or f"{cfg.journal.dir.rstrip('/') or '.'}/recordings"
    if isinstance(cause, OSError) and cause.filename:
        what = f"the disk holding {cause.filename} is full"
    else:
        what = f"the disk holding the journal {cfg.journal_path} is full"
    return (f"{component}: {what}; kalshid stopped rather than trade on what it cannot record: free space "
            f"on that disk (older recordings under {recordings}, set-aside journals, logs), then start again")


def explain(component: str, exc: BaseException, cfg: Config) -> str:
    """The root cause of ``component``'s failure in one sentence, with the fix where one is known."""
    cause = root_cause(exc)
    text = str(cause) or type(cause).__name__
    if _disk_full(cause):
        return _disk_full_line(component, cause, cfg)
    if is_damage(cause):
        return f"{component}: journal {cfg.journal_path} is damaged ({text}): {damaged_advice(cfg.journal_path)}"
    if isinstance(cause, OSError) and cause.errno == errno.EADDRINUSE:
        port, var = _port_of(component, cfg, text)
        return f"port {port} in use: set {var} to a free port, or stop what holds it"
    if isinstance(cause, OSError) and cause.errno == errno.EADDRNOTAVAIL:
        return f"{component}: cannot listen on that address ({cause.strerror}): set KALSHID_API__HOST to a local one"
    if isinstance(cause, PermissionError):
        where = f" {cause.filename}" if cause.filename else ""
        return f"{component}: permission denied on{where}: fix its permissions or move the state directory " \
               "(KALSHID_JOURNAL__DIR)"
    if type(cause).__name__ == "ControlSocketError":
        return f"control socket: {text} (or set KALSHID_CONTROL__SOCKET_PATH)"
    if isinstance(cause, trio.TooSlowError):
        return f"{component} did not become ready in time: check the exchange is reachable (exchange.env, " \
               "exchange.api_base_url) and the log lines above"
    known = ("JournalIdentityError", "JournalModeError", "JournalError", "SchemaTooNewError", "IntentLogDamaged",
             "ReconciliationError", "CredentialError", "InstanceLockError", "ConfigError", "RecordingDirError")
    if type(cause).__name__ in known or any(b.__name__ in known for b in type(cause).__mro__):
        return f"{component}: {text}"
    return f"{component} raised {type(cause).__name__}: {text}"


_NEEDS_NO_TRACEBACK = ("ControlSocketError", "JournalIdentityError", "JournalModeError", "JournalDamagedError",
                       "IntentLogDamaged", "SchemaTooNewError", "ReconciliationError", "InstanceLockError")


def is_known(exc: BaseException) -> bool:
    """Whether :func:`explain` says all there is to say (no traceback needed: not a bug)."""
    cause = root_cause(exc)
    if isinstance(cause, OSError | trio.TooSlowError) or _disk_full(cause) or is_damage(cause):
        return True
    return type(cause).__name__ in _NEEDS_NO_TRACEBACK
