"""Spec-shaped Kalshi JSON (openapi v3.31.0, the current asyncapi) and a signature-checking mock transport."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import attrs
import httpx
from cryptography.hazmat.primitives.asymmetric import ed25519, rsa

from kalshid.exchange.kalshi import auth

TICKER = "KXSOL15M-26JUL081900-00"
NEXT_TICKER = "KXSOL15M-26JUL081915-15"


def market_json(ticker: str = TICKER, **over: Any) -> dict[str, Any]:
    m: dict[str, Any] = {
        "ticker": ticker,
        "event_ticker": ticker.rsplit("-", 1)[0],
        "market_type": "binary",
        "yes_sub_title": "",
        "no_sub_title": "",
        "created_time": "2026-07-08T22:00:00Z",
        "updated_time": "2026-07-08T22:45:00Z",
        "open_time": "2026-07-08T22:45:00Z",
        "close_time": "2026-07-08T23:00:00Z",
        "latest_expiration_time": "2026-07-08T23:05:00Z",
        "settlement_timer_seconds": 60,
        "status": "active",
        "notional_value_dollars": "1.0000",
        "yes_bid_dollars": "0.4200",
        "yes_ask_dollars": "0.4400",
        "no_bid_dollars": "0.5600",
        "no_ask_dollars": "0.5800",
        "yes_bid_size_fp": "35.00",
        "yes_ask_size_fp": "10.00",
        "last_price_dollars": "0.4300",
        "previous_yes_bid_dollars": "0.0000",
        "previous_yes_ask_dollars": "0.0000",
        "previous_price_dollars": "0.0000",
        "volume_fp": "1200.00",
        "volume_24h_fp": "1200.00",
        "open_interest_fp": "800.00",
        "result": "",
        "can_close_early": False,
        "expiration_value": "",
        "rules_primary": "",
        "rules_secondary": "",
        "price_level_structure": "tapered_deci_cent",
        "settlement_bounds_type": "default",
        "exchange_index": 0,
        "strike_type": "greater_or_equal",
        "floor_strike": 187.1234,
        "price_ranges": [
            {"start": "0.0000", "end": "0.1000", "step": "0.0010"},
            {"start": "0.1000", "end": "0.9000", "step": "0.0100"},
            {"start": "0.9000", "end": "1.0000", "step": "0.0010"},
        ],
    }
    m.update(over)
    return m


def order_json(order_id: str = "o-1", client_order_id: str = "c-1", **over: Any) -> dict[str, Any]:
    o: dict[str, Any] = {
        "order_id": order_id,
        "user_id": "u-1",
        "client_order_id": client_order_id,
        "ticker": TICKER,
        "outcome_side": "yes",
        "book_side": "bid",
        "exchange_index": 0,
        "type": "limit",
        "status": "resting",
        "yes_price_dollars": "0.4200",
        "no_price_dollars": "0.5800",
        "fill_count_fp": "2.00",
        "remaining_count_fp": "3.00",
        "initial_count_fp": "5.00",
        "taker_fill_cost_dollars": "0.8400",
        "maker_fill_cost_dollars": "0.0000",
        "taker_fees_dollars": "0.0400",
        "maker_fees_dollars": "0.0000",
        "created_time": "2026-07-08T22:50:00.123456Z",
        "self_trade_prevention_type": "taker_at_cross",
    }
    o.update(over)
    return o


def fill_json(**over: Any) -> dict[str, Any]:
    f: dict[str, Any] = {
        "fill_id": "f-1",
        "trade_id": "f-1",
        "order_id": "o-1",
        "ticker": TICKER,
        "market_ticker": TICKER,
        "exchange_index": 0,
        "outcome_side": "yes",
        "book_side": "bid",
        "count_fp": "5.00",
        "yes_price_dollars": "0.4200",
        "no_price_dollars": "0.5800",
        "is_taker": True,
        "fee_cost": "0.0900",
        "created_time": "2026-07-08T22:51:00Z",
        "ts": 1783551060,
    }
    f.update(over)
    return f


@attrs.define
class Recorded:
    method: str
    path: str
    query: str
    body: Any
    signed_ok: bool


Handler = Callable[[httpx.Request, int], httpx.Response]


class SigningTransport:
    """An ``httpx.MockTransport`` whose handler first verifies the Kalshi signature of every request
    against ``public_key``, records it, then delegates to ``respond(request, n)`` (n = per-route count)."""

    def __init__(self, public_key: rsa.RSAPublicKey | ed25519.Ed25519PublicKey, respond: Handler) -> None:
        self.public_key = public_key
        self.respond = respond
        self.requests: list[Recorded] = []
        self._counts: dict[tuple[str, str], int] = {}
        self.transport = httpx.MockTransport(self._handle)

    def _handle(self, request: httpx.Request) -> httpx.Response:
        ts = request.headers.get(auth.HEADER_TIMESTAMP, "")
        sig = request.headers.get(auth.HEADER_SIGNATURE, "")
        ok = (
            request.headers.get(auth.HEADER_KEY) == "key-123"
            and ts.isdigit()
            and auth.verify(self.public_key, int(ts), request.method, request.url.path, sig)
        )
        body = json.loads(request.content) if request.content else None
        self.requests.append(Recorded(request.method, request.url.path, request.url.query.decode(), body, ok))
        if not ok:
            return httpx.Response(401, json={"error": {"code": "authentication_error", "message": "bad sig"}})
        key = (request.method, request.url.path)
        n = self._counts.get(key, 0)
        self._counts[key] = n + 1
        return self.respond(request, n)

    def count(self, method: str, path: str) -> int:
        return sum(1 for r in self.requests if r.method == method and r.path == path)


def create_answer(order_id: str = "o-1", client_order_id: str = "c-1", *, filled: int = 0,
                  remaining: int = 5, **over: Any) -> dict[str, Any]:
    """A ``CreateOrderV2Response`` (201)."""
    a: dict[str, Any] = {"order_id": order_id, "client_order_id": client_order_id,
                         "fill_count": f"{filled}.00", "remaining_count": f"{remaining}.00",
                         "ts_ms": 1783551000123}
    if filled:
        a.update(average_fill_price="0.4200", average_fee_paid="0.0100")
    a.update(over)
    return a
