"""REST over a real Hypercorn: public data, V2 order flow, errors; every answer validated against openapi.yaml."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
import trio
from schemas import validate_error, validate_rest
from simfakes import T0, TICKER
from simkit import KalshiAuth, sim_settings

from kalshid.exchange.kalshi.auth import Signer
from kalshid.sim.counts import contracts
from kalshid.sim.model import OrderRequest
from kalshid.sim.ratelimit import RateLimits
from kalshid.sim.server import SimHandle, serve_simulator
from kalshid.sim.wire import user_uuid

V2 = "/portfolio/events/orders"
BID = {
    "ticker": TICKER,
    "side": "bid",
    "count": "5",
    "price": "0.40",
    "time_in_force": "good_till_canceled",
    "self_trade_prevention_type": "taker_at_cross",
}


async def call(
    client: httpx.AsyncClient,
    method: str,
    path: str,
    spec_path: str | None = None,
    expect: int = 200,
    **kw: Any,
) -> Any:
    """Send, assert the status, validate status and body against the spec's operation, return the body."""
    response = await client.request(method, path, **kw)
    assert response.status_code == expect, response.text
    body = response.json() if response.content else None
    validate_rest(spec_path or path, method, expect, body)
    return body


def rest_other_side(sim: SimHandle, side: str, count: int, price_cc: int) -> None:
    """Another user rests a buy of ``side`` (so the trader has something to take)."""
    other = user_uuid("other")
    if other not in sim.venue.exchange.accounts:
        sim.venue.exchange.open_account(other, 10_000_000)
    order = OrderRequest(TICKER, side, "buy", contracts(count), price_cc)  # type: ignore[arg-type]
    sim.venue.exchange.place_order(other, order, sim.venue.now())
    sim.venue.publish()


async def test_public_market_data(client: httpx.AsyncClient) -> None:
    status = await call(client, "GET", "/exchange/status")
    assert status["trading_active"] is True and status["exchange_index_statuses"][0]["exchange_index"] == 0
    series = await call(client, "GET", "/series/KXSOL15M", "/series/{series_ticker}")
    assert series["series"]["fee_type"] == "quadratic"
    await call(client, "GET", "/series/NOPE", "/series/{series_ticker}", expect=400)
    markets = await call(client, "GET", "/markets", params={"series_ticker": "KXSOL15M"})
    tickers = [m["ticker"] for m in markets["markets"]]
    assert tickers == [TICKER, "KXSOL15M-26JUL081915-15", "KXSOL15M-26JUL081930-30"]
    assert markets["cursor"] == ""
    assert all("tick_size" not in m and m["exchange_index"] == 0 for m in markets["markets"])
    opened = await call(client, "GET", "/markets", params={"status": "open"})
    assert [m["ticker"] for m in opened["markets"]] == [TICKER]
    assert opened["markets"][0]["floor_strike"] is not None
    unopened = await call(client, "GET", "/markets", params={"status": "unopened"})
    assert all(m["status"] == "initialized" and m["floor_strike"] is None for m in unopened["markets"])
    bad = await call(client, "GET", "/markets", params={"status": "active"}, expect=400)
    assert "status" in bad["error"]["message"]
    first = await call(client, "GET", "/markets", params={"limit": 2})
    assert len(first["markets"]) == 2 and first["cursor"]
    rest = await call(client, "GET", "/markets", params={"limit": 2, "cursor": first["cursor"]})
    assert len(rest["markets"]) == 1 and rest["cursor"] == ""
    one = await call(client, "GET", f"/markets/{TICKER}", "/markets/{ticker}")
    assert one["market"]["status"] == "active" and one["market"]["close_time"] == "2026-07-08T23:00:00Z"
    await call(client, "GET", "/markets/KXSOL15M-26JUL091900-00", "/markets/{ticker}", expect=404)
    event = await call(
        client,
        "GET",
        "/events/KXSOL15M-26JUL081900",
        "/events/{event_ticker}",
        params={"with_nested_markets": "true"},
    )
    assert event["event"]["markets"][0]["ticker"] == TICKER
    book = await call(client, "GET", f"/markets/{TICKER}/orderbook", "/markets/{ticker}/orderbook")
    assert book == {"orderbook_fp": {"yes_dollars": [], "no_dollars": []}}
    costs = await call(client, "GET", "/account/endpoint_costs")
    table = {(c["method"], c["path"]): c["cost"] for c in costs["endpoint_costs"]}
    assert costs["default_cost"] == 10
    assert table[("GET", "/trade-api/v2/portfolio/orders/{order_id}")] == 2
    assert table[("DELETE", "/trade-api/v2/portfolio/events/orders/{order_id}")] == 2
    assert table[("DELETE", "/trade-api/v2/portfolio/events/orders")] == 2
    assert table[("DELETE", "/trade-api/v2/portfolio/events/orders/batched")] == 2
    assert ("POST", "/trade-api/v2/portfolio/events/orders") not in table  # the default 10


async def test_market_reads_accept_what_the_spec_allows(client: httpx.AsyncClient) -> None:
    # GET /markets status enum: unopened, open, paused, closed, settled (no market is paused here)
    paused = await call(client, "GET", "/markets", params={"status": "paused"})
    assert paused == {"markets": [], "cursor": ""}
    # GET /markets and GET /markets/trades: limit minimum 0 ("omitempty,gte=0,lte=1000"; defaults to 100)
    everything = await call(client, "GET", "/markets", params={"limit": 0})
    assert len(everything["markets"]) == 3 and everything["cursor"] == ""
    assert (await call(client, "GET", "/markets/trades", params={"limit": 0}))["trades"] == []
    await call(client, "GET", "/markets", params={"limit": -1}, expect=400)
    await call(client, "GET", "/portfolio/fills", params={"limit": 0}, expect=400)  # minimum 1 there
    # GET /markets/{ticker}/orderbook depth: "0 or negative means all levels"
    for price, count in (("0.40", "10"), ("0.39", "5")):
        await call(client, "POST", V2, expect=201, json={**BID, "count": count, "price": price})
    book = "/markets/{ticker}/orderbook"
    full = await call(client, "GET", f"/markets/{TICKER}/orderbook", book, params={"depth": -1})
    assert full["orderbook_fp"]["yes_dollars"] == [["0.3900", "5.00"], ["0.4000", "10.00"]]
    top = await call(client, "GET", f"/markets/{TICKER}/orderbook", book, params={"depth": 1})
    assert top["orderbook_fp"]["yes_dollars"] == [["0.4000", "10.00"]]


async def test_create_take_fill_position_balance(client: httpx.AsyncClient, sim: SimHandle) -> None:
    rest_other_side(sim, "no", 10, 6000)  # NO bid 0.60 = YES ask 0.40
    created = await call(
        client,
        "POST",
        V2,
        expect=201,
        json={
            **BID,
            "count": "10.00",
            "price": "0.4500",
            "client_order_id": "c1",
            "time_in_force": "immediate_or_cancel",
        },
    )
    assert set(created) == {
        "order_id",
        "client_order_id",
        "fill_count",
        "remaining_count",
        "average_fill_price",
        "average_fee_paid",
        "ts_ms",
    }
    assert (created["fill_count"], created["remaining_count"], created["average_fill_price"]) == (
        "10.00",
        "0.00",
        "0.4000",
    )
    assert created["average_fee_paid"] == "0.0170" and abs(created["ts_ms"] - sim.venue.now() * 1000) < 5_000
    order = (await call(client, "GET", f"/portfolio/orders/{created['order_id']}", "/portfolio/orders/{order_id}"))[
        "order"
    ]
    assert (order["status"], order["outcome_side"], order["book_side"], order["client_order_id"]) == (
        "executed",
        "yes",
        "bid",
        "c1",
    )
    assert "side" not in order and "action" not in order
    assert order["taker_fill_cost_dollars"] == "4.0000" and order["taker_fees_dollars"] == "0.1700"
    balance = await call(client, "GET", "/portfolio/balance")
    assert balance["balance"] == 100_000 - 400 - 17 and balance["balance_dollars"] == "995.8300"
    assert balance["balance_breakdown"] == [{"exchange_index": 0, "balance": "995.8300"}]
    [pos] = (await call(client, "GET", "/portfolio/positions"))["market_positions"]
    assert pos["position_fp"] == "10.00" and pos["fees_paid_dollars"] == "0.1700" and pos["exchange_index"] == 0
    [fill] = (await call(client, "GET", "/portfolio/fills"))["fills"]
    assert (fill["order_id"], fill["yes_price_dollars"], fill["is_taker"], fill["outcome_side"]) == (
        created["order_id"],
        "0.4000",
        True,
        "yes",
    )
    assert "client_order_id" not in fill
    [trade] = (await call(client, "GET", "/markets/trades"))["trades"]
    assert (trade["taker_outcome_side"], trade["taker_book_side"]) == ("yes", "bid")
    dup = await call(client, "POST", V2, expect=409, json={**BID, "client_order_id": "c1"})
    assert dup["error"]["code"] == "order_already_exists"

    # an ask while holding YES sells it (one signed position): 4 of 10 at YES 0.70 against a YES bid
    rest_other_side(sim, "yes", 4, 7000)
    sold = await call(
        client,
        "POST",
        V2,
        expect=201,
        json={**BID, "side": "ask", "count": "4", "price": "0.70", "time_in_force": "fill_or_kill"},
    )
    assert (sold["fill_count"], sold["average_fill_price"]) == ("4.00", "0.7000")
    [pos] = (await call(client, "GET", "/portfolio/positions"))["market_positions"]
    assert pos["position_fp"] == "6.00"
    after = await call(client, "GET", "/portfolio/balance")
    fee = round(float(sold["average_fee_paid"]) * 4 * 100)  # cents; exact: 4 × 0.7 × 0.3 × 0.07 → 6c
    assert after["balance"] == balance["balance"] + 4 * 70 - fee


async def test_reduce_only_is_capped_at_the_position_not_refused(client: httpx.AsyncClient, sim: SimHandle) -> None:
    # CreateOrderV2Request.reduce_only: "the order place count should be capped by the member's current
    # position"; AsyncAPI lastUpdateReason: "ReduceOnlyCancel means reduce_only capped the order at placement"
    rest_other_side(sim, "no", 10, 6000)  # YES asks 0.40 × 10
    rest_other_side(sim, "yes", 10, 3000)  # YES bids 0.30 × 10
    ioc = {**BID, "time_in_force": "immediate_or_cancel", "reduce_only": True}
    flat = await call(client, "POST", V2, expect=201, json={**ioc, "side": "ask", "count": "2", "price": "0.30"})
    assert (flat["fill_count"], flat["remaining_count"]) == ("0.00", "0.00")
    assert (await call(client, "GET", "/portfolio/positions"))["market_positions"] == []
    buy = {**BID, "count": "3", "price": "0.40", "time_in_force": "immediate_or_cancel"}
    await call(client, "POST", V2, expect=201, json=buy)  # holds 3 YES
    capped = await call(client, "POST", V2, expect=201, json={**ioc, "side": "ask", "count": "5", "price": "0.30"})
    assert (capped["fill_count"], capped["remaining_count"]) == ("3.00", "0.00")
    assert capped["average_fill_price"] == "0.3000"
    [pos] = (await call(client, "GET", "/portfolio/positions"))["market_positions"]
    assert pos["position_fp"] == "0.00"


async def test_an_amend_answers_counts_only_when_it_filled_or_resized(
    client: httpx.AsyncClient, sim: SimHandle
) -> None:
    # AmendOrderV2Response: remaining_count "Only present when the amend caused a fill or changed the
    # resting size"; fill_count "Only present when fills occurred or remaining size changed"
    placed = await call(client, "POST", V2, expect=201, json=BID)  # 5 @ 0.40
    url, path = f"{V2}/{placed['order_id']}/amend", V2 + "/{order_id}/amend"
    amend = {"ticker": TICKER, "side": "bid"}
    repriced = await call(client, "POST", url, path, json={**amend, "price": "0.41", "count": "5"})
    assert [repriced[k] for k in ("remaining_count", "fill_count", "average_fill_price")] == [None, None, None]
    resized = await call(client, "POST", url, path, json={**amend, "price": "0.41", "count": "3"})
    assert (resized["remaining_count"], resized["fill_count"]) == ("3.00", "0.00")
    assert resized["average_fill_price"] is None
    rest_other_side(sim, "no", 2, 5800)  # YES asks 0.42 × 2
    crossed = await call(client, "POST", url, path, json={**amend, "price": "0.42", "count": "3"})
    assert (crossed["remaining_count"], crossed["fill_count"], crossed["average_fill_price"]) == (
        "1.00", "2.00", "0.4200")


async def test_rest_amend_decrease_queue_cancel(client: httpx.AsyncClient, sim: SimHandle) -> None:
    rest_other_side(sim, "yes", 3, 4000)  # someone else is first in the 0.40 queue
    a = await call(client, "POST", V2, expect=201, json={**BID, "client_order_id": "qa"})
    assert (a["fill_count"], a["remaining_count"]) == ("0.00", "5.00") and "average_fill_price" not in a
    path = "/portfolio/orders/{order_id}/queue_position"
    q = await call(client, "GET", f"/portfolio/orders/{a['order_id']}/queue_position", path)
    assert q == {"queue_position_fp": "3.00"}
    dec = await call(
        client,
        "POST",
        f"{V2}/{a['order_id']}/decrease",
        V2 + "/{order_id}/decrease",
        json={"reduce_by": "2", "market_ticker": TICKER},
    )
    assert (dec["remaining_count"], dec["client_order_id"]) == ("3.00", "qa")
    amend_path = V2 + "/{order_id}/amend"
    same = await call(
        client,
        "POST",
        f"{V2}/{a['order_id']}/amend",
        amend_path,
        json={"ticker": TICKER, "side": "bid", "price": "0.40", "count": "2"},
    )
    assert same["remaining_count"] == "2.00" and same["fill_count"] == "0.00"
    assert (await call(client, "GET", f"/portfolio/orders/{a['order_id']}/queue_position", path)) == q  # kept
    moved = await call(
        client,
        "POST",
        f"{V2}/{a['order_id']}/amend",
        amend_path,
        json={"ticker": TICKER, "side": "bid", "price": "0.41", "count": "4", "updated_client_order_id": "qb"},
    )
    assert (moved["remaining_count"], moved["client_order_id"]) == ("4.00", "qb")
    order = (await call(client, "GET", f"/portfolio/orders/{a['order_id']}", "/portfolio/orders/{order_id}"))["order"]
    assert (order["yes_price_dollars"], order["initial_count_fp"]) == ("0.4100", "4.00")
    listed = await call(client, "GET", "/portfolio/orders/queue_positions", params={"market_tickers": TICKER})
    assert listed["queue_positions"] == [
        {"order_id": a["order_id"], "market_ticker": TICKER, "queue_position_fp": "0.00"}
    ]
    await call(client, "GET", "/portfolio/orders/queue_positions", expect=400)
    wrong = await call(
        client,
        "DELETE",
        f"{V2}/{a['order_id']}",
        V2 + "/{order_id}",
        expect=404,
        params={"market_ticker": "KXSOL15M-26JUL081915-15"},
    )
    assert wrong["error"]["code"] == "order_not_found"
    gone = await call(client, "DELETE", f"{V2}/{a['order_id']}", V2 + "/{order_id}", params={"market_ticker": TICKER})
    assert (gone["order_id"], gone["client_order_id"], gone["reduced_by"]) == (a["order_id"], "qb", "4.00")
    again = await call(client, "DELETE", f"{V2}/{a['order_id']}", V2 + "/{order_id}", params={"market_ticker": TICKER})
    assert again["reduced_by"] == "0.00"
    not_resting = await call(
        client,
        "POST",
        f"{V2}/{a['order_id']}/decrease",
        V2 + "/{order_id}/decrease",
        expect=400,
        json={"reduce_to": "1"},
    )
    assert not_resting["error"]["code"] == "order_not_resting"
    await call(client, "DELETE", f"{V2}/nope", V2 + "/{order_id}", expect=404)


async def test_batches_and_cancel_all(client: httpx.AsyncClient) -> None:
    batch = await call(
        client,
        "POST",
        f"{V2}/batched",
        expect=201,
        json={
            "orders": [
                {**BID, "client_order_id": "b1"},
                {**BID, "client_order_id": "b1"},
                {**BID, "price": "0.405", "client_order_id": "b3"},
                {**BID, "side": "ask", "price": "0.90", "client_order_id": "b4"},
            ]
        },
    )
    ok, dup, off_grid, ask = batch["orders"]
    assert ok["error"] is None and ok["remaining_count"] == "5.00"
    assert dup["error"]["code"] == "order_already_exists" and dup["ts_ms"] is None
    assert "tick grid" in off_grid["error"]["message"] and off_grid["client_order_id"] == "b3"
    assert ask["error"] is None
    cancels = await call(
        client,
        "DELETE",
        f"{V2}/batched",
        json={"orders": [{"order_id": ok["order_id"], "market_ticker": TICKER}, {"order_id": "nope"}]},
    )
    assert cancels["orders"][0]["reduced_by"] == "5.00" and cancels["orders"][1]["error"]["code"] == "order_not_found"
    assert cancels["orders"][1]["reduced_by"] == "0.00"
    response = await client.delete(V2)
    assert response.status_code == 204 and response.content == b""
    validate_rest(V2, "DELETE", 204, None)
    resting = await call(client, "GET", "/portfolio/orders", params={"status": "resting"})
    assert resting["orders"] == []
    empty = await call(client, "POST", f"{V2}/batched", expect=400, json={"orders": []})
    assert "orders" in empty["error"]["message"]


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"time_in_force": None}, "time_in_force"),
        ({"self_trade_prevention_type": None}, "self_trade_prevention_type"),
        ({"self_trade_prevention_type": "none"}, "self_trade_prevention_type"),
        ({"side": "yes"}, "side"),
        ({"price": "1.00"}, "price"),
        ({"price": 40}, "price"),
        ({"price": "0.405"}, "price"),
        ({"count": "2.505"}, "count"),
        ({"count": 5}, "count"),
        ({"count": "0"}, "count"),
        ({"ticker": None}, "ticker"),
        ({"reduce_only": True}, "reduce_only"),
        ({"time_in_force": "immediate_or_cancel", "expiration_time": 1_800_000_000}, "expiration_time"),
        ({"expiration_time": 1}, "expiration_time"),
        ({"action": "buy"}, "action"),
        ({"yes_price": 40}, "yes_price"),
        ({"post_only": "yes"}, "post_only"),
        ({"count": "100000"}, "insufficient_balance"),
        ({"ticker": "KXSOL15M-26JUL091900-00"}, "market_not_found"),
        ({"exchange_index": 3}, "exchange_index"),
    ],
)
async def test_bad_creates_get_400_naming_the_field(
    client: httpx.AsyncClient, change: dict[str, Any], field: str
) -> None:
    body = {k: v for k, v in {**BID, **change}.items() if v is not None}
    error = (await call(client, "POST", V2, expect=400, json=body))["error"]
    assert field in error["message"] or field == error.get("details") or field == error["code"]


@pytest.mark.parametrize("price", ["0.4", "0.40000", "4e-1", "+0.40", " 0.40", "0.40 ", "0,40", ".40"])
async def test_a_price_string_needs_2_to_4_decimal_places(client: httpx.AsyncClient, price: str) -> None:
    # FixedPointDollars: "Most request fields accept 2-4 decimal places (e.g., "0.56", "0.5600")"
    error = (await call(client, "POST", V2, expect=400, json={**BID, "price": price}))["error"]
    assert error["code"] == "invalid_parameter" and error["message"].startswith("price: ")
    placed = await call(client, "POST", V2, expect=201, json={**BID, "price": "0.400"})
    amend = {"ticker": TICKER, "side": "bid", "count": "5"}
    url, spec_path = f"{V2}/{placed['order_id']}/amend", V2 + "/{order_id}/amend"
    await call(client, "POST", url, spec_path, expect=400, json={**amend, "price": price})
    await call(client, "POST", url, spec_path, json={**amend, "price": "0.4100"})


async def test_bad_amend_and_decrease(client: httpx.AsyncClient) -> None:
    a = await call(client, "POST", V2, expect=201, json=BID)
    url, amend = f"{V2}/{a['order_id']}", V2 + "/{order_id}/amend"
    for body, field in (
        ({"ticker": TICKER, "side": "ask", "price": "0.40", "count": "5"}, "side"),
        ({"ticker": TICKER, "side": "bid", "price": "0.40"}, "count"),
        ({"ticker": TICKER, "side": "bid", "price": "0.40", "count": "5", "client_order_id": "x"}, "client_order_id"),
    ):
        error = (await call(client, "POST", url + "/amend", amend, expect=400, json=body))["error"]
        assert field in error["message"], error
    for body in ({"reduce_by": "1", "reduce_to": "1"}, {}, {"reduce_by": "9"}):
        await call(client, "POST", url + "/decrease", V2 + "/{order_id}/decrease", expect=400, json=body)
    await call(client, "POST", f"{V2}/nope/amend", amend, expect=404, json={**BID, "count": "1"})


V1_WRITES = [
    ("POST", "/portfolio/orders", {"ticker": TICKER, "side": "yes", "action": "buy", "count": 1, "yes_price": 40}),
    ("DELETE", "/portfolio/orders/abc", None),
    ("POST", "/portfolio/orders/abc/amend", {"ticker": TICKER}),
    ("POST", "/portfolio/orders/abc/decrease", {"reduce_by": 1}),
    ("POST", "/portfolio/orders/batched", {"orders": []}),
    ("DELETE", "/portfolio/orders/batched", {"ids": ["abc"]}),
]


@pytest.mark.parametrize(("method", "path", "body"), V1_WRITES)
async def test_v1_writes_answer_410(client: httpx.AsyncClient, method: str, path: str, body: Any) -> None:
    response = await client.request(method, path, json=body)
    assert response.status_code == 410
    assert response.json() == {
        "error": {
            "code": "deprecated_v1_order_endpoint",
            "message": "Please switch to the V2 endpoints",
            "details": "https://docs.kalshi.com/api-reference/orders/create-order-v2",
        }
    }
    validate_error(response.json())
    await call(client, "GET", "/portfolio/orders")  # V1 reads stay


async def test_listing_delay_hides_a_new_market_from_the_list_only(
    nursery: trio.Nursery, private_key: Any, signer: Signer
) -> None:
    # 22:46:30: the 22:45 window opened 90 s ago; with a 180 s delay the list does not show it yet
    handle: SimHandle = await nursery.start(
        serve_simulator, sim_settings(private_key, start=T0 - 210, listing_delay_s=180.0)
    )
    async with httpx.AsyncClient(base_url=handle.rest_base_url, auth=KalshiAuth(signer)) as c:
        listed = await call(c, "GET", "/markets", params={"series_ticker": "KXSOL15M"})
        assert TICKER not in [m["ticker"] for m in listed["markets"]]
        direct = await call(c, "GET", f"/markets/{TICKER}", "/markets/{ticker}")
        assert direct["market"]["status"] == "active"
    handle.stop()


async def test_account_limits_and_token_costs(nursery: trio.Nursery, private_key: Any, signer: Signer) -> None:
    # 1 token/s refill, so the bucket barely moves while the test runs
    settings = sim_settings(private_key, rate_limits=RateLimits(read_per_s=1, write_per_s=1, burst_seconds=30))
    handle: SimHandle = await nursery.start(serve_simulator, settings)
    async with httpx.AsyncClient(base_url=handle.rest_base_url, auth=KalshiAuth(signer)) as c:
        limits = await call(c, "GET", "/account/limits")
        assert limits["read"] == {"refill_rate": 1, "bucket_capacity": 30} and limits["grants"] == []
        # 30 tokens: two 10-token GETs leave 10 = five 2-token GetOrder calls
        await call(c, "GET", "/portfolio/balance")
        codes = [(await c.get("/portfolio/orders/nope")).status_code for _ in range(6)]
        assert codes == [404] * 5 + [429]
        throttled = await c.get("/portfolio/balance")
        assert throttled.status_code == 429 and "retry-after" not in throttled.headers
        validate_error(throttled.json())
    handle.stop()


async def test_fill_or_kill_takes_an_expiration_time(client: httpx.AsyncClient, sim: SimHandle) -> None:
    # CreateOrderV2Request.expiration_time: only "immediate_or_cancel ... cannot be combined with
    # expiration_time"; a fill-or-kill never rests, so its expiry never comes.
    rest_other_side(sim, "no", 3, 5500)  # a YES ask at 0.45
    fok = {**BID, "count": "3", "price": "0.45", "time_in_force": "fill_or_kill", "expiration_time": int(T0) + 600}
    done = await call(client, "POST", V2, expect=201, json=fok)
    assert (done["fill_count"], done["remaining_count"]) == ("3.00", "0.00")
    error = (await call(client, "POST", V2, expect=400, json={**fok, "time_in_force": "immediate_or_cancel"}))["error"]
    assert error["message"].startswith("expiration_time")
