"""WebSocket over a real Hypercorn: handshake auth, commands, channels, seq, slow consumers."""

from __future__ import annotations

import json
from decimal import Decimal
from typing import Any

import pytest
import trio
import trio_websocket
from schemas import validate_ws
from simfakes import T0, TICKER
from simkit import sim_settings, ws_headers, ws_recv, ws_recv_until

from kalshid.exchange.kalshi.auth import Signer
from kalshid.sim.counts import contracts
from kalshid.sim.model import OrderRequest
from kalshid.sim.server import SimHandle, serve_simulator
from kalshid.sim.wire import market_id, user_uuid

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
    ex.place_order(user, OrderRequest(TICKER, side, "buy", contracts(count), cents * 100), sim.venue.now())  # type: ignore[arg-type]
    sim.venue.publish()


async def test_handshake_requires_valid_signature(sim: SimHandle, signer: Signer) -> None:
    with pytest.raises(trio_websocket.ConnectionRejected) as rejected:
        async with trio_websocket.open_websocket_url(sim.ws_url):
            pass
    assert rejected.value.status_code == 401
    with pytest.raises(trio_websocket.ConnectionRejected) as rejected:  # signed for the REST path
        async with trio_websocket.open_websocket_url(sim.ws_url, extra_headers=ws_headers(signer, "/trade-api/v2")):
            pass
    assert rejected.value.status_code == 401
    with pytest.raises(trio_websocket.ConnectionRejected):  # stale
        async with trio_websocket.open_websocket_url(sim.ws_url, extra_headers=ws_headers(signer, skew_ms=-60_000)):
            pass
    async with trio_websocket.open_websocket_url(sim.ws_url, extra_headers=ws_headers(signer)) as ws:
        await send(ws, id=1, cmd="list_subscriptions")
        assert await recv(ws) == {"id": 1, "type": "ok", "msg": []}


async def test_orderbook_snapshot_then_consecutive_deltas(sim: SimHandle, signer: Signer) -> None:
    other_order(sim, "yes", 10, 30)
    async with trio_websocket.open_websocket_url(sim.ws_url, extra_headers=ws_headers(signer)) as ws:
        await send(ws, id=1, cmd="subscribe", params={"channels": ["orderbook_delta"], "market_tickers": [TICKER]})
        sub = await recv(ws)
        assert sub["type"] == "subscribed" and sub["msg"]["channel"] == "orderbook_delta"
        sid = sub["msg"]["sid"]
        snap = await recv(ws)
        assert snap["type"] == "orderbook_snapshot" and snap["seq"] == 1 and snap["sid"] == sid
        assert snap["msg"]["yes_dollars_fp"] == [["0.3000", "10.00"]] and "no_dollars_fp" not in snap["msg"]
        other_order(sim, "no", 5, 60)  # rests
        other_order(sim, "yes", 2, 45, user_uuid("third"))  # YES 0.45 vs NO bid 0.60: trades 2
        deltas = [await recv(ws) for _ in range(2)]
        got = [(d["seq"], d["msg"]["side"], d["msg"]["price_dollars"], d["msg"]["delta_fp"]) for d in deltas]
        assert got == [(2, "no", "0.6000", "5.00"), (3, "no", "0.6000", "-2.00")]
        assert "client_order_id" not in deltas[0]["msg"] and deltas[0]["msg"]["ts_ms"] > 0
        await send(
            ws,
            id=2,
            cmd="update_subscription",
            params={"sids": [sid], "action": "get_snapshot", "market_tickers": [TICKER]},
        )
        again = await recv(ws)  # a fresh snapshot in the same seq stream, echoing the command id
        assert (again["type"], again["id"], again["seq"]) == ("orderbook_snapshot", 2, 4)
        assert again["msg"]["no_dollars_fp"] == [["0.6000", "3.00"]]
        await send(
            ws,
            id=3,
            cmd="update_subscription",
            params={"sids": [sid], "action": "delete_markets", "market_tickers": [TICKER]},
        )
        ok = await recv(ws)
        assert ok["type"] == "ok" and ok["msg"]["market_tickers"] == [] and ok["seq"] == 4
        await send(ws, id=4, cmd="unsubscribe", params={"sids": [sid]})
        assert (await recv(ws))["type"] == "unsubscribed"


async def test_use_yes_price_reports_the_no_side_in_yes_pricing(sim: SimHandle, signer: Signer) -> None:
    other_order(sim, "no", 4, 60)  # a NO bid at 0.60 is a YES ask at 0.40
    async with trio_websocket.open_websocket_url(sim.ws_url, extra_headers=ws_headers(signer)) as ws:
        params = {"channels": ["orderbook_delta"], "market_tickers": [TICKER]}
        await send(ws, id=1, cmd="subscribe", params={**params, "use_yes_price": True})
        await send(ws, id=2, cmd="subscribe", params={**params, "use_yes_price": False})
        msgs = [await recv(ws) for _ in range(4)]
        snaps = {m["sid"]: m["msg"] for m in msgs if m["type"] == "orderbook_snapshot"}
        assert snaps[1]["no_dollars_fp"] == [["0.4000", "4.00"]]
        assert snaps[2]["no_dollars_fp"] == [["0.6000", "4.00"]]
        other_order(sim, "no", 1, 55)
        deltas = {m["sid"]: m["msg"] for m in [await recv(ws), await recv(ws)]}
        assert (deltas[1]["price_dollars"], deltas[2]["price_dollars"]) == ("0.4500", "0.5500")
        await send(ws, id=3, cmd="subscribe", params={**params, "use_yes_price": "yes"})
        assert (await recv(ws))["msg"]["code"] == 11


async def test_user_channels_on_fill(sim: SimHandle, signer: Signer, client: Any) -> None:
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
        ticker = (await recv(ws))["msg"]  # the NO bid changed the top of book
        assert (ticker["yes_ask_dollars"], ticker["yes_ask_size_fp"], ticker["price_dollars"]) == (
            "0.4000",
            "10.00",
            "0.3000",
        )
        assert (ticker["last_trade_size_fp"], ticker["volume_fp"]) == ("5.00", "5.00")
        r = await client.post(
            "/portfolio/events/orders",
            json={
                "ticker": TICKER,
                "side": "bid",
                "count": "3",
                "price": "0.40",
                "client_order_id": "w1",
                "time_in_force": "immediate_or_cancel",
                "self_trade_prevention_type": "taker_at_cross",
            },
        )
        assert r.status_code == 201
        seen: dict[str, dict[str, Any]] = {}
        with trio.fail_after(5):
            while not {"fill", "user_order", "market_position", "trade", "ticker"} <= set(seen):
                m = await recv(ws)
                seen[m["type"]] = m
        fill = seen["fill"]["msg"]
        assert (fill["count_fp"], fill["yes_price_dollars"], fill["fee_cost"], fill["post_position_fp"]) == (
            "3.00",
            "0.4000",
            "0.0600",
            "3.00",
        )
        assert (fill["client_order_id"], fill["outcome_side"], fill["book_side"], fill["exchange_index"]) == (
            "w1",
            "yes",
            "bid",
            0,
        )
        pos = seen["market_position"]["msg"]
        assert (pos["position_fp"], pos["position_cost_dollars"], pos["fees_paid_dollars"]) == (
            "3.00",
            "1.2000",
            "0.0600",
        )
        order = seen["user_order"]["msg"]
        assert (order["client_order_id"], order["outcome_side"], order["book_side"]) == ("w1", "yes", "bid")
        trade = seen["trade"]["msg"]
        assert (trade["taker_outcome_side"], trade["taker_book_side"], trade["count_fp"]) == ("yes", "bid", "3.00")
        assert seen["trade"]["seq"] >= 1


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
            ({"id": 9, "cmd": "subscribe", "params": {"channels": ["ticker"], "market_tickers": ["KXSOL15M-X"]}}, 11),
            ({"id": 10, "cmd": "update_subscription", "params": {"sids": [1, 2], "action": "add_markets"}}, 12),
            ({"id": 11, "cmd": "subscribe", "params": {"channels": ["cfbenchmarks_value"], "index_ids": ["BRTI"]}}, 11),
            ({"id": 12, "cmd": "subscribe", "params": {"channels": ["cfbenchmarks_value"], "index_ids": []}}, 11),
        ]
        for cmd, code in cases:
            await ws.send_message(cmd if isinstance(cmd, str) else json.dumps(cmd))
            m = await recv(ws)
            assert m["type"] == "error" and m["msg"]["code"] == code, (cmd, m)
            if code == 11 and "KXSOL15M-X" in str(cmd):
                assert m["msg"]["market_tickers"] == ["KXSOL15M-X"]
        await send(ws, id=13, cmd="subscribe", params={"channels": ["ticker"]})
        sid = (await recv(ws))["msg"]["sid"]
        await send(ws, id=14, cmd="update_subscription", params={"sid": sid})
        assert (await recv(ws))["msg"]["code"] == 15
        await send(ws, id=15, cmd="update_subscription", params={"sid": sid, "action": "explode"})
        assert (await recv(ws))["msg"]["code"] == 13
        await send(
            ws,
            id=16,
            cmd="update_subscription",
            params={"sid": sid, "action": "get_snapshot", "market_tickers": [TICKER]},
        )
        assert (await recv(ws))["msg"]["code"] == 13  # snapshots are for the order book


async def test_cfbenchmarks_value_carries_the_closing_average_in_the_final_minute(
    nursery: trio.Nursery, private_key: Any, signer: Signer
) -> None:
    # 22:59:05: five seconds into the final minute of the window closing 23:00
    handle: SimHandle = await nursery.start(serve_simulator, sim_settings(private_key, start=T0 + 545))
    index = handle.venue.index
    async with trio_websocket.open_websocket_url(handle.ws_url, extra_headers=ws_headers(signer)) as ws:
        await send(ws, id=1, cmd="subscribe", params={"channels": ["cfbenchmarks_value"], "index_ids": ["SOLUSD_RTI"]})
        assert (await recv(ws))["type"] == "subscribed"
        m = await recv(ws)
        assert m["type"] == "cfbenchmarks_value" and m["seq"] == 1
        msg = m["msg"]
        ts = msg["received_at"] // 1000
        frame = json.loads(msg["data"])
        assert (frame["id"], Decimal(frame["value"]), frame["time"]) == ("SOLUSD_RTI", index.print_at(ts), ts * 1000)
        trailing = [index.print_at(t) for t in range(ts - 60, ts)]
        avg = msg["avg_60s_data"]
        assert avg["window_size"] == 60 and Decimal(avg["value"]) == (sum(trailing) / 60).quantize(Decimal("1e-8"))
        assert (avg["window_start_ts_ms"], avg["window_end_ts_exclusive"]) == ((ts - 60) * 1000, ts * 1000)
        close = 1783551600  # 23:00 UTC
        closing = msg["last_60s_windowed_average_15min"]
        window = [index.print_at(t) for t in range(close - 59, ts + 1)]
        assert closing["window_size"] == len(window) == ts - (close - 60)
        assert Decimal(closing["value"]) == (sum(window) / len(window)).quantize(Decimal("1e-8"))
        await send(ws, id=2, cmd="update_subscription", params={"sid": m["sid"], "action": "indexlist"})
        listed = await ws_recv_until(ws, "cfbenchmarks_value_indexlist")
        validate_ws(listed)
        assert listed["msg"]["index_ids"] == ["SOLUSD_RTI"] and listed["id"] == 2
    handle.stop()


async def test_cfbenchmarks_index_ids_are_optional_on_subscribe_and_all_tracks_every_index(
    sim: SimHandle, signer: Signer
) -> None:
    # subscribeCommandPayload.index_ids: "omit to subscribe with no indices and add them later via
    # update_subscription; use ["all"] to track every index available on the channel"; code 24 is for
    # subscribe_indices/unsubscribe_indices without index_ids
    async with trio_websocket.open_websocket_url(sim.ws_url, extra_headers=ws_headers(signer)) as ws:
        await send(ws, id=1, cmd="subscribe", params={"channels": ["cfbenchmarks_value"]})
        bare = await recv(ws)
        assert (bare["type"], bare["msg"]["channel"]) == ("subscribed", "cfbenchmarks_value")
        no_ids = {"sid": bare["msg"]["sid"], "action": "subscribe_indices"}
        await send(ws, id=2, cmd="update_subscription", params=no_ids)
        assert (await recv(ws))["msg"]["code"] == 24
        await send(ws, id=3, cmd="subscribe", params={"channels": ["cfbenchmarks_value"], "index_ids": ["all"]})
        everything = await recv(ws)
        assert everything["type"] == "subscribed"
        first = await recv(ws)  # the sid with no index gets nothing; "all" gets SOLUSD_RTI
        assert (first["type"], first["sid"], first["msg"]["index_id"]) == (
            "cfbenchmarks_value", everything["msg"]["sid"], "SOLUSD_RTI")
        params = {"sid": bare["msg"]["sid"], "action": "subscribe_indices", "index_ids": ["all"]}
        await send(ws, id=4, cmd="update_subscription", params=params)
        ok = await ws_recv_until(ws, "ok")
        validate_ws(ok)
        assert (ok["id"], ok["msg"]["index_ids"]) == (4, ["all"])


async def test_ticker_add_markets_sends_a_snapshot_when_asked_and_skip_ticker_ack_drops_the_list(
    sim: SimHandle, signer: Signer
) -> None:
    # updateSubscriptionCommandPayload.send_initial_snapshot: "receive an initial snapshot for newly added
    # market tickers on the ticker channel"; skip_ticker_ack: "OK responses omit the market_tickers/market_ids
    # lists for this subscription"
    later = "KXSOL15M-26JUL081915-15"
    async with trio_websocket.open_websocket_url(sim.ws_url, extra_headers=ws_headers(signer)) as ws:
        await send(ws, id=1, cmd="subscribe", params={"channels": ["ticker"], "market_tickers": [TICKER]})
        sid = (await recv(ws))["msg"]["sid"]
        add = {"sid": sid, "action": "add_markets", "market_tickers": [later], "send_initial_snapshot": True}
        await send(ws, id=2, cmd="update_subscription", params=add)
        got = [await recv(ws), await recv(ws)]
        assert sorted(m["type"] for m in got) == ["ok", "ticker"]
        [snap] = [m for m in got if m["type"] == "ticker"]
        [ok] = [m for m in got if m["type"] == "ok"]
        assert (snap["sid"], snap["msg"]["market_ticker"]) == (sid, later)
        assert ok["msg"]["market_tickers"] == sorted([TICKER, later])
        quiet = {"channels": ["ticker"], "market_tickers": [TICKER], "skip_ticker_ack": True}
        await send(ws, id=3, cmd="subscribe", params=quiet)
        quiet_sid = (await recv(ws))["msg"]["sid"]
        await send(ws, id=4, cmd="update_subscription", params={"sid": quiet_sid, "action": "add_markets",
                                                               "market_tickers": [later]})
        ack = await recv(ws)
        assert (ack["type"], ack["id"], ack.get("msg", {})) == ("ok", 4, {})


async def test_a_command_id_of_zero_is_no_id(sim: SimHandle, signer: Signer) -> None:
    # commandId: "If the id is set to 0, the server treats it the same way as if there was no id"
    async with trio_websocket.open_websocket_url(sim.ws_url, extra_headers=ws_headers(signer)) as ws:
        await send(ws, id=0, cmd="subscribe", params={"channels": ["ticker"]})
        subscribed = await recv(ws)
        assert subscribed["type"] == "subscribed" and "id" not in subscribed
        await send(ws, id=0, cmd="list_subscriptions")
        listed = await recv(ws)
        assert listed["msg"] == [{"channel": "ticker", "sid": subscribed["msg"]["sid"]}] and "id" not in listed
        await send(ws, id=0, cmd="unsubscribe", params={"sids": [99]})
        error = await recv(ws)
        assert error["msg"]["code"] == 7 and "id" not in error


async def test_index_value_outside_the_final_minute_has_no_closing_average(sim: SimHandle, signer: Signer) -> None:
    async with trio_websocket.open_websocket_url(sim.ws_url, extra_headers=ws_headers(signer)) as ws:
        await send(ws, id=1, cmd="subscribe", params={"channels": ["cfbenchmarks_value"], "index_ids": ["SOLUSD_RTI"]})
        assert (await recv(ws))["type"] == "subscribed"
        msg = (await recv(ws))["msg"]
        assert "last_60s_windowed_average_15min" not in msg and msg["avg_60s_data"]["window_size"] == 60


async def test_slow_consumer_is_disconnected(nursery: trio.Nursery, private_key: Any, signer: Signer) -> None:
    handle: SimHandle = await nursery.start(serve_simulator, sim_settings(private_key, ws_queue_size=5))
    async with trio_websocket.open_websocket_url(handle.ws_url, extra_headers=ws_headers(signer)) as ws:
        await send(ws, id=1, cmd="subscribe", params={"channels": ["orderbook_delta"], "market_tickers": [TICKER]})
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


async def test_ticker_initial_snapshot_and_markets_by_id(sim: SimHandle, signer: Signer) -> None:
    other_order(sim, "yes", 7, 41)
    async with trio_websocket.open_websocket_url(sim.ws_url, extra_headers=ws_headers(signer)) as ws:
        by_id = {"channels": ["ticker"], "market_ids": [market_id(TICKER)], "send_initial_snapshot": True}
        await send(ws, id=1, cmd="subscribe", params=by_id)
        assert (await recv(ws))["type"] == "subscribed"
        first = (await recv(ws))["msg"]
        assert (first["market_ticker"], first["yes_bid_dollars"], first["yes_bid_size_fp"]) == (
            TICKER,
            "0.4100",
            "7.00",
        )
        both = {"channels": ["ticker"], "market_ids": [market_id(TICKER)], "market_ticker": TICKER}
        await send(ws, id=2, cmd="subscribe", params=both)
        assert (await recv(ws))["msg"]["code"] == 11
        await send(ws, id=3, cmd="subscribe", params={"channels": ["ticker"], "market_tickers": [TICKER]})
        assert (await recv(ws))["type"] == "subscribed"  # no snapshot unless asked
        other_order(sim, "yes", 1, 42)
        assert {(await recv(ws))["sid"], (await recv(ws))["sid"]} == {1, 2}
