"""The intent log: a small, preallocated, append-only file that makes an order's decision durable fast.

Why it exists. An order is sent only once its intent is written where a crash cannot lose it, and the
intent must reach the disk itself (survive a power cut) as soon as possible. Committing the intent to
SQLite with ``synchronous=FULL`` does both, but the fsync of a WAL commit also writes out every page
the fills, order updates and equity snapshots dirtied since the last fsync: measured at ~1 ms (p90
2+ ms) while trading. So the hot path appends the decision to this log (one ``pwrite``: in the page
cache, safe from ``kill -9``), which is fsynced alone (``fdatasync`` of a few dirty pages of a file
whose size never changes) right after, while the order is in flight (or before the send, if the
journal is told to: see :class:`~kalshid.store.db.Journal`), and the decision reaches SQLite later,
without an fsync. Power loss can then lose the SQLite rows but not the synced log; the next start
replays the log into SQLite before anything reads the journal.

Format: the file is two regions of equal size, zero-filled. In each, records lie back to back from
the region's start; a record is ``b"KIL1" | u32 length | u32 crc32 | payload`` (little-endian), the
payload one JSON object. A region ends at the first position that does not hold a whole record with
a matching CRC, so a record torn by a crash mid-write is simply not there (its order was never sent:
the send waits for the append to return). A power cut between the send and the ``fdatasync`` can
lose a whole record: that order is on the exchange, and at the next start reconciliation books its
fills and adopts it (flagged external) if it still rests.

Compaction: appends go to the active region. To compact, the journal *seals* it (the other, empty
region becomes active, so appends never wait), makes SQLite durable with one fsynced commit that
covers every sealed record, then zeroes the sealed region (:meth:`IntentLog.zero_inactive`) in its
worker thread. A crash during the zeroing can leave older records readable; replaying one is harmless
because replay only inserts a ``client_order_id`` the journal does not already have.

The file is zero-filled by writing (not ``fallocate``), so appending never allocates blocks or
changes the file size, and ``fdatasync`` has no metadata to commit.

Threads: :meth:`IntentLog.append` and :meth:`IntentLog.seal` run on the event loop;
:meth:`IntentLog.zero_inactive` runs in the journal's worker thread while the loop may append to the
other region (disjoint bytes of one file descriptor); :meth:`IntentLog.sync` runs in a thread of its
own at any time. :meth:`IntentLog.reset` needs the log to itself.
"""

from __future__ import annotations

import contextlib
import json
import os
import struct
import zlib
from pathlib import Path
from typing import Any

from kalshid.files import fsync_dir

MAGIC = b"KIL1"
HEADER = struct.Struct("<4sII")  # magic, payload length, crc32(payload)
DEFAULT_SIZE = 1 << 20  # two regions of ~850 decisions each; compaction comes far sooner
_CHUNK = 1 << 16
# one encoder for every record: json.dumps with options builds a new one per call
_ENCODER = json.JSONEncoder(separators=(",", ":"), ensure_ascii=False)


class IntentLogError(RuntimeError):
    """The intent log cannot be used (unreadable, wrong size, a record too large); the message says why."""


class IntentLogDamaged(IntentLogError):
    """The file is not a log this code wrote: cut short, a size it never makes, or a region starting with
    neither a record nor zeros. Refused rather than read on a guess; the message says what to do."""


class IntentLogFull(IntentLogError):
    """No room for the record: make the journal durable, :meth:`IntentLog.reset`, then append again."""


class IntentLog:
    """Open (creating and zero-filling if needed) the log at ``path``; see the module docstring.

    The file holds two regions of ``size / 2`` bytes. Records are appended to the *active* one;
    :meth:`seal` makes the other (empty) one active, so the sealed region can be zeroed in another
    thread (:meth:`zero_inactive`) while appends go on. Appends and seals come from one thread (the
    event loop); :meth:`zero_inactive` only touches the inactive region."""

    def __init__(self, path: str | Path, size: int = DEFAULT_SIZE) -> None:
        if size < 8192 or size % 8192:
            raise IntentLogError(f"intent log size {size}: must be a multiple of 8192, at least 8192")
        self.path = Path(path)
        created = not self.path.exists()
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
        try:
            have = os.fstat(fd).st_size
            if why := _size_problem(fd, have, size):
                raise IntentLogDamaged(_damaged(self.path, why))
            if have < size:  # new, or a creation interrupted while zero-filling (nothing but zeros)
                self._zero(fd, have, size)
                os.fsync(fd)  # the size changed: fsync (not fdatasync) commits it with the data
                if created:
                    fsync_dir(self.path.parent)
            elif have > size and have % 8192 == 0:
                size = have  # a log made with a larger size keeps it (never shrink a live log)
        except BaseException:
            os.close(fd)
            raise
        self._fd = fd
        self.size = size
        self.region = size // 2
        for r in (0, 1):
            # appends start at a region's start and zeroing runs from it, so a region begins with a record
            # (or the torn start of one) or with zeros, whatever a crash interrupted
            if os.pread(fd, len(MAGIC), r * self.region) not in (MAGIC, bytes(len(MAGIC))):
                os.close(fd)
                why = f"region {r + 1} starts with neither a record nor zeros"
                raise IntentLogDamaged(_damaged(self.path, why))
        found = [self._scan(r) for r in (0, 1)]
        self._records = found[0][0] + found[1][0]
        self._used = [found[0][1], found[1][1]]
        # continue in region 1 if it holds records (it was active when the log was last written)
        self._active = 1 if self._used[1] else 0

    # ---- reading ---------------------------------------------------------------------------------
    def _scan(self, region: int) -> tuple[list[dict[str, Any]], int]:
        return _scan(os.pread(self._fd, self.region, region * self.region))

    def records(self) -> list[dict[str, Any]]:
        """The records found when the log was opened (what replay must apply)."""
        return list(self._records)

    @property
    def used(self) -> int:
        """Bytes written to the active region since it was last zeroed."""
        return self._used[self._active]

    @property
    def inactive_used(self) -> int:
        """Bytes of the inactive region not zeroed yet (a sealed region waiting for compaction)."""
        return self._used[1 - self._active]

    # ---- writing ---------------------------------------------------------------------------------
    def append(self, record: dict[str, Any], *, sync: bool = True) -> None:
        """Write ``record`` to the active region; with ``sync``, ``fdatasync`` too: durable when this
        returns. Without it the record is in the OS's page cache when this returns (it survives the
        process being killed, not a power cut) until the next :meth:`sync`.

        Raises :class:`IntentLogFull` when it does not fit (nothing is written), ``OSError`` from the
        disk (the record may or may not be there; the caller must not send the order)."""
        payload = _ENCODER.encode(record).encode()
        blob = HEADER.pack(MAGIC, len(payload), zlib.crc32(payload)) + payload
        if len(blob) > self.region:
            raise IntentLogError(f"intent log record of {len(blob)} bytes is larger than a region of the log")
        end = self._used[self._active]
        if end + len(blob) > self.region:
            raise IntentLogFull(f"intent log {self.path} is full ({end} of {self.region} bytes used)")
        written = os.pwrite(self._fd, blob, self._active * self.region + end)
        if written != len(blob):
            raise IntentLogError(f"intent log {self.path}: short write ({written} of {len(blob)} bytes)")
        if sync:
            os.fdatasync(self._fd)
        self._used[self._active] = end + len(blob)

    def sync(self) -> None:
        """``fdatasync`` the log: every record appended before this call is durable when it returns.
        Safe from another thread while the loop appends (the records appended meanwhile may or may
        not be covered; the next call covers them)."""
        os.fdatasync(self._fd)

    def seal(self) -> bool:
        """Make the other region active, if it is empty (``False`` if not: it was sealed before and
        not zeroed yet). The sealed region keeps its records until :meth:`zero_inactive`."""
        if self.inactive_used:
            return False
        self._active = 1 - self._active
        return True

    def zero_inactive(self) -> None:
        """Zero the inactive region's used bytes. Call only once everything in it is durable elsewhere
        (the journal's last commit was fsynced)."""
        if self._clear(1 - self._active):
            os.fdatasync(self._fd)

    def reset(self) -> None:
        """Zero both regions and start again at the beginning of the first. Call only once everything
        in the log is durable elsewhere, with no append running."""
        if any([self._clear(0), self._clear(1)]):  # both cleared, then one sync
            os.fdatasync(self._fd)
        self._active = 0
        self._records = []

    def _clear(self, region: int) -> bool:
        """Zero the used bytes of ``region`` (not synced); True if there were any."""
        used = self._used[region]
        if not used:
            return False
        self._zero(self._fd, region * self.region, region * self.region + used)
        self._used[region] = 0
        return True

    @staticmethod
    def _zero(fd: int, start: int, end: int) -> None:
        zeros = bytes(_CHUNK)
        pos = start
        while pos < end:
            n = min(_CHUNK, end - pos)
            pos += os.pwrite(fd, zeros[:n], pos)

    def close(self) -> None:
        with contextlib.suppress(OSError):
            os.close(self._fd)
        self._fd = -1


def _size_problem(fd: int, have: int, size: int) -> str | None:
    """Why a file of ``have`` bytes cannot be a log of ``size`` bytes, or None. A log is written whole
    when created, so a shorter one holding anything but zeros was cut short."""
    if have > size and have % 8192:
        return f"{have} bytes, not a multiple of 8192"
    if 0 < have < size and any(os.pread(fd, have, 0)):
        return f"{have} bytes, not {size}: cut short"
    return None


def _damaged(path: Path, why: str) -> str:
    return (f"intent log {path} is damaged ({why}): it holds the decisions of orders sent since SQLite last "
            "caught up, so it is not read on a guess. Restore it with the journal from the newest `kalshid "
            "backup` copy, or move it away: the start then makes a new one, and reconciliation adopts any "
            "order whose decision it held (flagged external)")


def _scan(data: bytes) -> tuple[list[dict[str, Any]], int]:
    """The whole records at the start of one region's bytes, and where they end."""
    records: list[dict[str, Any]] = []
    pos = 0
    while pos + HEADER.size <= len(data):
        magic, length, crc = HEADER.unpack_from(data, pos)
        start, end = pos + HEADER.size, pos + HEADER.size + length
        if magic != MAGIC or end > len(data):
            break
        payload = data[start:end]
        if zlib.crc32(payload) != crc:
            break
        try:
            record = json.loads(payload)
        except ValueError:
            break
        if not isinstance(record, dict):
            break
        records.append(record)
        pos = end
    return records, pos


def read_records(path: str | Path) -> list[dict[str, Any]]:
    """The records of the log at ``path``, read without opening it for writing (a log a daemon may be
    appending to: a record being written is not there yet). A missing file has none."""
    try:
        data = Path(path).read_bytes()
    except FileNotFoundError:
        return []
    half = len(data) // 2
    return _scan(data[:half])[0] + _scan(data[half:])[0]
