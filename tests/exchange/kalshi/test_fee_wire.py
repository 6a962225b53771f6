"""A series' fee structure and an event's override, read as the spec shapes them (``Series``,
``EventData``): exact multipliers, absent or null overrides, and bad input as a clear ProtocolError."""

from __future__ import annotations

import json
from decimal import Decimal
from typing import Any

import httpx
import pytest
from cryptography.hazmat.primitives.asymmetric import rsa

from kalshid.core.fees import FeeStructure
from kalshid.exchange.errors import ProtocolError
from kalshid.exchange.kalshi import auth
from kalshid.exchange.kalshi.rest import KalshiRest, RetryPolicy
from kalshid.exchange.kalshi.wire.fees import parse_event_fees, parse_series_fees
from kalshid.exchange.kalshi.wire.fields import loads
from kalshid.exchange.types import EventFees

EVENT = "KXSOL15M-26JUL081900"


def series_body(**over: Any) -> str:
    series = {"ticker": "KXSOL15M", "frequency": "fifteen_min", "title": "SOL", "category": "Crypto",
              "categories": ["Crypto"], "tags": ["Solana"], "settlement_sources": [], "contract_url": "",
              "contract_terms_url": "", "fee_type": "quadratic", "fee_multiplier": 1,
              "additional_prohibitions": []}
    series.update(over)
    return json.dumps({"series": {k: v for k, v in series.items() if v is not _ABSENT}})


def event_body(**over: Any) -> str:
    event = {"event_ticker": EVENT, "series_ticker": "KXSOL15M", "sub_title": "", "title": "SOL",
             "collateral_return_type": "", "mutually_exclusive": False, "settlement_sources": []}
    event.update(over)
    return json.dumps({"event": {k: v for k, v in event.items() if v is not _ABSENT}, "markets": []})


_ABSENT = object()


def test_a_series_fee_structure_is_read_exactly() -> None:
    assert parse_series_fees(loads(series_body())).fee == FeeStructure("quadratic", Decimal(1))
    # a JSON number with a fraction is a Decimal, never a float: 1.10 is 1.1 exactly, not 1.100000001
    exact = parse_series_fees(loads(series_body().replace('"fee_multiplier": 1', '"fee_multiplier": 1.10')))
    assert exact.fee.multiplier == Decimal("1.10") and isinstance(exact.fee.multiplier, Decimal)
    unknown = parse_series_fees(loads(series_body(fee_type="per_contract_2027")))
    assert unknown.fee.fee_type == "per_contract_2027"  # an enum value added later is kept, not refused


@pytest.mark.parametrize(("over", "message"), [
    ({"fee_type": _ABSENT}, "series KXSOL15M: missing field 'fee_type'"),
    ({"fee_multiplier": _ABSENT}, "series KXSOL15M: missing field 'fee_multiplier'"),
    ({"fee_multiplier": None}, "series KXSOL15M: missing field 'fee_multiplier'"),
    ({"fee_multiplier": "1"}, "series KXSOL15M.fee_multiplier: expected a number, got '1'"),
    ({"fee_multiplier": True}, "series KXSOL15M.fee_multiplier: expected a number, got True"),
    ({"fee_multiplier": -1}, "series KXSOL15M.fee_multiplier: expected a finite number >= 0, got -1"),
    ({"fee_type": ""}, "series KXSOL15M.fee_type: expected a fee type, got an empty string"),
    ({"fee_type": 3}, "series KXSOL15M.fee_type: expected a string, got 3"),
    ({"ticker": _ABSENT}, "series ?: missing field 'ticker'"),
])
def test_a_bad_series_is_a_protocol_error_naming_the_field(over: dict[str, Any], message: str) -> None:
    with pytest.raises(ProtocolError) as caught:
        parse_series_fees(loads(series_body(**over)))
    assert str(caught.value) == message


def test_a_body_without_the_object_is_a_protocol_error() -> None:
    with pytest.raises(ProtocolError, match="series: expected an object under 'series'"):
        parse_series_fees({"series": None})
    with pytest.raises(ProtocolError, match="event: expected an object under 'event'"):
        parse_event_fees([])


def test_an_event_override_may_be_absent_null_or_set() -> None:
    assert parse_event_fees(loads(event_body())) == EventFees(EVENT, "KXSOL15M")
    assert parse_event_fees(loads(event_body(fee_type_override=None, fee_multiplier_override=None))) \
        == EventFees(EVENT, "KXSOL15M")
    both = parse_event_fees(loads(event_body(fee_type_override="flat", fee_multiplier_override=2)))
    assert both == EventFees(EVENT, "KXSOL15M", "flat", Decimal(2))
    assert both.effective(FeeStructure("quadratic", Decimal(1))) == FeeStructure("flat", Decimal(2), "event")
    half = parse_event_fees(loads(event_body(fee_multiplier_override=None).replace(
        '"fee_multiplier_override": null', '"fee_multiplier_override": 0.5')))
    assert half.fee_type_override is None and half.fee_multiplier_override == Decimal("0.5")


@pytest.mark.parametrize(("over", "message"), [
    ({"fee_multiplier_override": "2"}, f"event {EVENT}.fee_multiplier_override: expected a number, got '2'"),
    ({"fee_type_override": ""}, f"event {EVENT}.fee_type_override: expected a fee type, got an empty string"),
    ({"fee_type_override": False}, f"event {EVENT}.fee_type_override: expected a string, got False"),
    ({"series_ticker": _ABSENT}, f"event {EVENT}: missing field 'series_ticker'"),
])
def test_a_bad_event_is_a_protocol_error_naming_the_field(over: dict[str, Any], message: str) -> None:
    with pytest.raises(ProtocolError) as caught:
        parse_event_fees(loads(event_body(**over)))
    assert str(caught.value) == message


async def test_the_client_reads_the_series_and_the_event_routes(rsa_key: rsa.RSAPrivateKey) -> None:
    asked: list[str] = []

    def respond(request: httpx.Request) -> httpx.Response:
        path = request.url.path.removeprefix("/trade-api/v2")
        asked.append(path)
        if path == "/series/KXSOL15M":
            return httpx.Response(200, content=series_body(fee_multiplier=2).encode())
        if path == f"/events/{EVENT}":
            return httpx.Response(200, content=event_body(fee_type_override="quadratic_with_maker_fees").encode())
        return httpx.Response(200, content=b'{"series": {"ticker": "X"}}')

    async with KalshiRest("http://127.0.0.1:9/trade-api/v2", auth.Signer("k", rsa_key),
                          transport=httpx.MockTransport(respond), retry=RetryPolicy(attempts=1)) as rest:
        series = await rest.get_series_fees("KXSOL15M")
        event = await rest.get_event_fees(EVENT)
        with pytest.raises(ProtocolError, match="series X: missing field 'fee_type'"):
            await rest.get_series_fees("OTHER")
    assert series.series_ticker == "KXSOL15M" and series.fee == FeeStructure("quadratic", Decimal(2))
    assert event.effective(series.fee) == FeeStructure("quadratic_with_maker_fees", Decimal(2), "series+event")
    assert asked == ["/series/KXSOL15M", f"/events/{EVENT}", "/series/OTHER"]
