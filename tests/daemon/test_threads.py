"""Helper threads stay out of the event loop's way (kalshid.threads): SCHED_BATCH, off a pinned
loop's CPU; ``runtime.loop_cpu`` is validated and a bad one stops the daemon (kalshid.daemon.tuning)
before it starts."""

from __future__ import annotations

import os
import sys
import threading
from pathlib import Path

import pytest
import trio

from kalshid import threads
from kalshid.config import ConfigError, load_config
from kalshid.daemon.supervisor import EXIT_FAILURE, Runtime, Supervisor
from kalshid.daemon.tuning import run_tuned

linux = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="Linux scheduling only")


def _placement() -> tuple[set[int], int]:
    return os.sched_getaffinity(0), os.sched_getscheduler(0)


@linux
async def test_helpers_run_under_sched_batch() -> None:
    _, policy = await threads.run_sync(_placement)
    assert policy == os.SCHED_BATCH
    assert os.sched_getscheduler(0) != os.SCHED_BATCH  # the loop thread itself is left alone


@linux
@pytest.mark.skipif(len(os.sched_getaffinity(0)) < 2, reason="needs two CPUs")
async def test_a_pinned_loop_keeps_its_cpu_and_helpers_use_the_others() -> None:
    allowed = os.sched_getaffinity(0)
    cpu = max(allowed)
    threads.pin_loop_thread(cpu)
    try:
        assert os.sched_getaffinity(0) == {cpu} and threads.loop_cpu() == cpu
        seen: list[tuple[set[int], int]] = []

        def fresh_helper() -> None:  # started after the pin: it inherits {cpu} until made a helper
            threads.background_thread()
            seen.append(_placement())

        thread = threading.Thread(target=fresh_helper)
        thread.start()
        thread.join()
        assert seen == [(allowed - {cpu}, os.SCHED_BATCH)]
        cached_cpus, _ = await threads.run_sync(_placement)  # a helper started before the pin moves too
        assert cached_cpus == allowed - {cpu}
    finally:
        threads.pin_loop_thread(None)
    assert os.sched_getaffinity(0) == allowed and threads.loop_cpu() is None
    helper_cpus, _ = await threads.run_sync(_placement)  # and back to every CPU after the unpin
    assert helper_cpus == allowed


@linux
def test_a_cpu_the_process_may_not_use_is_refused() -> None:
    before = os.sched_getaffinity(0)
    with pytest.raises(threads.AffinityError, match=r"runtime\.loop_cpu = 4096: not one of this process's CPUs"):
        threads.pin_loop_thread(4096)
    assert os.sched_getaffinity(0) == before


def test_loop_cpu_config_is_checked(tmp_path: Path) -> None:
    assert load_config(environ={}, cwd=tmp_path).config.runtime.loop_cpu is None
    assert load_config(environ={"KALSHID_RUNTIME__LOOP_CPU": "1"}, cwd=tmp_path).config.runtime.loop_cpu == 1
    for bad in ("-1", "one"):
        with pytest.raises(ConfigError, match=r"runtime\.loop_cpu"):
            load_config(environ={"KALSHID_RUNTIME__LOOP_CPU": bad}, cwd=tmp_path)


@linux
async def test_the_daemon_does_not_start_on_a_cpu_it_cannot_have(tmp_path: Path) -> None:
    loaded = load_config(environ={"KALSHID_RUNTIME__LOOP_CPU": "4096", "KALSHID_LOG__FILE": "off",
                                  "KALSHID_JOURNAL__DIR": str(tmp_path)}, cwd=tmp_path)
    started: list[str] = []

    class Marker:
        name = "marker"

        async def run(self, runtime: Runtime, *, task_status: trio.TaskStatus[None]) -> None:
            started.append("marker")
            task_status.started()

    supervisor = Supervisor(Runtime(loaded, None), [Marker()])  # type: ignore[list-item]
    with trio.fail_after(5):
        assert await run_tuned(supervisor) == EXIT_FAILURE
    assert started == []
