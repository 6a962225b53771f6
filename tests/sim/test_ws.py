"""WebSocket over a real Hypercorn: handshake auth, commands, channels, seq, slow consumers."""

from __future__ import annotations

import json
from typing import Any

import pytest
import trio
import trio_websocket
from schemas import validate_ws
from simfakes import TICKER
from simkit import sim_settings, ws_headers, ws_recv, ws_recv_until

from kalshid.exchange.kalshi.auth import Signer
from kalshid.sim.model import OrderRequest
from kalshid.sim.server import SimHandle, serve_simulator
from kalshid.sim.wire import user_uuid

OTHER = user_uuid("other")


async def send(ws: trio_websocket.WebSocketConnection, **cmd: Any) -> None:
    await ws.send_message(json.dumps(cmd))


async def recv(ws: trio_websocket.WebSocketConnection) -> dict[str, Any]:
    msg = await ws_recv(ws)
    validate_ws(msg)
    return msg


def other_order(sim: SimHandle, side: str, count: int, cents: int, user: str = OTHER) -> None:
    """An order by a user other than the test's key (the test's own orders go through REST)."""
    ex = sim.venue.exchange
    if user not in ex.accounts:
        ex.open_account(user, 1_000_000)
    ex.place_order(user, OrderRequest(TICKER, side, "buy", count, cents * 100), sim.venue.now())  # type: ignore[arg-type]
    sim.venue.publish()


async def test_handshake_requires_valid_signature(sim: SimHandle, signer: Signer) -> None:
    with pytest.raises(trio_websocket.ConnectionRejected) as rejected:
        async with trio_websocket.open_websocket_url(sim.ws_url):
            pass
    assert rejected.value.status_code == 401
    with pytest.raises(trio_websocket.ConnectionRejected) as rejected:  # signed for the REST path
        async with trio_websocket.open_websocket_url(
            sim.ws_url, extra_headers=ws_headers(signer, "/trade-api/v2")
        ):
            pass
    assert rejected.value.status_code == 401
    with pytest.raises(trio_websocket.ConnectionRejected):  # stale
        async with trio_websocket.open_websocket_url(
            sim.ws_url, extra_headers=ws_headers(signer, skew_ms=-60_000)
        ):
            pass
    async with trio_websocket.open_websocket_url(sim.ws_url, extra_headers=ws_headers(signer)) as ws:
        await send(ws, id=1, cmd="list_subscriptions")
        assert await recv(ws) == {"id": 1, "type": "ok", "msg": []}


async def test_orderbook_snapshot_then_consecutive_deltas(sim: SimHandle, signer: Signer) -> None:
    other_order(sim, "yes", 10, 30)
    async with trio_websocket.open_websocket_url(sim.ws_url, extra_headers=ws_headers(signer)) as ws:
        await send(
            ws, id=1, cmd="subscribe", params={"channels": ["orderbook_delta"], "market_tickers": [TICKER]}
        )
        sub = await recv(ws)
        assert sub["type"] == "subscribed" and sub["msg"]["channel"] == "orderbook_delta"
        sid = sub["msg"]["sid"]
        snap = await recv(ws)
        assert snap["type"] == "orderbook_snapshot" and snap["seq"] == 1 and snap["sid"] == sid
        assert snap["msg"]["yes_dollars_fp"] == [["0.3000", "10.00"]] and "no" not in snap["msg"]
        other_order(sim, "no", 5, 60)  # rests
        other_order(
            sim, "yes", 2, 45, user_uuid("third")
        )  # YES 0.45 vs NO bid 0.60 → trades 2 against the NO bid
        deltas = [await recv(ws) for _ in range(2)]
        assert [(d["seq"], d["msg"]["side"], d["msg"]["price"], d["msg"]["delta"]) for d in deltas] == [
            (2, "no", 60, 5),
            (3, "no", 60, -2),
        ]
        assert "client_order_id" not in deltas[0]["msg"]
        await send(
            ws,
            id=2,
            cmd="update_subscription",
            params={"sids": [sid], "action": "delete_markets", "market_tickers": [TICKER]},
        )
        ok = await recv(ws)
        assert ok["type"] == "ok" and ok["msg"]["market_tickers"] == [] and ok["seq"] == 3
        await send(ws, id=3, cmd="unsubscribe", params={"sids": [sid]})
        assert (await recv(ws))["type"] == "unsubscribed"


async def test_user_channels_on_fill(sim: SimHandle, signer: Signer, client: Any) -> None:
    # a traded, two-sided market first: the AsyncAPI bounds ticker prices to 1-99 cents
    other_order(sim, "yes", 10, 30)
    other_order(sim, "no", 5, 75, user_uuid("third"))  # trades 5 at YES 0.30
    async with trio_websocket.open_websocket_url(sim.ws_url, extra_headers=ws_headers(signer)) as ws:
        await send(
            ws,
            id=1,
            cmd="subscribe",
            params={"channels": ["fill", "user_orders", "market_positions", "trade", "ticker"]},
        )
        sids = {}
        for _ in range(5):
            m = await recv(ws)
            sids[m["msg"]["channel"]] = m["msg"]["sid"]
        assert len(set(sids.values())) == 5
        other_order(sim, "no", 10, 60)
        ticker = await recv(ws)  # the NO bid changed the top of book
        assert ticker["type"] == "ticker" and ticker["msg"]["yes_ask"] == 40 and ticker["msg"]["price"] == 30
        r = await client.post(
            "/portfolio/orders",
            json={
                "ticker": TICKER,
                "side": "yes",
                "action": "buy",
                "count": 3,
                "yes_price": 40,
                "client_order_id": "w1",
            },
        )
        assert r.status_code == 201
        seen: dict[str, dict[str, Any]] = {}
        with trio.fail_after(5):
            while not {"fill", "user_order", "market_position", "trade", "ticker"} <= set(seen):
                m = await recv(ws)
                seen[m["type"]] = m
        fill = seen["fill"]["msg"]
        assert (fill["count"], fill["yes_price"], fill["fee_cost"], fill["post_position"]) == (
            3,
            40,
            "0.0600",
            3,
        )
        assert fill["client_order_id"] == "w1" and fill["purchased_side"] == "yes"
        pos = seen["market_position"]["msg"]
        assert pos["position"] == 3 and pos["position_cost"] == 12_000 and pos["fees_paid"] == 600
        assert seen["user_order"]["msg"]["client_order_id"] == "w1"
        assert seen["trade"]["msg"]["taker_side"] == "yes"


async def test_command_errors(sim: SimHandle, signer: Signer) -> None:
    async with trio_websocket.open_websocket_url(sim.ws_url, extra_headers=ws_headers(signer)) as ws:
        cases = [
            ("not json", 1),
            ({"id": 2, "cmd": "subscribe"}, 2),
            ({"id": 3, "cmd": "subscribe", "params": {}}, 3),
            ({"id": 4, "cmd": "unsubscribe", "params": {}}, 4),
            ({"id": 5, "cmd": "dance", "params": {}}, 5),
            ({"id": 6, "cmd": "unsubscribe", "params": {"sids": [99]}}, 7),
            ({"id": 7, "cmd": "subscribe", "params": {"channels": ["nope"]}}, 8),
            ({"id": 8, "cmd": "subscribe", "params": {"channels": ["orderbook_delta"]}}, 14),
            (
                {
                    "id": 9,
                    "cmd": "subscribe",
                    "params": {"channels": ["ticker"], "market_tickers": ["KXSOL15M-X"]},
                },
                16,
            ),
            (
                {"id": 10, "cmd": "update_subscription", "params": {"sids": [1, 2], "action": "add_markets"}},
                12,
            ),
            (
                {
                    "id": 11,
                    "cmd": "subscribe",
                    "params": {"channels": ["cfbenchmarks_value"], "index_ids": ["BRTI"]},
                },
                11,
            ),
        ]
        for cmd, code in cases:
            await ws.send_message(cmd if isinstance(cmd, str) else json.dumps(cmd))
            m = await recv(ws)
            assert m["type"] == "error" and m["msg"]["code"] == code, (cmd, m)
        await send(ws, id=12, cmd="subscribe", params={"channels": ["ticker"]})
        sid = (await recv(ws))["msg"]["sid"]
        await send(ws, id=13, cmd="update_subscription", params={"sid": sid})
        assert (await recv(ws))["msg"]["code"] == 15
        await send(ws, id=14, cmd="update_subscription", params={"sid": sid, "action": "explode"})
        assert (await recv(ws))["msg"]["code"] == 13


async def test_index_and_lifecycle_channels(sim: SimHandle, signer: Signer) -> None:
    async with trio_websocket.open_websocket_url(sim.ws_url, extra_headers=ws_headers(signer)) as ws:
        await send(
            ws,
            id=1,
            cmd="subscribe",
            params={"channels": ["cfbenchmarks_value"], "index_ids": ["SOLUSD_RTI"]},
        )
        assert (await recv(ws))["type"] == "subscribed"
        m = await ws_recv_until(ws, "cfbenchmarks_value", limit_s=3)
        msg = m["msg"]
        assert msg["index_id"] == "SOLUSD_RTI" and msg["received_at"] == msg["ts"] * 1000
        assert msg["value"] == str(sim.venue.index.print_at(msg["ts"]))
        assert msg["avg_60s_data"]["count"] == 60


async def test_slow_consumer_is_disconnected(nursery: trio.Nursery, private_key: Any, signer: Signer) -> None:
    handle: SimHandle = await nursery.start(serve_simulator, sim_settings(private_key, ws_queue_size=5))
    async with trio_websocket.open_websocket_url(handle.ws_url, extra_headers=ws_headers(signer)) as ws:
        await send(
            ws, id=1, cmd="subscribe", params={"channels": ["orderbook_delta"], "market_tickers": [TICKER]}
        )
        await trio.sleep(0.05)
        for i in range(20):  # never read: the 5-message queue overflows
            handle.venue.hub.publish_all([])
            other_order(handle, "yes", 1, 10 + i)
        with trio.fail_after(5):
            with pytest.raises(trio_websocket.ConnectionClosed) as closed:
                while True:
                    await ws.get_message()
        reason = closed.value.reason
        assert reason is not None and reason.code == 1008 and "slow consumer" in (reason.reason or "")
    assert not handle.venue.hub.connections
    handle.stop()
