"""The dry-run fill model never fills at the midpoint and never reuses liquidity."""

from kalshid.core import paperfills as paper
from kalshid.core.fees import taker_fee_cc

# YES bids 40c x10, 39c x20; NO bids 57c x5, 55c x50  -> YES ask 43c (5), 45c (50)
YES_BIDS = [(4000, 10), (3900, 20)]
NO_BIDS = [(5700, 5), (5500, 50)]


def test_a_taker_buy_walks_the_opposite_book_best_price_first() -> None:
    fills = paper.taker_fills("yes", "buy", 4500, 20, yes_bids=YES_BIDS, no_bids=NO_BIDS)
    assert [(f.price_cc, f.count) for f in fills] == [(4300, 5), (4500, 15)]
    assert all(f.is_taker for f in fills)
    # Fees accumulate per order: the two fills together pay what one equivalent fill would.
    assert sum(f.fee_cc for f in fills) >= taker_fee_cc(5, 4300)
    assert sum(f.fee_cc for f in fills) <= taker_fee_cc(5, 4300) + taker_fee_cc(15, 4500)


def test_a_limit_stops_the_walk_and_leaves_the_rest_unfilled() -> None:
    fills = paper.taker_fills("yes", "buy", 4300, 20, yes_bids=YES_BIDS, no_bids=NO_BIDS)
    assert [(f.price_cc, f.count) for f in fills] == [(4300, 5)]
    assert paper.taker_fills("yes", "buy", 4200, 20, yes_bids=YES_BIDS, no_bids=NO_BIDS) == []


def test_a_sell_takes_its_own_sides_bids() -> None:
    fills = paper.taker_fills("yes", "sell", 3900, 25, yes_bids=YES_BIDS, no_bids=NO_BIDS)
    assert [(f.price_cc, f.count) for f in fills] == [(4000, 10), (3900, 15)]


def test_no_buy_crosses_yes_bids() -> None:
    fills = paper.taker_fills("no", "buy", 6000, 10, yes_bids=YES_BIDS, no_bids=NO_BIDS)
    assert [(f.price_cc, f.count) for f in fills] == [(6000, 10)]


def test_consumed_liquidity_is_not_taken_twice() -> None:
    first = paper.taker_fills("yes", "buy", 4300, 5, yes_bids=YES_BIDS, no_bids=NO_BIDS)
    consumed = {paper.book_key("yes", "buy", f.price_cc): f.count for f in first}
    assert consumed == {("no", 5700): 5}
    again = paper.taker_fills("yes", "buy", 4300, 5, yes_bids=YES_BIDS, no_bids=NO_BIDS, consumed=consumed)
    assert again == []


def test_resting_orders_fill_only_when_traded_through() -> None:
    order = paper.RestingPaperOrder("c1", "yes", 4000, 10)
    # A YES taker lifts NO bids: irrelevant to a YES bid.
    order, filled = paper.on_trade(order, paper.TradePrint(4500, 7, "yes"))
    assert filled == 0
    # A NO taker hits a YES bid below ours: we were ahead, we fill.
    order, filled = paper.on_trade(order, paper.TradePrint(3900, 4, "no"))
    assert (filled, order.remaining) == (4, 6)
    # Trades above our bid never fill us.
    order, filled = paper.on_trade(order, paper.TradePrint(4100, 50, "no"))
    assert filled == 0


def test_a_touch_is_not_a_fill() -> None:
    order = paper.RestingPaperOrder("c1", "yes", 4000, 10)
    after, filled = paper.on_trade(order, paper.TradePrint(4000, 30, "no"))  # a NO taker at our price
    assert (filled, after) == (0, order)


def test_maker_fills_are_free_on_quadratic_series() -> None:
    order = paper.RestingPaperOrder("c1", "no", 5500, 10)
    assert paper.maker_fill(order, 4) == paper.PaperFill(5500, 4, 0, False)
