"""Process tuning (kalshid.daemon.tuning): the RSS reading, giving the C heap's free pages back, and
what :func:`run_tuned` does around a supervisor: heartbeat, heap trims, the frozen start-up heap."""

import gc
import itertools
import platform
from pathlib import Path
from typing import Any

import pytest
import trio
from structlog.testing import capture_logs

from kalshid.config import load_config
from kalshid.daemon import tuning
from kalshid.daemon.supervisor import EXIT_OK, Component, Runtime, Supervisor
from kalshid.daemon.tuning import Tuning, run_tuned

glibc = pytest.mark.skipif(platform.libc_ver()[0] != "glibc", reason="malloc_trim is glibc's")


def test_rss_is_this_process_resident_size() -> None:
    rss = tuning.rss_bytes()
    assert rss is not None and 10 * 2**20 < rss < 4 * 2**30
    with open("/proc/self/status") as f:
        vmrss = next(int(line.split()[1]) * 1024 for line in f if line.startswith("VmRSS:"))
    assert abs(vmrss - rss) < 8 * 2**20


@glibc
def test_trim_gives_freed_heap_pages_back() -> None:
    # 40 MB of 1 KB blocks (over CPython's 512-byte small-object limit, so from malloc's heap), then
    # all but the last freed: the last pins the heap's top, so glibc keeps the freed pages resident
    blocks = [bytes(1024) + bytes([i % 256]) for i in range(40_000)]
    keep = blocks[-1]
    before_free = tuning.rss_bytes()
    del blocks
    freed = tuning.rss_bytes()
    assert tuning.trim_heap() is True
    trimmed = tuning.rss_bytes()
    assert before_free is not None and freed is not None and trimmed is not None
    assert freed - trimmed > 20 * 2**20, (before_free, freed, trimmed)
    assert keep[-1] == 39_999 % 256


def supervisor(tmp_path: Path) -> Supervisor:
    loaded = load_config(environ={"KALSHID_LOG__HEARTBEAT_SECONDS": "5", "KALSHID_JOURNAL__DIR": str(tmp_path / "var")},
                         cwd=tmp_path)

    async def feed(runtime: Runtime, *, task_status: trio.TaskStatus[Any]) -> None:
        await trio.sleep(0.1)  # "connecting"
        task_status.started()
        await runtime.shutdown.wait()

    return Supervisor(Runtime(loaded=loaded, signer=None), [Component("feed", feed)])


async def stop_when_ready(sup: Supervisor, after: float) -> None:
    await sup.wait_ready()
    await trio.sleep(after)
    sup.request_stop("test")


async def test_a_heartbeat_with_the_rss_is_logged_while_the_daemon_runs(
        tmp_path: Path, autojump_clock: trio.abc.Clock) -> None:
    sup, done = supervisor(tmp_path), Tuning()
    with capture_logs() as logs:
        async with trio.open_nursery() as n:
            n.start_soon(stop_when_ready, sup, 12.0)
            assert await run_tuned(sup, freeze=False, tuning=done) == EXIT_OK
    assert done.heartbeats == 2  # every 5 s for 12 s
    beats = [e for e in logs if e["event"] == "heartbeat"]
    assert len(beats) == 2 and all(b["rss_mb"] > 10 for b in beats)  # the process's RSS, for journalctl
    assert all(b["components"] == ["feed"] for b in beats)


@pytest.mark.parametrize("can_trim", [True, False])
async def test_the_heap_is_trimmed_every_ten_minutes_where_the_c_library_can(
        tmp_path: Path, autojump_clock: trio.abc.Clock, monkeypatch: pytest.MonkeyPatch, can_trim: bool) -> None:
    calls: list[float] = []

    def trim() -> bool:
        calls.append(trio.current_time())
        return can_trim

    monkeypatch.setattr(tuning, "trim_heap", trim)
    sup, done = supervisor(tmp_path), Tuning()
    async with trio.open_nursery() as n:
        n.start_soon(stop_when_ready, sup, 3 * tuning.TRIM_EVERY_S + 1)
        assert await run_tuned(sup, freeze=False, tuning=done) == EXIT_OK
    if can_trim:
        assert len(calls) == 3 and done.heap_trims == 3
        assert [round(b - a) for a, b in itertools.pairwise(calls)] == [tuning.TRIM_EVERY_S] * 2
    else:  # not glibc: tried once, then never again
        assert len(calls) == 1 and done.heap_trims == 0


async def test_the_start_up_heap_is_frozen_once_ready(tmp_path: Path, autojump_clock: trio.abc.Clock) -> None:
    sup, done = supervisor(tmp_path), Tuning()
    assert gc.get_freeze_count() == 0
    try:
        async with trio.open_nursery() as n:
            n.start_soon(stop_when_ready, sup, 1.0)
            assert await run_tuned(sup, tuning=done) == EXIT_OK
        assert done.frozen > 1000 and gc.get_freeze_count() > 1000  # start-up objects, out of the collector
    finally:
        gc.unfreeze()  # the rest of the test session collects as usual


async def test_nothing_is_frozen_or_logged_when_the_daemon_never_gets_ready(
        tmp_path: Path, autojump_clock: trio.abc.Clock) -> None:
    sup, done = supervisor(tmp_path), Tuning()
    sup.request_stop("before start")  # a stop during startup: ready never comes
    with capture_logs() as logs:
        await run_tuned(sup, tuning=done)
    assert done == Tuning() and gc.get_freeze_count() == 0
    assert [e for e in logs if e["event"] == "heartbeat"] == []
