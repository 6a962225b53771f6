"""REST over a real Hypercorn: shapes (validated against openapi.yaml), auth, errors, trading flow."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
import trio
from schemas import openapi_error_schema_ok, validate_rest
from simfakes import TICKER
from simkit import KEY_ID, KalshiAuth, sim_settings

from kalshid.exchange.kalshi.auth import Signer
from kalshid.sim.ratelimit import RateLimits
from kalshid.sim.server import SimHandle, serve_simulator

ORDER = {"ticker": TICKER, "side": "yes", "action": "buy", "count": 5, "yes_price": 40}


async def call(
    client: httpx.AsyncClient,
    method: str,
    path: str,
    spec_path: str | None = None,
    expect: int = 200,
    **kw: Any,
) -> Any:
    response = await client.request(method, path, **kw)
    assert response.status_code == expect, response.text
    body = response.json()
    if expect < 400:
        validate_rest(spec_path or path, method, expect, body)
    else:
        openapi_error_schema_ok(body) if expect != 429 else None
    return body


async def test_public_market_data(client: httpx.AsyncClient) -> None:
    status = await call(client, "GET", "/exchange/status")
    assert status["trading_active"] is True
    series = await call(client, "GET", "/series/KXSOL15M", "/series/{series_ticker}")
    assert series["series"]["fee_type"] == "quadratic"
    await call(client, "GET", "/series/NOPE", expect=404)
    markets = await call(client, "GET", "/markets", params={"series_ticker": "KXSOL15M"})
    tickers = [m["ticker"] for m in markets["markets"]]
    assert tickers == [TICKER, "KXSOL15M-26JUL081915-15", "KXSOL15M-26JUL081930-30"]
    assert markets["cursor"] == ""
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


async def test_order_flow_fees_positions(client: httpx.AsyncClient, sim: SimHandle) -> None:
    ex = sim.venue.exchange
    from kalshid.sim.model import OrderRequest
    from kalshid.sim.wire import user_uuid

    ex.open_account(user_uuid("other"), 1_000_000)
    ex.place_order(user_uuid("other"), OrderRequest(TICKER, "no", "buy", 10, 6000), sim.venue.now())
    book = await call(client, "GET", f"/markets/{TICKER}/orderbook", "/markets/{ticker}/orderbook")
    assert book["orderbook_fp"]["no_dollars"] == [["0.6000", "10.00"]]
    created = await call(
        client,
        "POST",
        "/portfolio/orders",
        expect=201,
        json={
            **ORDER,
            "count": 10,
            "yes_price": None,
            "yes_price_dollars": "0.4500",
            "client_order_id": "c1",
            "type": "limit",
        },
    )
    order = created["order"]
    assert order["status"] == "executed" and order["fill_count_fp"] == "10.00"
    assert order["taker_fill_cost_dollars"] == "4.0000" and order["taker_fees_dollars"] == "0.1700"
    balance = await call(client, "GET", "/portfolio/balance")
    assert balance["balance"] == 100_000 - 400 - 17 and balance["balance_dollars"] == "995.8300"
    positions = await call(client, "GET", "/portfolio/positions")
    pos = positions["market_positions"][0]
    assert pos["position_fp"] == "10.00" and pos["fees_paid_dollars"] == "0.1700"
    fills = await call(client, "GET", "/portfolio/fills")
    assert fills["fills"][0]["yes_price_dollars"] == "0.4000" and fills["fills"][0]["is_taker"] is True
    assert fills["fills"][0]["fee_cost"] == "0.1700"
    got = await call(client, "GET", f"/portfolio/orders/{order['order_id']}", "/portfolio/orders/{order_id}")
    assert got["order"]["client_order_id"] == "c1"
    dup = await call(client, "POST", "/portfolio/orders", expect=409, json={**ORDER, "client_order_id": "c1"})
    assert dup["error"]["code"] == "order_already_exists"
    trades = await call(client, "GET", "/markets/trades")
    assert trades["trades"][0]["taker_side"] == "yes"
    sell = await call(
        client,
        "POST",
        "/portfolio/orders",
        expect=201,
        json={"ticker": TICKER, "side": "yes", "action": "sell", "count_fp": "4.00", "yes_price": 90},
    )
    assert sell["order"]["status"] == "resting"
    listed = await call(client, "GET", "/portfolio/orders", params={"status": "resting"})
    assert [o["order_id"] for o in listed["orders"]] == [sell["order"]["order_id"]]


async def test_cancel_amend_decrease_batch(client: httpx.AsyncClient) -> None:
    o = (await call(client, "POST", "/portfolio/orders", expect=201, json=ORDER))["order"]
    dec = await call(
        client,
        "POST",
        f"/portfolio/orders/{o['order_id']}/decrease",
        "/portfolio/orders/{order_id}/decrease",
        json={"reduce_by": 2},
    )
    assert dec["order"]["remaining_count_fp"] == "3.00"
    amended = await call(
        client,
        "POST",
        f"/portfolio/orders/{o['order_id']}/amend",
        "/portfolio/orders/{order_id}/amend",
        json={"ticker": TICKER, "side": "yes", "action": "buy", "yes_price": 41, "count": 4},
    )
    assert amended["old_order"]["yes_price_dollars"] == "0.4000"
    assert (
        amended["order"]["yes_price_dollars"] == "0.4100" and amended["order"]["remaining_count_fp"] == "4.00"
    )
    canceled = await call(
        client, "DELETE", f"/portfolio/orders/{o['order_id']}", "/portfolio/orders/{order_id}"
    )
    assert canceled["reduced_by_fp"] == "4.00" and canceled["order"]["status"] == "canceled"
    batch = await call(
        client,
        "POST",
        "/portfolio/orders/batched",
        expect=201,
        json={"orders": [ORDER, {**ORDER, "yes_price": 0}]},
    )
    assert batch["orders"][0]["order"]["status"] == "resting" and batch["orders"][0]["error"] is None
    assert batch["orders"][1]["order"] is None and "yes_price" in batch["orders"][1]["error"]["message"]
    oid = batch["orders"][0]["order"]["order_id"]
    cancels = await call(
        client,
        "DELETE",
        "/portfolio/orders/batched",
        json={"orders": [{"order_id": oid}, {"order_id": "nope"}]},
    )
    assert cancels["orders"][0]["reduced_by_fp"] == "5.00"
    assert cancels["orders"][1]["error"]["code"] == "order_not_found"
    too_many = await call(
        client, "POST", "/portfolio/orders/batched", expect=400, json={"orders": [ORDER] * 21}
    )
    assert "at most 20" in too_many["error"]["message"]


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({**ORDER, "yes_price": 100}, "yes_price"),
        ({**ORDER, "no_price": 60}, "no_price"),
        ({**ORDER, "yes_price_dollars": "0.4100"}, "yes_price_dollars"),
        ({**ORDER, "yes_price": None}, "yes_price"),
        ({**ORDER, "count": 0}, "count"),
        ({**ORDER, "count_fp": "2.50"}, "count_fp"),
        ({**ORDER, "side": "maybe"}, "side"),
        ({**ORDER, "ticker": None}, "ticker"),
        ({**ORDER, "time_in_force": "forever"}, "time_in_force"),
        ({**ORDER, "yes_price": None, "yes_price_dollars": "0.405"}, "yes_price_dollars"),
        ({**ORDER, "post_only": "yes"}, "post_only"),
        ({**ORDER, "count": 100_000}, "insufficient_balance"),
        ([1, 2], "body"),
    ],
)
async def test_bad_orders_get_400_naming_the_field(client: httpx.AsyncClient, body: Any, field: str) -> None:
    result = await call(client, "POST", "/portfolio/orders", expect=400, json=body)
    error = result["error"]
    assert field in error["message"] or field in error.get("details", "") or field == error["code"]


async def test_unknown_market_404_and_route_404(client: httpx.AsyncClient) -> None:
    err = await call(
        client, "POST", "/portfolio/orders", expect=404, json={**ORDER, "ticker": "KXSOL15M-26JUL091900-00"}
    )
    assert err["error"]["code"] == "market_not_found"
    resp = await client.get("/nope")
    assert resp.status_code == 404 and resp.json()["error"]["code"] == "not_found"
    err = await call(client, "GET", "/portfolio/orders/zzz", "/portfolio/orders/{order_id}", expect=404)


async def test_auth_missing_bad_stale_unknown(sim: SimHandle, signer: Signer, private_key: Any) -> None:
    from cryptography.hazmat.primitives.asymmetric import rsa

    async with httpx.AsyncClient(base_url=sim.rest_base_url) as anon:
        r = await anon.get("/portfolio/balance")
        assert r.status_code == 401 and "missing" in r.json()["error"]["message"]
        assert (await anon.get("/markets")).status_code == 200  # public data needs no auth
    async with httpx.AsyncClient(
        base_url=sim.rest_base_url, auth=KalshiAuth(signer, skew_ms=-120_000)
    ) as stale:
        r = await stale.get("/portfolio/balance")
        assert r.status_code == 401 and "stale" in r.json()["error"]["message"]
    other = Signer(KEY_ID, rsa.generate_private_key(public_exponent=65537, key_size=1024))
    async with httpx.AsyncClient(base_url=sim.rest_base_url, auth=KalshiAuth(other)) as forged:
        r = await forged.get("/portfolio/balance")
        assert r.status_code == 401 and "invalid signature" in r.json()["error"]["message"]
    unknown = Signer("not-registered", private_key)
    async with httpx.AsyncClient(base_url=sim.rest_base_url, auth=KalshiAuth(unknown)) as c:
        assert (await c.get("/portfolio/balance")).status_code == 401
    # a signature for another path does not authorize this one
    async with httpx.AsyncClient(base_url=sim.rest_base_url) as c:
        import time

        headers = signer.headers(int(time.time() * 1000), "GET", "/trade-api/v2/portfolio/fills")
        assert (await c.get("/portfolio/balance", headers=headers)).status_code == 401
        ok = signer.headers(int(time.time() * 1000), "GET", "/trade-api/v2/portfolio/balance")
        assert (await c.get("/portfolio/balance", params={"x": 1}, headers=ok)).status_code == 200


async def test_rate_limit_429(nursery: trio.Nursery, private_key: Any, signer: Signer) -> None:
    settings = sim_settings(
        private_key, rate_limits=RateLimits(read_per_s=10, write_per_s=10, burst_seconds=2)
    )
    handle: SimHandle = await nursery.start(serve_simulator, settings)
    async with httpx.AsyncClient(base_url=handle.rest_base_url, auth=KalshiAuth(signer)) as c:
        codes = [(await c.get("/portfolio/balance")).status_code for _ in range(4)]
        assert codes[:2] == [200, 200] and codes[-1] == 429
        r = await c.get("/portfolio/balance")
        assert r.json() == {"error": "too many requests"}
    handle.stop()
