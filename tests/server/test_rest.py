"""REST endpoints: auth on every route, success paths, and JSON errors for bad input."""

from __future__ import annotations

import json
from typing import Any

import pytest

from kalshid.control.fake import FakeDaemon
from kalshid.server.routes import ROUTES
from tests.server.conftest import AUTH, TOKEN

GOOD_PATHS = {
    ("PUT", "/api/strategies/{name}/params"): ("/api/strategies/fair_value/params", {"max_count": 7}),
    ("POST", "/api/strategies/{name}/enable"): ("/api/strategies/momentum/enable", None),
    ("POST", "/api/strategies/{name}/disable"): ("/api/strategies/momentum/disable", None),
}


def _request(route_method: str, route_path: str) -> tuple[str, Any]:
    return GOOD_PATHS.get((route_method, route_path), (route_path, None))


async def _call(client: Any, method: str, path: str, headers: dict[str, str] | None = None, **kw: Any) -> Any:
    return await client.open(path, method=method, headers=headers or {}, **kw)


@pytest.mark.parametrize("route", [r for r in ROUTES if r.auth], ids=lambda r: f"{r.method} {r.path}")
async def test_every_authenticated_route_refuses_missing_or_wrong_token(client: Any, route: Any) -> None:
    path, body = _request(route.method, route.path)
    for headers in ({}, {"Authorization": "Bearer wrong-token-0123456789"}, {"Authorization": TOKEN}):
        resp = await _call(client, route.method, path, headers, json=body)
        assert resp.status_code == 401, (route.path, headers)
        payload = await resp.get_json()
        assert payload["error"]["code"] == "unauthorized"
        assert TOKEN not in (await resp.get_data(as_text=True))


@pytest.mark.parametrize("route", ROUTES, ids=lambda r: f"{r.method} {r.path}")
async def test_every_route_answers_with_token(client: Any, route: Any) -> None:
    path, body = _request(route.method, route.path)
    resp = await _call(client, route.method, path, AUTH, json=body)
    assert resp.status_code == 200, await resp.get_data()
    if route.kind == "json":
        assert resp.content_type == "application/json"
        json.loads(await resp.get_data())


async def test_health_needs_no_token(client: Any) -> None:
    resp = await client.get("/api/health")
    assert resp.status_code == 200
    assert (await resp.get_json())["status"] == "ok"


async def test_status_and_commands_reach_the_daemon(client: Any, fake: FakeDaemon) -> None:
    assert (await (await client.post("/api/start", headers=AUTH)).get_json())["state"] == "running"
    assert (await (await client.post("/api/stop-entry", headers=AUTH)).get_json())["state"] == "stop_entry"
    assert (await (await client.get("/api/status", headers=AUTH)).get_json())["state"] == "stop_entry"
    await client.post("/api/stop", headers=AUTH)
    await client.post("/api/circuit-breaker/reset", headers=AUTH)
    await client.post("/api/reload", headers=AUTH)
    killed = await client.post("/api/emergency/cancel-all", headers=AUTH)
    assert killed.status_code == 200 and (await killed.get_json())["quiet_s"] == 60
    assert (await client.post("/api/emergency/cancel-all")).status_code == 401
    assert [c[0] for c in fake.calls] == ["start", "stop_entry", "stop", "reset_breaker", "reload", "cancel_all"]


async def test_start_refused_while_breaker_tripped_is_409(client: Any, fake: FakeDaemon) -> None:
    fake.breaker_tripped = True
    resp = await client.post("/api/start", headers=AUTH)
    assert resp.status_code == 409
    assert (await resp.get_json())["error"]["code"] == "conflict"


async def test_trades_pagination_walks_every_row_once(client: Any) -> None:
    seen: list[int] = []
    cursor = None
    for _ in range(10):
        query = {"limit": "7"} | ({"cursor": cursor} if cursor else {})
        page = await (await client.get("/api/trades", headers=AUTH, query_string=query)).get_json()
        seen += [t["id"] for t in page["items"]]
        cursor = page["cursor"]
        if cursor is None:
            break
    assert seen == list(range(25, 0, -1))


async def test_trade_filters(client: Any) -> None:
    query = {"strategy": "momentum", "since": "2024-10-01T12:05:00Z", "until": "2024-10-01T12:20:00+00:00"}
    page = await (await client.get("/api/trades", headers=AUTH, query_string=query)).get_json()
    assert page["items"] and all(t["strategy"] == "momentum" for t in page["items"])
    assert all("12:05" <= t["ts"][11:16] <= "12:20" for t in page["items"])


async def test_orders_filter_by_status(client: Any) -> None:
    page = await (await client.get("/api/orders?status=executed", headers=AUTH)).get_json()
    assert [o["id"] for o in page["items"]] == ["o1", "o3"]


async def test_strategy_commands(client: Any, fake: FakeDaemon) -> None:
    assert (await client.post("/api/strategies/momentum/enable", headers=AUTH)).status_code == 200
    assert fake.strategy_state["momentum"]["enabled"] is True
    resp = await client.put("/api/strategies/fair_value/params", headers=AUTH, json={"vol_scale": 2.5})
    assert (await resp.get_json())["params"]["vol_scale"] == 2.5


@pytest.mark.parametrize(
    ("method", "path", "kwargs", "status", "field"),
    [
        ("GET", "/api/trades?limit=0", {}, 422, "limit"),
        ("GET", "/api/trades?limit=1001", {}, 422, "limit"),
        ("GET", "/api/trades?limit=ten", {}, 422, "limit"),
        ("GET", "/api/trades?limit=-1", {}, 422, "limit"),
        ("GET", "/api/trades?since=yesterday", {}, 422, "since"),
        ("GET", "/api/trades?until=2024-10-01T12:00:00", {}, 422, "until"),
        ("GET", "/api/trades?ticker=lower-case", {}, 422, "ticker"),
        ("GET", "/api/trades?cursor=nope", {}, 422, "cursor"),
        ("GET", "/api/trades?tickr=KXSOL15M", {}, 422, "tickr"),
        ("GET", "/api/trades?limit=1&limit=2", {}, 422, "limit"),
        ("GET", "/api/orders?status=open", {}, 422, "status"),
        ("GET", "/api/pnl?group_by=month", {}, 422, "group_by"),
        ("POST", "/api/strategies/bad%20name/enable", {}, 422, "name"),
        ("POST", "/api/strategies/nosuch/enable", {}, 404, "name"),
        ("POST", "/api/strategies/nosuch/disable", {}, 404, "name"),
        ("PUT", "/api/strategies/nosuch/params", {"json": {}}, 404, "name"),
        ("PUT", "/api/strategies/fair_value/params", {"data": b"{not json"}, 400, "body"),
        ("PUT", "/api/strategies/fair_value/params", {"data": b""}, 400, "body"),
        ("PUT", "/api/strategies/fair_value/params", {"data": b"NaN"}, 400, "body"),
        ("PUT", "/api/strategies/fair_value/params", {"data": b"[" * 3000}, 400, "body"),
        ("PUT", "/api/strategies/fair_value/params", {"data": b"\xff\xfe"}, 400, "body"),
        ("PUT", "/api/strategies/fair_value/params", {"json": [1, 2]}, 422, "body"),
        ("PUT", "/api/strategies/fair_value/params", {"json": {"bogus": 1}}, 422, "params.bogus"),
        ("PUT", "/api/strategies/fair_value/params", {"json": {"max_count": 0}}, 422, "params.max_count"),
        ("PUT", "/api/strategies/fair_value/params", {"json": {"max_count": True}}, 422, "params.max_count"),
        ("PUT", "/api/strategies/fair_value/params", {"data": b'{"a": 1, "a": 2}'}, 400, "body"),
        ("PUT", "/api/strategies/fair_value/params", {"data": b'{"max_count": ' + b"9" * 2000 + b"}"}, 400, "body"),
        ("PUT", "/api/strategies/fair_value/params", {"data": b'{"max_count": 1e999}'}, 400, "body"),
    ],
)
async def test_bad_input_is_a_json_4xx_naming_the_field(
    client: Any, method: str, path: str, kwargs: dict[str, Any], status: int, field: str
) -> None:
    headers = AUTH | ({"Content-Type": "application/json"} if "data" in kwargs else {})
    resp = await client.open(path, method=method, headers=headers, **kwargs)
    assert resp.status_code == status, await resp.get_data()
    error = (await resp.get_json())["error"]
    assert error["field"] == field
    assert error["message"]


async def test_oversized_body_is_413_json(client: Any) -> None:
    resp = await client.put("/api/strategies/fair_value/params", headers=AUTH | {"Content-Type": "application/json"},
                            data=b" " * 5000)
    assert resp.status_code == 413
    assert (await resp.get_json())["error"]["code"] == "payload_too_large"
    # Also on a route that ignores its body: a declared Content-Length is checked before dispatch.
    headers = AUTH | {"Content-Length": "5000"}
    assert (await client.post("/api/start", headers=headers, data=b"x" * 5000)).status_code == 413


async def test_unknown_route_404_and_wrong_method_405_are_json(client: Any) -> None:
    resp = await client.get("/api/nope", headers=AUTH)
    assert resp.status_code == 404
    assert (await resp.get_json())["error"]["code"] == "not_found"
    resp = await client.delete("/api/status", headers=AUTH)
    assert resp.status_code == 405
    assert (await resp.get_json())["error"]["code"] == "method_not_allowed"
    assert "GET" in resp.headers["Allow"]


async def test_cors_allow_list_exact_match(client: Any) -> None:
    ok = await client.get("/api/status", headers=AUTH | {"Origin": "https://ui.example"})
    assert ok.headers["Access-Control-Allow-Origin"] == "https://ui.example"
    other = await client.get("/api/status", headers=AUTH | {"Origin": "https://ui.example.evil"})
    assert "Access-Control-Allow-Origin" not in other.headers
    preflight = {"Origin": "https://ui.example", "Access-Control-Request-Method": "POST"}
    resp = await client.options("/api/start", headers=preflight)  # browsers send no token on preflight
    assert resp.status_code == 204
    assert "Authorization" in resp.headers["Access-Control-Allow-Headers"]
    resp = await client.options("/api/start", headers=preflight | {"Origin": "https://evil.example"})
    assert resp.status_code == 403
    assert "Access-Control-Allow-Origin" not in resp.headers


async def test_metrics_text_with_token(client: Any) -> None:
    await client.get("/api/status", headers=AUTH)
    resp = await client.get("/metrics", headers=AUTH)
    text = await resp.get_data(as_text=True)
    assert resp.content_type.startswith("text/plain")
    assert 'kalshid_api_requests_total{route="/api/status",status="200"} 1.0' in text
