"""REST/WS JSON → domain types and V2 order bodies: spec-shaped (v3.31) examples and malformed input."""

from __future__ import annotations

import json
from decimal import Decimal

import pytest

from kalshid.exchange import errors
from kalshid.exchange.kalshi.wire import answers, fields, objects
from kalshid.exchange.kalshi.wire import feed as wsmsg
from kalshid.exchange.kalshi.wire import orders as orderwire
from kalshid.exchange.types import AmendRequest, Order, OrderRequest
from tests.exchange.kalshi.kalshi_fakes import TICKER, create_answer, fill_json, market_json, order_json


def test_market_new_format() -> None:
    m = objects.parse_market(fields.loads(wire_json(market_json())))
    assert m.ticker == TICKER and m.event_ticker == "KXSOL15M-26JUL081900" and m.status == "active"
    assert m.close_time.isoformat() == "2026-07-08T23:00:00+00:00"
    assert m.floor_strike == Decimal("187.1234")  # a JSON number, kept exact
    assert (m.yes_bid_cc, m.yes_ask_cc, m.no_bid_cc, m.no_ask_cc) == (4200, 4400, 5600, 5800)
    assert m.volume == 1200 and m.open_interest == 800
    assert m.tick_cc(500) == 10 and m.tick_cc(5000) == 100 and m.tick_cc(9950) == 10
    assert m.is_valid_price(4200) and not m.is_valid_price(4250) and m.is_valid_price(50)


def test_market_string_numbers_and_no_ranges() -> None:
    raw = market_json(floor_strike="187.5", price_ranges=[], volume_fp="12")
    m = objects.parse_market(raw)
    assert (m.yes_bid_cc, m.yes_ask_cc, m.last_price_cc) == (4200, 4400, 4300)
    assert m.floor_strike == Decimal("187.5") and m.volume == 12 and m.exchange_index == 0
    assert m.is_valid_price(4200) and not m.is_valid_price(4250)  # no ranges: whole cents


def test_legacy_integer_cents_are_not_read() -> None:
    raw = market_json(floor_strike="187.5")
    for k in ("yes_bid_dollars", "yes_ask_dollars"):
        del raw[k]
    raw.update(yes_bid=41, yes_ask=43)
    m = objects.parse_market(raw)
    assert (m.yes_bid_cc, m.yes_ask_cc) == (None, None)


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
        objects.parse_market(fields.loads(wire_json(market_json(**change))))


def test_order_reads_book_side_never_side_action() -> None:
    o = objects.parse_order(order_json())
    assert (o.yes_price_cc, o.no_price_cc, o.price_cc) == (4200, 5800, 4200)
    assert (o.book_side, o.side, o.action) == ("bid", "yes", "buy")
    assert (o.fill_count, o.remaining_count, o.initial_count) == (2, 3, 5)
    assert o.taker_fees_cc == 400 and o.fees_cc == 400 and o.is_open
    assert o.created_time is not None and o.created_time.microsecond == 123456
    # an ask is read as a NO purchase at 1 - p whatever the deprecated fields say
    ask = objects.parse_order(order_json(book_side="ask", outcome_side="no", side="yes", action="sell",
                                      status="executed", fill_count_fp="5.00", remaining_count_fp="0.00"))
    assert (ask.book_side, ask.side, ask.action, ask.price_cc) == ("ask", "no", "buy", 5800)
    assert not ask.is_open
    ws = {k: v for k, v in order_json().items() if k not in ("no_price_dollars", "created_time")}
    ws.update(created_ts_ms=1783551000123)
    wo = objects.parse_order(ws)
    assert wo.no_price_cc == 5800 and wo.created_time is not None and wo.created_time.year == 2026


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"status": "filled"}, "status"),
        ({"book_side": "maybe"}, "book_side"),
        ({"book_side": None}, "book_side"),
        ({"fill_count_fp": "1.50"}, "fill_count_fp"),
        ({"order_id": None}, "order_id"),
    ],
)
def test_order_malformed(change: dict[str, object], field: str) -> None:
    with pytest.raises(errors.ProtocolError, match=field):
        objects.parse_order(order_json(**change))


def test_fill_settlement_balance() -> None:
    f = objects.parse_fill(fill_json())
    assert (f.fill_id, f.count, f.yes_price_cc, f.fee_cc, f.is_taker) == ("f-1", 5, 4200, 900, True)
    assert f.ts is not None and f.ts.isoformat() == "2026-07-08T22:51:00+00:00"
    assert (f.book_side, f.side, f.action, f.client_order_id) == ("bid", "yes", "buy", None)
    ws_fill = {
        "trade_id": "t",
        "order_id": "o",
        "client_order_id": "c-9",
        "market_ticker": TICKER,
        "exchange_index": 0,
        "is_taker": False,
        "outcome_side": "no",
        "book_side": "ask",
        "yes_price_dollars": "0.7500",
        "count_fp": "3.00",
        "fee_cost": "0.0000",
        "ts": 1671899397,
        "ts_ms": 1671899397123,
        "post_position_fp": "-3.00",
        "side": "yes",
        "action": "sell",
        "purchased_side": "no",
    }
    wf = objects.parse_fill(ws_fill)
    assert (wf.fill_id, wf.ticker, wf.no_price_cc, wf.price_cc, wf.fee_cc) == ("t", TICKER, 2500, 2500, 0)
    assert (wf.side, wf.action, wf.client_order_id, wf.post_position) == ("no", "buy", "c-9", -3)
    assert wf.ts is not None and wf.ts.microsecond == 123000
    # joined with its order (a YES sell), the same fill is a sale of YES at $0.75
    sold = wf.with_intent("yes", "sell")
    assert (sold.side, sold.action, sold.price_cc) == ("yes", "sell", 7500)
    s = objects.parse_settlement(
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
            "exchange_index": 0,
        }
    )
    assert (s.revenue_cc, s.value_cc, s.yes_total_cost_cc, s.fee_cc) == (50_000, 10_000, 21_000, 900)
    assert (
        objects.parse_balance(
            {"balance": 10000, "balance_dollars": "100.0000", "portfolio_value": 250, "updated_ts": 1783551000,
             "balance_breakdown": [{"exchange_index": 0, "balance": "100.0000"}]}
        ).portfolio_value_cc
        == 25_000
    )
    with pytest.raises(errors.ProtocolError, match="balance"):
        objects.parse_balance({"portfolio_value": 1})


def test_orderbook_new_legacy_and_null_sides() -> None:
    new = objects.parse_orderbook(
        TICKER,
        {"orderbook_fp": {"yes_dollars": [["0.4200", "35.00"], ["0.4100", "120.00"]], "no_dollars": None}},
    )
    assert (
        new.yes == ((4100, 120), (4200, 35)) and not new.fractional
        and new.no == ()
        and new.yes_ask is None
        and new.no_ask == (5800, 35)
    )
    with pytest.raises(errors.ProtocolError, match="orderbook_fp"):
        objects.parse_orderbook(TICKER, {"orderbook": {"yes": [[41, 120]], "no": [[55, 80]]}})
    with pytest.raises(errors.ProtocolError, match="orderbook"):
        objects.parse_orderbook(TICKER, {"orderbook_fp": {"yes_dollars": [["0.42"]]}})
    with pytest.raises(errors.ProtocolError, match="orderbook_fp"):
        objects.parse_orderbook(TICKER, {})


def test_ws_payloads() -> None:
    snap = {"market_ticker": TICKER, "market_id": "m", "yes_dollars_fp": [["0.0800", "300.00"]],
            "no_dollars_fp": [["0.5400", "20.00"]]}
    t, yes, no, ts = wsmsg.parse_snapshot(snap)
    assert (t, yes, no, ts) == (TICKER, ((800, 30_000),), ((5400, 2_000),), None)  # hundredths
    # use_yes_price: NO levels come as YES prices and are turned back into NO bids
    yes_priced = wsmsg.parse_snapshot({**snap, "no_dollars_fp": [["0.4600", "20.00"]]}, yes_priced=True)
    assert yes_priced[2] == ((5400, 2_000),)
    assert wsmsg.parse_snapshot({"market_ticker": TICKER, "market_id": "m"})[1:3] == ((), ())
    delta = {"market_ticker": TICKER, "market_id": "m", "side": "no", "price_dollars": "0.9600", "delta_fp": "-54.00",
             "ts_ms": 1783551000123}
    d = wsmsg.parse_delta(delta)
    assert d[1:4] == ("no", 9600, -5_400) and d[4] is not None
    assert wsmsg.parse_delta(delta, yes_priced=True)[2] == 400
    with pytest.raises(errors.ProtocolError, match="side"):
        wsmsg.parse_delta({**delta, "side": "up"})
    with pytest.raises(errors.ProtocolError, match="delta_fp"):
        wsmsg.parse_delta({"market_ticker": TICKER, "side": "yes", "price_dollars": "0.9600", "delta": -54})
    tick = wsmsg.parse_ticker(
        {"market_ticker": TICKER, "market_id": "m", "price_dollars": "0.4800", "yes_bid_dollars": "0.4500",
         "yes_ask_dollars": "0.5300", "volume_fp": "33896.00", "open_interest_fp": "10.00", "dollar_volume": 1,
         "dollar_open_interest": 1, "yes_bid_size_fp": "12.00", "yes_ask_size_fp": "7.00",
         "last_trade_size_fp": "1.00", "ts": 1669149841, "ts_ms": 1669149841000, "time": "2022-11-22T20:44:01Z"},
        1.0,
    )
    assert (tick.price_cc, tick.yes_bid_cc, tick.yes_ask_cc, tick.volume) == (4800, 4500, 5300, 33896)
    assert (tick.yes_bid_size, tick.yes_ask_size) == (12, 7)
    trade = wsmsg.parse_trade({"trade_id": "t", "market_ticker": TICKER, "yes_price_dollars": "0.3600",
                               "no_price_dollars": "0.6400", "count_fp": "4.00", "taker_side": "yes",
                               "taker_outcome_side": "no", "taker_book_side": "ask", "is_block_trade": False,
                               "ts": 1669149841, "ts_ms": 1669149841000}, 1.0)
    assert (trade.taker_side, trade.count, trade.yes_price_cc) == ("no", 4, 3600)
    pos = wsmsg.parse_market_position({"user_id": "u", "market_ticker": TICKER, "position_fp": "-3.00",
                                       "position_cost_dollars": "1.7400", "realized_pnl_dollars": "-0.0500",
                                       "fees_paid_dollars": "0.0300", "position_fee_cost_dollars": "0.0300",
                                       "volume_fp": "9.00"}, 1.0)
    assert (pos.position, pos.position_cost_cc, pos.realized_pnl_cc, pos.fees_paid_cc, pos.volume) == (
        -3, 17_400, -500, 300, 9)
    frame = json.dumps({"value": "187.5", "time": 1783551000})
    avg = {"value": "187.40", "window_size": 60, "window_start_ts_ms": 1, "window_end_ts_exclusive": 2}
    idx = wsmsg.parse_index({"index_id": "SOLUSD_RTI", "received_at": 1783551000000, "data": frame,
                             "avg_60s_data": avg}, 2.0)
    assert idx.value == Decimal("187.5") and idx.exchange_ts is not None and idx.avg_60s == Decimal("187.40")
    assert idx.close_avg_60s is None
    closing = wsmsg.parse_index({"index_id": "SOLUSD_RTI", "received_at": 1783551000000, "data": frame,
                                 "avg_60s_data": avg,
                                 "last_60s_windowed_average_15min": {**avg, "value": "187.45", "window_size": 42}},
                                2.0)
    assert (closing.close_avg_60s, closing.close_avg_window) == (Decimal("187.45"), 42)
    with pytest.raises(errors.ProtocolError, match="no index value"):
        wsmsg.parse_index({"index_id": "SOLUSD_RTI", "data": "{}"}, 0.0)
    with pytest.raises(errors.ProtocolError, match="avg_60s_data"):
        wsmsg.parse_index({"index_id": "SOLUSD_RTI", "data": frame, "avg_60s_data": "187.55"}, 0.0)


def test_v2_create_body_for_each_legacy_direction() -> None:
    cases = [("yes", "buy", 4200, "bid", "0.4200"), ("yes", "sell", 4200, "ask", "0.4200"),
             ("no", "buy", 5800, "ask", "0.4200"), ("no", "sell", 5800, "bid", "0.4200"),
             ("yes", "buy", 4250, "bid", "0.4250")]
    for side, action, price, book, wire_price in cases:
        body = orderwire.encode_create(OrderRequest(TICKER, side, action, 3, price, "c"))  # type: ignore[arg-type]
        assert body == {"ticker": TICKER, "client_order_id": "c", "side": book, "count": "3.00",
                        "price": wire_price, "time_in_force": "good_till_canceled",
                        "self_trade_prevention_type": "taker_at_cross"}, (side, action)
    body = orderwire.encode_create(OrderRequest(TICKER, "no", "sell", 3, 5800, "c", reduce_only=True,
                                                time_in_force="immediate_or_cancel", post_only=False,
                                                self_trade_prevention="maker"))
    assert body["reduce_only"] is True and body["time_in_force"] == "immediate_or_cancel"
    assert body["self_trade_prevention_type"] == "maker" and "post_only" not in body
    gtc = orderwire.encode_create(OrderRequest(TICKER, "yes", "buy", 1, 4200, "c", expiration_ts=1783551900))
    assert gtc["expiration_time"] == 1783551900


def test_order_request_validation() -> None:
    with pytest.raises(ValueError, match="price_cc"):
        OrderRequest(TICKER, "yes", "buy", 1, 10_000, "c")
    with pytest.raises(ValueError, match="count"):
        OrderRequest(TICKER, "yes", "buy", 0, 4200, "c")
    with pytest.raises(ValueError, match="reduce_only"):
        OrderRequest(TICKER, "yes", "sell", 1, 4200, "c", reduce_only=True)
    with pytest.raises(ValueError, match="expiration_ts"):
        OrderRequest(TICKER, "yes", "sell", 1, 4200, "c", time_in_force="immediate_or_cancel", expiration_ts=1)
    with pytest.raises(ValueError, match="self_trade_prevention"):
        OrderRequest(TICKER, "yes", "sell", 1, 4200, "c", self_trade_prevention="none")  # type: ignore[arg-type]


def test_v2_other_bodies() -> None:
    assert orderwire.encode_decrease(ticker=TICKER, reduce_by=2) == {"market_ticker": TICKER, "reduce_by": "2.00"}
    assert orderwire.encode_decrease(ticker=TICKER, reduce_to=0) == {"market_ticker": TICKER, "reduce_to": "0.00"}
    with pytest.raises(ValueError, match="exactly one"):
        orderwire.encode_decrease(ticker=TICKER, reduce_by=1, reduce_to=1)
    with pytest.raises(ValueError, match="exactly one"):
        orderwire.encode_decrease(ticker=TICKER)
    amend = AmendRequest("o-1", OrderRequest(TICKER, "no", "buy", 5, 5700, "c"), total_count=7,
                         updated_client_order_id="c2")
    assert orderwire.encode_amend(amend) == {"ticker": TICKER, "side": "ask", "price": "0.4300", "count": "7.00",
                                             "client_order_id": "c", "updated_client_order_id": "c2"}
    assert orderwire.encode_batch_cancel([("o-1", TICKER)]) == {"orders": [{"order_id": "o-1",
                                                                            "market_ticker": TICKER}]}


def test_create_answer_becomes_the_order_or_nothing() -> None:
    req = OrderRequest(TICKER, "no", "sell", 5, 5800, "c-1")
    resting = orderwire.order_from_create(req, orderwire.parse_ack(create_answer(filled=2, remaining=3), "x"))
    assert resting is not None and resting.status == "resting" and (resting.side, resting.action) == ("no", "sell")
    assert (resting.book_side, resting.yes_price_cc, resting.fill_count, resting.remaining_count) == ("bid", 4200, 2, 3)
    assert resting.taker_fees_cc == 200  # $0.0100 a contract, two filled
    done = orderwire.order_from_create(req, orderwire.parse_ack(create_answer(filled=5, remaining=0), "x"))
    assert done is not None and done.status == "executed"
    ioc = orderwire.order_from_create(req, orderwire.parse_ack(create_answer(filled=1, remaining=0), "x"))
    assert ioc is not None and ioc.status == "canceled"
    assert orderwire.order_from_create(req, orderwire.parse_ack({"client_order_id": "c-1"}, "x")) is None
    with pytest.raises(errors.ProtocolError, match="remaining_count"):
        orderwire.order_from_create(req, orderwire.parse_ack({"order_id": "o", "fill_count": "0.00"}, "x"))


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
        objects.parse_market(market_json(floor_strike=187.1234))  # a float that bypassed fields.loads


def test_answers_decode_bodies_and_errors() -> None:
    assert answers.body_of(b"") == {} and answers.body_of(b'{"x": 0.5}') == {"x": Decimal("0.5")}
    with pytest.raises(errors.ProtocolError, match="not JSON"):
        answers.body_of(b"<html>")
    assert isinstance(answers.error_of(429, b'{"error": {"code": "too_many"}}'), errors.RateLimited)
    text = answers.error_of(503, b"<html>down</html>")
    assert isinstance(text, errors.ServerError) and "down" in str(text)


def test_amend_and_decrease_answers_become_changes_or_in_flight() -> None:
    change = orderwire.order_change("o-1", {"order_id": "o-1", "remaining_count": "3.00", "fill_count": "1.00"},
                                    "decrease response", "remaining_count")
    assert (change.order_id, change.remaining_count, change.fill_count) == ("o-1", 3, 1)
    with pytest.raises(errors.CancelInFlight, match="remaining_count"):
        orderwire.order_change("o-1", {"order_id": "o-1"}, "decrease response", "remaining_count")
    with pytest.raises(errors.CancelInFlight):
        orderwire.order_change("o-1", ["not", "an", "object"], "amend response")


@pytest.mark.parametrize(("code", "expected"), [("not_found", errors.NotFound), ("order_not_found", errors.NotFound),
                                               ("market_closed", errors.BadRequest)])
def test_a_batch_cancel_item_error_naming_a_missing_order_is_not_found(code: str, expected: type) -> None:
    result = orderwire.batch_cancel_result("o-9", {"order_id": "o-9", "reduced_by": "0.00", "ts_ms": None,
                                                   "error": {"code": code, "message": "no"}})
    assert type(result) is expected and result.code == code


def test_batch_items_become_one_result_per_request() -> None:
    reqs = [OrderRequest(TICKER, "yes", "buy", 5, 4200, f"c-{i}") for i in range(4)]
    items = [create_answer("o-1", "c-1", remaining=5),  # matched by client_order_id, out of order
             create_answer("o-0", "c-0", filled=5, remaining=0),
             {"client_order_id": "c-2", "error": {"code": "insufficient_balance", "message": "no money"}}]
    placed, other, refused, missing = orderwire.batch_create_results(reqs, items)
    assert isinstance(placed, Order) and (placed.order_id, placed.status) == ("o-0", "executed")
    assert isinstance(other, Order) and other.order_id == "o-1"
    assert isinstance(refused, errors.BadRequest) and refused.code == "insufficient_balance"
    assert isinstance(missing, errors.OrderInFlight)
    duplicate = {"client_order_id": "c-0", "error": {"code": "order_already_exists", "message": "exists"}}
    [conflict] = orderwire.batch_create_results(reqs[:1], [duplicate])
    assert isinstance(conflict, errors.Conflict) and conflict.status == 409
    assert orderwire.batch_cancel_result("o-1", {"order_id": "o-1", "reduced_by": "4.00"}) == 4
    gone = orderwire.batch_cancel_result("o-2", {"order_id": "o-2", "error": {"code": "not_found"}})
    assert isinstance(gone, errors.NotFound)
    # an answer without an item for the order leaves its cancel unknown, never "refused"
    unanswered = orderwire.batch_cancel_result("o-3", None)
    assert isinstance(unanswered, errors.CancelInFlight) and unanswered.order_id == "o-3"
    assert isinstance(orderwire.batch_cancel_result("o-4", {"order_id": "o-4", "reduced_by": "x"}),
                      errors.CancelInFlight)
