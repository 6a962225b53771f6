"""``kalshid check`` against the simulator: every check passes on a good account, fails loudly on a bad
key, and nothing but GET ever leaves the client (the read-only transport refuses writes itself)."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

import httpx
import pytest
import trio
from cryptography.hazmat.primitives.asymmetric import ed25519, rsa

from kalshid.exchange.errors import OrderInFlight
from kalshid.exchange.kalshi import auth
from kalshid.exchange.kalshi.check import CheckResult, ReadOnlyTransport, check_account, render
from kalshid.exchange.kalshi.rest import KalshiRest, RetryPolicy
from kalshid.exchange.types import OrderRequest
from kalshid.sim.ratelimit import RateLimits as SimRateLimits
from kalshid.sim.server import SimHandle, SimSettings, serve_simulator
from tests.exchange.kalshi.contract_fixtures import START, CountingTransport, current_ticker, signer, sim_now


async def start(nursery: trio.Nursery, *keys: tuple[str, object]) -> SimHandle:
    # the new window is listed late (as on Kalshi): check finds it by its computed ticker
    cfg = SimSettings(keys=keys, seed=5, start=START, makers=False, takers=False, graceful_timeout_s=0.2,  # type: ignore[arg-type]
                      rate_limits=SimRateLimits(), listing_delay_s=600)
    with trio.fail_after(10):
        handle: SimHandle = await nursery.start(serve_simulator, cfg)
    return handle


async def test_check_passes_read_only_on_a_good_account(nursery: trio.Nursery, rsa_key: rsa.RSAPrivateKey) -> None:
    sim = await start(nursery, (signer(rsa_key).key_id, rsa_key.public_key()))
    sent = CountingTransport()
    with trio.fail_after(30):
        results = await check_account(sim.rest_base_url, signer(rsa_key), transport=sent, now=sim_now(sim))
    table = render(results, sim.rest_base_url)
    assert all(r.ok for r in results), table
    assert f"{len(results)}/{len(results)} checks passed" in table and current_ticker(sim) in table
    assert {m for m, _ in sent.requests} == {"GET"}, sent.requests
    assert ("GET", f"/trade-api/v2/markets/{current_ticker(sim)}") in sent.requests
    fees = next(r for r in results if r.name == "fee structure")
    assert fees.detail.endswith("effective quadratic x1 (kalshid's model)"), table
    assert ("GET", "/trade-api/v2/series/KXSOL15M") in sent.requests


async def test_check_with_an_ed25519_key_and_with_a_wrong_key(nursery: trio.Nursery) -> None:
    good, wrong = ed25519.Ed25519PrivateKey.generate(), ed25519.Ed25519PrivateKey.generate()
    sim = await start(nursery, ("ed-key", good.public_key()))
    with trio.fail_after(30):
        ok = await check_account(sim.rest_base_url, auth.Signer("ed-key", good), now=sim_now(sim))
        bad = await check_account(sim.rest_base_url, auth.Signer("ed-key", wrong), now=sim_now(sim))
    assert all(r.ok for r in ok), render(ok, "sim")
    failed = {r.name for r in bad if not r.ok}
    assert "auth and balance" in failed and "order reads" in failed, render(bad, "sim")
    assert "FAIL" not in render(ok, "sim") and "FAIL" in render(bad, "sim")


async def test_the_read_only_transport_refuses_writes_before_the_network(rsa_key: rsa.RSAPrivateKey) -> None:
    reached: list[str] = []

    def anything(request: httpx.Request) -> httpx.Response:
        reached.append(request.method)
        return httpx.Response(201, json={})

    readonly = ReadOnlyTransport(httpx.MockTransport(anything))
    async with KalshiRest("http://127.0.0.1:9/trade-api/v2", auth.Signer("k", rsa_key), transport=readonly,
                          retry=RetryPolicy(attempts=1), in_flight_settle_s=0) as rest:
        with pytest.raises(OrderInFlight, match="read-only"):
            await rest.create_order(OrderRequest("KXSOL15M-26JUL081900-00", "yes", "buy", 1, 100, "c"))
        await rest.read("/exchange/status")
    assert reached == ["GET"] and readonly.refused == 1


def _account_with(positions: list[dict[str, object]], orders: list[dict[str, object]]) -> httpx.MockTransport:
    def respond(request: httpx.Request) -> httpx.Response:
        path = request.url.path.removeprefix("/trade-api/v2")
        if path == "/portfolio/positions":
            return httpx.Response(200, json={"market_positions": positions, "event_positions": [], "cursor": ""})
        if path == "/portfolio/orders":
            return httpx.Response(200, json={"orders": orders, "cursor": ""})
        return httpx.Response(404, json={"error": {"code": "not_found", "message": "not in this fake"}})
    return httpx.MockTransport(respond)


def _position(ticker: str, count: str) -> dict[str, object]:
    return {"ticker": ticker, "position_fp": count, "market_exposure_dollars": "1.0000",
            "total_traded_dollars": "1.0000", "realized_pnl_dollars": "0.0000", "fees_paid_dollars": "0.0000"}


async def test_check_lists_fractional_holdings_elsewhere_and_fails_on_one_it_trades(
        rsa_key: rsa.RSAPrivateKey) -> None:
    from tests.exchange.kalshi.kalshi_fakes import TICKER, order_json

    elsewhere = "KXBTCD-26JUL0819-T100000"
    resting = order_json("o-y", "", ticker=elsewhere, fill_count_fp="0.00", remaining_count_fp="0.50",
                         initial_count_fp="0.50")
    outcomes: dict[str, CheckResult] = {}
    for name, positions in (("elsewhere", [_position(elsewhere, "2.50"), _position(TICKER, "3.00")]),
                            ("traded", [_position(TICKER, "1.50")])):
        transport = _account_with(positions, [resting])
        with trio.fail_after(30):
            results = await check_account("http://127.0.0.1:9/trade-api/v2", signer(rsa_key), transport=transport,
                                          now=datetime.fromtimestamp(START, UTC))
        [outcomes[name]] = [r for r in results if r.name == "fractional counts"]
    assert outcomes["elsewhere"].ok, outcomes
    assert outcomes["elsewhere"].detail == (f"outside KXSOL15M, left alone: order o-y in {elsewhere}, position in "
                                            f"{elsewhere} (1 positions, 0 resting orders)")
    assert not outcomes["traded"].ok
    assert f"position {TICKER}.position_fp: '1.50' is a fractional count" in outcomes["traded"].detail
    assert f"{TICKER} is a KXSOL15M market, which kalshid trades" in outcomes["traded"].detail


@pytest.mark.parametrize("answer", [{"cursor": ""}, {"error": {"code": "x", "message": "y"}}, [],
                                    {"orders": "none", "fills": 3}])
async def test_order_and_fill_reads_of_another_shape_fail_the_check(rsa_key: rsa.RSAPrivateKey,
                                                                   answer: object) -> None:
    """An answer without the list (or not an object at all) fails the order and fill checks by name; it
    is not taken for an account with no orders or fills (``null`` is an empty list and passes)."""
    def respond(request: httpx.Request) -> httpx.Response:
        path = request.url.path.removeprefix("/trade-api/v2")
        if path in ("/portfolio/orders", "/portfolio/fills"):
            return httpx.Response(200, json=answer)
        return httpx.Response(404, json={"error": {"code": "not_found", "message": "not in this fake"}})

    with trio.fail_after(30):
        results = await check_account("http://127.0.0.1:9/trade-api/v2", signer(rsa_key),
                                      transport=httpx.MockTransport(respond), now=datetime.fromtimestamp(START, UTC))
    checks = {r.name: r for r in results}
    for name, path in (("order reads", "/portfolio/orders"), ("fill reads", "/portfolio/fills")):
        assert not checks[name].ok, checks[name]
        assert checks[name].detail.startswith(f"ProtocolError: GET {path}: "), checks[name]


async def test_an_empty_or_null_list_passes_the_order_and_fill_checks(rsa_key: rsa.RSAPrivateKey) -> None:
    def respond(request: httpx.Request) -> httpx.Response:
        path = request.url.path.removeprefix("/trade-api/v2")
        if path == "/portfolio/orders":
            return httpx.Response(200, json={"orders": None, "cursor": ""})
        if path == "/portfolio/fills":
            return httpx.Response(200, json={"fills": [], "cursor": ""})
        return httpx.Response(404, json={"error": {"code": "not_found", "message": "not in this fake"}})

    with trio.fail_after(30):
        results = await check_account("http://127.0.0.1:9/trade-api/v2", signer(rsa_key),
                                      transport=httpx.MockTransport(respond), now=datetime.fromtimestamp(START, UTC))
    checks = {r.name: r for r in results}
    assert checks["order reads"].ok and checks["fill reads"].ok, checks


@pytest.mark.parametrize(("settings", "said"), [
    ({"fee_multiplier": Decimal(2)}, "series quadratic x2; event KXSOL15M-"),
    ({"event_fee_type_override": "quadratic_with_combo_maker_fees"}, "effective quadratic_with_combo_maker_fees x1"),
])
async def test_check_fails_when_the_fee_structure_is_not_kalshids_model(
        nursery: trio.Nursery, rsa_key: rsa.RSAPrivateKey, settings: dict[str, object], said: str) -> None:
    cfg = SimSettings(keys=((signer(rsa_key).key_id, rsa_key.public_key()),), seed=5, start=START, makers=False,
                      takers=False, graceful_timeout_s=0.2, rate_limits=SimRateLimits(), **settings)  # type: ignore[arg-type]
    with trio.fail_after(10):
        sim: SimHandle = await nursery.start(serve_simulator, cfg)
    with trio.fail_after(30):
        results = await check_account(sim.rest_base_url, signer(rsa_key), now=sim_now(sim))
    table = render(results, sim.rest_base_url)
    failed = [r for r in results if not r.ok]
    assert [r.name for r in failed] == ["fee structure"], table
    assert said in failed[0].detail and "not the structure kalshid models (quadratic x1)" in failed[0].detail
    assert "FAIL  fee structure" in table
