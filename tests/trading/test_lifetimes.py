"""The whole daemon's lifetimes, under Trio's MockClock: each component outlives the ones started after it.

Started in dependency order, stopped innermost first: strategy stops proposing before anything else
stops, execution drains while risk, the feed and the venue still run, and the venue closes the journal
only after every component that writes to it has ended.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import attrs
import pytest
import trio
from daemonkit import daemon_env, running_daemon, wait_for
from structlog.testing import capture_logs

from kalshid.config import load_config
from kalshid.daemon.supervisor import EXIT_FAILURE, Runtime, Supervisor
from kalshid.sim.faults import FaultInjector, FaultSpec, HttpFault
from kalshid.trading import app
from kalshid.trading.markets import Markets
from kalshid.trading.messages import Pipeline
from kalshid.trading.wiring import TradingDaemon

ORDER = ["exchange", "feed", "markets", "risk", "execution", "api", "control", "watchdog", "strategy"]


async def test_components_start_in_order_and_stop_innermost_first(tmp_path: Path,
                                                                  autojump_clock: trio.abc.Clock) -> None:
    with capture_logs() as logs:
        async with running_daemon(tmp_path) as (daemon, supervisor):
            assert supervisor.statistics()["started"] == ORDER

            async def fed() -> bool:
                return daemon.strategy.received > 0

            await wait_for(fed, limit_s=60, every_s=1)
            assert daemon.p.journal is not None and daemon.connected

            async def pruned() -> bool:  # the journal's retention ran once the exchange's time was known
                return any(e["event"] == "journal: refused decisions past retention deleted" for e in logs)

            await wait_for(pruned, limit_s=60, every_s=1)
    events = [(e["event"], e.get("component")) for e in logs]
    stopped = [name for event, name in events if event == "component stopped"]
    assert stopped == ORDER[::-1]
    drained = events.index(("execution drained", None))
    # execution drains inside risk, the feed and the venue: none of them has stopped yet
    assert not [n for event, n in events[:drained] if event == "component stopped" and n in ORDER[:4]]
    assert events.index(("component stopped", "execution")) > drained
    # the journal is closed (and unpublished) only after everything that uses it has ended
    assert daemon.p.journal is None and not daemon.connected


async def test_a_failing_room_stops_the_whole_daemon_and_the_venue_still_closes_the_journal(
        tmp_path: Path, autojump_clock: trio.abc.Clock, monkeypatch: pytest.MonkeyPatch) -> None:
    """Markets sits in the middle of the nesting: its failure cancels the stages inside it and the
    feed and venue around it; the venue still closes (and unpublishes) the journal on the way out."""
    real = Markets.refresh
    calls: list[float] = []

    async def breaks_after_start(self: Markets) -> None:
        calls.append(trio.current_time())
        if len(calls) > 3:
            raise RuntimeError("discovery broke")
        await real(self)

    monkeypatch.setattr(Markets, "refresh", breaks_after_start)
    loaded = load_config(environ=daemon_env(tmp_path), cwd=tmp_path)
    runtime = Runtime(loaded, None)
    daemon = TradingDaemon(runtime, virtual_clock=True)
    supervisor = Supervisor(runtime, app.components(daemon))
    with capture_logs() as logs, trio.fail_after(300):
        assert await supervisor.run() == EXIT_FAILURE
    assert supervisor.statistics()["ready"] is True  # it failed while running, not at start
    [failure] = [e for e in logs if e.get("stopping") == "everything"]
    assert failure["component"] == "markets" and "discovery broke" in failure["event"]
    assert not [e for e in logs if e["event"] == "component stopped"]  # cancelled, none drained
    assert daemon.p.journal is None and not daemon.connected


async def test_the_market_data_daemon_watches_without_trading_and_stops_cleanly(
        tmp_path: Path, autojump_clock: trio.abc.Clock) -> None:
    """``kalshid record``'s components: exchange, feed, markets. The feed never delivers to the
    stages (nothing reconciles to turn it on), and the stop needs no stage to have run."""
    loaded = load_config(environ=daemon_env(tmp_path), cwd=tmp_path)
    runtime = Runtime(loaded, None)
    daemon = TradingDaemon(runtime, virtual_clock=True)
    supervisor = Supervisor(runtime, daemon.market_data_components())
    status: list[int] = []

    async def run() -> None:
        status.append(await supervisor.run())

    async with trio.open_nursery() as nursery:
        nursery.start_soon(run)
        with trio.fail_after(120):
            await supervisor.wait_ready()
            await trio.sleep(60)  # a minute of market data, with markets followed
        assert daemon.connected and daemon.p.state.current_market is not None
        supervisor.request_stop("test finished")
    assert status == [0] and supervisor.statistics()["started"] == ["exchange", "feed", "markets"]
    for pair in (daemon.p.market_data, daemon.p.execution_in):
        assert pair is not None and pair[1].statistics().current_buffer_used == 0  # nothing delivered
    assert daemon.p.journal is None


def lose_answers(daemon: TradingDaemon, lose: Callable[[str], bool]) -> tuple[list[str], trio.Event]:
    """From now on the embedded simulator handles every request ``lose`` picks (by ``"METHOD path"``)
    and never answers it; returns those requests as they arrive, and an event set at the first."""
    lost: list[str] = []
    first = trio.Event()

    def fault(*, now: float | None = None, detail: str = "") -> HttpFault | None:
        if lose(detail):
            lost.append(detail)
            first.set()
            return "lost"
        return None

    venue = daemon.p.sim_handle.venue
    venue.faults = FaultInjector(FaultSpec(), seed=1)
    venue.faults.http_fault = fault  # type: ignore[method-assign]
    return lost, first


async def test_a_stop_with_an_order_answer_lost_on_the_way_drains_in_time_and_resolves_it(
        tmp_path: Path, autojump_clock: trio.abc.Clock) -> None:
    """The simulator places an order and never sends the answer; the stop comes while the daemon waits
    for it (the wait alone would be the whole grace period). The stop is still clean (exit 0): the
    drain declares the order in flight and settles its fate (its fill, a lookup by client_order_id, or
    a cancel) before the daemon exits."""
    with capture_logs() as logs:
        async with running_daemon(tmp_path) as (daemon, _supervisor):
            lost, lost_one = lose_answers(
                daemon, lambda d: d.startswith("POST ") and d.endswith("/portfolio/events/orders"))
            with trio.fail_after(2 * 900):
                await lost_one.wait()
            [waiting] = [o for o in daemon.p.orders if o.in_flight]
            stopped_at = trio.current_time()
        took = trio.current_time() - stopped_at
    grace = daemon.cfg.trading.shutdown_grace_seconds
    assert took < grace and len(lost) == 1
    events = [e["event"] for e in logs]
    assert {"order outcome unknown: in flight until resolved by client_order_id",
            "order answer not seen; the order had already ended"} & set(events)
    from kalshid.store import open_journal
    async with open_journal(daemon.cfg.journal_path, daemon.cfg.journal_mode, inline=True) as journal:
        row = await journal.get_order_by_client_id(waiting.client_order_id)
    assert row is not None and row.state.is_terminal  # resolved on the way out, nothing left in flight


async def test_a_stop_during_a_market_discovery_the_exchange_never_answers_is_clean(
        tmp_path: Path, autojump_clock: trio.abc.Clock) -> None:
    """The exchange stops answering the reads market discovery makes; the stop comes while a
    discovery waits on them (each read alone waits the request timeout, and is retried). The stop
    does not wait for it: exit 0, well within the grace period."""
    with capture_logs() as logs:
        async with running_daemon(tmp_path) as (daemon, _supervisor):
            _, lost_one = lose_answers(daemon, lambda d: d.startswith("GET ")
                                       and (d.endswith("/exchange/status") or "/markets/" in d))
            with trio.fail_after(600):
                await lost_one.wait()
            stopped_at = trio.current_time()
        took = trio.current_time() - stopped_at
    assert took < daemon.cfg.trading.shutdown_grace_seconds / 2
    assert ("component stopped", "markets") in [(e["event"], e.get("component")) for e in logs]


async def test_the_pipeline_has_no_done_flags() -> None:
    """Lifetimes are nested by the supervisor; no component waits on another's "done" event."""
    assert [f.name for f in attrs.fields(Pipeline) if f.name.endswith("_done")] == []
