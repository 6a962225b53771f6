"""The simulator's fee structure: what ``GET /series`` and ``GET /events`` publish (validated against
the spec's ``Series`` and ``EventData``) and the fee its fills charge agree, by default and when set."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import httpx
import pytest
import trio
from cryptography.hazmat.primitives.asymmetric import rsa
from schemas import validate_rest
from simfakes import TICKER
from simkit import KalshiAuth, sim_settings

from kalshid.exchange.kalshi.auth import Signer
from kalshid.sim.counts import contracts
from kalshid.sim.model import OrderRequest
from kalshid.sim.server import SimHandle, serve_simulator
from kalshid.sim.wire import user_uuid

EVENT = TICKER.rsplit("-", 1)[0]


async def get(client: httpx.AsyncClient, path: str, spec_path: str) -> Any:
    response = await client.get(path)
    assert response.status_code == 200, response.text
    body = response.json()
    validate_rest(spec_path, "GET", 200, body)
    return body


async def taker_fee_of_ten_at_forty(sim: SimHandle, client: httpx.AsyncClient) -> str:
    """Buy 10 YES at $0.40 from another user's resting NO bid at $0.60: the order's taker fee."""
    other = user_uuid("other")
    sim.venue.exchange.open_account(other, 10_000_000)
    sim.venue.exchange.place_order(other, OrderRequest(TICKER, "no", "buy", contracts(10), 6000),  # type: ignore[arg-type]
                                   sim.venue.now())
    sim.venue.publish()
    body = {"ticker": TICKER, "side": "bid", "count": "10", "price": "0.40", "client_order_id": "c1",
            "time_in_force": "immediate_or_cancel", "self_trade_prevention_type": "taker_at_cross"}
    created = await client.post("/portfolio/events/orders", json=body)
    assert created.status_code == 201, created.text
    order = (await client.get(f"/portfolio/orders/{created.json()['order_id']}")).json()["order"]
    return str(order["taker_fees_dollars"])


@pytest.mark.parametrize(("settings", "series", "event", "fee"), [
    # Kalshi's KXSOL15M: quadratic x1, no override; 0.07 × 10 × 0.4 × 0.6 = $0.168 → $0.17
    ({}, ("quadratic", 1), (None, None), "0.1700"),
    # the series' multiplier: × 1.5 = $0.252 → $0.26
    ({"fee_multiplier": Decimal("1.5")}, ("quadratic", 1.5), (None, None), "0.2600"),
    # every event's override: × 2 = $0.336 → $0.34, the series still says 1
    ({"event_fee_type_override": "quadratic_with_maker_fees", "event_fee_multiplier_override": Decimal(2)},
     ("quadratic", 1), ("quadratic_with_maker_fees", 2), "0.3400"),
])
async def test_what_the_simulator_publishes_is_what_its_fills_charge(
        nursery: trio.Nursery, private_key: rsa.RSAPrivateKey, signer: Signer, settings: dict[str, Any],
        series: tuple[str, float], event: tuple[str | None, float | None], fee: str) -> None:
    sim: SimHandle = await nursery.start(serve_simulator, sim_settings(private_key, **settings))
    async with httpx.AsyncClient(base_url=sim.rest_base_url, auth=KalshiAuth(signer), timeout=10) as client:
        published = (await get(client, "/series/KXSOL15M", "/series/{series_ticker}"))["series"]
        assert (published["fee_type"], published["fee_multiplier"]) == series
        answer = await get(client, f"/events/{EVENT}", "/events/{event_ticker}")
        assert (answer["event"]["fee_type_override"], answer["event"]["fee_multiplier_override"]) == event
        assert await taker_fee_of_ten_at_forty(sim, client) == fee
    sim.stop()


def test_a_fee_type_the_simulator_cannot_charge_is_refused() -> None:
    from kalshid.sim.engine import Exchange

    with pytest.raises(ValueError, match=r"the simulator charges fee types .*; not 'flat'"):
        Exchange(event_fee_type_override="flat")
    with pytest.raises(ValueError, match="fee multiplier must be a number >= 0"):
        Exchange(fee_multiplier=Decimal(-1))
