"""Whole windows through the running server under a virtual clock (autojump): lifecycle, settlement."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import httpx
import trio
import trio_websocket
from schemas import validate_rest, validate_ws
from simfakes import TICKER, FnIndex
from simkit import KalshiAuth, sim_settings, ws_headers, ws_recv

from kalshid.exchange.kalshi.auth import Signer
from kalshid.sim.counts import contracts
from kalshid.sim.model import OrderRequest
from kalshid.sim.server import SimHandle, serve_simulator
from kalshid.sim.wire import user_uuid

LONG = {"keep_alive_timeout_s": 1e9, "ws_ping_interval_s": None}


async def test_window_settles_through_server(
    autojump_clock: trio.testing.MockClock, nursery: trio.Nursery, private_key: Any, signer: Signer
) -> None:
    # the index climbs, so the closing average beats the strike: YES wins
    settings = sim_settings(private_key, index=FnIndex(lambda ts: 100 + (ts - 1_783_550_000) / 1000), **LONG)
    sim: SimHandle = await nursery.start(serve_simulator, settings)
    ex = sim.venue.exchange
    ex.open_account(user_uuid("other"), 1_000_000)
    ex.place_order(user_uuid("other"), OrderRequest(TICKER, "no", "buy", contracts(10), 5500), sim.venue.now())
    async with (
        httpx.AsyncClient(base_url=sim.rest_base_url, auth=KalshiAuth(signer)) as client,
        trio_websocket.open_websocket_url(sim.ws_url, extra_headers=ws_headers(signer)) as ws,
    ):
        await ws.send_message(
            json.dumps({"id": 1, "cmd": "subscribe", "params": {"channels": ["market_lifecycle_v2"]}})
        )
        assert (await ws_recv(ws))["type"] == "subscribed"
        r = await client.post(
            "/portfolio/events/orders",
            json={
                "ticker": TICKER,
                "side": "bid",
                "count": "10",
                "price": "0.45",
                "time_in_force": "immediate_or_cancel",
                "self_trade_prevention_type": "taker_at_cross",
            },
        )
        assert r.status_code == 201 and (r.json()["fill_count"], r.json()["remaining_count"]) == ("10.00", "0.00")
        validate_rest("/portfolio/events/orders", "POST", 201, r.json())
        events: list[tuple[str, str]] = []
        with trio.fail_after(3600):
            while ("settled", TICKER) not in events:
                m = await ws_recv(ws, limit_s=3600)
                validate_ws(m)
                events.append((m["msg"]["event_type"], m["msg"]["market_ticker"]))
                if m["msg"]["event_type"] == "created":
                    assert m["msg"]["exchange_index"] == 0 and m["msg"]["price_level_structure"] == "linear_cent"
                    assert {"open_ts", "close_ts", "additional_metadata"} <= set(m["msg"])
                else:  # as Kalshi's AsyncAPI says: the listing's facts only when the market is created
                    assert not {"open_ts", "close_ts", "additional_metadata", "exchange_index"} & set(m["msg"])
                if m["msg"]["event_type"] == "metadata_updated":  # the strike, published at the open
                    market = (await client.get(f"/markets/{m['msg']['market_ticker']}")).json()["market"]
                    assert m["msg"]["strike_type"] == market["strike_type"] == "greater_or_equal"
                    assert m["msg"]["floor_strike"] == market["floor_strike"] > 0
                if m["msg"]["event_type"] == "determined" and m["msg"]["market_ticker"] == TICKER:
                    assert m["msg"]["result"] == "yes" and m["msg"]["settlement_value"] == "1.0000"
                    assert m["msg"]["determination_ts"] == int(datetime(2026, 7, 8, 23, 0, tzinfo=UTC).timestamp())
        assert sim.venue.now() >= datetime(2026, 7, 8, 23, 1, tzinfo=UTC).timestamp()
        assert ("activated", "KXSOL15M-26JUL081915-15") in events
        assert ("metadata_updated", "KXSOL15M-26JUL081915-15") in events
        assert ("created", "KXSOL15M-26JUL081945-45") in events  # listed two windows ahead
        r = await client.get("/portfolio/settlements")
        body = r.json()
        validate_rest("/portfolio/settlements", "GET", 200, body)
        s = body["settlements"][0]
        assert (s["ticker"], s["market_result"], s["yes_count_fp"], s["revenue"]) == (
            TICKER,
            "yes",
            "10.00",
            1000,
        )
        assert s["yes_total_cost_dollars"] == "4.5000" and s["fee_cost"] == "0.1800"
        balance = (await client.get("/portfolio/balance")).json()
        assert balance["balance"] == 100_000 - 450 - 18 + 1000
        market = (await client.get(f"/markets/{TICKER}")).json()["market"]
        assert market["status"] == "finalized" and market["result"] == "yes"
        settled = (await client.get("/markets", params={"status": "settled"})).json()["markets"]
        assert [m["ticker"] for m in settled] == [TICKER]
    assert ex.conservation_gap_cc() == 0
    sim.stop()


async def test_makers_and_takers_trade_across_dst_fall_back(
    autojump_clock: trio.testing.MockClock, nursery: trio.Nursery, private_key: Any
) -> None:
    start = datetime(2026, 11, 1, 5, 40, tzinfo=UTC).timestamp()  # 01:40 EDT, just before the repeated hour
    settings = sim_settings(
        private_key,
        start=start,
        makers=True,
        takers=True,
        **LONG,
        index=FnIndex(lambda ts: 150 + ((ts * 7919) % 23) / 10),
    )
    sim: SimHandle = await nursery.start(serve_simulator, settings)
    await trio.sleep(75 * 60)  # 75 simulated minutes
    ex = sim.venue.exchange
    assert ex.trades, "the internal makers and takers should have traded"
    tickers = [m.ticker for m in ex.markets_by_open()]
    assert len(tickers) == len(set(tickers))
    finalized = [m for m in ex.markets.values() if m.status == "finalized"]
    assert finalized and all(m.open_interest == 0 for m in finalized)
    assert ex.conservation_gap_cc() == 0
    for acct in ex.accounts.values():
        assert 0 <= acct.reserved_cc <= acct.cash_cc
    sim.stop()
