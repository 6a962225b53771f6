"""Injected faults reach clients as specified; the CLI validates its arguments."""

from __future__ import annotations

import argparse
import itertools
import json
from pathlib import Path
from typing import Any

import httpx
import pytest
import trio
import trio_websocket
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ed25519, rsa
from schemas import validate_rest
from simfakes import TICKER
from simkit import KalshiAuth, sim_settings, ws_headers, ws_recv

from kalshid.exchange.kalshi.auth import Signer
from kalshid.sim.counts import contracts
from kalshid.sim.faults import FaultSpec
from kalshid.sim.main import add_arguments, settings_from_args
from kalshid.sim.model import OrderRequest
from kalshid.sim.server import SimHandle, serve_simulator
from kalshid.sim.wire import user_uuid

ORDER = {
    "ticker": TICKER,
    "side": "bid",
    "count": "1",
    "price": "0.20",
    "time_in_force": "good_till_canceled",
    "self_trade_prevention_type": "taker_at_cross",
}


async def test_http_5xx_and_lost_responses(nursery: trio.Nursery, private_key: Any, signer: Signer) -> None:
    faults = FaultSpec(http_5xx_rate=0.3, lost_response_rate=0.2)
    sim: SimHandle = await nursery.start(serve_simulator, sim_settings(private_key, faults=faults))
    statuses: list[int | str] = []
    async with httpx.AsyncClient(base_url=sim.rest_base_url, auth=KalshiAuth(signer), timeout=0.5) as c:
        for i in range(30):
            try:
                r = await c.post("/portfolio/events/orders", json={**ORDER, "client_order_id": f"f{i}"})
                statuses.append(r.status_code)
            except httpx.ReadTimeout:
                statuses.append("lost")
    injector = sim.venue.faults
    assert injector is not None
    counts = injector.counts
    assert statuses.count(500) == counts.get("http_500", 0) and statuses.count(503) == counts.get(
        "http_503", 0
    )
    assert statuses.count("lost") == counts.get("lost_response", 0) > 0
    # a lost response still created the order: the client must reconcile, not resubmit blindly
    orders = [o for o in sim.venue.exchange.orders.values() if o.client_order_id.startswith("f")]
    assert len(orders) == statuses.count(201) + statuses.count("lost")
    sim.stop()


async def test_seq_gap_injected_on_orderbook(nursery: trio.Nursery, private_key: Any, signer: Signer) -> None:
    sim: SimHandle = await nursery.start(
        serve_simulator, sim_settings(private_key, faults=FaultSpec(seq_gap_rate=0.5))
    )
    ex = sim.venue.exchange
    ex.open_account(user_uuid("o"), 10_000_000)
    async with trio_websocket.open_websocket_url(sim.ws_url, extra_headers=ws_headers(signer)) as ws:
        cmd = {
            "id": 1,
            "cmd": "subscribe",
            "params": {"channels": ["orderbook_delta"], "market_ticker": TICKER},
        }
        await ws.send_message(json.dumps(cmd))
        await ws_recv(ws)
        seqs = [(await ws_recv(ws))["seq"]]
        for i in range(10):
            ex.place_order(
                user_uuid("o"), OrderRequest(TICKER, "yes", "buy", contracts(1), 100 * (10 + i)), sim.venue.now()
            )
            sim.venue.publish()
            seqs.append((await ws_recv(ws))["seq"])
    assert seqs[0] == 1  # the snapshot is never the gap
    gaps = sum(b - a - 1 for a, b in itertools.pairwise(seqs))
    assert gaps == sim.venue.faults.counts.get("seq_gap", 0) > 0  # type: ignore[union-attr]
    sim.stop()


async def test_ws_drop_fault_closes_connection(
    autojump_clock: Any, nursery: trio.Nursery, private_key: Any, signer: Signer
) -> None:
    settings = sim_settings(private_key, faults=FaultSpec(ws_drop_every=30), ws_ping_interval_s=None)
    sim: SimHandle = await nursery.start(serve_simulator, settings)
    async with trio_websocket.open_websocket_url(sim.ws_url, extra_headers=ws_headers(signer)) as ws:
        with trio.fail_after(120), pytest.raises(trio_websocket.ConnectionClosed):
            while True:
                await ws.get_message()
    assert sim.venue.faults is not None and sim.venue.faults.counts["ws_drop"] == 1
    sim.stop()


def _parse(*argv: str) -> argparse.Namespace:
    parser = argparse.ArgumentParser()
    add_arguments(parser)
    return parser.parse_args(list(argv))


def test_cli_settings(tmp_path: Path, private_key: Any) -> None:
    pem = tmp_path / "k.pem"
    pem.write_bytes(
        private_key.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        )
    )
    s = settings_from_args(
        _parse(
            "--key", f"abc={pem}", "--balance", "25.50", "--start", "2026-07-08T22:50:00Z", "--speed", "60"
        )
    )
    assert s.keys[0][0] == "abc" and s.balance_cc == 255_000 and s.speed == 60 and s.start == 1_783_551_000
    assert s.history_markets == 192 and settings_from_args(_parse("--history-markets", "8")).history_markets == 8
    assert s.listing_delay_s == 180 and settings_from_args(_parse("--listing-delay", "0")).listing_delay_s == 0
    ed = tmp_path / "ed.pem"
    ed.write_bytes(
        ed25519.Ed25519PrivateKey.generate().private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
    )
    assert isinstance(settings_from_args(_parse("--key", f"e={ed}")).keys[0][1], ed25519.Ed25519PublicKey)
    weak = tmp_path / "weak.pem"
    weak.write_bytes(
        rsa.generate_private_key(public_exponent=65537, key_size=1024)
        .public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    )
    for argv, word in [
        (("--start", "yesterday"), "--start"),
        (("--start", "2026-07-08T22:50:00"), "UTC offset"),
        (("--balance", "lots"), "--balance"),
        (("--key", "nokey"), "KEY_ID="),
        (("--key", f"a={tmp_path / 'missing.pem'}"), "cannot read"),
        (("--faults", "bogus=1"), "--faults"),
        (("--speed", "0"), "--speed"),
        (("--history-markets", "0"), "--history-markets"),
        (("--listing-delay", "-1"), "--listing-delay"),
        (("--key", f"w={weak}"), "1024 bits"),
    ]:
        with pytest.raises(ValueError, match=word):
            settings_from_args(_parse(*argv))


async def test_non_loopback_host_refused(private_key: Any) -> None:
    with pytest.raises(ValueError, match="loopback"):
        await serve_simulator(sim_settings(private_key, host="0.0.0.0"))


async def test_latency_and_429_faults(nursery: trio.Nursery, private_key: Any, signer: Signer) -> None:
    slow: SimHandle = await nursery.start(serve_simulator, sim_settings(private_key,
                                                                         faults=FaultSpec(latency_ms=250)))
    async with httpx.AsyncClient(base_url=slow.rest_base_url, auth=KalshiAuth(signer)) as c:
        started = trio.current_time()
        assert (await c.get("/portfolio/balance")).status_code == 200
        assert trio.current_time() - started >= 0.25
    limited: SimHandle = await nursery.start(serve_simulator, sim_settings(private_key,
                                                                            faults=FaultSpec(http_429_rate=1.0)))
    async with httpx.AsyncClient(base_url=limited.rest_base_url, auth=KalshiAuth(signer)) as c:
        r = await c.post("/portfolio/events/orders", json={**ORDER, "client_order_id": "rate-limited"})
        assert r.status_code == 429 and r.json()["error"]["code"] == "too_many_requests"
        validate_rest("/portfolio/events/orders", "POST", 429, r.json())
    assert limited.venue.faults is not None and limited.venue.faults.counts["http_429"] == 1
    assert "rate-limited" not in {o.client_order_id for o in limited.venue.exchange.orders.values()}
