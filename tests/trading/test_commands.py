"""Operator commands are messages to the owning stage's inbox, answered by that stage."""

from __future__ import annotations

import functools
from datetime import UTC, datetime
from typing import Any

import pytest
import trio

from kalshid.core.breaker import Breaker
from kalshid.core.portfolio import Portfolio
from kalshid.core.risk import DayLedger
from kalshid.core.strategies.registry import StrategyRegistry
from kalshid.trading.messages import (
    Pipeline,
    SetStrategy,
    SetStrategyParams,
    SetTrading,
    StageUnavailable,
    TradingState,
    ask,
)
from kalshid.trading.strategy import StrategyStage

NOW = datetime(2026, 7, 8, 22, 50, tzinfo=UTC)


async def test_ask_returns_once_the_stage_has_answered() -> None:
    send, recv = trio.open_memory_channel[Any](1)

    async def stage() -> None:
        command = await recv.receive()
        assert isinstance(command, SetTrading) and not command.enabled
        command.answer()

    async with trio.open_nursery() as nursery:
        nursery.start_soon(stage)
        command = SetTrading(False, "operator stop")
        await ask(send, command, stage="execution")
    assert command.done.is_set() and command.refused is None


async def test_a_refusal_is_carried_back_to_the_caller() -> None:
    send, recv = trio.open_memory_channel[Any](1)
    command = SetStrategy("nope", True)
    async with trio.open_nursery() as nursery:
        nursery.start_soon(functools.partial(ask, send, command, stage="strategy"))
        (await recv.receive()).answer("unknown strategy 'nope'")
    assert command.refused == "unknown strategy 'nope'"


async def test_a_stage_that_never_answers_is_named_after_the_timeout(autojump_clock: object) -> None:
    send, _recv = trio.open_memory_channel[Any](1)
    with pytest.raises(StageUnavailable, match="risk stage did not answer within 5 s"):
        await ask(send, SetTrading(True, "operator start"), stage="risk", timeout_s=5)


async def test_a_stage_that_has_stopped_or_never_started_is_named_at_once() -> None:
    send, recv = trio.open_memory_channel[Any](1)
    await recv.aclose()
    with pytest.raises(StageUnavailable, match="execution stage has stopped"):
        await ask(send, SetTrading(True, "operator start"), stage="execution")
    with pytest.raises(StageUnavailable, match="strategy stage is not running"):
        await ask(None, SetStrategy("kelly", False), stage="strategy")


async def test_the_strategy_stage_applies_enable_disable_and_parameters_from_its_own_inbox() -> None:
    state = TradingState(mode="sim", portfolio=Portfolio(0), ledger=DayLedger(NOW.date(), 0),
                         breaker=Breaker.start(NOW, 0))
    registry = StrategyRegistry.from_config(["kelly_volatility"], {})
    stage = StrategyStage(Pipeline(state=state, registry=registry))
    md_send, md_recv = trio.open_memory_channel[Any](1)
    proposals, _proposals = trio.open_memory_channel[Any](1)
    closing, _closing = trio.open_memory_channel[Any](1)
    with trio.fail_after(5):
        async with trio.open_nursery() as nursery:
            nursery.start_soon(stage.run, md_recv, proposals, closing)
            await ask(stage.commands, SetStrategy("kelly_volatility", False), stage="strategy")
            assert not registry.is_enabled("kelly_volatility")
            unknown = SetStrategy("nope", True)
            await ask(stage.commands, unknown, stage="strategy")
            assert unknown.refused == "unknown strategy 'nope'"
            bad = SetStrategyParams("kelly_volatility", {"lookback_window": -1})
            await ask(stage.commands, bad, stage="strategy")
            assert bad.refused is not None and "lookback_window" in bad.refused
            await md_send.aclose()  # the stage ends; its command inbox closes with it
    with pytest.raises(StageUnavailable, match="strategy stage has stopped"):
        await ask(stage.commands, SetStrategy("kelly_volatility", True), stage="strategy")
