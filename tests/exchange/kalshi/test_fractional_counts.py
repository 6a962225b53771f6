"""Fractional counts on the wire: other traders' sizes held exactly (books) or in whole contracts (ticker,
trade, market); the account's own fractional items on the feed left alone outside the traded series and
refused, by name, inside it."""

from __future__ import annotations

import json
from typing import Any

import pytest

from kalshid.core.markets import in_series
from kalshid.exchange import base, errors
from kalshid.exchange.kalshi.feedprotocol import Reconnect
from kalshid.exchange.kalshi.wire import feed, objects
from kalshid.exchange.kalshi.wire.fields import loads
from kalshid.exchange.kalshi.wire.fractional import parse_each
from tests.exchange.kalshi.kalshi_fakes import TICKER, fill_json, market_json, order_json
from tests.exchange.kalshi.test_feed_protocol import SIDS, delta, frame, live

ELSEWHERE = "KXBTCD-26JUL0819-T100000"  # a market of another series, traded by hand on the same account


def test_book_levels_and_deltas_carry_hundredths_exactly() -> None:
    snap = {"market_ticker": TICKER, "yes_dollars_fp": [["0.4200", "2.50"], ["0.4100", "10.00"]],
            "no_dollars_fp": [["0.5500", "0.01"]]}
    assert feed.parse_snapshot(snap)[1:3] == (((4200, 250), (4100, 1_000)), ((5500, 1),))
    d = {"market_ticker": TICKER, "side": "yes", "price_dollars": "0.4200", "delta_fp": "-1.25"}
    assert feed.parse_delta(d)[1:4] == ("yes", 4200, -125)
    with pytest.raises(errors.ProtocolError, match=r"delta_fp: '0.005' is finer than Kalshi's 0.01"):
        feed.parse_delta({**d, "delta_fp": "0.005"})
    rest_book = objects.parse_orderbook(TICKER, {"orderbook_fp": {"yes_dollars": [["0.4200", "2.50"],
                                                                                   ["0.4100", "10.00"]]}})
    assert rest_book.yes == () and rest_book.exact("yes") == ((4100, 1_000), (4200, 250))


def test_ticker_trade_and_market_counts_are_read_in_whole_contracts() -> None:
    tick = feed.parse_ticker({"market_ticker": TICKER, "volume_fp": "12.75", "open_interest_fp": "3.50",
                              "yes_bid_size_fp": "0.50", "yes_ask_size_fp": "2.25"}, 1.0)
    assert (tick.volume, tick.open_interest, tick.yes_bid_size, tick.yes_ask_size) == (12, 3, 0, 2)
    trade = feed.parse_trade({"trade_id": "t", "market_ticker": TICKER, "yes_price_dollars": "0.3600",
                              "count_fp": "2.50", "taker_book_side": "bid"}, 1.0)
    assert (trade.count, trade.taker_side) == (2, "yes")
    market = objects.parse_market(loads(json.dumps(market_json(volume_fp="7.25", open_interest_fp="0.75"))))
    assert (market.volume, market.open_interest) == (7, 0)
    with pytest.raises(errors.ProtocolError, match="count_fp"):
        feed.parse_trade({"trade_id": "t", "market_ticker": TICKER, "yes_price_dollars": "0.3600",
                          "count_fp": "2.505", "taker_book_side": "bid"}, 1.0)


def test_fractional_book_frames_apply_with_no_resync_and_no_bad_frame() -> None:
    proto = live()  # yes 35 at 0.42, no 10 at 0.56
    book = proto.receive(delta(1, 2, "yes", "0.4300", "2.50"), 1.0)
    assert book is not None and book.best_bid("yes") is None and book.size_at_exact("yes", 4300) == 250
    assert proto.receive(delta(1, 3, "yes", "0.4300", "-0.25"), 2.0) is book
    assert book.snapshot().exact("yes") == ((4200, 3_500), (4300, 225))
    snap = frame({"type": "orderbook_snapshot", "sid": 1, "seq": 4,
                  "msg": {"market_ticker": TICKER, "yes_dollars_fp": [["0.4000", "0.75"]], "no_dollars_fp": []}})
    assert proto.receive(snap, 3.0) is book and book.snapshot().exact("yes") == ((4000, 75),)
    assert book.best_bid("yes") is None  # three quarters of a contract: nothing whole to take
    assert not proto.take_outputs()
    assert proto.stats["bad_frames"] == 0 and proto.stats["resyncs"] == 0


@pytest.mark.parametrize(("count", "why"), [("-0.76", "negative"), ("0.001", "finer than")])
def test_a_delta_below_zero_or_finer_than_a_hundredth_still_resyncs(count: str, why: str) -> None:
    proto = live()
    proto.receive(delta(1, 2, "yes", "0.4000", "0.75"), 1.0)
    assert proto.receive(delta(1, 3, "yes", "0.4000", count), 2.0) is None
    out = proto.take_outputs()
    assert any(isinstance(o, base.FeedStale) and why in o.reason for o in out), out
    assert proto.stats["resyncs"] == 1


def _user(typ: str, body: dict[str, Any]) -> str:
    return frame({"type": typ, "sid": SIDS.get({"user_order": "user_orders",
                                                "market_position": "market_positions"}.get(typ, typ)), "msg": body})


def test_own_fractional_items_in_other_markets_are_left_alone_and_in_traded_ones_refused() -> None:
    proto = live()
    fill = {**fill_json(count_fp="2.50"), "ticker": ELSEWHERE, "market_ticker": ELSEWHERE}
    position = {"market_ticker": ELSEWHERE, "position_fp": "1.50", "position_cost_dollars": "0.6000"}
    order = order_json(ticker=ELSEWHERE, fill_count_fp="0.50", remaining_count_fp="1.00", initial_count_fp="1.50")
    for typ, body in (("fill", fill), ("market_position", position), ("user_order", order)):
        assert proto.receive(_user(typ, body), 1.0) is None
    assert not proto.take_outputs()
    assert proto.stats["fractional_elsewhere"] == 3 and proto.stats["bad_frames"] == 0
    proto.receive(_user("fill", fill_json(count_fp="2.50")), 2.0)
    [reconnect] = proto.take_outputs()
    assert isinstance(reconnect, Reconnect) and "count_fp: '2.50' is a fractional count" in reconnect.reason
    assert f"{TICKER} is a KXSOL15M market, which kalshid trades" in reconnect.reason
    assert in_series(TICKER) and not in_series(ELSEWHERE) and not in_series("KXSOL15MX-1")


def test_own_amounts_finer_than_a_centicent_elsewhere_are_left_alone_and_in_traded_markets_refused() -> None:
    """Only fractional contracts make an amount finer than $0.0001 (0.01 × $0.4567): a whole position
    left over from them elsewhere (2.50 bought, 0.50 sold) carries one, and is left alone like them."""
    proto = live()
    position = {"market_ticker": ELSEWHERE, "position_fp": "2.00", "position_cost_dollars": "0.913401",
                "realized_pnl_dollars": "0.012345", "fees_paid_dollars": "0.0100"}
    assert proto.receive(_user("market_position", position), 1.0) is None
    assert not proto.take_outputs()
    assert proto.stats["fractional_elsewhere"] == 1 and proto.stats["bad_frames"] == 0
    proto.receive(_user("market_position", {**position, "market_ticker": TICKER}), 2.0)
    [reconnect] = proto.take_outputs()
    assert isinstance(reconnect, Reconnect)
    assert "position_cost_dollars: dollar amount '0.913401' is finer than $0.0001" in reconnect.reason
    assert f"{TICKER} is a KXSOL15M market, which kalshid trades" in reconnect.reason
    # the same position in the REST list: set aside elsewhere, refused in a traded market
    rest = {"ticker": ELSEWHERE, "position_fp": "2.00", "market_exposure_dollars": "0.913401",
            "total_traded_dollars": "1.141750", "realized_pnl_dollars": "0.012345", "fees_paid_dollars": "0.0100",
            "last_updated_ts": 1783551000, "exchange_index": 0}
    kept, aside = parse_each([rest], objects.parse_position, "position")
    assert kept == [] and [(e.kind, e.ticker) for e in aside] == [("position", ELSEWHERE)]
    with pytest.raises(errors.ProtocolError, match="which kalshid trades"):
        parse_each([{**rest, "ticker": TICKER}], objects.parse_position, "position")
