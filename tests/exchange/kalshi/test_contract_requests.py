"""The request side of the contract: every request the client makes is an operation of Kalshi's
OpenAPI v3.31.0 (``../shared/kalshi/openapi.yaml``, found relative to the repository; a missing spec
fails), and every request body it builds validates against that operation's request schema."""

from __future__ import annotations

import itertools

import jsonschema
import pytest
from cryptography.hazmat.primitives.asymmetric import rsa

from kalshid.exchange.kalshi.wire import orders as orderwire
from kalshid.exchange.types import AmendRequest, OrderRequest
from tests.exchange.kalshi.client_drive import CALLS, drive_everything, load_schemas, public_coroutines, spec_template
from tests.exchange.kalshi.kalshi_fakes import TICKER

schemas = load_schemas()


def test_the_spec_is_v3_31() -> None:
    assert schemas.openapi_version() == "3.31.0"


def test_every_public_request_method_is_driven() -> None:
    assert public_coroutines() == set(CALLS), "add the new KalshiRest method to client_drive.CALLS"


async def test_every_request_is_a_spec_operation_and_every_body_validates(rsa_key: rsa.RSAPrivateKey) -> None:
    spec = schemas.load_spec(schemas.OPENAPI)
    paths = list(spec["paths"])
    sent = await drive_everything(rsa_key)
    bodies = 0
    for r in sent:
        template = spec_template(paths, r.path)
        assert template is not None, f"{r.method} {r.path} is not a path of openapi.yaml v3.31"
        op = spec["paths"][template].get(r.method.lower())
        assert op is not None, f"openapi.yaml v3.31 has no {r.method} {template}"
        if r.body is not None:
            assert "requestBody" in op, f"{r.method} {template} takes no body, the client sent {r.body!r}"
            schemas.validate_request(template, r.method, r.body)
            bodies += 1
        else:
            body_spec = op.get("requestBody")
            assert not (body_spec and body_spec.get("required")), f"{r.method} {template} needs a body"
    # create (twice), amend, decrease, batch create, batch cancel
    assert bodies == 6, [(r.method, r.path) for r in sent if r.body is not None]
    assert {(r.method, spec_template(paths, r.path)) for r in sent if r.method != "GET"} == {
        ("POST", "/portfolio/events/orders"), ("DELETE", "/portfolio/events/orders/{order_id}"),
        ("POST", "/portfolio/events/orders/{order_id}/amend"), ("POST", "/portfolio/events/orders/{order_id}/decrease"),
        ("DELETE", "/portfolio/events/orders"), ("POST", "/portfolio/events/orders/batched"),
        ("DELETE", "/portfolio/events/orders/batched")}


CREATE_VARIANTS = [
    {"time_in_force": tif, "post_only": post, "self_trade_prevention": stp}
    for tif, post, stp in itertools.product(("good_till_canceled", "immediate_or_cancel", "fill_or_kill"),
                                            (False, True), ("taker_at_cross", "maker"))
] + [
    {"time_in_force": None},
    {"time_in_force": "immediate_or_cancel", "reduce_only": True},
    {"time_in_force": "good_till_canceled", "expiration_ts": 1_783_551_900},
    {"cancel_order_on_pause": True},
]


@pytest.mark.parametrize("variant", range(len(CREATE_VARIANTS)))
def test_every_create_body_validates(variant: int) -> None:
    for side, action, price_cc in itertools.product(("yes", "no"), ("buy", "sell"), (1, 50, 4200, 4250, 9950, 9999)):
        req = OrderRequest(TICKER, side, action, 7, price_cc, "3f1c2b9e-4f11-4d1e-9a55-0d5f3a3c2b10",  # type: ignore[arg-type]
                           **CREATE_VARIANTS[variant])  # type: ignore[arg-type]
        body = orderwire.encode_create(req)
        schemas.validate_request("/portfolio/events/orders", "POST", body)
        for required in ("time_in_force", "self_trade_prevention_type", "client_order_id"):
            assert required in body
        batch = orderwire.encode_batch_create([req, req])
        schemas.validate_request("/portfolio/events/orders/batched", "POST", batch)


@pytest.mark.parametrize(("by", "to"), [(1, None), (None, 0), (None, 5)])
def test_decrease_and_amend_bodies_validate(by: int | None, to: int | None) -> None:
    schemas.validate_request("/portfolio/events/orders/{order_id}/decrease", "POST",
                             orderwire.encode_decrease(ticker=TICKER, reduce_by=by, reduce_to=to))
    for side, action in itertools.product(("yes", "no"), ("buy", "sell")):
        amend = AmendRequest("o-1", OrderRequest(TICKER, side, action, 3, 4300, "c-1"),  # type: ignore[arg-type]
                             total_count=5, updated_client_order_id="c-2")
        schemas.validate_request("/portfolio/events/orders/{order_id}/amend", "POST", orderwire.encode_amend(amend))
    schemas.validate_request("/portfolio/events/orders/batched", "DELETE",
                             orderwire.encode_batch_cancel([("o-1", TICKER), ("o-2", TICKER)]))


def test_a_legacy_body_would_fail_the_contract() -> None:
    """The check has teeth: the body the legacy route took is not a CreateOrderV2Request."""
    legacy = {"ticker": TICKER, "side": "yes", "action": "buy", "count": 3, "yes_price": 42,
              "client_order_id": "c", "time_in_force": "good_till_canceled"}
    with pytest.raises(jsonschema.ValidationError):
        schemas.validate_request("/portfolio/events/orders", "POST", legacy)
