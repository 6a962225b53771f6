"""The Kalshi feed protocol object on its own: frames in, commands and events out, no I/O and no clock."""

from __future__ import annotations

import ast
import json
from pathlib import Path
from typing import Any

import pytest

from kalshid.exchange import base
from kalshid.exchange.kalshi.feedconfig import FeedConfig
from kalshid.exchange.kalshi.feedprotocol import Command, FeedProtocol, Output, Reconnect
from tests.exchange.kalshi.kalshi_fakes import NEXT_TICKER, TICKER, fill_json

KALSHI = Path(__file__).resolve().parents[3] / "kalshid" / "exchange" / "kalshi"
SANS_IO = [KALSHI / "feedprotocol.py", KALSHI / "feedconfig.py", *sorted((KALSHI / "wire").glob("*.py"))]
IO_MODULES = frozenset({"trio", "trio_websocket", "httpx", "wsproto", "socket", "time", "random", "asyncio"})
NOW = 123.5
SIDS = {"orderbook_delta": 1, "ticker": 2, "trade": 3, "fill": 4, "user_orders": 5, "market_positions": 6,
        "market_lifecycle_v2": 7, "cfbenchmarks_value": 8}


def frame(obj: Any) -> str:
    return json.dumps(obj)


def snapshot(sid: int, seq: int, ticker: str = TICKER) -> str:
    return frame({"type": "orderbook_snapshot", "sid": sid, "seq": seq,
                  "msg": {"market_ticker": ticker, "yes_dollars_fp": [["0.4200", "35.00"]],
                          "no_dollars_fp": [["0.5600", "10.00"]]}})


def delta(sid: int, seq: int, side: str, price: str, count: str, ticker: str = TICKER) -> str:
    return frame({"type": "orderbook_delta", "sid": sid, "seq": seq,
                  "msg": {"market_ticker": ticker, "side": side, "price_dollars": price, "delta_fp": count}})


def commands(outputs: list[Output]) -> list[Command]:
    return [o for o in outputs if isinstance(o, Command)]


def subscribed(proto: FeedProtocol, subs: list[Command]) -> None:
    """Acknowledge every subscribe with the sid of its channel (see SIDS)."""
    for c in subs:
        ch = c.params["channels"][0]
        assert proto.receive(frame({"id": c.id, "type": "subscribed", "msg": {"channel": ch, "sid": SIDS[ch]}}),
                             NOW) is None
    assert not proto.take_outputs()


def live(**cfg: Any) -> FeedProtocol:
    """A protocol with a live, acknowledged session and a fresh book for TICKER (seq 1 on sid 1)."""
    proto = FeedProtocol(FeedConfig(ws_url="ws://x", **cfg), [TICKER])
    subscribed(proto, proto.connected())
    assert proto.receive(snapshot(1, 1), NOW) is not None
    assert not proto.take_outputs()
    return proto


def test_connected_subscribes_each_channel_once_and_is_ready_when_all_answered() -> None:
    proto = FeedProtocol(FeedConfig(ws_url="ws://x"), [TICKER])
    subs = proto.connected()
    assert [c.cmd for c in subs] == ["subscribe"] * 8
    assert [c.params["channels"][0] for c in subs] == list(SIDS)
    assert len({c.id for c in subs}) == 8
    assert subs[0].params == {"channels": ["orderbook_delta"], "market_tickers": [TICKER], "use_yes_price": False}
    assert json.loads(subs[0].encode()) == {"id": subs[0].id, "cmd": "subscribe", "params": subs[0].params}
    assert not proto.ready and not proto.answered
    subscribed(proto, subs[:-1])
    assert not proto.ready and proto.answered
    subscribed(proto, subs[-1:])
    assert proto.ready


def test_snapshot_then_deltas_return_the_book_and_leave_no_output() -> None:
    proto = live()
    book = proto.receive(delta(1, 2, "yes", "0.4300", "4.00"), NOW + 1)
    assert book is not None and book.snapshot().best_yes_bid == (4300, 4) and book.local_time == NOW + 1
    assert not proto.outbox


def test_seq_gap_makes_books_stale_and_resubscribes_then_the_snapshot_resyncs() -> None:
    proto = live()
    assert proto.receive(delta(1, 5, "yes", "0.4300", "1.00"), NOW) is None
    out = proto.take_outputs()
    assert out[0] == base.FeedStale(TICKER, "seq gap on sid 1: 1 -> 5", NOW)
    unsub, sub = commands(out)
    assert (unsub.cmd, unsub.params) == ("unsubscribe", {"sids": [1]})
    assert sub.cmd == "subscribe" and sub.params["channels"] == ["orderbook_delta"]
    assert proto.books[TICKER].stale and proto.stats["resyncs"] == 1
    # the old sid's tail is ignored; the new sid's snapshot resyncs
    assert proto.receive(delta(1, 6, "yes", "0.4300", "1.00"), NOW) is None and not proto.outbox
    proto.receive(frame({"id": sub.id, "type": "subscribed", "msg": {"channel": "orderbook_delta", "sid": 9}}), NOW)
    assert proto.receive(snapshot(9, 1), NOW + 2) is proto.books[TICKER]
    assert proto.take_outputs() == [base.FeedResynced(TICKER, NOW + 2)]
    assert not proto.books[TICKER].stale


def test_a_delta_driving_a_level_negative_resyncs() -> None:
    proto = live()
    assert proto.receive(delta(1, 2, "yes", "0.4200", "-36.00"), NOW) is None
    out = proto.take_outputs()
    assert isinstance(out[0], base.FeedStale) and "negative" in out[0].reason
    assert [c.cmd for c in commands(out)] == ["unsubscribe", "subscribe"]
    assert proto.books[TICKER].stale


def test_terminal_error_codes_resubscribe_the_channel() -> None:
    for code in (10, 25):
        proto = live()
        proto.receive(frame({"type": "error", "sid": SIDS["fill"], "msg": {"code": code, "msg": "overflow"}}), NOW)
        (sub,) = commands(proto.take_outputs())
        assert sub.cmd == "subscribe" and sub.params == {"channels": ["fill"]}
        proto.receive(frame({"type": "error", "sid": 1, "msg": {"code": code, "msg": "channel error"}}), NOW)
        out = proto.take_outputs()
        assert isinstance(out[0], base.FeedStale) and f"error {code}" in out[0].reason
        assert [c.cmd for c in commands(out)] == ["unsubscribe", "subscribe"]
        assert proto.stats["resubscribes"] == 2


def test_other_error_codes_report_the_failed_subscription() -> None:
    proto = FeedProtocol(FeedConfig(ws_url="ws://x"), [TICKER])
    sub = proto.connected()[0]
    proto.receive(frame({"id": sub.id, "type": "error", "msg": {"code": 16, "msg": "market not found"}}), NOW)
    assert proto.take_outputs() == [base.SubscriptionFailed("orderbook_delta", 16, "market not found", (TICKER,),
                                                            NOW)]


def test_markets_added_and_dropped_on_a_live_session() -> None:
    proto = live()
    update = proto.set_markets([TICKER, NEXT_TICKER])
    assert [(c.cmd, c.params["action"], c.params["market_tickers"]) for c in update] == [
        ("update_subscription", "add_markets", [NEXT_TICKER])] * 3
    assert proto.books[NEXT_TICKER].stale  # until its snapshot
    assert proto.receive(snapshot(1, 2, NEXT_TICKER), NOW) is proto.books[NEXT_TICKER]
    drop = proto.set_markets([NEXT_TICKER])
    assert {c.params["action"] for c in drop} == {"delete_markets"} and TICKER not in proto.books
    proto.closed()
    assert proto.set_markets([TICKER]) == []  # no session: the next connected() subscribes them


def test_markets_an_update_did_not_add_are_asked_for_again_at_the_next_change() -> None:
    proto = live()
    book_add = proto.set_markets([TICKER, NEXT_TICKER])[0]
    assert (book_add.params["sids"], book_add.params["action"]) == ([SIDS["orderbook_delta"]], "add_markets")
    refused = {"id": book_add.id, "type": "error", "msg": {"code": 27, "msg": "Too many requests"}}
    proto.receive(frame(refused), NOW)
    assert proto.take_outputs() == [base.SubscriptionFailed("orderbook_delta", 27, "Too many requests",
                                                            (NEXT_TICKER,), NOW)]
    later = "KXSOL15M-26JUL081930-30"
    update = proto.set_markets([NEXT_TICKER, later])
    adds = {c.params["sids"][0]: c.params["market_tickers"] for c in update if c.params["action"] == "add_markets"}
    assert adds == {SIDS["orderbook_delta"]: [NEXT_TICKER, later], SIDS["ticker"]: [later], SIDS["trade"]: [later]}


def test_unknown_sids_and_unfollowed_markets_change_nothing() -> None:
    proto = live()
    before = proto.books[TICKER].snapshot()
    assert proto.receive(delta(77, 2, "yes", "0.4300", "1.00"), NOW) is None
    assert proto.receive(delta(1, 2, "yes", "0.4300", "1.00", ticker="KXOTHER"), NOW) is None
    assert proto.receive(frame({"type": "orderbook_delta", "msg": {}}), NOW) is None  # no sid
    assert not proto.outbox and proto.books[TICKER].snapshot() == before


def test_typed_events_for_the_user_channels() -> None:
    proto = live()
    proto.receive(frame({"type": "fill", "sid": 4, "msg": fill_json()}), NOW)
    (ev,) = proto.take_outputs()
    assert isinstance(ev, base.FillReceived) and ev.fill.fill_id == "f-1" and ev.local_time == NOW


def test_malformed_frames_are_reported_never_raised() -> None:
    proto = live()
    assert proto.receive(b"{not json", NOW) is None
    assert proto.receive("[1, 2]", NOW) is None
    out = proto.take_outputs()
    assert all(isinstance(o, Reconnect) for o in out) and len(out) == 2
    assert "not JSON" in out[0].reason and "JSON object" in out[1].reason  # type: ignore[union-attr]
    # a fill that cannot be read: reconnect (the consumer then reconciles fills over REST)
    proto.receive(frame({"type": "fill", "sid": 4, "msg": {**fill_json(), "count_fp": "lots"}}), NOW)
    (out1,) = proto.take_outputs()
    assert isinstance(out1, Reconnect) and "fill" in out1.reason and "count_fp" in out1.reason
    # market data that cannot be read is dropped
    proto.receive(frame({"type": "ticker", "sid": 2, "msg": {"price_dollars": "0.5"}}), NOW)
    assert not proto.outbox
    # an unreadable delta on our sid: resync
    proto.receive(frame({"type": "orderbook_delta", "sid": 1, "seq": 2, "msg": {"market_ticker": TICKER}}), NOW)
    out = proto.take_outputs()
    assert isinstance(out[0], base.FeedStale) and "missing field 'side'" in out[0].reason
    assert [c.cmd for c in commands(out)] == ["unsubscribe", "subscribe"]
    assert proto.stats["bad_frames"] == 5
    # an unreadable snapshot, or an acknowledgement without its sid: reconnect
    proto = live()
    proto.receive(frame({"type": "orderbook_snapshot", "sid": 1, "seq": 2, "msg": {"yes_dollars_fp": []}}), NOW)
    proto.receive(frame({"id": 99, "type": "subscribed", "msg": {"channel": "fill"}}), NOW)
    out = proto.take_outputs()
    assert [type(o) for o in out] == [Reconnect, Reconnect] and "msg.sid" in out[1].reason  # type: ignore[union-attr]
    assert proto.stats["bad_frames"] == 2


def test_disconnect_marks_each_book_stale_once() -> None:
    proto = live()
    proto.closed()
    assert proto.mark_all_stale("disconnected (x)", NOW) == [base.FeedStale(TICKER, "disconnected (x)", NOW)]
    assert proto.mark_all_stale("disconnected (y)", NOW) == []
    proto.connecting()
    assert not proto.answered


@pytest.mark.parametrize("path", SANS_IO, ids=lambda p: str(p.relative_to(KALSHI)))
def test_the_protocol_and_the_wire_package_do_no_io(path: Path) -> None:
    problems = []
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            problems += [a.name for a in node.names if a.name.split(".")[0] in IO_MODULES]
        elif isinstance(node, ast.ImportFrom) and node.module and node.module.split(".")[0] in IO_MODULES:
            problems.append(node.module)
        elif isinstance(node, ast.AsyncFunctionDef | ast.Await):
            problems.append(f"async at line {node.lineno}")
    assert problems == []


@pytest.mark.parametrize("obj", [
    {"type": ["orderbook_delta"], "sid": 1, "msg": {}},
    {"type": "orderbook_delta", "sid": {"a": 1}, "seq": 2, "msg": {}},
    {"type": "orderbook_delta", "sid": 1, "seq": 2, "msg": [1]},
    {"type": "orderbook_delta", "sid": 1, "seq": 2, "msg": {"market_ticker": [TICKER], "side": "yes",
                                                             "price_dollars": "0.4", "delta_fp": "1"}},
    {"type": "orderbook_snapshot", "sid": 1, "seq": 2, "msg": {"market_ticker": TICKER, "yes_dollars_fp": "x"}},
    {"type": "error", "id": [1], "sid": [1], "msg": {"code": [10], "msg": {"x": 1}}},
    {"type": "error", "msg": "text only"},
    {"type": "subscribed", "id": {"x": 1}, "msg": {"sid": "1"}},
    {"type": "ok", "id": 1, "sid": 1, "seq": "2"},
    {"type": "ticker", "sid": 2, "msg": {"market_ticker": 5, "price_dollars": {"a": 1}}},
    {"type": "trade", "sid": 3, "msg": {"market_ticker": TICKER, "yes_price_dollars": [1]}},
    {"type": "market_lifecycle_v2", "sid": 7, "msg": {"market_ticker": TICKER, "additional_metadata": 3}},
    {"type": "cfbenchmarks_value", "sid": 8, "msg": {"index_id": "SOLUSD_RTI", "data": "{bad", "value_usd": "x"}},
    {"type": "user_order", "sid": 5, "msg": {"status": ["resting"]}},
    {"type": "market_position", "sid": 6, "msg": {"market_ticker": TICKER, "position_fp": None}},
    {"type": {"nested": True}},
    {"msg": None},
])
def test_odd_frames_never_raise(obj: dict[str, Any]) -> None:
    proto = live()
    proto.receive(frame(obj), NOW)
    for out in proto.take_outputs():
        assert isinstance(out, Command | Reconnect | base.FeedStale | base.SubscriptionFailed)


def ws_fill(**over: Any) -> str:
    """A ``fill`` as the fill channel sends it: ``trade_id`` and ``market_ticker``, ``ts_ms``."""
    body = {"trade_id": "t-1", "order_id": "o-1", "market_ticker": TICKER, "exchange_index": 0, "is_taker": True,
            "yes_price_dollars": "0.4200", "count_fp": "5.00", "fee_cost": "0.090000", "outcome_side": "yes",
            "book_side": "bid", "ts_ms": 1783551060000, "post_position_fp": "5.00"}
    body.update(over)
    return frame({"type": "fill", "sid": 4, "msg": {k: v for k, v in body.items() if v is not None}})


@pytest.mark.parametrize(("over", "price_cc", "count", "fee_cc"), [
    ({}, 4200, 5, 900),
    ({"count_fp": "5", "yes_price_dollars": "0.42", "fee_cost": "0.09"}, 4200, 5, 900),  # fewer decimals
    ({"count_fp": "5.000", "yes_price_dollars": "0.420000"}, 4200, 5, 900),  # more decimals, same value
    ({"count_fp": 5, "yes_price_dollars": 0.42, "fee_cost": 0.09}, 4200, 5, 900),  # JSON numbers
    ({"client_order_id": None, "post_position_fp": None, "exchange_index": None}, 4200, 5, 900),  # optional
    ({"side": "no", "action": "sell", "purchased_side": "no", "sell_position_floor": 3, "new_field": {"x": 1}},
     4200, 5, 900),  # deprecated and unknown fields: never read
])
def test_a_fill_is_read_exactly_whatever_shape_its_numbers_and_optional_fields_take(
        over: dict[str, Any], price_cc: int, count: int, fee_cc: int) -> None:
    proto = live()
    proto.receive(ws_fill(**over), NOW)
    (ev,) = proto.take_outputs()
    assert isinstance(ev, base.FillReceived)
    fill = ev.fill
    assert (fill.fill_id, fill.order_id, fill.ticker) == ("t-1", "o-1", TICKER)
    assert (fill.side, fill.action, fill.yes_price_cc, fill.no_price_cc, fill.count, fill.fee_cc) == (
        "yes", "buy", price_cc, 10_000 - price_cc, count, fee_cc)


@pytest.mark.parametrize(("over", "named"), [
    ({"fee_cost": "0.017437"}, "fee_cost"),  # finer than a centi-cent: not rounded
    ({"count_fp": "5.50"}, "count_fp"),  # a fractional count of our own in a market kalshid trades
    ({"book_side": "both"}, "book_side"),
    ({"trade_id": None}, "trade_id"),
    ({"is_taker": "true"}, "is_taker"),
])
def test_a_fill_that_cannot_be_booked_exactly_reconnects_and_says_which_field(over: dict[str, Any], named: str) -> None:
    """Never rounded, never dropped in silence: the connection is dropped and the fill is caught up
    over REST; the log and the reconnect reason name the field."""
    proto = live()
    proto.receive(ws_fill(**over), NOW)
    (out,) = proto.take_outputs()
    assert isinstance(out, Reconnect) and named in out.reason and proto.stats["bad_frames"] == 1


def test_order_updates_of_an_unknown_status_or_type_are_left_to_rest_without_a_reconnect() -> None:
    proto = live()
    proto.receive(frame({"type": "user_order", "sid": 5, "msg": {"order_id": "o-1", "status": "pending"}}), NOW)
    proto.receive(frame({"type": "order_group_updates", "sid": 11, "msg": {"order_group_id": "g"}}), NOW)
    proto.receive(frame({"type": "brand_new_type", "sid": 12, "seq": 3, "msg": {"x": 1}}), NOW)
    assert proto.take_outputs() == [] and proto.stats["bad_frames"] == 0
    assert proto.receive(delta(1, 2, "yes", "0.4300", "1.00"), NOW) is not None  # the book's seq is untouched


def test_a_delta_before_its_markets_snapshot_changes_nothing_and_the_snapshot_then_counts() -> None:
    """A market added on a live session: its deltas may come before its snapshot (the sid's seq runs
    on with the other markets'); they are dropped, the snapshot gives the book, deltas then apply."""
    proto = live()
    proto.set_markets([TICKER, NEXT_TICKER])
    proto.take_outputs()
    assert proto.receive(delta(1, 2, "yes", "0.3000", "7.00", ticker=NEXT_TICKER), NOW) is None
    assert proto.books[NEXT_TICKER].stale and not proto.outbox
    assert proto.receive(snapshot(1, 3, ticker=NEXT_TICKER), NOW) is proto.books[NEXT_TICKER]
    book = proto.receive(delta(1, 4, "yes", "0.4200", "-5.00", ticker=NEXT_TICKER), NOW)
    assert book is not None and book.snapshot().best_yes_bid == (4200, 30)
    assert not proto.outbox


@pytest.mark.parametrize("seq", [1, 0])
def test_a_repeated_or_backward_seq_resyncs_the_books(seq: int) -> None:
    """A delta seen twice (or an older one) would be applied twice: the books are resynced instead."""
    proto = live()
    assert proto.receive(delta(1, 2, "yes", "0.4300", "1.00"), NOW) is not None
    assert proto.receive(delta(1, seq, "yes", "0.4300", "1.00"), NOW) is None
    out = proto.take_outputs()
    assert out[0] == base.FeedStale(TICKER, f"seq gap on sid 1: 2 -> {seq}", NOW)
    assert proto.books[TICKER].stale


def test_a_book_crossed_for_two_seconds_resyncs_once_and_a_shorter_cross_is_tolerated() -> None:
    """The snapshot's best bids are YES 42¢ and NO 56¢. A YES bid at 45¢ crosses them (101¢): orders
    the exchange would have matched. Uncrossed within 2 s it is tolerated (the exchange's own deltas
    may show a cross mid-match); crossed for 2 s the books resync; a fresh snapshot that is crossed
    itself is not resynced again until the book has uncrossed."""
    proto = live()
    assert proto.receive(delta(1, 2, "yes", "0.4500", "1.00"), NOW) is not None  # crossed, tolerated
    assert proto.books[TICKER].crossed
    assert proto.receive(delta(1, 3, "yes", "0.4500", "-1.00"), NOW + 1.5) is not None  # uncrossed in time
    assert proto.receive(delta(1, 4, "yes", "0.4500", "1.00"), NOW + 1.9) is not None  # a new crossing
    assert not proto.outbox and proto.stats["resyncs"] == 0
    assert proto.receive(delta(1, 5, "yes", "0.4300", "1.00"), NOW + 3.8) is not None  # 1.9 s crossed
    assert not proto.outbox
    assert proto.receive(delta(1, 6, "yes", "0.4300", "1.00"), NOW + 3.9) is None  # 2.0 s: out of step
    out = proto.take_outputs()
    assert isinstance(out[0], base.FeedStale) and "book crossed for 2.0 s" in out[0].reason
    unsub, sub = commands(out)
    assert (unsub.cmd, sub.cmd) == ("unsubscribe", "subscribe") and proto.stats["resyncs"] == 1
    proto.receive(frame({"id": sub.id, "type": "subscribed", "msg": {"channel": "orderbook_delta", "sid": 9}}), NOW)
    crossed = frame({"type": "orderbook_snapshot", "sid": 9, "seq": 1,
                     "msg": {"market_ticker": TICKER, "yes_dollars_fp": [["0.4500", "5.00"]],
                             "no_dollars_fp": [["0.5600", "10.00"]]}})
    assert proto.receive(crossed, NOW + 4) is proto.books[TICKER]
    assert proto.take_outputs() == [base.FeedResynced(TICKER, NOW + 4)]
    assert proto.receive(delta(9, 2, "no", "0.5600", "1.00"), NOW + 9) is not None  # still crossed: no loop
    assert not proto.outbox and proto.stats["resyncs"] == 1
    # uncrossed, then crossed again for 2 s: a new crossing, resynced again
    assert proto.receive(delta(9, 3, "yes", "0.4500", "-5.00"), NOW + 10) is not None
    assert proto.receive(delta(9, 4, "yes", "0.4600", "1.00"), NOW + 11) is not None
    assert proto.receive(delta(9, 5, "yes", "0.4600", "1.00"), NOW + 13) is None
    assert proto.stats["resyncs"] == 2
