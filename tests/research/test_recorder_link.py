"""Recording from the daemon through the recorder process: the same files, restarts, kill -9 safety."""

import os
import shutil
import signal
import subprocess
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import attrs
import pyarrow.parquet as pq
import pytest
import trio
from structlog.testing import capture_logs

from kalshid.research import recorder_link
from kalshid.research.recorder import Recorder
from kalshid.research.recorder_link import RecorderLink
from kalshid.research.recorder_main import HEADER, FrameError, read_batches, serve
from kalshid.research.recording import parquet_files
from kalshid.research.sources.recorded import RecordedSource
from tests.research.test_recorder import session_messages


async def _until(predicate: object, seconds: float = 30.0) -> None:
    with trio.fail_after(seconds):
        while not predicate():  # type: ignore[operator]  # noqa: ASYNC110 (state of other tasks and processes)
            await trio.sleep(0.01)


@asynccontextmanager
async def _recording_a_session(link: RecorderLink) -> AsyncIterator[None]:
    """The link running, with a session offered to it; at the end of the block the daemon stops (the
    rest is shipped and written)."""
    async with trio.open_nursery() as nursery:
        await nursery.start(link.run)
        for e in session_messages():
            link.offer(e)
        yield
        nursery.cancel_scope.cancel()


def _gone(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] == "Z"  # a zombie has exited
    except FileNotFoundError:
        return True


async def test_the_link_records_what_the_in_process_recorder_records(tmp_path: Path) -> None:
    with Recorder(tmp_path / "thread") as rec:
        for e in session_messages():
            rec.offer(e)
    link = RecorderLink(tmp_path / "proc", flush_seconds=0.05, batch_seconds=0.01)
    async with _recording_a_session(link):
        await _until(lambda: link.shipped == len(session_messages()))
    assert link.exits == 0 and link.dropped == 0
    expected = list(RecordedSource(tmp_path / "thread").events())
    assert len(expected) == 7
    assert list(RecordedSource(tmp_path / "proc").events()) == expected


async def test_shipments_wait_for_the_order_path_and_the_stop_ships_the_rest(tmp_path: Path) -> None:
    clear = trio.Event()
    waits = 0

    async def give_way() -> None:
        nonlocal waits
        waits += 1
        await clear.wait()

    link = RecorderLink(tmp_path, flush_seconds=0.05, batch_seconds=0.01, give_way=give_way)
    async with _recording_a_session(link):
        await _until(lambda: waits > 0)  # a shipment is due, and waits: the order path is busy
        assert link.shipped == 0 and link.statistics()["queued"] == len(session_messages())
        clear.set()
        await _until(lambda: link.shipped == len(session_messages()))
        clear = trio.Event()  # busy again: the stop ships the rest without waiting for it
        for e in session_messages():
            link.offer(e)
    assert link.shipped == 2 * len(session_messages()) and link.exits == 0
    assert len(list(RecordedSource(tmp_path).events())) == 2 * len(session_messages())


async def test_an_order_path_that_stays_busy_delays_shipments_by_a_bounded_wait(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(recorder_link, "GIVE_WAY_MAX", 0.05)

    async def never_clear() -> None:  # e.g. a waiter stranded by the order path
        await trio.sleep_forever()

    link = RecorderLink(tmp_path, flush_seconds=0.05, batch_seconds=0.01, give_way=never_clear)
    async with _recording_a_session(link):
        await _until(lambda: link.shipped == len(session_messages()))
    assert len(list(RecordedSource(tmp_path).events())) == len(session_messages())


async def test_dropped_events_are_reported_when_they_start_and_when_the_recording_catches_up(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(recorder_link, "GIVE_WAY_MAX", 600.0)  # nothing ships until the path clears
    clear = trio.Event()

    async def give_way() -> None:
        await clear.wait()

    reports: list[tuple[int, bool]] = []
    link = RecorderLink(tmp_path, flush_seconds=0.05, batch_seconds=0.01, queue_size=3, give_way=give_way,
                        on_dropped=lambda count, first: reports.append((count, first)))
    with capture_logs() as logs:
        async with _recording_a_session(link):  # 7 events, room for 3 while nothing ships
            await _until(lambda: reports)
            assert reports == [(4, True)] and link.statistics()["dropping"] is True
            link.offer(session_messages()[0])
            await _until(lambda: len(reports) == 2)
            assert reports[1] == (1, False)  # the same episode: counted, not announced again
            clear.set()
            await _until(lambda: link.statistics()["dropping"] is False)
    assert link.statistics()["dropped"] == 5 and link.shipped == 3
    events = [(e["event"], e.get("dropped")) for e in logs if "recording" in e["event"]]
    assert events == [("recording is dropping events: the recorder is behind", 4), ("recording caught up", 5)]


async def test_recording_pauses_while_the_disk_is_low_and_resumes_with_room_to_spare(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Below min_free_bytes the link keeps nothing (counted as skipped, not as dropped), says so once,
    and resumes only 10 % above the threshold, saying how many events were not recorded."""
    monkeypatch.setattr(recorder_link, "DISK_CHECK_SECONDS", 0.0)  # read the free space on every watch
    free = {"bytes": 5_000, "reads": 0}

    def read_free(path: Path) -> int:
        assert path == tmp_path
        free["reads"] += 1
        return free["bytes"]

    reports: list[tuple[bool, int]] = []
    link = RecorderLink(tmp_path, flush_seconds=0.05, batch_seconds=0.01, min_free_bytes=1_000, free=read_free,
                        on_disk=lambda recording, left: reports.append((recording, left)))
    n = len(session_messages())
    with capture_logs() as logs:
        async with _recording_a_session(link):
            await _until(lambda: link.shipped == n)
            free["bytes"] = 999
            await _until(lambda: link.low_disk)
            assert reports == [(False, 999)]
            for e in session_messages():
                link.offer(e)
            stats = link.statistics()
            assert (stats["paused_low_disk"], stats["skipped_low_disk"], stats["dropped"], stats["queued"]) == (
                True, n, 0, 0)
            free["bytes"] = 1_099  # above the threshold, not yet 10 % above it: still paused
            reads = free["reads"]
            await _until(lambda: free["reads"] >= reads + 2)
            assert link.low_disk and reports == [(False, 999)]
            free["bytes"] = 1_100
            await _until(lambda: not link.low_disk)
            assert reports == [(False, 999), (True, 1_100)]
            for e in session_messages():
                link.offer(e)
            await _until(lambda: link.shipped == 2 * n)
    assert link.skipped == n and link.dropped == 0
    assert len(list(RecordedSource(tmp_path).events())) == 2 * n
    said = [(e["event"], e["log_level"], e.get("not_recorded")) for e in logs if "recording" in e["event"]]
    assert said == [("recording paused: the recordings' disk is low on space; trading goes on", "error", None),
                    ("recording resumed: disk space is back", "warning", n)]


async def test_without_a_free_space_floor_the_disk_is_never_read(tmp_path: Path) -> None:
    def read_free(path: Path) -> int:
        raise AssertionError("read the free space with min_free_bytes 0")

    link = RecorderLink(tmp_path, flush_seconds=0.05, batch_seconds=0.01, free=read_free)
    async with _recording_a_session(link):
        await _until(lambda: link.shipped == len(session_messages()))
    assert link.statistics()["disk_free_mb"] is None and not link.low_disk


def test_free_bytes_reads_the_nearest_existing_directory(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    asked: list[Path] = []
    real = shutil.disk_usage

    def disk_usage(path: Path) -> Any:
        asked.append(path)
        return real(path)

    monkeypatch.setattr(recorder_link.shutil, "disk_usage", disk_usage)
    assert recorder_link.free_bytes(tmp_path / "not" / "made" / "yet") > 0
    assert asked == [tmp_path]


async def test_a_dead_recorder_process_is_reported_and_replaced(tmp_path: Path) -> None:
    exits: list[int | None] = []
    link = RecorderLink(tmp_path, flush_seconds=0.05, batch_seconds=0.01, on_exit=lambda code, _: exits.append(code))
    events = session_messages()
    async with trio.open_nursery() as nursery:
        await nursery.start(link.run)
        first = link.pid
        assert first is not None
        os.kill(first, signal.SIGKILL)
        await _until(lambda: exits)
        assert exits == [-signal.SIGKILL] and link.statistics()["recorder_exits"] == 1
        assert "exited with status -9" in str(link.last_exit)
        for e in events:  # offered while no recorder process runs: they wait in the batch
            link.offer(e)
        await _until(lambda: link.pid is not None and link.shipped == len(events))
        assert link.pid != first
        nursery.cancel_scope.cancel()
    assert len(list(RecordedSource(tmp_path).events())) == 7


async def test_killing_the_daemon_loses_nothing_shipped_and_ends_the_recorder(tmp_path: Path) -> None:
    host = Path(__file__).with_name("recorder_link_host.py")
    proc = await trio.lowlevel.open_process([sys.executable, str(host), str(tmp_path)], stdout=subprocess.PIPE)
    assert proc.stdout is not None
    lines = b""
    shipped, recorder_pid = 0, 0
    try:
        with trio.fail_after(60):
            while shipped < 300:
                chunk = await proc.stdout.receive_some()
                assert chunk, "the host ended early"
                lines += chunk
                *done, lines = lines.split(b"\n")
                for line in done:  # the link's own log lines go to stdout too
                    if line.startswith(b"pid "):
                        recorder_pid = int(line.split()[1])
                    elif line.startswith(b"shipped "):
                        shipped = int(line.split()[1])
    finally:
        proc.kill()  # SIGKILL: no shutdown code runs in the daemon stand-in
        await proc.wait()
    assert recorder_pid and shipped >= 300
    await _until(lambda: _gone(recorder_pid))  # it dies with the daemon, after writing what it got
    rows = [r for f in parquet_files(tmp_path) for r in pq.read_table(f).to_pylist()]
    assert len(rows) >= shipped  # flush_seconds 5 s: only its end-of-input write can have written them
    assert sorted(r["seq"] for r in rows) == list(range(1, len(rows) + 1))
    assert not list(tmp_path.rglob("*.tmp"))  # noqa: ASYNC240 (the test's own files, after the fact)


def test_a_damaged_frame_is_a_clear_error(tmp_path: Path) -> None:
    import io
    import pickle

    good = pickle.dumps([(session_messages()[1], 1.0)])
    assert read_batches(io.BytesIO(HEADER.pack(len(good)) + good)) == [(session_messages()[1], 1.0)]
    assert read_batches(io.BytesIO(b"")) is None
    for bad, message in ((HEADER.pack(100) + b"xx", "input ended inside a frame"),
                         (b"\x00\x00", "input ended inside a frame"),
                         (HEADER.pack(len(pickle.dumps({}))) + pickle.dumps({}), "not a list")):
        try:
            read_batches(io.BytesIO(bad))
        except FrameError as exc:
            assert message in str(exc)
        else:
            raise AssertionError(f"{bad!r} was accepted")
    with Recorder(tmp_path) as rec:
        assert serve(io.BytesIO(HEADER.pack(len(good)) + good), rec) == 1


async def test_a_virtual_clock_does_not_make_a_busy_recorder_process_look_stuck(
        tmp_path: Path, autojump_clock: trio.testing.MockClock) -> None:
    import time

    link = RecorderLink(tmp_path, flush_seconds=0.05, batch_seconds=0.01, virtual_clock=True)
    book = session_messages()[2]  # a book: the biggest of the session's events
    n = 5_000  # more than the pipe holds: the sends wait on the recorder process for real seconds
    async with trio.open_nursery() as nursery:
        await nursery.start(link.run)
        for i in range(n):
            link.offer(attrs.evolve(book, local_time=float(i)))
        wall_deadline = time.monotonic() + 60  # virtual time jumps: bound the wait by the wall clock
        while link.shipped < n and time.monotonic() < wall_deadline:  # noqa: ASYNC110
            await trio.sleep(0.01)
        nursery.cancel_scope.cancel()
    assert link.shipped == n and link.exits == 0
    assert sum(pq.read_metadata(f).num_rows for f in parquet_files(tmp_path)) == n


def test_the_daemon_alerts_when_recording_pauses_for_disk_space() -> None:
    """The feed's callback: a pause is an error alert naming the space, the floor and what to do; the
    resume an info notice (counted, shown, not sent to a phone)."""
    from kalshid.config import Config
    from kalshid.metrics import Metrics
    from kalshid.trading.feed import Feed

    published: list[tuple[str, dict[str, Any]]] = []
    metrics = Metrics()
    feed = Feed(Config(), None, None, None, metrics, lambda kind, data: published.append((kind, data)),  # type: ignore[arg-type]
                None, None)  # type: ignore[arg-type]
    feed._recorder_disk(False, 800 * recorder_link.MIB)
    assert "kalshid_recorder_paused_low_disk 1.0" in metrics.exposition().decode()
    feed._recorder_disk(True, 1200 * recorder_link.MIB)
    (low_kind, low), (ok_kind, ok) = published
    assert (low_kind, low["level"], low["kind"]) == ("alert", "error", "recorder_disk_low")
    assert "800 MiB free under var/recordings, below record.min_free_mb 1024" in low["detail"]
    assert "trading goes on" in low["detail"] and "record.retention_days" in low["detail"]
    assert (ok_kind, ok["level"], ok["kind"]) == ("alert", "info", "recorder_disk_ok")
    assert "1200 MiB free" in ok["detail"]
    assert "kalshid_recorder_paused_low_disk 0.0" in metrics.exposition().decode()
