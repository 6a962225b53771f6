"""Signed requests: RSA-PSS and Ed25519 keys both verify; missing, stale, forged and unknown ones get 401."""

from __future__ import annotations

import base64
import time
from typing import Any

import httpx
import trio
from cryptography.hazmat.primitives.asymmetric import ed25519, rsa
from schemas import validate_rest
from simkit import KEY_ID, KalshiAuth, sim_settings

from kalshid.exchange.kalshi.auth import Signer
from kalshid.sim.authn import KeyRegistry, verify
from kalshid.sim.server import SimHandle, serve_simulator


def ed25519_headers(key_id: str, key: ed25519.Ed25519PrivateKey, method: str, path: str) -> dict[str, str]:
    ts = int(time.time() * 1000)
    sig = key.sign(f"{ts}{method}{path}".encode())
    return {
        "KALSHI-ACCESS-KEY": key_id,
        "KALSHI-ACCESS-TIMESTAMP": str(ts),
        "KALSHI-ACCESS-SIGNATURE": base64.b64encode(sig).decode(),
    }


async def test_missing_stale_forged_unknown_and_wrong_path(sim: SimHandle, signer: Signer, private_key: Any) -> None:
    async with httpx.AsyncClient(base_url=sim.rest_base_url) as anon:
        r = await anon.get("/portfolio/balance")
        assert r.status_code == 401 and "missing" in r.json()["error"]["message"]
        validate_rest("/portfolio/balance", "GET", 401, r.json())
        assert (await anon.get("/markets")).status_code == 200  # public data needs no auth
        assert (await anon.get("/account/endpoint_costs")).status_code == 200
        assert (await anon.get("/account/limits")).status_code == 401
    async with httpx.AsyncClient(base_url=sim.rest_base_url, auth=KalshiAuth(signer, skew_ms=-120_000)) as stale:
        r = await stale.get("/portfolio/balance")
        assert r.status_code == 401 and "stale" in r.json()["error"]["message"]
    other = Signer(KEY_ID, rsa.generate_private_key(public_exponent=65537, key_size=2048))
    async with httpx.AsyncClient(base_url=sim.rest_base_url, auth=KalshiAuth(other)) as forged:
        r = await forged.get("/portfolio/balance")
        assert r.status_code == 401 and "invalid signature" in r.json()["error"]["message"]
    async with httpx.AsyncClient(
        base_url=sim.rest_base_url, auth=KalshiAuth(Signer("not-registered", private_key))
    ) as c:
        assert (await c.get("/portfolio/balance")).status_code == 401
    async with httpx.AsyncClient(base_url=sim.rest_base_url) as c:
        wrong = signer.headers(int(time.time() * 1000), "GET", "/trade-api/v2/portfolio/fills")
        assert (await c.get("/portfolio/balance", headers=wrong)).status_code == 401
        ok = signer.headers(int(time.time() * 1000), "GET", "/trade-api/v2/portfolio/balance")
        assert (await c.get("/portfolio/balance", params={"x": 1}, headers=ok)).status_code == 200


async def test_ed25519_key_signs_rest_and_ws(nursery: trio.Nursery, private_key: Any) -> None:
    ed_key = ed25519.Ed25519PrivateKey.generate()
    settings = sim_settings(private_key, keys=(("ed-key", ed_key.public_key()), (KEY_ID, private_key.public_key())))
    handle: SimHandle = await nursery.start(serve_simulator, settings)
    path = "/trade-api/v2/portfolio/balance"
    async with httpx.AsyncClient(base_url=handle.rest_base_url) as c:
        r = await c.get("/portfolio/balance", headers=ed25519_headers("ed-key", ed_key, "GET", path))
        assert r.status_code == 200, r.text
        forged = ed25519_headers("ed-key", ed25519.Ed25519PrivateKey.generate(), "GET", path)
        assert (await c.get("/portfolio/balance", headers=forged)).status_code == 401
    handle.stop()


def test_verify_accepts_both_key_types_and_rejects_garbage() -> None:
    rsa_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    ed_key = ed25519.Ed25519PrivateKey.generate()
    rsa_sig = Signer("k", rsa_key).sign(1, "GET", "/trade-api/v2/x")
    ed_sig = base64.b64encode(ed_key.sign(b"1GET/trade-api/v2/x")).decode()
    assert verify(rsa_key.public_key(), 1, "GET", "/trade-api/v2/x?q=1", rsa_sig)
    assert verify(ed_key.public_key(), 1, "get", "/trade-api/v2/x", ed_sig)
    assert not verify(ed_key.public_key(), 2, "GET", "/trade-api/v2/x", ed_sig)
    assert not verify(rsa_key.public_key(), 1, "GET", "/trade-api/v2/x", ed_sig)
    assert not verify(ed_key.public_key(), 1, "GET", "/trade-api/v2/x", "not base64!")
    registry = KeyRegistry(max_skew_s=None)
    registry.register("e", ed_key.public_key(), "u")
    headers = {"KALSHI-ACCESS-KEY": "e", "KALSHI-ACCESS-TIMESTAMP": "1", "KALSHI-ACCESS-SIGNATURE": ed_sig}
    assert registry.authenticate(headers, "GET", "/trade-api/v2/x") == ("e", "u")
