"""The dashboard's page, docs cookie and decisions route; the seed's REST routes and WebSocket messages."""

from __future__ import annotations

import json
import re
from collections.abc import AsyncIterator
from typing import Any

import pytest
from quart_trio import QuartTrio

from kalshid.control.broadcaster import Broadcaster
from kalshid.control.decisions import DecisionTracker
from kalshid.control.fake import FakeDaemon
from kalshid.metrics import Metrics
from kalshid.server.app import create_app
from kalshid.server.dashboard import COOKIE_MAX_AGE_S, COOKIE_NAME, cookie_value_ok, make_cookie_value
from kalshid.server.routes import ApiContext
from kalshid.server.settings import ApiSettings

TOKEN = "dash-test-token-0123456789"
AUTH = {"Authorization": f"Bearer {TOKEN}"}


@pytest.fixture
def fake() -> FakeDaemon:
    return FakeDaemon(Broadcaster())


@pytest.fixture
async def app_ctx(fake: FakeDaemon) -> AsyncIterator[tuple[QuartTrio, ApiContext]]:
    app, ctx = create_app(fake, ApiSettings(port=0, token=TOKEN), token=TOKEN, broadcaster=Broadcaster(),
                          metrics=Metrics())
    async with app.test_app():
        yield app, ctx


@pytest.fixture
def client(app_ctx: tuple[QuartTrio, ApiContext]) -> Any:
    return app_ctx[0].test_client()


async def test_page_and_assets_are_public_self_contained_and_locked_down(client: Any) -> None:
    resp = await client.get("/")
    html = await resp.get_data(as_text=True)
    assert resp.status_code == 200 and resp.content_type.startswith("text/html")
    assert "script-src 'self'" in resp.headers["Content-Security-Policy"]
    assert "connect-src 'self'" in resp.headers["Content-Security-Policy"]
    assert not re.search(r"""(src|href)=['"]?(https?:)?//""", html)  # nothing from another host
    assert 'type="password"' in html and TOKEN not in html
    assert 'name="token"' not in html  # without its script, the form could never put the token in a URL
    assets = (("/static/app.js", "javascript"), ("/static/panels.js", "javascript"),
              ("/static/format.js", "javascript"), ("/static/app.css", "css"))
    for asset, kind in assets:
        resp = await client.get(asset)
        body = await resp.get_data(as_text=True)
        assert resp.status_code == 200 and kind in resp.content_type
        assert "https://" not in body and "http://" not in body
    js = await (await client.get("/static/app.js")).get_data(as_text=True)
    assert "sessionStorage" in js and "localStorage" not in js and "?token" not in js


async def test_docs_cookie_opens_docs_and_openapi_only(client: Any) -> None:
    assert (await client.get("/docs")).status_code == 401
    assert (await client.post("/api/session")).status_code == 401
    resp = await client.post("/api/session", headers=AUTH)
    cookie = resp.headers["Set-Cookie"]
    assert resp.status_code == 200 and f"{COOKIE_NAME}=" in cookie
    assert "HttpOnly" in cookie and "SameSite=Strict" in cookie and f"Max-Age={COOKIE_MAX_AGE_S}" in cookie
    assert TOKEN not in cookie
    assert (await client.get("/docs")).status_code == 200  # the test client keeps the cookie
    assert (await client.get("/openapi.json")).status_code == 200
    assert (await client.get("/api/status")).status_code == 401  # the cookie is for the docs only
    assert (await client.post("/api/stop")).status_code == 401


async def test_the_docs_without_a_token_say_how_to_open_them(client: Any) -> None:
    for path in ("/docs", "/openapi.json"):
        resp = await client.get(path)
        body = await resp.get_json()
        assert resp.status_code == 401
        assert body["error"]["message"] == "send a bearer token, or sign in on the dashboard at / first"
    body = await (await client.get("/api/status")).get_json()
    assert body["error"]["message"] == "missing or invalid bearer token"


async def test_the_openapi_description_names_the_routes_open_without_a_token(client: Any) -> None:
    doc = await (await client.get("/openapi.json", headers=AUTH)).get_json()
    description = doc["info"]["description"]
    assert "Every endpoint except /api/health needs `Authorization: Bearer <token>`" in description
    assert (await client.get("/api/health")).status_code == 200


def test_cookie_values_expire_and_are_bound_to_the_token() -> None:
    value = make_cookie_value(TOKEN, 1000.0)
    assert cookie_value_ok(value, TOKEN, 1000.0)
    assert not cookie_value_ok(value, TOKEN, 1000.0 + COOKIE_MAX_AGE_S + 1)
    assert not cookie_value_ok(value, "another-token-0123456789", 1000.0)
    expires, _, sig = value.partition(".")
    assert not cookie_value_ok(f"{int(expires) + 10}.{sig}", TOKEN, 1000.0)
    for junk in ("", "x", "1.2.3", "９９.ab", f"{10**20}.ab", None):
        assert not cookie_value_ok(junk, TOKEN, 1000.0)


async def test_decisions_route(client: Any, app_ctx: tuple[QuartTrio, ApiContext]) -> None:
    tracker: DecisionTracker = app_ctx[0].extensions["kalshid.dashboard"].tracker
    tracker.observe({"type": "trading_signal", "data": {"strategy": "kv", "ticker": "KX-1", "count": 3}})
    tracker.observe({"type": "order_update", "data": {"strategy": "kv", "client_order_id": "c1", "status": "resting"}})
    tracker.observe({"type": "order_update", "data": {"strategy": "kv", "client_order_id": "c1", "status": "executed"}})
    resp = await client.get("/api/decisions", headers=AUTH)
    body = await resp.get_json()
    assert body["strategies"]["kv"]["last_verdict"]["approved"] is True
    assert body["reasons"] == {"approved": 1}  # one order, one approval, however many updates
    assert body["last"]["signal"]["ticker"] == "KX-1"


def test_decision_tracker_reasons_and_junk() -> None:
    t = DecisionTracker()
    for junk in ({}, {"type": "trading_signal"}, {"type": "trading_signal", "data": {"strategy": 5}},
                 {"type": "alert", "data": []}):
        t.observe(junk)
    assert t.snapshot() == {"strategies": {}, "reasons": {}, "last": None}
    t.observe({"type": "alert", "data": {"kind": "risk_rejection", "strategy": "a", "reason": "max_daily_loss"}})
    t.observe({"type": "risk_rejection", "data": {"level": "info", "kind": "risk_rejection", "strategy": "b",
                                                  "reason": "stale_data"}})
    t.observe({"type": "alert", "data": {"kind": "risk_rejection", "strategy": "a", "reason": "max_daily_loss"}})
    t.observe({"type": "risk_verdict", "data": {"strategy": "b", "approved": True, "reason": "max_position_size"}})
    snap = t.snapshot()
    assert snap["reasons"] == {"max_daily_loss": 2, "stale_data": 1, "max_position_size": 1}
    assert snap["strategies"]["b"]["last_verdict"]["reduced"] is True
    assert snap["last"]["strategy"] == "b"


async def test_seed_rest_routes(client: Any, fake: FakeDaemon) -> None:
    bal = await (await client.get("/api/balance", headers=AUTH)).get_json()
    assert set(bal) >= {"balance", "equity"}
    fills = await (await client.get("/api/fills?limit=2", headers=AUTH)).get_json()
    assert len(fills["items"]) == 2 and fills["cursor"]
    assert (await client.get("/api/fills?limit=0", headers=AUTH)).status_code == 422
    settled = await (await client.get("/api/settlements", headers=AUTH)).get_json()
    assert settled == {"items": [{"ticker": "2024-10-01", "realized": "1.2500"}], "cursor": None}
    active = await (await client.get("/api/trades/active", headers=AUTH)).get_json()
    assert set(active) == {"positions", "orders"}
    await client.post("/api/start", headers=AUTH)
    halted = await (await client.post("/api/emergency/halt", headers=AUTH)).get_json()
    assert halted["state"] == "stopped"
    for path in ("/api/balance", "/api/fills", "/api/settlements", "/api/trades/active"):
        assert (await client.get(path)).status_code == 401
    assert (await client.post("/api/emergency/halt")).status_code == 401


async def test_seed_websocket_messages(client: Any) -> None:
    async with client.websocket("/ws", headers=AUTH) as ws:
        assert json.loads(await ws.receive())["type"] == "status_update"

        async def ask(msg: dict[str, Any]) -> dict[str, Any]:
            await ws.send(json.dumps(msg))
            while True:  # skip pushed events
                reply: dict[str, Any] = json.loads(await ws.receive())
                if reply.get("id") == msg.get("id"):
                    return reply

        assert (await ask({"type": "ping", "id": 1}))["type"] == "pong"
        status = await ask({"type": "get_status", "id": 2})
        assert status["type"] == "status_update" and "state" in status["data"]
        started = await ask({"type": "start_bot", "id": 3})
        assert started["type"] == "ack" and started["result"]["state"] == "running"
        stopped = await ask({"type": "stop_bot", "id": 4})
        assert stopped["result"]["state"] == "stopped"
        unknown = await ask({"type": "launch_rockets", "id": 5})
        assert unknown["type"] == "error" and unknown["error"]["code"] == "unknown_type"
