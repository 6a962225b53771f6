"""The fill model's stated rules: depth walking to the limit, no liquidity reused, trade-through only,
adverse selection by outcome, deterministic draws, exact fees."""

from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from kalshid.core.fees import taker_fee_cc
from kalshid.core.signals import BookTop
from kalshid.core.vocab import Side
from kalshid.research.events import BookTick, TradePrint
from kalshid.research.fills import FillModel, FillSettings, RestingBuy

T0 = datetime(2026, 6, 1, 12, 0, tzinfo=UTC)
TICKER = "KXSOL15M-26JUN010815-15"
RESTED = T0 - timedelta(seconds=1)  # resting orders reached the book before the trades of these tests


def book(no_bids: tuple[tuple[int, int], ...], yes_bids: tuple[tuple[int, int], ...] = ((4000, 50),),
         ts: datetime = T0) -> BookTick:
    top = BookTop(TICKER, yes_bids[0][0] if yes_bids else None, yes_bids[0][1] if yes_bids else 0,
                  no_bids[0][0] if no_bids else None, no_bids[0][1] if no_bids else 0, ts)
    return BookTick(ts, top, yes_bids=yes_bids, no_bids=no_bids)


def test_taker_walks_depth_up_to_the_limit_and_pays_one_order_fee() -> None:
    model = FillModel()
    b = book(((5500, 10), (5400, 20), (5000, 100)))  # YES asks 45c x10, 46c x20, 50c x100
    fills = model.take(b, Side.YES, 25, limit_cc=4600)
    assert [(f.count, f.price_cc) for f in fills] == [(10, 4500), (15, 4600)]
    assert all(f.is_taker for f in fills)
    # the order's fills add up to the fee of one order over the same terms (rounded once, not twice)
    total = sum(f.fee_cc for f in fills)
    assert total <= taker_fee_cc(10, 4500) + taker_fee_cc(15, 4600)
    assert total >= taker_fee_cc(25, 4500)


def test_taker_never_reuses_liquidity_it_took() -> None:
    model = FillModel()
    b = book(((5500, 10),))
    assert sum(f.count for f in model.take(b, Side.YES, 8, 4500)) == 8
    # the same book again (a recorded update showing the same size): only 2 are left for the replay
    model.on_book(book(((5500, 10),), ts=T0 + timedelta(seconds=1)))
    assert sum(f.count for f in model.take(b, Side.YES, 8, 4500)) == 2
    assert model.take(b, Side.YES, 8, 4500) == []


def test_taken_liquidity_is_forgotten_only_as_the_recorded_size_falls() -> None:
    model = FillModel()
    model.take(book(((5500, 10),)), Side.YES, 10, 4500)
    model.on_book(book(((5500, 4),)))   # the market itself took 6 more: the replay's 10 cap at 4
    assert model.take(book(((5500, 4),)), Side.YES, 5, 4500) == []
    model.on_book(book(((5500, 9),)))   # 5 new contracts arrived behind
    assert sum(f.count for f in model.take(book(((5500, 9),)), Side.YES, 9, 4500)) == 5
    model.on_book(book(()))             # the level is gone; a new one later is fresh liquidity
    assert sum(f.count for f in model.take(book(((5500, 7),)), Side.YES, 9, 4500)) == 7


def test_taker_gets_nothing_above_its_limit_or_from_an_empty_side() -> None:
    model = FillModel()
    assert model.take(book(((5400, 10),)), Side.YES, 5, limit_cc=4500) == []
    assert model.take(book(()), Side.YES, 5, limit_cc=9900) == []
    assert model.take(None, Side.NO, 5, limit_cc=9900) == []


def _trade(low: int, high: int) -> TradePrint:
    return TradePrint(T0, TICKER, low, high)


def test_resting_fills_only_on_a_trade_through_never_on_a_touch() -> None:
    model = FillModel(FillSettings(p_fill_losing=1.0, p_fill_winning=1.0))
    yes = RestingBuy("a", TICKER, Side.YES, 4000, 5, RESTED)
    assert model.on_trade(yes, _trade(4000, 4200)) is None       # touch
    fill = model.on_trade(yes, _trade(3900, 4200))               # through
    assert fill is not None and (fill.count, fill.price_cc, fill.fee_cc, fill.is_taker) == (5, 4000, 0, False)
    no = RestingBuy("b", TICKER, Side.NO, 3000, 5, RESTED)               # NO at 30c = YES offered at 70c
    assert model.on_trade(no, _trade(6000, 7000)) is None
    assert model.on_trade(no, _trade(6000, 7100)) is not None
    other = RestingBuy("c", "KXSOL15M-26JUN010830-30", Side.YES, 4000, 5, RESTED)
    assert model.on_trade(other, _trade(100, 9900)) is None


def test_resting_fills_only_on_trades_printed_after_it_came_to_rest() -> None:
    model = FillModel(FillSettings(p_fill_losing=1.0, p_fill_winning=1.0))
    order = RestingBuy("a", TICKER, Side.YES, 4000, 5, T0)
    # a candle ending when the order came to rest covers the minute before it: no fill
    assert model.on_trade(order, TradePrint(T0, TICKER, 3000, 4200)) is None
    assert model.on_trade(order, TradePrint(T0 - timedelta(seconds=30), TICKER, 3000, 4200)) is None
    fill = model.on_trade(order, TradePrint(T0 + timedelta(milliseconds=1), TICKER, 3000, 4200))
    assert fill is not None and fill.count == 5


def test_adverse_selection_fill_rates_by_outcome_are_the_measured_ones() -> None:
    model = FillModel(results={TICKER: Side.YES})
    losing = [RestingBuy(f"n{i}", TICKER, Side.NO, 3000, 1, RESTED) for i in range(20_000)]
    winning = [RestingBuy(f"y{i}", TICKER, Side.YES, 5000, 1, RESTED) for i in range(20_000)]
    through = _trade(100, 9900)
    rate_lose = sum(model.on_trade(o, through) is not None for o in losing) / len(losing)
    rate_win = sum(model.on_trade(o, through) is not None for o in winning) / len(winning)
    assert rate_lose == pytest.approx(0.962, abs=0.006)
    assert rate_win == pytest.approx(0.843, abs=0.01)


def test_draws_are_deterministic_and_depend_on_the_seed() -> None:
    a, b, c = FillModel(FillSettings(seed=1)), FillModel(FillSettings(seed=1)), FillModel(FillSettings(seed=2))
    ids = [f"o{i}" for i in range(50)]
    assert [a.draw(i) for i in ids] == [b.draw(i) for i in ids]
    assert [a.draw(i) for i in ids] != [c.draw(i) for i in ids]
    assert all(0.0 <= a.draw(i) < 1.0 for i in ids)


def test_bad_settings_are_refused() -> None:
    with pytest.raises(ValueError, match="latency"):
        FillSettings(latency_seconds=-1)
    with pytest.raises(ValueError, match="p_fill_losing"):
        FillSettings(p_fill_losing=1.5)


@settings(max_examples=200, deadline=None)
@given(consumed=st.dictionaries(st.tuples(st.sampled_from(["A", "B"]), st.sampled_from([Side.YES, Side.NO]),
                                          st.integers(1, 6).map(lambda c: 1_000 * c)),
                                st.integers(1, 50), max_size=8),
       yes=st.lists(st.tuples(st.integers(1, 6).map(lambda c: 1_000 * c), st.integers(1, 50)), max_size=4),
       no=st.lists(st.tuples(st.integers(1, 6).map(lambda c: 1_000 * c), st.integers(1, 50)), max_size=4))
def test_book_memory_reads_the_ladder_as_a_mapping(consumed: dict[tuple[str, Side, int], int],
                                                   yes: list[tuple[int, int]], no: list[tuple[int, int]]) -> None:
    """What the fill model keeps after a book tick is what reading each ladder as a dict of price to
    size (its last level at a price) gives."""
    model = FillModel()
    for (ticker, side, price), count in consumed.items():
        model.taken.setdefault(ticker, {})[side, price] = count
    tick = BookTick(T0, BookTop("A", None, 0, None, 0, T0), tuple(yes), tuple(no))
    expected: dict[str, dict[tuple[Side, int], int]] = {}
    for (ticker, side, price), taken in consumed.items():
        shown = dict(tick.bids(side)).get(price, 0) if ticker == "A" else taken
        if shown > 0:
            expected.setdefault(ticker, {})[side, price] = min(taken, shown)
    model.on_book(tick)
    assert model.taken == expected  # a market with nothing left remembered is gone
