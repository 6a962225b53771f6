"""The /ws WebSocket via the quart-trio test client: auth, events, commands, slow clients, shutdown."""

from __future__ import annotations

import json
from typing import Any

import pytest
import trio
from quart.testing.connections import WebsocketDisconnectError, WebsocketResponseError
from quart_trio import QuartTrio

from kalshid.control.broadcaster import Broadcaster
from kalshid.control.fake import FakeDaemon
from kalshid.metrics import Metrics
from kalshid.server.app import status_ticker
from kalshid.server.routes import ApiContext
from tests.server.conftest import AUTH, TOKEN


async def _disconnect_code(ws: Any) -> int:
    """Read until the server closes; return its close code."""
    with trio.fail_after(5):
        while True:
            try:
                await ws.receive()
            except WebsocketDisconnectError as exc:
                return int(exc.args[0])


async def test_header_auth_gets_status_then_events(client: Any, broadcaster: Broadcaster) -> None:
    async with client.websocket("/ws", headers=AUTH) as ws:
        first = await ws.receive_json()
        assert first["type"] == "status_update" and first["data"]["state"] == "stopped"
        for kind in [
            "trading_signal",
            "trade_execution",
            "alert",
            "order_update",
            "position_update",
            "market_update",
            "status_update",
        ]:
            broadcaster.publish({"type": kind, "data": {"k": kind}})
            event = await ws.receive_json()
            assert event == {"type": kind, "data": {"k": kind}, "ts": "2024-10-01T12:00:00.000Z"}


async def test_a_burst_arrives_whole_and_in_order_beside_a_command_reply(client: Any,
                                                                        broadcaster: Broadcaster) -> None:
    # bursts as large as the client's queue (4 here), commands sent while they are pumped: each reply is
    # a frame of its own between events, and no event is lost, duplicated or reordered
    async with client.websocket("/ws", headers=AUTH) as ws:
        await ws.receive_json()  # greeting
        got: list[int] = []
        replies: list[int] = []
        with trio.fail_after(5):
            for burst in range(10):
                for i in range(4 * burst, 4 * burst + 4):
                    broadcaster.publish({"type": "alert", "data": {"i": i}})
                await ws.send(json.dumps({"type": "command", "id": burst, "command": "status"}))
                while len(got) < 4 * burst + 4 or len(replies) <= burst:
                    msg = await ws.receive_json()
                    if msg["type"] == "alert":
                        got.append(msg["data"]["i"])
                    else:
                        assert msg["type"] == "error", msg  # "status" is not a ws command: a quick reply
                        replies.append(msg["id"])
        assert got == list(range(40))
        assert replies == list(range(10))


async def test_wrong_header_token_refused_before_upgrade(client: Any) -> None:
    async with client.websocket("/ws", headers={"Authorization": "Bearer nope-nope-nope-nope"}) as ws:
        with pytest.raises(WebsocketResponseError) as info:
            await ws.receive()
    assert info.value.response.status_code == 401


async def test_first_message_auth(client: Any) -> None:
    async with client.websocket("/ws") as ws:
        await ws.send_json({"type": "auth", "token": TOKEN, "id": "a"})
        assert await ws.receive_json() == {"type": "ack", "id": "a", "result": {"authenticated": True}}
        assert (await ws.receive_json())["type"] == "status_update"


@pytest.mark.parametrize(
    "first", [{"type": "auth", "token": "wrong-wrong-wrong-wrong"}, {"type": "command"}, "junk"]
)
async def test_bad_first_message_closes_1008(client: Any, first: Any) -> None:
    async with client.websocket("/ws") as ws:
        await (ws.send_json(first) if isinstance(first, dict) else ws.send(first))
        assert await _disconnect_code(ws) == 1008


async def test_silent_client_times_out_1008(client: Any, autojump_clock: trio.abc.Clock) -> None:
    async with client.websocket("/ws") as ws:
        assert await _disconnect_code(ws) == 1008


@pytest.mark.parametrize(
    ("command", "args", "state"),
    [("start", None, "running"), ("stop", {}, "stopped"), ("stop_entry", None, "stop_entry")],
)
async def test_state_commands_ack(client: Any, fake: FakeDaemon, command: str, args: Any, state: str) -> None:
    async with client.websocket("/ws", headers=AUTH) as ws:
        await ws.receive_json()
        await ws.send_json({"type": "command", "id": 7, "command": command, "args": args})
        changes = command != "stop"  # the fake announces only real changes, and it starts stopped
        messages = [await ws.receive_json() for _ in range(2 if changes else 1)]
        ack = next(m for m in messages if m["type"] == "ack")
        assert ack["id"] == 7 and ack["result"]["state"] == state
        if changes:
            assert any(m["type"] == "status_update" and m["data"]["state"] == state for m in messages)
    assert fake.calls[-1][0] == command


async def test_strategy_and_breaker_commands(client: Any, fake: FakeDaemon) -> None:
    fake.breaker_tripped = True
    async with client.websocket("/ws", headers=AUTH) as ws:
        await ws.receive_json()
        await ws.send_json(
            {"type": "command", "id": 1, "command": "enable_strategy", "args": {"name": "momentum"}}
        )
        assert await ws.receive_json() == {
            "type": "ack",
            "id": 1,
            "result": {"name": "momentum", "enabled": True},
        }
        await ws.send_json(
            {"type": "command", "id": 2, "command": "disable_strategy", "args": {"name": "momentum"}}
        )
        assert (await ws.receive_json())["result"]["enabled"] is False
        await ws.send_json({"type": "command", "id": 3, "command": "reset_circuit_breaker"})
        replies = [await ws.receive_json(), await ws.receive_json()]
        assert {"type": "ack", "id": 3, "result": {"breaker": {"tripped": False}}} in replies
    assert fake.breaker_tripped is False


@pytest.mark.parametrize(
    ("message", "code", "field"),
    [
        ("{not json", "bad_json", None),
        ("[1, 2]", "bad_request", None),
        ('{"type": "command", "id": [1], "command": "start"}', "bad_request", "id"),
        ('{"type": "subscribe", "id": 4}', "unknown_type", "type"),
        ('{"type": "command", "id": 4, "command": "launch"}', "unknown_command", "command"),
        ('{"type": "command", "id": 4, "command": "status"}', "unknown_command", "command"),
        ('{"type": "command", "id": 4}', "bad_request", "command"),
        ('{"type": "command", "id": 4, "command": "enable_strategy"}', "missing_argument", "name"),
        (
            '{"type": "command", "id": 4, "command": "enable_strategy", "args": {"name": "a b"}}',
            "invalid_argument",
            "name",
        ),
        (
            '{"type": "command", "id": 4, "command": "enable_strategy", "args": {"name": "nosuch"}}',
            "not_found",
            "name",
        ),
        (
            '{"type": "command", "id": 4, "command": "start", "args": {"force": true}}',
            "invalid_argument",
            "force",
        ),
        ('{"type": "command", "id": 4, "command": "start", "args": [1]}', "bad_request", "args"),
    ],
)
async def test_command_errors(client: Any, message: str, code: str, field: str | None) -> None:
    async with client.websocket("/ws", headers=AUTH) as ws:
        await ws.receive_json()
        await ws.send(message)
        reply = await ws.receive_json()
        assert reply["type"] == "error"
        assert reply["error"]["code"] == code
        assert reply["error"].get("field") == field
        if '"id": 4' in message:
            assert reply["id"] == 4
        # The connection survives bad input.
        await ws.send_json({"type": "command", "id": 5, "command": "stop"})
        assert (await ws.receive_json())["id"] == 5


async def test_start_refused_reports_conflict(client: Any, fake: FakeDaemon) -> None:
    fake.breaker_tripped = True
    async with client.websocket("/ws", headers=AUTH) as ws:
        await ws.receive_json()
        await ws.send_json({"type": "command", "id": 9, "command": "start"})
        assert (await ws.receive_json())["error"]["code"] == "conflict"


async def test_slow_client_is_evicted_without_blocking_publisher(
    client: Any, broadcaster: Broadcaster, metrics: Metrics, settings: Any
) -> None:
    async with client.websocket("/ws", headers=AUTH) as ws:
        await ws.receive_json()
        assert broadcaster.statistics().subscribers == 1
        # Never read: the test client's own buffer (10) and the server's queue (4) fill up; publish()
        # is synchronous, so reaching the end of this loop proves it never waited.
        for i in range(200):
            broadcaster.publish({"type": "market_update", "data": {"i": i}})
        stats = broadcaster.statistics()
        assert stats.evicted == 1 and stats.subscribers == 0 and stats.published == 200
        assert await _disconnect_code(ws) == 1013
    assert "kalshid_api_ws_evictions_total 1.0" in metrics.exposition().decode()


async def test_shutdown_closes_sessions_1001(client: Any, app_ctx: tuple[QuartTrio, ApiContext]) -> None:
    async with client.websocket("/ws", headers=AUTH) as ws, client.websocket("/ws") as pending:
        await ws.receive_json()
        app_ctx[1].closing.set()
        assert await _disconnect_code(ws) == 1001
        assert await _disconnect_code(pending) == 1001  # even one still waiting to authenticate


async def test_status_ticker_publishes_only_with_listeners(
    app_ctx: tuple[QuartTrio, ApiContext], broadcaster: Broadcaster, autojump_clock: trio.abc.Clock
) -> None:
    ctx = app_ctx[1]
    async with trio.open_nursery() as nursery:
        nursery.start_soon(status_ticker, ctx)
        await trio.sleep(ctx.settings.status_interval_s * 3 + 0.1)
        assert broadcaster.statistics().published == 0  # nobody listening: status() not even called
        sub = broadcaster.subscribe(8)
        await trio.sleep(ctx.settings.status_interval_s * 2)
        events = [json.loads(await sub.receive()) for _ in range(2)]
        assert [e["type"] for e in events] == ["status_update", "status_update"]
        assert events[0]["data"]["state"] == "stopped"
        nursery.cancel_scope.cancel()
