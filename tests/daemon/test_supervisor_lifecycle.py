"""The supervisor: start order, readiness, graceful/forced stops, failures, reload, sd_notify."""

import itertools
import socket
import sqlite3
from pathlib import Path
from typing import Any

import pytest
import trio
from structlog.testing import capture_logs

from kalshid.config import LoadedConfig, load_config
from kalshid.daemon.supervisor import (
    EXIT_FAILURE,
    EXIT_FORCED,
    EXIT_OK,
    SAME_REQUEST_WINDOW_S,
    Component,
    Runtime,
    Supervisor,
)


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


@pytest.mark.parametrize(("first", "second", "gap", "expected"), [
    ("SIGTERM", "SIGTERM", 0.01, EXIT_OK),  # one kill of a process group, forwarded by make: one request
    ("SIGTERM", "SIGTERM", SAME_REQUEST_WINDOW_S + 0.05, EXIT_FORCED),  # asked again: a hard stop
    ("SIGTERM", "SIGINT", 0.01, EXIT_FORCED),  # another signal: a hard stop however soon
])
async def test_the_same_stop_request_at_once_is_counted_once(
        tmp_path: Path, autojump_clock: trio.abc.Clock, first: str, second: str, gap: float, expected: int) -> None:
    rec = Recorder()
    sup = make(tmp_path, [rec.well_behaved("orders", drain_seconds=1.0)])

    async def twice() -> None:
        await sup.wait_ready()
        sup.request_stop(first)
        await trio.sleep(gap)
        sup.request_stop(second)

    async with trio.open_nursery() as n:
        n.start_soon(twice)
        status = await sup.run()
    assert status == expected
    assert ("orders drained" in rec.events) == (expected == EXIT_OK)


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


async def test_a_journal_write_refused_for_a_full_disk_stops_with_its_cause_and_fix(
        tmp_path: Path, autojump_clock: trio.abc.Clock) -> None:
    cfg = loaded(tmp_path).config

    async def execution(runtime: Runtime, *, task_status: trio.TaskStatus[Any]) -> None:
        task_status.started()
        conn = sqlite3.connect(tmp_path / "small.sqlite3")
        try:  # a database that may not grow past two pages: SQLite's SQLITE_FULL, as on a full disk
            conn.execute("PRAGMA max_page_count = 2")
            conn.execute("CREATE TABLE fills (payload BLOB)")
            with conn:
                conn.execute("INSERT INTO fills VALUES (?)", (bytes(16_384),))
        finally:
            conn.close()

    sup = make(tmp_path, [Component("execution", execution)])
    with capture_logs() as logs:
        assert await sup.run() == EXIT_FAILURE
    [failure] = [e for e in logs if e["log_level"] == "error"]  # one line: no traceback at error level
    assert failure["event"] == (
        f"execution: the disk holding the journal {cfg.journal_path} is full; kalshid stopped rather than "
        f"trade on what it cannot record: free space on that disk (older recordings under "
        f"{cfg.journal.dir}/recordings, set-aside journals, logs), then start again")


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


class Resource:
    """Something a component opens and closes; a use after the close is recorded, not hidden."""

    def __init__(self) -> None:
        self.closed = False
        self.uses = 0
        self.uses_after_close = 0

    def use(self) -> None:
        self.uses += 1
        if self.closed:
            self.uses_after_close += 1


def owner(rec: Recorder, name: str, resource: Resource) -> Component:
    """Opens ``resource``, and closes it when its own stop comes."""
    async def task(runtime: Runtime, *, task_status: trio.TaskStatus[Any]) -> None:
        task_status.started()
        rec.events.append(f"{name} started")
        await runtime.shutdown.wait()
        resource.closed = True
        rec.events.append(f"{name} closed")
    return Component(name, task)


def user(rec: Recorder, name: str, resource: Resource, drain_seconds: float) -> Component:
    """Uses ``resource`` every 0.1 s, also while it drains for ``drain_seconds`` after its stop."""
    async def task(runtime: Runtime, *, task_status: trio.TaskStatus[Any]) -> None:
        task_status.started()
        rec.events.append(f"{name} started")
        while not runtime.shutdown.is_set():
            resource.use()
            with trio.move_on_after(0.1):
                await runtime.shutdown.wait()
        rec.events.append(f"{name} draining")
        end = trio.current_time() + drain_seconds
        while trio.current_time() < end:
            resource.use()
            await trio.sleep(0.1)
        rec.events.append(f"{name} drained")
    return Component(name, task)


async def test_graceful_stop_ends_components_innermost_first(tmp_path: Path, autojump_clock: trio.abc.Clock) -> None:
    rec = Recorder()
    sup = make(tmp_path, [rec.well_behaved(n, drain_seconds=0.5) for n in ("venue", "feed", "orders", "strategy")])
    async with trio.open_nursery() as nursery:
        nursery.start_soon(stop_when_ready, sup)
        assert await sup.run() == EXIT_OK
    names = ["venue", "feed", "orders", "strategy"]
    assert rec.events == [*(f"{n} started" for n in names),
                          *(e for n in reversed(names) for e in (f"{n} draining", f"{n} drained"))]


async def test_a_resource_outlives_every_component_started_after_its_owner(
        tmp_path: Path, autojump_clock: trio.abc.Clock) -> None:
    rec, journal = Recorder(), Resource()
    sup = make(tmp_path, [owner(rec, "exchange", journal), user(rec, "execution", journal, drain_seconds=1.5),
                          user(rec, "strategy", journal, drain_seconds=0.5)])
    async with trio.open_nursery() as n:
        n.start_soon(stop_when_ready, sup)
        assert await sup.run() == EXIT_OK
    assert journal.uses > 20 and journal.uses_after_close == 0
    assert rec.events[3:] == ["strategy draining", "strategy drained", "execution draining", "execution drained",
                              "exchange closed"]


@pytest.mark.parametrize("failing", [0, 1, 2])
async def test_a_failure_in_any_component_cancels_all_of_them(tmp_path: Path, autojump_clock: trio.abc.Clock,
                                                              failing: int) -> None:
    rec = Recorder()
    names = ["exchange", "feed", "strategy"]

    def fails(name: str) -> Component:
        async def task(runtime: Runtime, *, task_status: trio.TaskStatus[Any]) -> None:
            task_status.started()
            rec.events.append(f"{name} started")
            await trio.sleep(5)
            raise RuntimeError(f"{name} broke")
        return Component(name, task)

    comps = [fails(name) if i == failing else rec.well_behaved(name) for i, name in enumerate(names)]
    sup = make(tmp_path, comps)
    with capture_logs() as logs, trio.fail_after(30):
        assert await sup.run() == EXIT_FAILURE
    assert [e for e in rec.events if e.endswith("started")] == [f"{n} started" for n in names]
    assert not [e for e in rec.events if "drain" in e]  # cancelled, none drained
    [failure] = [e for e in logs if e.get("stopping") == "everything"]
    assert failure["component"] == names[failing]


async def test_a_component_may_end_by_itself_once_the_stop_has_begun(tmp_path: Path,
                                                                     autojump_clock: trio.abc.Clock) -> None:
    """Like risk, whose inbox closes when its producers stop: ending during the drain is no failure,
    ending before it is."""
    rec = Recorder()

    async def ends_with_its_inbox(runtime: Runtime, *, task_status: trio.TaskStatus[Any]) -> None:
        task_status.started()
        await sup.runtime.shutdown.wait()  # the drain began: the inner component's stop closes the inbox
        rec.events.append("risk inbox closed")

    sup = make(tmp_path, [rec.well_behaved("exchange"), Component("risk", ends_with_its_inbox),
                          rec.well_behaved("strategy", drain_seconds=1.0)])
    async with trio.open_nursery() as n:
        n.start_soon(stop_when_ready, sup)
        assert await sup.run() == EXIT_OK
    assert "risk inbox closed" in rec.events
    assert rec.events.index("exchange draining") > rec.events.index("strategy drained")


async def test_the_grace_deadline_covers_the_whole_drain(tmp_path: Path, autojump_clock: trio.abc.Clock) -> None:
    """Two components draining 2 s each, one after the other, do not fit a 3 s grace: the outer one is
    cancelled mid-drain and the stop counts as forced."""
    rec = Recorder()
    sup = make(tmp_path, [rec.well_behaved("outer", drain_seconds=2), rec.well_behaved("inner", drain_seconds=2)])
    async with trio.open_nursery() as n:
        n.start_soon(stop_when_ready, sup)
        start = trio.current_time()
        assert await sup.run() == EXIT_FORCED
    assert "inner drained" in rec.events and "outer draining" in rec.events and "outer drained" not in rec.events
    assert trio.current_time() - start < 5  # 1 s running + 3 s grace
