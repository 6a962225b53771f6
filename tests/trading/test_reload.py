"""Configuration reload through the stages' inboxes; the stages' own counters and snapshots."""

from __future__ import annotations

import functools
from decimal import Decimal
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import attrs
import pytest
import trio
import trio.testing
from daemonkit import daemon_env, running_daemon
from structlog.testing import capture_logs

from kalshid.config import load_config
from kalshid.core.basis import BasisConfig, BasisTracker
from kalshid.core.breaker import Breaker
from kalshid.core.portfolio import Portfolio
from kalshid.core.risk import DayLedger, RiskEngine, RiskLimits
from kalshid.core.signals import IndexPrint
from kalshid.core.units import format_dollars
from kalshid.exchange.base import FeedStale
from kalshid.store import Journal
from kalshid.trading.control_impl import DaemonControlImpl
from kalshid.trading.messages import (
    ApprovedOrder,
    ExecutionSnapshot,
    SetRiskLimits,
    SetStrategy,
    Snapshots,
    StrategySnapshot,
    TradingState,
    ask,
)
from kalshid.trading.reload import ReloadRefused, apply_reload
from kalshid.trading.risk import RiskStage
from kalshid.trading.strategy import BASIS_PUBLISH_INTERVAL_S, StrategyStage
from tests.trading.stagekit import NOW, TICKER, pipeline, proposal

WIDE = RiskLimits(max_position_size_cc=10_000_000, max_concurrent_positions=10, max_daily_loss_cc=10_000_000,
                  max_window_exposure_cc=10_000_000)
NO_NEW_POSITIONS = attrs.evolve(WIDE, max_position_size_cc=0)


async def test_reloaded_limits_apply_to_the_next_proposal_never_to_one_being_checked(journal: Journal) -> None:
    """The first proposal is approved and its hand-over to execution is held up; the reload's limits
    wait behind it in the inbox (the caller is not answered yet) and apply to the second one."""
    p = pipeline(journal)
    stage = RiskStage(p, RiskEngine(WIDE))
    inbox_send, inbox = trio.open_memory_channel[Any](10)
    orders, orders_recv = trio.open_memory_channel[Any](0)  # the hand-over waits until it is taken
    command = SetRiskLimits(NO_NEW_POSITIONS)
    async with trio.open_nursery() as nursery:
        nursery.start_soon(stage.run, inbox, orders)
        await inbox_send.send(proposal("kelly_volatility"))
        await trio.testing.wait_all_tasks_blocked()
        nursery.start_soon(functools.partial(ask, inbox_send, command, stage="risk"))
        await trio.testing.wait_all_tasks_blocked()  # the command is in the inbox, behind the first proposal
        await inbox_send.send(proposal("mean_reversion"))
        await trio.testing.wait_all_tasks_blocked()
        assert not command.done.is_set()  # the first proposal's check is not finished yet
        assert p.snapshots.risk.limits == WIDE
        with trio.fail_after(1):
            first = await orders_recv.receive()
            await command.done.wait()
        assert isinstance(first, ApprovedOrder) and first.strategy == "kelly_volatility" and first.count == 10
        assert command.refused is None and p.snapshots.risk.limits == NO_NEW_POSITIONS
        await trio.testing.wait_all_tasks_blocked()
        with pytest.raises(trio.WouldBlock):
            orders_recv.receive_nowait()  # the second proposal met the new limits: rejected
        assert p.snapshots.risk.counters == {"approvals": 1, "rejections": 1}
        await inbox_send.aclose()
        async with orders_recv:
            pass


async def test_a_command_queued_to_a_stopping_risk_stage_is_answered_not_left_to_time_out(
        journal: Journal) -> None:
    p = pipeline(journal)
    stage = RiskStage(p, RiskEngine(WIDE))
    inbox_send, inbox = trio.open_memory_channel[Any](10)
    orders, _orders_recv = trio.open_memory_channel[Any](0)  # nobody takes the approved order
    command = SetRiskLimits(NO_NEW_POSITIONS)
    with trio.fail_after(1):  # well inside ask's timeout: a hang would fail here
        async with trio.open_nursery() as nursery:
            nursery.start_soon(stage.run, inbox, orders)
            await inbox_send.send(proposal("kelly_volatility"))  # its hand-over never completes
            nursery.start_soon(functools.partial(ask, inbox_send, command, stage="risk", timeout_s=60.0))
            await trio.testing.wait_all_tasks_blocked()
            assert not command.done.is_set()
            nursery.cancel_scope.cancel()  # the stage stops with the command still queued
    assert command.refused == "the risk stage has stopped"
    assert p.snapshots.risk.limits == WIDE


async def test_a_command_queued_to_a_stopping_strategy_stage_is_refused(journal: Journal) -> None:
    p = pipeline(journal)
    stage = StrategyStage(p)
    command = SetStrategy("kelly_volatility", False)
    stage.commands.send_nowait(command)  # queued before the stage got to it
    md_send, md_recv = trio.open_memory_channel[Any](1)
    out, _out_recv = trio.open_memory_channel[Any](1)
    with trio.fail_after(1):
        async with trio.open_nursery() as nursery:
            nursery.cancel_scope.cancel()  # the stage is stopped before its command task runs
            nursery.start_soon(stage.run, md_recv, out, out.clone())
    assert command.refused == "the strategy stage has stopped"
    await md_send.aclose()


async def test_each_stage_counts_in_its_own_snapshot_and_the_strategy_publishes_its_basis_view(
        journal: Journal, autojump_clock: object) -> None:
    p = pipeline(journal)
    RiskStage(p, RiskEngine(WIDE))
    stage = StrategyStage(p)
    assert p.snapshots.strategy.basis is None
    md_send, md_recv = trio.open_memory_channel[Any](4)
    out, _out_recv = trio.open_memory_channel[Any](4)
    async with trio.open_nursery() as nursery:
        nursery.start_soon(stage.run, md_recv, out, out.clone())
        await md_send.send(FeedStale(TICKER, "test", trio.current_time()))
        await trio.testing.wait_all_tasks_blocked()
        assert p.snapshots.strategy.counters == {"feed_stale": 1}
        assert p.snapshots.counters() == {"feed_stale": 1}
        assert p.snapshots.risk.counters == {} and p.snapshots.execution.counters == {}
        first = p.snapshots.strategy.basis
        assert first is not None and first.samples == 0  # the first batch publishes it
        stage.basis.on_index(trio.current_time(), Decimal("150"))
        await md_send.send(FeedStale(TICKER, "test", trio.current_time()))
        await trio.testing.wait_all_tasks_blocked()
        assert p.snapshots.strategy.basis is first  # changed, but within the interval: not yet
        await trio.sleep(BASIS_PUBLISH_INTERVAL_S)
        await md_send.send(FeedStale(TICKER, "test", trio.current_time()))
        await trio.testing.wait_all_tasks_blocked()
        refreshed = p.snapshots.strategy.basis
        assert refreshed is not None and refreshed.index == Decimal("150")
        await md_send.aclose()
    assert p.snapshots.counters() == {"feed_stale": 3}


async def test_a_reload_sends_parameters_and_limits_to_their_stages_and_names_a_stage_that_is_gone(
        tmp_path: Path, autojump_clock: object) -> None:
    env = daemon_env(tmp_path, KALSHID_RISK__MAX_CONCURRENT_POSITIONS="2", KALSHID_RISK__MAX_DAILY_LOSS="123.45",
                     KALSHID_STRATEGIES__KELLY_VOLATILITY__MIN_EDGE="0.09")
    new = load_config(environ=env, cwd=tmp_path).config
    async with running_daemon(tmp_path) as (daemon, _sup):
        await daemon.control.set_strategy_params("kelly_volatility", {"min_edge": 0.05})
        running_limits = daemon.p.snapshots.risk.limits
        assert running_limits is not None and running_limits.max_concurrent_positions != 2
        assert daemon.param_overrides == {"kelly_volatility": {"min_edge": 0.05}}
        with capture_logs() as logs:
            applied = await apply_reload(daemon, new)
        assert applied == ["strategies.kelly_volatility", "risk"]
        limits = daemon.p.snapshots.risk.limits
        assert limits is not None and limits.max_concurrent_positions == 2
        assert daemon.risk_stage.engine.limits == limits
        assert daemon.p.registry.get("kelly_volatility").params.min_edge == 0.09
        assert daemon.param_overrides == {"kelly_volatility": {}}  # the reloaded value replaces the override
        [audit] = [e for e in logs if e["event"] == "operator action"]
        # named by the configuration's keys, money in dollars as the configuration gives it
        assert audit["before"] == {"strategies.kelly_volatility.min_edge": 0.05,
                                   "risk.max_concurrent_positions": running_limits.max_concurrent_positions,
                                   "risk.max_daily_loss": format_dollars(running_limits.max_daily_loss_cc)}
        assert audit["after"] == {"strategies.kelly_volatility.min_edge": 0.09, "risk.max_concurrent_positions": 2,
                                  "risk.max_daily_loss": "123.4500"}
        assert (await daemon.control.risk())["limits"]["max_concurrent_positions"] == 2
        assert await apply_reload(daemon, new) == []  # nothing left to change

        gone_send, gone_recv = trio.open_memory_channel[Any](1)
        await gone_recv.aclose()
        running = daemon.strategy.commands
        daemon.strategy.commands = gone_send
        again = attrs.evolve(new, strategies=attrs.evolve(
            new.strategies, kelly_volatility=attrs.evolve(new.strategies.kelly_volatility, min_edge=0.1)))
        with capture_logs() as logs, pytest.raises(ReloadRefused, match="the strategy stage has stopped"):
            await apply_reload(daemon, again)
        [audit] = [e for e in logs if e["event"] == "operator action"]
        assert audit["outcome"] == "refused" and "strategy stage has stopped" in audit["detail"]
        daemon.strategy.commands = running
        assert daemon.p.registry.get("kelly_volatility").params.min_edge == 0.09


async def test_the_markets_view_is_built_from_the_strategy_snapshot_alone() -> None:
    """``/api/markets`` reads the strategy stage's snapshot: no tracker, no basis tracker, no stage."""
    basis = BasisTracker(BasisConfig())
    basis.on_index(1.0, Decimal("150"))
    basis.on_spot(1.5, Decimal("150.3"))
    state = TradingState(mode="sim", portfolio=Portfolio(0), ledger=DayLedger(NOW.date(), 0),
                         breaker=Breaker.start(NOW, 0))
    snapshots = Snapshots(ExecutionSnapshot(), state.risk_snapshot(), StrategySnapshot(
        last_print=IndexPrint(NOW, 150.0), data_time=NOW, basis=basis.view(2.0)))
    daemon = SimpleNamespace(p=SimpleNamespace(state=state, snapshots=snapshots),
                             cfg=SimpleNamespace(exchange=SimpleNamespace(underlying="index")))
    view = await DaemonControlImpl(daemon).markets()  # type: ignore[arg-type]
    assert view["index"] == {"id": "SOLUSD_RTI", "value": 150.0, "ts": NOW.isoformat()}
    assert view["basis"]["spot"] == "150.3" and view["basis"]["index"] == "150"
    assert view["current"] is None and view["underlying"] == "index"
