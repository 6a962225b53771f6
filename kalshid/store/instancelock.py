"""One daemon per journal: an exclusive ``flock`` on ``<journal>.lock``, the first thing ``run`` takes.

The lock is held for the life of the process and released by the kernel when it ends, however it
ends (``kill -9`` included), so a stale lock file never blocks a restart. The file holds the
holder's pid, for the message a second daemon prints.
"""

from __future__ import annotations

import errno
import fcntl
import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path


class InstanceLockError(Exception):
    """Another kalshid holds the lock (or the lock file cannot be created); the message says what to do."""


def lock_path(journal_path: str | Path) -> Path:
    p = Path(journal_path)
    return p.with_name(p.name + ".lock")


@contextmanager
def instance_lock(journal_path: str | Path) -> Iterator[Path]:
    """Hold the exclusive lock of ``journal_path`` for the ``with`` block; yields the lock file's path.

    Creates the journal's directory (0700) if missing. Raises :class:`InstanceLockError` at once,
    without waiting, when another process holds it."""
    path = lock_path(journal_path)
    try:
        path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
    except OSError as exc:
        raise InstanceLockError(f"cannot create the lock file {path} ({exc.strerror}): make its directory "
                                "writable, or set KALSHID_JOURNAL__DIR to one that is") from None
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as exc:
            if exc.errno not in (errno.EWOULDBLOCK, errno.EACCES):
                raise
            holder = os.pread(fd, 32, 0).decode(errors="replace").strip() or "?"
            raise InstanceLockError(
                f"another kalshid (pid {holder}) is running on journal {journal_path}: stop it first, "
                "or give this one its own KALSHID_JOURNAL__DIR") from None
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
        yield path
    finally:
        os.close(fd)
