"""The dashboard gives way to trading: the daemon's order path covers every stage inbox."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import trio
import trio.testing
from daemonkit import daemon_env

from kalshid.config import load_config
from kalshid.daemon.supervisor import Runtime
from kalshid.exchange.base import FeedStale
from kalshid.trading.messages import OrdersChanged, ShutdownRequested
from kalshid.trading.wiring import TradingDaemon


async def test_a_message_waiting_in_any_stage_inbox_makes_the_order_path_busy(tmp_path: Path) -> None:
    cfg = load_config(environ=daemon_env(tmp_path), cwd=tmp_path)
    daemon = TradingDaemon(Runtime(cfg, None))
    path = daemon.broadcaster.order_path
    channels: list[tuple[trio.MemorySendChannel[Any], trio.MemoryReceiveChannel[Any]]] = []
    for channel in (daemon.p.market_data, daemon.p.execution_in, daemon.p.risk_in):
        assert channel is not None
        channels.append(channel)
    assert path.busy()  # stages not started: nobody waits on their inboxes

    async def idle_stage(inbox: trio.MemoryReceiveChannel[Any], gate: trio.Event) -> None:
        await gate.wait()  # "at work" until the gate opens
        async for _ in inbox:
            pass

    messages = (FeedStale("KX", "gap", 0.0), ShutdownRequested(), OrdersChanged())
    with trio.fail_after(5):
        async with trio.open_nursery() as nursery:
            gates = [trio.Event() for _ in channels]
            for (_, inbox), gate in zip(channels, gates, strict=True):
                nursery.start_soon(idle_stage, inbox, gate)
            for gate in gates:
                await trio.testing.wait_all_tasks_blocked()
                assert path.busy()  # this stage (and those after it) still at work
                gate.set()
            await trio.testing.wait_all_tasks_blocked()
            assert not path.busy()  # every stage waits for its next message
            for (send, _), message in zip(channels, messages, strict=True):
                send.send_nowait(message)
                assert path.busy()
                await trio.testing.wait_all_tasks_blocked()
                assert not path.busy()
            with path.hold():
                assert path.busy()
            nursery.cancel_scope.cancel()
