"""Fractional counts (0.01 granularity): resting, partial fills, netting, settlement, every answer exact
and valid against the spec; counts Kalshi refuses get a 400 naming the fault."""

from __future__ import annotations

import json
from decimal import Decimal
from typing import Any

import httpx
import pytest
import trio
import trio_websocket
from schemas import validate_error, validate_rest, validate_ws
from simfakes import T0, TICKER, FnIndex, exchange_with_market, req
from simkit import KalshiAuth, other_rests, sim_settings, ws_headers, ws_recv

from kalshid.core.vocab import Side
from kalshid.exchange.kalshi.auth import Signer
from kalshid.sim.counts import CountError, format_count, notional_cc, parse_count, taker_fee_cc
from kalshid.sim.server import TRADER_USER, SimHandle, serve_simulator

V2 = "/portfolio/events/orders"
BID = {"ticker": TICKER, "side": "bid", "time_in_force": "good_till_canceled",
       "self_trade_prevention_type": "taker_at_cross"}


async def call(client: httpx.AsyncClient, method: str, path: str, spec_path: str | None = None,
               expect: int = 200, **kw: Any) -> Any:
    response = await client.request(method, path, **kw)
    assert response.status_code == expect, response.text
    validate_rest(spec_path or path, method, expect, response.json())
    return response.json()


def test_counts_parse_and_format_in_hundredths() -> None:
    assert [parse_count(t) for t in ("10", "10.0", "10.00", "2.5", "0.01", "0")] == [1000, 1000, 1000, 250, 1, 0]
    assert [format_count(h) for h in (250, 1, 0, -125)] == ["2.50", "0.01", "0.00", "-1.25"]
    for text, why in (("1.001", "3 decimals"), ("-1", "negative"), ("abc", "not a count"), ("1e2", "not a count"),
                      ("NaN", "not a count"), ("", "not a count"), (" 1", "not a count"), ("5.", "not a count")):
        with pytest.raises(CountError, match=why):
            parse_count(text)
    assert notional_cc(1, 5600) == 56 and notional_cc(250, 4000) == 10_000
    with pytest.raises(ValueError, match="whole centi-cent"):
        notional_cc(1, 5650)  # off the $0.01 grid: never let through by the request checks
    # Kalshi's schedule on a fractional count: ceil_to_cent(0.07 × 2.5 × 0.5 × 0.5) = ceil(4.375c) = 5c
    assert taker_fee_cc(250, 5000) == 500 and taker_fee_cc(1, 5000) == 100


def test_fractional_orders_rest_fill_net_and_settle_exactly() -> None:
    ex = exchange_with_market(("a", 100), ("b", 100), ("c", 100))
    bid = ex.place_order("a", req("yes", "buy", "2.50", 40), T0)
    assert (bid.status, bid.remaining_count) == ("resting", 250)
    assert ex.accounts["a"].reserved_cc == 10_000  # 2.5 × $0.40
    # b buys 1.25 NO at 0.60 against a's YES bid at 0.40: a partial fill of both fractional orders
    taker = ex.place_order("b", req("no", "buy", "1.25", 60), T0)
    assert (taker.status, taker.fill_count, taker.taker_fill_cost_cc) == ("executed", 125, 7_500)
    assert taker.taker_fees_cc == 300  # ceil_to_cent(0.07 × 1.25 × 0.6 × 0.4 = 2.1c) = 3c
    rest = ex.orders[bid.order_id]
    assert (rest.status, rest.fill_count, rest.remaining_count, rest.maker_fill_cost_cc) == ("resting", 125, 125, 5_000)
    assert ex.accounts["a"].reserved_cc == 5_000 and ex.accounts["a"].cash_cc == 1_000_000 - 5_000
    assert ex.markets[TICKER].open_interest == 125 and ex.books[TICKER].best_bid(Side.YES) == (4000, 125)
    # a (1.25 YES) buys 0.75 NO at 0.55 against c's YES bid at 0.45: it sells 0.75 YES at 0.45 instead
    ex.place_order("c", req("yes", "buy", "1", 45), T0)
    ex.place_order("a", req("no", "buy", "0.75", 55), T0)
    pos = ex.accounts["a"].position(TICKER)
    fee = 200  # ceil_to_cent(0.07 × 0.75 × 0.55 × 0.45 = 1.299c) = 2c
    assert (pos.yes, pos.no, pos.signed, pos.yes_cost_cc) == (50, 0, 50, 2_000)
    assert pos.realized_pnl_cc == 3_375 - 3_000 - fee  # proceeds 0.75 × 0.45 − average cost 0.75 × 0.40
    assert ex.accounts["a"].cash_cc == 1_000_000 - 5_000 + 3_375 - fee
    assert ex.markets[TICKER].open_interest == 125  # the YES moved from a to c; no pair was redeemed
    assert ex.accounts["c"].position(TICKER).yes == 75 and ex.conservation_gap_cc() == 0
    ex.close_market(TICKER, T0 + 1)
    ex.determine_market(TICKER, Decimal("151"), T0 + 1)
    ex.settle_market(TICKER, T0 + 61)
    [settled] = ex.accounts["a"].settlements
    assert (settled.yes_count, settled.no_count, settled.revenue_cc, settled.yes_total_cost_cc) == (50, 0, 5_000, 2_000)
    assert ex.accounts["c"].settlements[0].revenue_cc == 7_500
    assert ex.accounts["b"].settlements[0].revenue_cc == 0 and ex.accounts["b"].settlements[0].no_count == 125
    a = ex.accounts["a"]
    assert a.cash_cc == 1_000_000 - 5_000 + 3_375 - fee + 5_000 == 1_000_000 + a.position(TICKER).realized_pnl_cc
    assert a.reserved_cc == 0 and ex.conservation_gap_cc() == 0


async def test_fractional_answers_over_rest_and_ws_are_exact_and_valid(
    client: httpx.AsyncClient, sim: SimHandle, signer: Signer
) -> None:
    other_rests(sim, "no", "2.50", 6000)  # a NO bid at 0.60 = YES ask 0.40 for 2.50
    async with trio_websocket.open_websocket_url(sim.ws_url, extra_headers=ws_headers(signer)) as ws:
        channels = ["fill", "user_orders", "market_positions", "orderbook_delta"]
        await ws.send_message(json.dumps({"id": 1, "cmd": "subscribe",
                                          "params": {"channels": channels, "market_tickers": [TICKER]}}))
        created = await call(client, "POST", V2, expect=201, json={**BID, "count": "3.75", "price": "0.40"})
        assert (created["fill_count"], created["remaining_count"]) == ("2.50", "1.25")
        # fee ceil_to_cent(0.07 × 2.5 × 0.4 × 0.6 = 4.2c) = 5c, i.e. $0.02 per contract
        assert (created["average_fill_price"], created["average_fee_paid"]) == ("0.4000", "0.0200")
        second = await call(client, "POST", V2, expect=201, json={**BID, "count": "0.05", "price": "0.40"})
        seen: dict[str, list[dict[str, Any]]] = {}
        with trio.fail_after(5):
            while len(seen.get("orderbook_delta", [])) < 3 or not {"fill", "user_order", "market_position"} <= set(
                seen
            ):
                m = await ws_recv(ws)
                validate_ws(m)
                seen.setdefault(m["type"], []).append(m["msg"])
    deltas = [(d["side"], d["price_dollars"], d["delta_fp"]) for d in seen["orderbook_delta"][:3]]
    assert deltas == [("no", "0.6000", "-2.50"), ("yes", "0.4000", "1.25"), ("yes", "0.4000", "0.05")]
    fill = seen["fill"][0]
    assert (fill["count_fp"], fill["fee_cost"], fill["post_position_fp"]) == ("2.50", "0.0500", "2.50")
    order_msg = seen["user_order"][0]
    assert (order_msg["fill_count_fp"], order_msg["remaining_count_fp"]) == ("2.50", "1.25")
    pos_msg = seen["market_position"][0]
    assert (pos_msg["position_fp"], pos_msg["volume_fp"]) == ("2.50", "2.50")
    assert pos_msg["position_cost_dollars"] == "1.0000"

    order = (await call(client, "GET", f"/portfolio/orders/{created['order_id']}", "/portfolio/orders/{order_id}"))
    o = order["order"]
    assert (o["fill_count_fp"], o["remaining_count_fp"], o["initial_count_fp"]) == ("2.50", "1.25", "3.75")
    assert (o["taker_fill_cost_dollars"], o["taker_fees_dollars"]) == ("1.0000", "0.0500")
    q = await call(client, "GET", f"/portfolio/orders/{second['order_id']}/queue_position",
                   "/portfolio/orders/{order_id}/queue_position")
    assert q == {"queue_position_fp": "1.25"}
    balance = await call(client, "GET", "/portfolio/balance")
    # $1000 − $1.00 − $0.05 fee − reserved 1.25 × 0.40 and 0.05 × 0.40 ($0.52)
    assert (balance["balance"], balance["balance_dollars"]) == (99_843, "998.4300")
    dec = await call(client, "POST", f"{V2}/{created['order_id']}/decrease", V2 + "/{order_id}/decrease",
                     json={"reduce_by": "0.25"})
    assert dec["remaining_count"] == "1.00"

    # an ask of 1.5 at YES 0.55 against another's YES bid sells 1.5 of the 2.50 YES held (netting)
    other_rests(sim, "yes", "2", 5500)
    ask = {**BID, "side": "ask", "count": "1.5", "price": "0.55", "time_in_force": "immediate_or_cancel"}
    sold = await call(client, "POST", V2, expect=201, json=ask)
    assert (sold["fill_count"], sold["remaining_count"], sold["average_fill_price"]) == ("1.50", "0.00", "0.5500")
    [pos] = (await call(client, "GET", "/portfolio/positions"))["market_positions"]
    # realized: 1.5 × 0.55 − 1.5 × 0.40 − fees (5c + ceil(0.07 × 1.5 × 0.45 × 0.55 = 2.6c) = 3c)
    assert (pos["position_fp"], pos["market_exposure_dollars"]) == ("1.00", "0.4000")
    assert pos["fees_paid_dollars"] == "0.0800"
    # total traded: 2.5 × 0.40 + 1.5 × 0.45 (the NO leg)
    assert (pos["realized_pnl_dollars"], pos["total_traded_dollars"]) == ("0.1450", "1.6750")
    fills = (await call(client, "GET", "/portfolio/fills"))["fills"]
    assert [(f["count_fp"], f["outcome_side"], f["fee_cost"]) for f in fills] == [
        ("1.50", "no", "0.0300"), ("2.50", "yes", "0.0500")]
    trades = (await call(client, "GET", "/markets/trades"))["trades"]
    assert [t["count_fp"] for t in trades] == ["1.50", "2.50"]
    market = (await call(client, "GET", f"/markets/{TICKER}", "/markets/{ticker}"))["market"]
    # the YES bid that bought our 1.5 belonged to the NO holder: both closed, 1.5 pairs were redeemed
    assert (market["volume_fp"], market["open_interest_fp"]) == ("4.00", "1.00")
    assert sim.venue.exchange.conservation_gap_cc() == 0


@pytest.mark.parametrize(
    ("count", "says"),
    [
        ("2.505", "has 3 decimals; counts take at most 2"),
        ("0", "must be at least 0.01"),
        ("0.00", "must be at least 0.01"),
        ("-1", "is negative"),
        ("-0.50", "is negative"),
        ("abc", "is not a count"),
        ("1e2", "is not a count"),
        ("NaN", "is not a count"),
        ("", "is not a count"),
        (5, "expected a count string"),
        (2.5, "expected a count string"),
    ],
)
async def test_counts_kalshi_refuses_get_a_specific_400(client: httpx.AsyncClient, count: object, says: str) -> None:
    response = await client.post(V2, json={**BID, "count": count, "price": "0.40"})
    assert response.status_code == 400, response.text
    validate_error(response.json())
    error = response.json()["error"]
    assert error["code"] == "invalid_parameter" and error["message"].startswith("count: ") and says in error["message"]


async def test_decrease_and_amend_refuse_a_third_decimal(client: httpx.AsyncClient) -> None:
    created = await call(client, "POST", V2, expect=201, json={**BID, "count": "1.50", "price": "0.30"})
    oid = created["order_id"]
    bad_dec = await client.post(f"{V2}/{oid}/decrease", json={"reduce_to": "0.505"})
    assert bad_dec.status_code == 400 and "reduce_to: '0.505' has 3 decimals" in bad_dec.json()["error"]["message"]
    bad_amend = await client.post(f"{V2}/{oid}/amend",
                                  json={"ticker": TICKER, "side": "bid", "price": "0.30", "count": "1.333"})
    assert bad_amend.status_code == 400 and "count: '1.333' has 3 decimals" in bad_amend.json()["error"]["message"]
    ok = await call(client, "POST", f"{V2}/{oid}/decrease", V2 + "/{order_id}/decrease", json={"reduce_to": "0.01"})
    assert ok["remaining_count"] == "0.01"
    grown = await call(client, "POST", f"{V2}/{oid}/amend", V2 + "/{order_id}/amend",
                       json={"ticker": TICKER, "side": "bid", "price": "0.30", "count": "0.75"})
    assert grown["remaining_count"] == "0.75"
    order = (await call(client, "GET", f"/portfolio/orders/{oid}", "/portfolio/orders/{order_id}"))["order"]
    assert (order["remaining_count_fp"], order["initial_count_fp"]) == ("0.75", "0.75")


async def test_fractional_position_settles_through_server(
    autojump_clock: trio.testing.MockClock, nursery: trio.Nursery, private_key: Any, signer: Signer
) -> None:
    settings = sim_settings(private_key, index=FnIndex(lambda ts: 100 + (ts - 1_783_550_000) / 1000),
                            keep_alive_timeout_s=1e9, ws_ping_interval_s=None)
    sim: SimHandle = await nursery.start(serve_simulator, settings)
    other_rests(sim, "no", "10", 5500)
    async with (
        httpx.AsyncClient(base_url=sim.rest_base_url, auth=KalshiAuth(signer)) as client,
        trio_websocket.open_websocket_url(sim.ws_url, extra_headers=ws_headers(signer)) as ws,
    ):
        lifecycle = {"channels": ["market_lifecycle_v2"]}
        await ws.send_message(json.dumps({"id": 1, "cmd": "subscribe", "params": lifecycle}))
        assert (await ws_recv(ws))["type"] == "subscribed"
        taken = await call(client, "POST", V2, expect=201,
                           json={**BID, "count": "1.25", "price": "0.45", "time_in_force": "immediate_or_cancel"})
        assert taken["fill_count"] == "1.25"
        with trio.fail_after(3600):
            while True:
                m = (await ws_recv(ws, limit_s=3600))["msg"]
                if (m["event_type"], m["market_ticker"]) == ("settled", TICKER):
                    break
        s = (await call(client, "GET", "/portfolio/settlements"))["settlements"][0]
    # 1.25 YES at 0.45 win $1.25 = 125 cents; fee ceil_to_cent(0.07 × 1.25 × 0.45 × 0.55 = 2.17c) = 3c
    assert (s["market_result"], s["yes_count_fp"], s["no_count_fp"], s["revenue"]) == ("yes", "1.25", "0.00", 125)
    assert (s["yes_total_cost_dollars"], s["fee_cost"]) == ("0.5625", "0.0300")
    assert sim.venue.exchange.accounts[TRADER_USER].cash_cc == 10_000_000 - 5_625 - 300 + 12_500
    assert sim.venue.exchange.conservation_gap_cc() == 0
    sim.stop()
