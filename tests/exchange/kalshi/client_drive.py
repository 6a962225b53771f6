"""Drive every public request method of :class:`KalshiRest` once against a recording mock exchange that
answers in Kalshi v3.31 shapes (test helper for the request contract and the no-legacy-route tests)."""

from __future__ import annotations

import importlib.util
import inspect
import re
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from pathlib import Path
from types import ModuleType
from typing import Any

import httpx
from cryptography.hazmat.primitives.asymmetric import rsa

from kalshid.exchange.kalshi import auth
from kalshid.exchange.kalshi.rest import KalshiRest
from kalshid.exchange.types import AmendRequest, OrderRequest
from tests.exchange.kalshi.kalshi_fakes import (
    TICKER,
    Recorded,
    SigningTransport,
    create_answer,
    fill_json,
    market_json,
    order_json,
)

BASE = "http://127.0.0.1:9/trade-api/v2"
PREFIX = "/trade-api/v2"


def load_schemas() -> ModuleType:
    """``tests/sim/schemas.py`` (the spec loader that fails, naming the path, when the spec is missing)."""
    path = Path(__file__).resolve().parents[2] / "sim" / "schemas.py"
    spec = importlib.util.spec_from_file_location("kalshi_spec_schemas", path)
    assert spec is not None and spec.loader is not None, f"spec helper not found: {path}"
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def answer(req: httpx.Request, n: int) -> httpx.Response:
    """A v3.31-shaped answer for whatever the client asks."""
    path, method = req.url.path.removeprefix(PREFIX), req.method
    if method == "POST" and path == "/portfolio/events/orders":
        return httpx.Response(201, json=create_answer())
    if method == "POST" and path == "/portfolio/events/orders/batched":
        return httpx.Response(201, json={"orders": [create_answer("o-1", "c-1"), create_answer("o-2", "c-2")]})
    if method == "DELETE" and path == "/portfolio/events/orders/batched":
        return httpx.Response(200, json={"orders": [{"order_id": "o-1", "reduced_by": "1.00", "ts_ms": 1}]})
    if method == "DELETE" and path == "/portfolio/events/orders":
        return httpx.Response(204)
    if method == "DELETE":
        return httpx.Response(200, json={"order_id": "o-1", "reduced_by": "1.00", "ts_ms": 1})
    if path.endswith("/amend"):
        return httpx.Response(200, json={"order_id": "o-1", "ts_ms": 1, "remaining_count": "4.00"})
    if path.endswith("/decrease"):
        return httpx.Response(200, json={"order_id": "o-1", "remaining_count": "2.00", "ts_ms": 1})
    assert method == "GET", f"unexpected {method} {path}"
    if path == "/exchange/status":
        return httpx.Response(200, json={"exchange_active": True, "trading_active": True})
    if path == "/markets":
        return httpx.Response(200, json={"markets": [market_json()], "cursor": ""})
    if path.startswith("/markets/") and path.endswith("/orderbook"):
        return httpx.Response(200, json={"orderbook_fp": {"yes_dollars": [["0.4200", "3.00"]], "no_dollars": []}})
    if path.startswith("/markets/"):
        return httpx.Response(200, json={"market": market_json()})
    if path.startswith("/series/"):
        return httpx.Response(200, json={"series": {"ticker": "KXSOL15M", "fee_type": "quadratic",
                                                    "fee_multiplier": 1}})
    if path.startswith("/events/"):
        return httpx.Response(200, json={"event": {"event_ticker": path.removeprefix("/events/"),
                                                   "series_ticker": "KXSOL15M", "fee_type_override": None,
                                                   "fee_multiplier_override": None}, "markets": []})
    if path == "/portfolio/balance":
        return httpx.Response(200, json={"balance": 100, "balance_dollars": "1.0000", "portfolio_value": 0,
                                         "updated_ts": 1783551000})
    if path == "/portfolio/orders":
        return httpx.Response(200, json={"orders": [order_json()], "cursor": ""})
    if path.startswith("/portfolio/orders/"):
        return httpx.Response(200, json={"order": order_json()})
    if path == "/portfolio/fills":
        return httpx.Response(200, json={"fills": [fill_json()], "cursor": ""})
    if path == "/portfolio/positions":
        return httpx.Response(200, json={"market_positions": [], "event_positions": [], "cursor": ""})
    if path == "/portfolio/settlements":
        return httpx.Response(200, json={"settlements": [], "cursor": ""})
    if path == "/account/limits":
        return httpx.Response(200, json={"usage_tier": "basic", "grants": [],
                                         "read": {"refill_rate": 200, "bucket_capacity": 200},
                                         "write": {"refill_rate": 100, "bucket_capacity": 200}})
    if path == "/account/endpoint_costs":
        return httpx.Response(200, json={"default_cost": 10, "endpoint_costs": []})
    raise AssertionError(f"the drive does not know GET {path}")


def request(cid: str = "c-1", **over: Any) -> OrderRequest:
    kw: dict[str, Any] = {"ticker": TICKER, "side": "no", "action": "sell", "count": 3, "price_cc": 5750,
                          "client_order_id": cid, "time_in_force": "good_till_canceled"}
    kw.update(over)
    return OrderRequest(**kw)


SINCE = datetime(2026, 7, 8, 22, 0, tzinfo=UTC)

# Every public coroutine method of KalshiRest and how to call it. A new method must be added here, so
# that the request-contract and no-legacy-route tests cover it.
CALLS: dict[str, Callable[[KalshiRest], Awaitable[Any]]] = {
    "get_exchange_status": lambda r: r.get_exchange_status(),
    "list_markets": lambda r: r.list_markets(series_ticker="KXSOL15M", status="open"),
    "get_market": lambda r: r.get_market(TICKER),
    "get_orderbook": lambda r: r.get_orderbook(TICKER, depth=5),
    "get_series_fees": lambda r: r.get_series_fees("KXSOL15M"),
    "get_event_fees": lambda r: r.get_event_fees(TICKER.rsplit("-", 1)[0]),
    "get_balance": lambda r: r.get_balance(),
    "list_orders": lambda r: r.list_orders(ticker=TICKER, status="resting", min_ts=SINCE),
    "get_order": lambda r: r.get_order("o-1"),
    "find_order_by_client_id": lambda r: r.find_order_by_client_id("c-1", ticker=TICKER),
    "list_fills": lambda r: r.list_fills(ticker=TICKER, since=SINCE),
    "list_positions": lambda r: r.list_positions(ticker=TICKER),
    "list_settlements": lambda r: r.list_settlements(ticker=TICKER, since=SINCE),
    "create_order": lambda r: r.create_order(request()),
    "submit": lambda r: _send_and_answer(r),
    "resolve_in_flight": lambda r: r.resolve_in_flight("c-1", ticker=TICKER),
    "cancel_order": lambda r: r.cancel_order("o-1", ticker=TICKER),
    "decrease_order": lambda r: r.decrease_order("o-1", ticker=TICKER, reduce_by=1),
    "amend_order": lambda r: r.amend_order(AmendRequest("o-1", request(price_cc=5600), total_count=4,
                                                        updated_client_order_id="c-1b")),
    "cancel_all_orders": lambda r: r.cancel_all_orders(),
    "create_orders": lambda r: r.create_orders([request("c-1"), request("c-2", side="yes", action="buy",
                                                                         time_in_force="immediate_or_cancel")]),
    "cancel_orders": lambda r: r.cancel_orders([("o-1", TICKER)]),
    "load_rate_limits": lambda r: r.load_rate_limits(),
    "read": lambda r: r.read("/portfolio/orders", {"limit": 1}),
}
NOT_REQUESTS = {"aclose"}  # public coroutines that make no request


async def _send_and_answer(rest: KalshiRest) -> Any:
    return await (await rest.submit(request("c-9", time_in_force=None, post_only=True))).order()


def public_coroutines() -> set[str]:
    return {name for name, fn in inspect.getmembers(KalshiRest, inspect.iscoroutinefunction)
            if not name.startswith("_")} - NOT_REQUESTS


async def drive_everything(key: rsa.RSAPrivateKey) -> list[Recorded]:
    """Call every entry of :data:`CALLS`; return every request the client made."""
    fake = SigningTransport(key.public_key(), answer)
    async with KalshiRest(BASE, auth.Signer("key-123", key), transport=fake.transport, in_flight_settle_s=0.0,
                          wall_ms=lambda: 1_783_551_000_000) as rest:
        for call in CALLS.values():
            await call(rest)
    assert all(r.signed_ok for r in fake.requests)
    return fake.requests


def spec_template(spec_paths: list[str], concrete: str) -> str | None:
    """The spec path (``/portfolio/orders/{order_id}``) a concrete request path matches, or None."""
    path = concrete.removeprefix(PREFIX)
    exact = [p for p in spec_paths if p == path]
    if exact:
        return exact[0]
    for p in spec_paths:
        if re.fullmatch(re.sub(r"\{[^}]+\}", "[^/]+", p), path):
            return p
    return None
