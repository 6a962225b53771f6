"""REST/WS JSON → domain types: spec-shaped (v3.13) and legacy examples, and malformed input."""

from __future__ import annotations

import json
from decimal import Decimal

import pytest
from kalshi_fakes import TICKER, fill_json, market_json, order_json

from kalshid.exchange import errors
from kalshid.exchange.kalshi import wire, wsmsg
from kalshid.exchange.types import OrderRequest


def test_market_new_format() -> None:
    m = wire.parse_market(wire.loads(wire_json(market_json())))
    assert m.ticker == TICKER and m.event_ticker == "KXSOL15M-26JUL081900" and m.status == "active"
    assert m.close_time.isoformat() == "2026-07-08T23:00:00+00:00"
    assert m.floor_strike == Decimal("187.1234")  # a JSON number, kept exact
    assert (m.yes_bid_cc, m.yes_ask_cc, m.no_bid_cc, m.no_ask_cc) == (4200, 4400, 5600, 5800)
    assert m.volume == 1200 and m.open_interest == 800
    assert m.tick_cc(500) == 10 and m.tick_cc(5000) == 100 and m.tick_cc(9950) == 10
    assert m.is_valid_price(4200) and not m.is_valid_price(4250) and m.is_valid_price(50)


def test_market_legacy_cents_and_string_numbers() -> None:
    raw = market_json(floor_strike="187.5", price_ranges=[], volume_fp=None, volume="12")
    for k in ("yes_bid_dollars", "yes_ask_dollars", "no_bid_dollars", "no_ask_dollars", "last_price_dollars"):
        del raw[k]
    raw.update(yes_bid=41, yes_ask="43", no_bid=57, no_ask=59, last_price=42)
    m = wire.parse_market(raw)
    assert (m.yes_bid_cc, m.yes_ask_cc, m.last_price_cc) == (4100, 4300, 4200)
    assert m.floor_strike == Decimal("187.5") and m.volume == 12
    assert m.is_valid_price(4200) and not m.is_valid_price(4250)  # no ranges: whole cents


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"close_time": None}, "close_time"),
        ({"close_time": "soon"}, "close_time"),
        ({"yes_bid_dollars": "0.12345"}, "yes_bid_dollars"),
        ({"floor_strike": "n/a"}, "floor_strike"),
        ({"price_ranges": [{"start": "0.5", "end": "0.1", "step": "0.01"}]}, "price_ranges"),
    ],
)
def test_market_malformed_names_the_field(change: dict[str, object], field: str) -> None:
    with pytest.raises(errors.ProtocolError, match=field):
        wire.parse_market(wire.loads(wire_json(market_json(**change))))


def test_order_new_and_legacy() -> None:
    o = wire.parse_order(order_json())
    assert (o.yes_price_cc, o.no_price_cc, o.price_cc) == (4200, 5800, 4200)
    assert (o.fill_count, o.remaining_count, o.initial_count) == (2, 3, 5)
    assert o.taker_fees_cc == 400 and o.fees_cc == 400 and o.is_open
    assert o.created_time is not None and o.created_time.microsecond == 123456
    legacy = {
        "order_id": "o-2",
        "client_order_id": "c-2",
        "ticker": TICKER,
        "side": "no",
        "action": "sell",
        "status": "executed",
        "no_price": 58,
        "fill_count": 5,
        "remaining_count": 0,
    }
    o2 = wire.parse_order(legacy)
    assert (o2.no_price_cc, o2.yes_price_cc, o2.price_cc) == (5800, 4200, 5800)
    assert o2.initial_count == 5 and not o2.is_open and o2.fees_cc == 0


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"status": "filled"}, "status"),
        ({"side": "maybe"}, "side"),
        ({"fill_count_fp": "1.50"}, "fill_count_fp"),
        ({"order_id": None}, "order_id"),
        ({"action": None}, "action"),
    ],
)
def test_order_malformed(change: dict[str, object], field: str) -> None:
    with pytest.raises(errors.ProtocolError, match=field):
        wire.parse_order(order_json(**change))


def test_fill_settlement_balance() -> None:
    f = wire.parse_fill(fill_json())
    assert (f.fill_id, f.count, f.yes_price_cc, f.fee_cc, f.is_taker) == ("f-1", 5, 4200, 900, True)
    assert f.ts is not None and f.ts.isoformat() == "2026-07-08T22:51:00+00:00"
    ws_fill = {
        "trade_id": "t",
        "order_id": "o",
        "market_ticker": TICKER,
        "is_taker": False,
        "side": "no",
        "yes_price": 75,
        "count": 3,
        "action": "sell",
        "ts": 1671899397,
        "purchased_side": "yes",
    }
    wf = wire.parse_fill(ws_fill)
    assert (wf.fill_id, wf.ticker, wf.no_price_cc, wf.price_cc, wf.fee_cc) == ("t", TICKER, 2500, 2500, 0)
    s = wire.parse_settlement(
        {
            "ticker": TICKER,
            "event_ticker": "E",
            "market_result": "yes",
            "yes_count_fp": "5.00",
            "yes_total_cost_dollars": "2.1000",
            "no_count_fp": "0.00",
            "no_total_cost_dollars": "0.0000",
            "revenue": 500,
            "value": 100,
            "fee_cost": "0.0900",
            "settled_time": "2026-07-08T23:02:00Z",
        }
    )
    assert (s.revenue_cc, s.value_cc, s.yes_total_cost_cc, s.fee_cc) == (50_000, 10_000, 21_000, 900)
    assert (
        wire.parse_balance(
            {"balance": 10000, "balance_dollars": "100.0000", "portfolio_value": 0, "updated_ts": 1783551000}
        ).balance_cc
        == 1_000_000
    )
    with pytest.raises(errors.ProtocolError, match="balance"):
        wire.parse_balance({"portfolio_value": 1})


def test_orderbook_new_legacy_and_null_sides() -> None:
    new = wire.parse_orderbook(
        TICKER,
        {"orderbook_fp": {"yes_dollars": [["0.4200", "35.00"], ["0.4100", "120.00"]], "no_dollars": None}},
    )
    assert (
        new.yes == ((4100, 120), (4200, 35))
        and new.no == ()
        and new.yes_ask is None
        and new.no_ask == (5800, 35)
    )
    legacy = wire.parse_orderbook(TICKER, {"orderbook": {"yes": [[41, 120]], "no": [[55, 80], [56, 10]]}})
    assert legacy.yes == ((4100, 120),) and legacy.yes_ask == (4400, 10)
    with pytest.raises(errors.ProtocolError, match="orderbook"):
        wire.parse_orderbook(TICKER, {"orderbook_fp": {"yes_dollars": [["0.42"]]}})
    with pytest.raises(errors.ProtocolError, match="orderbook_fp"):
        wire.parse_orderbook(TICKER, {})


def test_ws_payloads() -> None:
    snap = {
        "market_ticker": TICKER,
        "market_id": "m",
        "yes": [[8, 300]],
        "yes_dollars": [["0.080", 300]],
        "yes_dollars_fp": [["0.0800", "300.00"]],
        "no": [[54, 20]],
    }
    t, yes, no, ts = wsmsg.parse_snapshot(snap)
    assert (t, yes, no, ts) == (TICKER, ((800, 300),), ((5400, 20),), None)
    legacy_delta = {"market_ticker": TICKER, "side": "yes", "price": 96, "delta": -54}
    assert wsmsg.parse_delta(legacy_delta)[1:4] == ("yes", 9600, -54)
    with pytest.raises(errors.ProtocolError, match="side"):
        wsmsg.parse_delta({**legacy_delta, "side": "up"})
    with pytest.raises(errors.ProtocolError, match="delta"):
        wsmsg.parse_delta({"market_ticker": TICKER, "side": "yes", "price": 96})
    tick = wsmsg.parse_ticker(
        {
            "market_ticker": TICKER,
            "price": 48,
            "yes_bid_dollars": "0.450",
            "yes_ask": 53,
            "volume_fp": "33896.00",
            "ts": 1669149841,
        },
        1.0,
    )
    assert (tick.price_cc, tick.yes_bid_cc, tick.yes_ask_cc, tick.volume) == (4800, 4500, 5300, 33896)
    idx = wsmsg.parse_index({"index_id": "SOLUSD_RTI", "value": "187.5", "received_at": 1783551000000}, 2.0)
    assert idx.value == Decimal("187.5") and idx.exchange_ts is not None and idx.avg_60s is None
    five = wsmsg.parse_index(
        {
            "index_id": "SOLUSD_RTI",
            "value_usd": "187.60000000",
            "source_ts_ms": 1783551000323,
            "avg_60s_data": "187.55",
        },
        2.0,
    )
    assert five.value == Decimal("187.6") and five.avg_60s == Decimal("187.55")
    with pytest.raises(errors.ProtocolError, match="no index value"):
        wsmsg.parse_index({"index_id": "SOLUSD_RTI", "data": "{}"}, 0.0)


def test_encode_order_request_validation() -> None:
    with pytest.raises(ValueError, match="price_cc"):
        OrderRequest(TICKER, "yes", "buy", 1, 10_000, "c")
    with pytest.raises(ValueError, match="count"):
        OrderRequest(TICKER, "yes", "buy", 0, 4200, "c")
    with pytest.raises(ValueError, match="buy_max_cost"):
        OrderRequest(TICKER, "yes", "sell", 1, 4200, "c", buy_max_cost_cc=100)
    body = wire.encode_order_request(OrderRequest(TICKER, "no", "sell", 3, 5800, "c", reduce_only=True))
    assert body == {
        "ticker": TICKER,
        "side": "no",
        "action": "sell",
        "count": 3,
        "client_order_id": "c",
        "no_price": 58,
        "reduce_only": True,
    }


def test_error_bodies() -> None:
    e = errors.error_from_response(
        400, {"error": {"code": "invalid_order", "message": "bad", "details": "d"}}
    )
    assert isinstance(e, errors.BadRequest) and (e.code, e.message, e.details) == (
        "invalid_order",
        "bad",
        "d",
    )
    assert isinstance(errors.error_from_response(502, "<html>x</html>"), errors.ServerError)
    bare = errors.error_from_response(404, {"code": "not_found", "message": "no market"})
    assert isinstance(bare, errors.NotFound) and "no market" in str(bare)
    assert errors.error_from_response(418, {}).message == "HTTP 418 with no error message"


def wire_json(obj: object) -> str:
    return json.dumps(obj)


def test_floats_are_refused_for_exact_values() -> None:
    with pytest.raises(errors.ProtocolError, match="floor_strike"):
        wire.parse_market(market_json(floor_strike=187.1234))  # a float that bypassed wire.loads
