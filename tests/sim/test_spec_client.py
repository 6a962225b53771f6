"""An independent client, written from Kalshi's OpenAPI v3.31.0 alone, trades a whole window on the simulator.

:class:`SpecClient` uses nothing of kalshid's exchange code: plain httpx, and request signing as the
spec's ``securitySchemes`` describe it (``KALSHI-ACCESS-KEY``, ``KALSHI-ACCESS-TIMESTAMP`` in ms,
``KALSHI-ACCESS-SIGNATURE`` = base64 signature of timestamp + method + path, here with an Ed25519 key).
It discovers the open KXSOL15M market from the list, places, reads, amends and cancels orders, takes
liquidity, reads fills and positions, waits on the ``market_lifecycle_v2`` channel (a signed WebSocket
upgrade) for the window to settle and reads its settlement. Every answer is validated against the spec.
"""

from __future__ import annotations

import base64
import json
import time
from decimal import Decimal
from typing import Any
from urllib.parse import urlsplit

import httpx
import trio
import trio_websocket
from cryptography.hazmat.primitives.asymmetric import ed25519
from schemas import validate_rest, validate_ws
from simfakes import FnIndex
from simkit import sim_settings

from kalshid.sim.counts import contracts
from kalshid.sim.model import OrderRequest
from kalshid.sim.server import SimHandle, serve_simulator
from kalshid.sim.wire import user_uuid

API_PREFIX = "/trade-api/v2"


class SpecClient:
    """A minimal Kalshi Trade API v2 client: signed JSON requests, each answer checked against the spec."""

    def __init__(self, base_url: str, key_id: str, key: ed25519.Ed25519PrivateKey) -> None:
        self.http = httpx.AsyncClient(base_url=base_url, timeout=10)
        self.key_id = key_id
        self.key = key

    def _headers(self, method: str, path: str) -> dict[str, str]:
        ts = str(int(time.time() * 1000))
        signed = (ts + method + API_PREFIX + path).encode()
        return {
            "KALSHI-ACCESS-KEY": self.key_id,
            "KALSHI-ACCESS-TIMESTAMP": ts,
            "KALSHI-ACCESS-SIGNATURE": base64.b64encode(self.key.sign(signed)).decode(),
        }

    async def call(
        self, method: str, path: str, template: str, *, expect: int, json: Any = None, params: Any = None
    ) -> Any:
        response = await self.http.request(method, path, json=json, params=params, headers=self._headers(method, path))
        assert response.status_code == expect, (method, path, response.status_code, response.text)
        body = response.json() if response.content else None
        validate_rest(template, method, expect, body)
        return body

    async def open_market(self, series: str) -> dict[str, Any]:
        body = await self.call(
            "GET", "/markets", "/markets", expect=200, params={"series_ticker": series, "status": "open"}
        )
        [market] = body["markets"]
        return market  # type: ignore[no-any-return]

    async def create(self, **order: Any) -> dict[str, Any]:
        order.setdefault("self_trade_prevention_type", "taker_at_cross")
        return await self.call("POST", "/portfolio/events/orders", "/portfolio/events/orders", expect=201, json=order)  # type: ignore[no-any-return]

    async def order(self, order_id: str) -> dict[str, Any]:
        body = await self.call("GET", f"/portfolio/orders/{order_id}", "/portfolio/orders/{order_id}", expect=200)
        return body["order"]  # type: ignore[no-any-return]

    async def amend(self, order_id: str, **change: Any) -> dict[str, Any]:
        path = f"/portfolio/events/orders/{order_id}/amend"
        return await self.call("POST", path, "/portfolio/events/orders/{order_id}/amend", expect=200, json=change)  # type: ignore[no-any-return]

    async def cancel(self, order_id: str, ticker: str) -> dict[str, Any]:
        path = f"/portfolio/events/orders/{order_id}"
        return await self.call(  # type: ignore[no-any-return]
            "DELETE", path, "/portfolio/events/orders/{order_id}", expect=200, params={"market_ticker": ticker}
        )

    async def listing(self, path: str, key: str, **params: Any) -> list[dict[str, Any]]:
        body = await self.call("GET", path, path, expect=200, params=params)
        return body[key]  # type: ignore[no-any-return]

    def websocket(self, url: str) -> Any:
        """A WebSocket connection whose upgrade is signed like a ``GET`` of its path."""
        path = urlsplit(url).path
        ts = str(int(time.time() * 1000))
        signature = base64.b64encode(self.key.sign((ts + "GET" + path).encode())).decode()
        headers = [
            (b"KALSHI-ACCESS-KEY", self.key_id.encode()),
            (b"KALSHI-ACCESS-TIMESTAMP", ts.encode()),
            (b"KALSHI-ACCESS-SIGNATURE", signature.encode()),
        ]
        return trio_websocket.open_websocket_url(url, extra_headers=headers)

    async def aclose(self) -> None:
        await self.http.aclose()


async def test_a_spec_only_client_trades_a_window_to_settlement(
    autojump_clock: trio.testing.MockClock, nursery: trio.Nursery, private_key: Any
) -> None:
    key = ed25519.Ed25519PrivateKey.generate()
    settings = sim_settings(
        private_key,
        keys=(("spec-client", key.public_key()),),
        index=FnIndex(lambda ts: 100 + (ts - 1_783_550_000) / 1000),  # rising: YES wins
        listing_delay_s=180.0,
        keep_alive_timeout_s=1e9,
        ws_ping_interval_s=None,
    )
    sim: SimHandle = await nursery.start(serve_simulator, settings)
    client = SpecClient(sim.rest_base_url, "spec-client", key)
    try:
        market = await client.open_market("KXSOL15M")
        ticker = market["ticker"]
        assert market["status"] == "active" and market["price_level_structure"] == "linear_cent"

        # someone else offers YES at 0.55 (a NO bid at 0.45)
        seller = user_uuid("seller")
        sim.venue.exchange.open_account(seller, 10_000_000)
        sim.venue.exchange.place_order(seller, OrderRequest(ticker, "no", "buy", contracts(10), 4500), sim.venue.now())
        sim.venue.publish()

        resting = await client.create(
            ticker=ticker,
            side="bid",
            count="5",
            price="0.30",
            time_in_force="good_till_canceled",
            client_order_id="spec-1",
        )
        assert (resting["fill_count"], resting["remaining_count"]) == ("0.00", "5.00")
        got = await client.order(resting["order_id"])
        assert (got["status"], got["book_side"], got["yes_price_dollars"]) == ("resting", "bid", "0.3000")
        amended = await client.amend(resting["order_id"], ticker=ticker, side="bid", price="0.31", count="5")
        assert amended["remaining_count"] is None  # a price change alone: no count in the answer
        assert (await client.order(resting["order_id"]))["yes_price_dollars"] == "0.3100"
        cancelled = await client.cancel(resting["order_id"], ticker)
        assert cancelled["reduced_by"] == "5.00"
        assert (await client.order(resting["order_id"]))["status"] == "canceled"

        taken = await client.create(
            ticker=ticker,
            side="bid",
            count="4",
            price="0.56",
            time_in_force="immediate_or_cancel",
            client_order_id="spec-2",
        )
        assert (taken["fill_count"], taken["average_fill_price"]) == ("4.00", "0.5500")
        [fill] = await client.listing("/portfolio/fills", "fills", ticker=ticker)
        assert (fill["order_id"], fill["count_fp"], fill["outcome_side"]) == (taken["order_id"], "4.00", "yes")
        [position] = await client.listing("/portfolio/positions", "market_positions", ticker=ticker)
        assert position["position_fp"] == "4.00"
        fee = Decimal(fill["fee_cost"])

        async with client.websocket(sim.ws_url) as ws:  # wait for the settlement the spec's way
            await ws.send_message(
                json.dumps({"id": 1, "cmd": "subscribe", "params": {"channels": ["market_lifecycle_v2"]}})
            )
            with trio.fail_after(3600):  # simulated: the window closes, is determined, then settled
                while True:
                    message = json.loads(await ws.get_message())
                    validate_ws(message)
                    msg = message.get("msg", {})
                    if msg.get("event_type") == "settled" and msg.get("market_ticker") == ticker:
                        break
        settlements = await client.listing("/portfolio/settlements", "settlements")
        [settlement] = settlements
        assert (settlement["ticker"], settlement["market_result"], settlement["yes_count_fp"]) == (
            ticker,
            "yes",
            "4.00",
        )
        assert settlement["revenue"] == 400 and Decimal(settlement["yes_total_cost_dollars"]) == Decimal("2.2")
        assert Decimal(settlement["fee_cost"]) == fee
        balance = await client.call("GET", "/portfolio/balance", "/portfolio/balance", expect=200)
        assert balance["balance"] == 100_000 - 220 + 400 - int(fee * 100)
    finally:
        await client.aclose()
        sim.stop()
