"""The recorder: feed events to Parquet on a writer thread.

It runs in the recorder process (:mod:`kalshid.research.recorder_main`), which the daemon feeds
through :class:`~kalshid.research.recorder_link.RecorderLink`, so none of this work shares the
daemon's interpreter. :meth:`Recorder.offer` stamps the receive time (or takes the one given) and puts
the event on a bounded queue without waiting; when the queue is full the event is dropped and counted
(``statistics()``); :meth:`Recorder.put` waits for room instead. The writer thread encodes events
(:mod:`.recording`), keeps them in memory, and every ``flush_seconds`` writes each partition's rows
as one file: written as ``*.tmp``, fsynced, renamed, and the directory fsynced.
A ``kill -9`` therefore loses at most the last ``flush_seconds`` and never a finished file.
Once an hour is over, its chunks are **compacted** into one file the same way (written, fsynced,
renamed, then the chunks deleted; a crash in between leaves rows twice, which readers drop by
``(recv_ts, seq)``), so a long recording is a few files per hour, not thousands (and about a tenth of
the bytes). Hours an earlier run left in chunks (it stopped before they ended) are compacted when the
next run starts, one per flush.
Retention deletes hour partitions older than ``retention_days``, at start and every hour.
"""

from __future__ import annotations

import contextlib
import os
import queue
import shutil
import threading
import time
from collections import defaultdict
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from kalshid.files import fsync_dir
from kalshid.research.recording import TMP_SUFFIX, arrow_schema, encode, hour_of, partition

_STOP = object()


class Recorder:
    """Records events under ``root``; :meth:`start` the thread, :meth:`offer` events, :meth:`close`."""

    def __init__(self, root: Path, *, flush_seconds: float = 2.0, retention_days: float = 14.0,
                 queue_size: int = 65_536) -> None:
        self.root = Path(root)
        self.flush_seconds = flush_seconds
        self.retention = timedelta(days=retention_days)
        self._queue: queue.Queue[tuple[object, datetime] | object] = queue.Queue(maxsize=queue_size)
        self._thread: threading.Thread | None = None
        self._seq = 0
        self.offered = 0
        self.dropped = 0
        self.written_rows = 0
        self.files = 0
        self.error: BaseException | None = None

    # --- the trading side ---------------------------------------------------------------------
    def offer(self, event: object, recv_ts: datetime | None = None) -> None:
        """Queue ``event`` received at ``recv_ts`` (default: now) for recording; never blocks (a full
        queue drops it and counts the drop)."""
        self.offered += 1
        try:
            self._queue.put_nowait((event, recv_ts or datetime.now(UTC)))
        except queue.Full:
            self.dropped += 1

    def put(self, event: object, recv_ts: datetime) -> None:
        """Queue ``event``, waiting while the queue is full (the recorder process's reader, whose
        sender keeps its own bound)."""
        self.offered += 1
        self._queue.put((event, recv_ts))

    def statistics(self) -> dict[str, object]:
        return {"offered": self.offered, "dropped": self.dropped, "written_rows": self.written_rows,
                "files": self.files, "queued": self._queue.qsize(),
                "error": None if self.error is None else f"{type(self.error).__name__}: {self.error}"}

    # --- lifecycle ----------------------------------------------------------------------------
    def start(self) -> Recorder:
        self.root.mkdir(parents=True, exist_ok=True)
        for tmp in self.root.glob(f"series=*/date=*/hour=*/*{TMP_SUFFIX}"):  # a killed writer's unfinished files
            tmp.unlink(missing_ok=True)
        self.apply_retention(datetime.now(UTC))
        self._thread = threading.Thread(target=self._run, name="kalshid-recorder", daemon=True)
        self._thread.start()
        return self

    def close(self, timeout: float = 10.0) -> None:
        """Write what is queued and stop the thread (waits up to ``timeout`` seconds)."""
        if self._thread is None:
            return
        with contextlib.suppress(queue.Full):
            self._queue.put(_STOP, timeout=timeout)
        self._thread.join(timeout)
        self._thread = None

    def __enter__(self) -> Recorder:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.close()

    # --- the writer thread --------------------------------------------------------------------
    def _run(self) -> None:
        from kalshid.threads import background_thread

        background_thread()
        buffers: dict[Path, list[dict[str, Any]]] = defaultdict(list)
        written: set[Path] = set()  # hour partitions this run wrote to, compacted once their hour is over
        leftover = self.uncompacted_hours(datetime.now(UTC))  # earlier runs' finished hours, one per flush
        next_flush = time.monotonic() + self.flush_seconds
        next_retention = time.monotonic() + 3600.0
        stopping = False
        try:
            while not stopping:
                try:
                    item = self._queue.get(timeout=max(0.0, next_flush - time.monotonic()))
                except queue.Empty:
                    item = None
                if item is _STOP:
                    stopping = True
                elif isinstance(item, tuple):
                    event, recv = item
                    self._seq += 1
                    row = encode(event, self._seq, recv)
                    buffers[partition(self.root, row["series"], recv)].append(row)
                if stopping or time.monotonic() >= next_flush:
                    self._flush(buffers)
                    written |= set(buffers)
                    buffers = defaultdict(list)
                    this_hour = datetime.now(UTC).replace(minute=0, second=0, microsecond=0)
                    for folder in [f for f in written if (hour_of(f) or this_hour) < this_hour]:
                        self.compact(folder)
                        written.discard(folder)
                    if leftover:
                        self.compact(leftover.pop())
                    next_flush = time.monotonic() + self.flush_seconds
                if time.monotonic() >= next_retention:
                    self.apply_retention(datetime.now(UTC))
                    next_retention = time.monotonic() + 3600.0
        except BaseException as exc:  # recorded for statistics(); trading goes on without recording
            self.error = exc
            raise

    def _flush(self, buffers: dict[Path, list[dict[str, Any]]]) -> None:
        import pyarrow as pa

        schema = arrow_schema()
        for folder, rows in buffers.items():
            if not rows:
                continue
            folder.mkdir(parents=True, exist_ok=True)
            name = f"part-{int(rows[0]['recv_ts'].timestamp() * 1000)}-{os.getpid()}-{rows[0]['seq']}.parquet"
            _write_atomically(pa.Table.from_pylist(rows, schema=schema), folder / name)
            self.written_rows += len(rows)
            self.files += 1

    def compact(self, folder: Path) -> None:
        """Merge ``folder``'s chunk files into one (module docstring); a no-op with fewer than two."""
        import pyarrow as pa
        import pyarrow.parquet as pq

        parts = sorted(folder.glob("part-*.parquet"))
        if len(parts) < 2:
            return
        table = pa.concat_tables([pq.read_table(p) for p in parts])
        _write_atomically(table, folder / f"hour-{parts[0].stem.removeprefix('part-')}-{len(parts)}.parquet")
        for p in parts:
            p.unlink()
        fsync_dir(folder)

    def uncompacted_hours(self, now: datetime) -> list[Path]:
        """Hour partitions that ended before ``now``'s hour and still hold more than one chunk."""
        this_hour = now.replace(minute=0, second=0, microsecond=0)
        return sorted(folder for folder in self.root.glob("series=*/date=*/hour=*")
                      if (hour_of(folder) or this_hour) < this_hour
                      and len(list(folder.glob("part-*.parquet"))) > 1)

    def apply_retention(self, now: datetime) -> int:
        """Delete hour partitions that ended more than ``retention_days`` before ``now``; returns how many."""
        removed = 0
        for hour_dir in self.root.glob("series=*/date=*/hour=*"):
            start = hour_of(hour_dir)
            if start is not None and start + timedelta(hours=1) < now - self.retention:
                shutil.rmtree(hour_dir, ignore_errors=True)
                removed += 1
        for date_dir in self.root.glob("series=*/date=*"):
            if date_dir.is_dir() and not any(date_dir.iterdir()):
                date_dir.rmdir()
        return removed


def _write_atomically(table: Any, final: Path) -> None:
    """``table`` as ``final``: written under a temp name, fsynced, renamed, the directory fsynced."""
    import pyarrow.parquet as pq

    tmp = final.with_name(final.name + TMP_SUFFIX)
    with tmp.open("wb") as f:
        pq.write_table(table, f, compression="zstd")
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, final)
    fsync_dir(final.parent)


def recording_dir(cfg: Any) -> Path:
    """``record.dir``, else ``<journal.dir>/recordings``."""
    return Path(cfg.record.dir) if cfg.record.dir else Path(cfg.journal.dir or ".") / "recordings"


class RecordingDirError(OSError):
    """The recordings' directory cannot be made or written (a start-up error: the fix is the setting)."""


def prepare_recording_dir(cfg: Any) -> Path:
    """:func:`recording_dir`, created if missing and checked writable, before anything is recorded:
    a recorder process that cannot write would otherwise die and be restarted for ever."""
    root = recording_dir(cfg)
    try:
        root.mkdir(parents=True, exist_ok=True)
        probe = root / f".write-check-{os.getpid()}"
        probe.touch()
        probe.unlink()
    except OSError as exc:
        raise RecordingDirError(
            f"cannot write the recordings directory {root} ({exc.strerror or exc}): set record.dir "
                       "(KALSHID_RECORD__DIR) to a writable directory, or record.enabled = false") from exc
    return root
