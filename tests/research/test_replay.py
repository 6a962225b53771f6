"""The replay engine: the daemon's decision rules, latency, risk gates, settlement, determinism."""

from collections.abc import Mapping
from datetime import datetime, timedelta
from typing import Any

import attrs
import pytest

from kalshid.core.fees import taker_fee_cc
from kalshid.core.markets import window_closing_at
from kalshid.core.portfolio import window_close
from kalshid.core.signals import BookTop, IndexPrint, MarketView, Signal
from kalshid.core.strategies import StrategyRegistry
from kalshid.core.strategies.base import BaseStrategy, PriceHistory
from kalshid.core.vocab import Action, Side
from kalshid.research.engine import Replay
from kalshid.research.events import BookTick, Event, IndexTick, MarketListed, Settled, TradePrint, event_sort_key
from kalshid.research.fills import FillSettings
from kalshid.research.settings import BacktestSettings

TICKER = "KXSOL15M-26JUN010815-15"
CLOSE = window_close(TICKER)
OPEN = window_closing_at(CLOSE).open_time


@attrs.frozen
class _Params:
    count: int = 10


class BuyYesAtAsk(BaseStrategy):
    """Test strategy: buys ``count`` YES at the ask on every call while the market is open."""

    name = "buy_yes"
    params_class = _Params

    def analyze(self, market: MarketView, current_price: IndexPrint | None, price_history: PriceHistory,
                orderbook: BookTop | None) -> Signal | None:
        ask = orderbook.ask(Side.YES) if orderbook else None
        if ask is None or not market.is_open:
            return None
        return Signal(self.name, market.ticker, Side.YES, Action.BUY, ask[0], self.params.count, 0.9, 0.1, 1.0,
                      "test", market.now)

    def _adopt_state(self, old: "BuyYesAtAsk") -> None:
        pass

    def statistics(self) -> Mapping[str, object]:
        return {}


def tick(ts: datetime, no_bid: int, size: int = 100) -> BookTick:
    return BookTick(ts, BookTop(TICKER, 10_000 - no_bid - 200, size, no_bid, size, ts))


def replay(events: list[Event], **settings: Any) -> Replay:
    r = Replay(BacktestSettings(**settings))
    r.registry = StrategyRegistry([BuyYesAtAsk()])
    r.run(sorted(events, key=event_sort_key))
    return r


def market_events(*ticks: BookTick, result: Side = Side.YES) -> list[Event]:
    out: list[Event] = [MarketListed(OPEN, TICKER, OPEN, CLOSE, 150.0)]
    out += [IndexTick(t.ts, 150.0) for t in ticks]
    out += list(ticks)
    out.append(Settled(CLOSE, TICKER, result))
    return out


def test_a_signal_fills_at_the_ask_and_settles_to_the_cent() -> None:
    r = replay(market_events(tick(OPEN + timedelta(minutes=1), 6000)), fills=FillSettings(latency_seconds=0))
    (t,) = r.result.trades
    assert (t.side, t.count, t.price_cc, t.is_taker) == ("yes", 10, 4000, True)
    assert t.fee_cc == 1700  # ceil(0.07 * 10 * 0.40 * 0.60 $) = $0.17
    assert t.pnl_cc == 10 * 10_000 - 10 * 4000 - 1700
    assert r.portfolio.cash_cc == 100_000_000 + t.pnl_cc
    assert r.result.pnl_cc == t.pnl_cc


def test_target_position_is_topped_up_not_repeated() -> None:
    ticks = [tick(OPEN + timedelta(minutes=m), 6000) for m in (1, 2, 3)]
    r = replay(market_events(*ticks), fills=FillSettings(latency_seconds=0))
    assert sum(t.count for t in r.result.trades) == 10
    assert r.result.counters["signals_at_target"] == 2


def test_latency_fills_against_the_book_at_arrival() -> None:
    t1 = OPEN + timedelta(minutes=1)
    # the ask moves from 40c to 45c 0.1 s after the decision; the order (limit 40c) arrives at 0.25 s
    moved = tick(t1 + timedelta(seconds=0.1), 5500)
    r = replay(market_events(tick(t1, 6000), moved), fills=FillSettings(latency_seconds=0.25))
    assert r.result.trades == []
    assert r.result.counters["orders_unfilled"] == 1
    # without latency it fills at 40c
    r0 = replay(market_events(tick(t1, 6000), moved), fills=FillSettings(latency_seconds=0.0))
    assert [t.price_cc for t in r0.result.trades] == [4000]


def test_the_risk_engine_gates_entries_near_the_close_and_on_stale_data() -> None:
    late = tick(CLOSE - timedelta(seconds=30), 6000)
    r = replay(market_events(late), fills=FillSettings(latency_seconds=0))
    assert r.result.trades == [] and r.result.counters["rejected_entry_cutoff"] == 1
    early = OPEN + timedelta(minutes=1)
    stale = [MarketListed(OPEN, TICKER, OPEN, CLOSE, 150.0), IndexTick(early - timedelta(seconds=30), 150.0),
             tick(early, 6000), Settled(CLOSE, TICKER, Side.YES)]
    r = replay(stale, fills=FillSettings(latency_seconds=0))
    assert r.result.trades == [] and r.result.counters["rejected_stale_index"] == 1


def test_losing_trades_lose_cost_and_fee() -> None:
    r = replay(market_events(tick(OPEN + timedelta(minutes=1), 6000), result=Side.NO),
               fills=FillSettings(latency_seconds=0))
    (t,) = r.result.trades
    assert t.pnl_cc == -(10 * 4000 + 1700)
    assert t.result == "no"


def test_replay_is_deterministic() -> None:
    ticks = [tick(OPEN + timedelta(minutes=m), 6000 - 100 * m) for m in range(1, 14)]
    a = replay(market_events(*ticks))
    b = replay(market_events(*ticks))
    assert [attrs.asdict(t) for t in a.result.trades] == [attrs.asdict(t) for t in b.result.trades]
    assert a.result.equity == b.result.equity


def test_a_tripped_breaker_stops_new_entries() -> None:
    # 10 YES at 40c settling NO lose $4.17 of a $10 bankroll: the 20 % daily-loss breaker trips
    first = [tick(OPEN + timedelta(minutes=1), 6000)]
    events = market_events(*first, result=Side.NO)
    nxt = "KXSOL15M-26JUN010830-30"
    close2 = window_close(nxt)
    open2 = close2 - timedelta(minutes=15)
    t2 = open2 + timedelta(minutes=1)
    events += [MarketListed(open2, nxt, open2, close2, 150.0), IndexTick(t2, 150.0),
               BookTick(t2, BookTop(nxt, 3800, 100, 6000, 100, t2)), Settled(close2, nxt, Side.YES)]
    r = replay(events, fills=FillSettings(latency_seconds=0), bankroll_cc=100_000)
    assert [t.ticker for t in r.result.trades] == [TICKER]
    assert r.result.breaker_events and "halted" in r.result.breaker_events[0]
    # the next market's signal is suppressed while the breaker is halted: counted, never sent to risk
    assert r.result.counters["signals_suppressed"] == 1
    assert "rejected_breaker_halted" not in r.result.counters and len(r.result.signals) == 1


def test_event_evaluation_asks_after_each_trigger_within_a_timestamp() -> None:
    t1 = OPEN + timedelta(minutes=1)
    # an index print and a book update at the same exchange time: one evaluation, or one per event
    events = market_events(tick(t1, 6000))
    per_ts = replay(events, fills=FillSettings(latency_seconds=0))
    per_event = replay(events, fills=FillSettings(latency_seconds=0), evaluation="event")
    assert (per_ts.result.counters["evaluations"], per_event.result.counters["evaluations"]) == (1, 2)
    assert per_ts.result.counters["signals_proposed"] == 1
    # after the print alone the book is not known yet: no signal; after the book: the same one signal
    assert per_event.result.counters["signals_proposed"] == 1
    assert [t.price_cc for t in per_event.result.trades] == [t.price_cc for t in per_ts.result.trades]


def test_strategies_are_asked_only_when_an_input_changed() -> None:
    # kalshid.core.decision, "When to evaluate": index prints and changes of the current market's top
    t1 = OPEN + timedelta(minutes=1)
    top = BookTop(TICKER, 3800, 100, 6000, 100, t1)
    deep = [BookTick(t1 + timedelta(seconds=s / 10), attrs.evolve(top, updated_at=t1 + timedelta(seconds=s / 10)),
                     ((3800, 100), (3700, s)), ((6000, 100), (5900, s)))
            for s in range(1, 6)]  # the top re-confirmed, a level below it changing
    resized = BookTick(t1 + timedelta(seconds=0.7), attrs.evolve(top, yes_bid_size=40,
                                                                  updated_at=t1 + timedelta(seconds=0.7)))
    events: list[Event] = [MarketListed(OPEN, TICKER, OPEN, CLOSE, 150.0), IndexTick(t1, 150.0),
                           BookTick(t1, top), *deep, resized, IndexTick(t1 + timedelta(seconds=1), 150.1),
                           Settled(CLOSE, TICKER, Side.YES)]
    r = replay(events, fills=FillSettings(latency_seconds=0))
    # the first print and book (one time), the size change at the touch, the next print: 3, not 9
    assert r.result.counters["evaluations"] == 3
    per_event = replay(events, fills=FillSettings(latency_seconds=0), evaluation="event")
    assert per_event.result.counters["evaluations"] == 4  # the first print and the first book apart


def test_a_listing_seen_again_changes_the_followed_market_only_when_it_says_something_new() -> None:
    # a recording repeats each listing every few seconds; the strike is published after the open
    t1 = OPEN + timedelta(minutes=1)
    events: list[Event] = [MarketListed(OPEN, TICKER, OPEN, CLOSE, None),
                           MarketListed(t1, TICKER, OPEN, CLOSE, None),
                           MarketListed(t1 + timedelta(seconds=5), TICKER, OPEN, CLOSE, 151.0),
                           MarketListed(t1 + timedelta(seconds=10), TICKER, OPEN, CLOSE, 151.0)]
    r = Replay(BacktestSettings())
    followed: list[list[float | None]] = []
    set_markets = r.tracker.set_markets
    r.tracker.set_markets = lambda markets: (followed.append([m.floor_strike for m in markets]),  # type: ignore[method-assign]
                                             set_markets(markets))[1]
    r.run(events)
    assert followed == [[None], [151.0]]


def test_a_listing_is_every_field_but_the_time_it_was_seen() -> None:
    listed = MarketListed(OPEN, TICKER, OPEN, CLOSE, 150.0)
    other = {"ticker": "KXSOL15M-26JUN010830-30", "open_time": CLOSE, "close_time": CLOSE + timedelta(minutes=15),
             "floor_strike": 151.0}
    assert set(attrs.fields_dict(MarketListed)) == {"ts", *other}
    assert attrs.evolve(listed, ts=CLOSE).listing == listed.listing
    for name, value in other.items():
        assert attrs.evolve(listed, **{name: value}).listing != listed.listing, name


@attrs.frozen
class _RestingSignal(Signal):
    time_in_force: str = "good_till_canceled"


class BidYesBelowAsk(BuyYesAtAsk):
    """Test strategy: a resting YES bid ``below_ask`` cc under the ask (good-till-cancelled by default)."""

    name = "bid_yes"
    below_ask = 100
    time_in_force = "good_till_canceled"

    def analyze(self, market: MarketView, current_price: IndexPrint | None, price_history: PriceHistory,
                orderbook: BookTop | None) -> Signal | None:
        ask = orderbook.ask(Side.YES) if orderbook else None
        if ask is None or not market.is_open:
            return None
        return _RestingSignal(self.name, market.ticker, Side.YES, Action.BUY, ask[0] - self.below_ask,
                              self.params.count, 0.9, 0.1, 1.0, "test", market.now, time_in_force=self.time_in_force)


def _resting_replay(events: list[Event], latency: float, below_ask: int = 100,
                    time_in_force: str = "good_till_canceled") -> Replay:
    strategy = BidYesBelowAsk()
    strategy.below_ask, strategy.time_in_force = below_ask, time_in_force
    r = Replay(BacktestSettings(fills=FillSettings(latency_seconds=latency), evaluation="event"))
    r.registry = StrategyRegistry([strategy])
    r.run(sorted(events, key=event_sort_key))
    return r


@pytest.mark.parametrize("latency", [0.0, 0.25])
def test_a_resting_order_never_fills_on_trades_printed_before_it_rested(latency: float) -> None:
    # a candle at t1 (the shared data's minute ending at t1): its book, then its trades, which happened
    # before the decision the book triggers; per-event evaluation places the bid between the two
    t1 = OPEN + timedelta(minutes=1)
    through = TradePrint(t1, TICKER, 3000, 4200)  # YES low 30c: through the 39c bid
    r = _resting_replay([*market_events(tick(t1, 6000)), through], latency)
    assert r.result.counters["approved"] == 1
    assert r.result.trades == []
    # trades printed while the order is on its way do not fill it either; one printed after it does
    after = t1 + timedelta(seconds=latency)
    early = [TradePrint(after - timedelta(seconds=0.1), TICKER, 3000, 4200)] if latency else []
    later = TradePrint(after + timedelta(seconds=1), TICKER, 3000, 4200)
    r = _resting_replay([*market_events(tick(t1, 6000)), through, *early, later], latency)
    assert [(t.ts, t.price_cc, t.count, t.is_taker) for t in r.result.trades] == [(later.ts, 3900, 10, False)]


def test_a_post_only_order_at_or_through_the_ask_is_refused_not_rested() -> None:
    t1 = OPEN + timedelta(minutes=1)
    later = TradePrint(t1 + timedelta(seconds=30), TICKER, 3000, 4200)
    for below_ask in (0, -100):  # at the 40c ask, and through it at 41c
        r = _resting_replay([*market_events(tick(t1, 6000)), later], 0.0, below_ask, "post_only")
        assert r.result.trades == []
        assert r.result.counters["resting_refused_post_only_would_cross"] == 1


def test_a_good_till_cancelled_order_through_the_ask_takes_it_and_rests_the_rest() -> None:
    # 4 YES offered at 40c; a bid for 10 at 41c takes the 4 as a taker (with the taker fee), rests 6
    t1 = OPEN + timedelta(minutes=1)
    later = TradePrint(t1 + timedelta(seconds=30), TICKER, 3000, 4200)
    r = _resting_replay([*market_events(tick(t1, 6000, size=4)), later], 0.25, -100)
    assert [(t.price_cc, t.count, t.is_taker, t.fee_cc) for t in r.result.trades] == [
        (4000, 4, True, taker_fee_cc(4, 4000)), (4100, 6, False, 0)]
    assert r.result.trades[0].ts == t1 + timedelta(seconds=0.25)


def test_with_fills_as_recorded_the_model_never_fills_a_resting_order() -> None:
    t1 = OPEN + timedelta(minutes=1)
    later = TradePrint(t1 + timedelta(seconds=30), TICKER, 3000, 4200)
    strategy = BidYesBelowAsk()
    r = Replay(BacktestSettings(fills=FillSettings(latency_seconds=0), fills_as_recorded=True))
    r.registry = StrategyRegistry([strategy])
    r.run(sorted([*market_events(tick(t1, 6000)), later], key=event_sort_key))
    assert r.result.counters["approved"] == 1 and r.result.trades == []
