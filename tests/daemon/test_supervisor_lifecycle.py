"""The supervisor: start order, readiness, graceful/forced stops, failures, reload, sd_notify."""

import itertools
import socket
from pathlib import Path
from typing import Any

import pytest
import trio
from structlog.testing import capture_logs

from kalshid.config import LoadedConfig, load_config
from kalshid.daemon.supervisor import EXIT_FAILURE, EXIT_FORCED, EXIT_OK, Component, Runtime, Supervisor


def loaded(tmp_path: Path, **env: str) -> LoadedConfig:
    return load_config(environ={"KALSHID_LOG__HEARTBEAT_SECONDS": "5", "KALSHID_JOURNAL__DIR": str(tmp_path / "var"),
                                "KALSHID_TRADING__SHUTDOWN_GRACE_SECONDS": "3", **env}, cwd=tmp_path)


def make(tmp_path: Path, components: list[Component], **kw: Any) -> Supervisor:
    return Supervisor(Runtime(loaded=loaded(tmp_path), signer=None), components, **kw)


class Recorder:
    """Components that log their lifecycle into one shared list."""

    def __init__(self) -> None:
        self.events: list[str] = []

    def well_behaved(self, name: str, drain_seconds: float = 0.0) -> Component:
        async def task(runtime: Runtime, *, task_status: trio.TaskStatus[Any]) -> None:
            await trio.sleep(0.1)  # "connecting"
            self.events.append(f"{name} started")
            task_status.started()
            await runtime.shutdown.wait()
            self.events.append(f"{name} draining")
            await trio.sleep(drain_seconds)
            self.events.append(f"{name} drained")
        return Component(name, task)


async def stop_when_ready(sup: Supervisor, after: float = 1.0) -> None:
    await sup.wait_ready()
    await trio.sleep(after)
    sup.request_stop("test")


async def test_starts_in_order_and_drains_gracefully(tmp_path: Path, autojump_clock: trio.abc.Clock) -> None:
    rec = Recorder()
    sup = make(tmp_path, [rec.well_behaved("feed"), rec.well_behaved("orders")])
    async with trio.open_nursery() as n:
        n.start_soon(stop_when_ready, sup, 12.0)
        status = await sup.run()
    assert status == EXIT_OK
    assert rec.events[:2] == ["feed started", "orders started"]
    assert sorted(rec.events[2:]) == ["feed drained", "feed draining", "orders drained", "orders draining"]


async def test_slow_drain_is_cancelled_after_grace(tmp_path: Path, autojump_clock: trio.abc.Clock) -> None:
    rec = Recorder()
    sup = make(tmp_path, [rec.well_behaved("slow", drain_seconds=60)])
    async with trio.open_nursery() as n:
        n.start_soon(stop_when_ready, sup)
        start = trio.current_time()
        status = await sup.run()
    assert status == EXIT_FORCED
    assert "slow drained" not in rec.events
    assert trio.current_time() - start < 5  # 1 s running + 3 s grace


async def test_second_stop_is_a_hard_stop(tmp_path: Path, autojump_clock: trio.abc.Clock) -> None:
    rec = Recorder()
    sup = make(tmp_path, [rec.well_behaved("slow", drain_seconds=60)])

    async def twice() -> None:
        await stop_when_ready(sup)
        await trio.sleep(0.5)
        sup.request_stop("again")

    async with trio.open_nursery() as n:
        n.start_soon(twice)
        start = trio.current_time()
        status = await sup.run()
    assert status == EXIT_FORCED
    assert trio.current_time() - start < 2


async def test_component_failure_cancels_all_and_exits_nonzero(tmp_path: Path,
                                                              autojump_clock: trio.abc.Clock) -> None:
    rec = Recorder()

    async def broken(runtime: Runtime, *, task_status: trio.TaskStatus[Any]) -> None:
        task_status.started()
        await trio.sleep(2)
        raise RuntimeError("feed lost")

    sup = make(tmp_path, [rec.well_behaved("orders"), Component("feed", broken)])
    with capture_logs() as logs:
        status = await sup.run()
    assert status == EXIT_FAILURE
    assert "orders drained" not in rec.events  # cancelled, not drained
    [failure] = [e for e in logs if e.get("stopping") == "everything"]
    assert failure["component"] == "feed" and failure["event"] == "feed raised RuntimeError: feed lost"
    assert failure["log_level"] == "error"


async def test_component_returning_early_is_a_failure(tmp_path: Path, autojump_clock: trio.abc.Clock) -> None:
    async def quits(runtime: Runtime, *, task_status: trio.TaskStatus[Any]) -> None:
        task_status.started()

    sup = make(tmp_path, [Component("quitter", quits)])
    assert await sup.run() == EXIT_FAILURE


async def test_failure_during_startup(tmp_path: Path, autojump_clock: trio.abc.Clock) -> None:
    rec = Recorder()

    async def refuses(runtime: Runtime, *, task_status: trio.TaskStatus[Any]) -> None:
        raise ConnectionError("exchange unreachable")

    components = [rec.well_behaved("first"), Component("reconcile", refuses), rec.well_behaved("never")]
    sup = make(tmp_path, components)
    assert await sup.run() == EXIT_FAILURE
    assert "never started" not in rec.events and not sup.statistics()["ready"]


async def test_reload_logs_changes_and_rejects_bad_config(tmp_path: Path,
                                                          autojump_clock: trio.abc.Clock) -> None:
    env: dict[str, str] = {"MAX_DAILY_LOSS": "250", "KALSHI_API_KEY": "abcdef-secret-key-id"}
    sup = make(tmp_path, [], reload=lambda: loaded(tmp_path, **env))
    with capture_logs() as logs:
        await sup.reload_config()
        env["DRY_RUN_MODE"] = "flase"
        await sup.reload_config()
    ok, bad, refused_audit = (e for e in logs if e["event"] != "operator action" or e["outcome"] == "refused")
    assert (refused_audit["source"], refused_audit["action"]) == ("signal", "reload")
    assert "DRY_RUN_MODE" in refused_audit["detail"]
    assert ok["changed"]["risk.max_daily_loss"] == {"old": "500.0000", "new": "250.0000"}
    assert ok["changed"]["exchange.api_key"] == {"old": "", "new": "abcd…"}
    assert "rejected" in bad["event"] and any("DRY_RUN_MODE" in p for p in bad["problems"])
    assert sup.runtime.config.risk.max_daily_loss_cc == 500 * 10_000  # nothing applied
    assert sup.statistics()["reloads"] == 2


async def test_sd_notify_ready_and_stopping(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                            autojump_clock: trio.abc.Clock) -> None:
    sock_path = tmp_path / "notify.sock"
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as listener:
        listener.bind(str(sock_path))
        listener.setblocking(False)
        monkeypatch.setenv("NOTIFY_SOCKET", str(sock_path))
        sup = make(tmp_path, [])
        async with trio.open_nursery() as n:
            n.start_soon(stop_when_ready, sup)
            assert await sup.run() == EXIT_OK
        assert [listener.recv(64), listener.recv(64)] == [b"READY=1", b"STOPPING=1"]


async def test_second_instance_is_refused_before_it_starts_anything(tmp_path: Path,
                                                                     autojump_clock: trio.abc.Clock) -> None:
    rec = Recorder()
    first = make(tmp_path, [rec.well_behaved("first")])
    second = make(tmp_path, [rec.well_behaved("second")])
    async with trio.open_nursery() as n:
        n.start_soon(first.run)
        await first.wait_ready()
        with capture_logs() as logs:
            assert await second.run() == EXIT_FAILURE
        first.request_stop("test")
    assert "second started" not in rec.events
    [refusal] = [e for e in logs if e["log_level"] == "error"]
    assert refusal["event"].startswith("another kalshid (pid ") and "KALSHID_JOURNAL__DIR" in refusal["event"]


async def test_failure_summary_is_the_root_cause_with_its_fix(tmp_path: Path, autojump_clock: trio.abc.Clock) -> None:
    async def api(runtime: Runtime, *, task_status: trio.TaskStatus[Any]) -> None:
        inner = OSError(98, "error while attempting to bind on address ('127.0.0.1', 8123): address already in use")
        raise ExceptionGroup("hypercorn", [ExceptionGroup("serve", [inner])])

    sup = make(tmp_path, [Component("api", api)])
    with capture_logs() as logs:
        assert await sup.run() == EXIT_FAILURE
    [failure] = [e for e in logs if e["log_level"] == "error"]
    assert failure["event"] == "port 8123 in use: set KALSHID_API__PORT to a free port, or stop what holds it"


async def test_systemd_is_kept_informed_while_startup_waits(tmp_path: Path, autojump_clock: trio.abc.Clock,
                                                           monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("WATCHDOG_USEC", "30000000")
    monkeypatch.delenv("WATCHDOG_PID", raising=False)
    sent: list[tuple[float, str]] = []

    async def slow_reconcile(runtime: Runtime, *, task_status: trio.TaskStatus[Any]) -> None:
        await trio.sleep(200)  # a reconciliation retrying against an exchange that disagrees
        task_status.started()
        await runtime.shutdown.wait()

    sup = make(tmp_path, [Component("execution", slow_reconcile)],
               notify=lambda state: sent.append((trio.current_time(), state)))
    async with trio.open_nursery() as n:
        n.start_soon(stop_when_ready, sup)
        assert await sup.run() == EXIT_OK
    ready_at = next(t for t, state in sent if state == "READY=1")
    pings = [t for t, state in sent if state == "WATCHDOG=1" and t < ready_at]
    assert len(pings) >= 200 // 15 and max(b - a for a, b in itertools.pairwise(pings)) <= 15
    assert any(state.startswith("EXTEND_TIMEOUT_USEC=") for _, state in sent)
    assert ("STATUS=starting: execution" in {state for _, state in sent})
