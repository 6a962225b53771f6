"""Operator commands are messages to the owning stage's inbox, answered by that stage."""

from __future__ import annotations

import functools
from typing import Any

import pytest
import trio
import trio.testing

from kalshid.trading.messages import SetStrategy, SetTrading, StageUnavailable, ask


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
