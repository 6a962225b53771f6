"""The strategy stage's market-data tracker: exchange time, closing-window sums, staleness, bounds."""

from datetime import UTC, datetime, timedelta

import attrs

from kalshid.core.closing import ClosingObservation
from kalshid.core.signals import BookTop, IndexPrint
from kalshid.core.tracker import MarketInfo, MarketTracker

OPEN = datetime(2026, 7, 8, 22, 45, tzinfo=UTC)
CLOSE = OPEN + timedelta(minutes=15)
INFO = MarketInfo("KXSOL15M-26JUL081900-00", OPEN, CLOSE, 150.0)


def _top(at: datetime) -> BookTop:
    return BookTop(INFO.ticker, 4000, 10, 5500, 20, at)


def test_closing_sum_counts_only_prints_in_the_last_minute_before_close() -> None:
    t = MarketTracker()
    t.set_markets([INFO])
    for s in range(-90, 5):  # 90 s before close to 4 s after
        t.on_index(IndexPrint(CLOSE + timedelta(seconds=s), 100.0 + (s >= -60)))
    observed = t.closing(INFO.ticker)
    assert observed.observed_count == 60 and observed.observed_sum == 60 * 101.0
    assert t.closing("unknown") == ClosingObservation(0.0, 0)


def test_the_closing_observation_holds_until_the_next_print_and_follows_it() -> None:
    t = MarketTracker()
    t.set_markets([INFO])
    for s in range(-70, -20):  # from 10 s before the closing window to 20 s before the close
        t.on_index(IndexPrint(CLOSE + timedelta(seconds=s), 150.0 + s / 100))
    first = t.closing(INFO.ticker)
    assert (first.observed_count, first.observed_sum) == (40, sum(150.0 + s / 100 for s in reversed(range(-60, -20))))
    t.on_book(_top(CLOSE - timedelta(seconds=20)), stale=False)
    assert t.closing(INFO.ticker) is first  # a book change between prints: the same observation
    t.on_index(IndexPrint(CLOSE - timedelta(seconds=20), 151.0))
    assert t.closing(INFO.ticker).observed_count == 41  # the next print is in it
    t.set_markets([attrs.evolve(INFO, close_time=CLOSE + timedelta(seconds=10))])  # other listing facts
    assert t.closing(INFO.ticker).observed_count == 31  # [close - 50 s, close - 20 s], on the new close


def test_exchange_time_and_new_prints_ignore_replays() -> None:
    t = MarketTracker()
    t.set_markets([INFO])
    assert t.now is None and t.view(INFO.ticker, bankroll_cc=1, max_count=1) is None
    t.on_index(IndexPrint(OPEN + timedelta(seconds=10), 150.0))
    t.on_index(IndexPrint(OPEN + timedelta(seconds=9), 149.0))  # older: a replay after a reconnect
    assert t.now == OPEN + timedelta(seconds=10)
    assert [p.price for p in t.take_new_prints()] == [150.0]
    assert t.take_new_prints() == ()
    view = t.view(INFO.ticker, bankroll_cc=-5, max_count=3)
    assert view is not None and view.bankroll_cc == 0 and view.floor_strike == 150.0


def test_a_stale_book_is_hidden_until_a_fresh_one_arrives() -> None:
    t = MarketTracker()
    t.set_markets([INFO])
    at = OPEN + timedelta(seconds=30)
    t.on_book(_top(at), stale=False)
    assert t.book(INFO.ticker) == _top(at) and t.book_age_seconds(INFO.ticker) == 0.0
    t.mark_stale(INFO.ticker)
    assert t.book(INFO.ticker) is None and t.book_age_seconds(INFO.ticker) is None
    t.on_book(_top(at + timedelta(seconds=1)), stale=False)
    assert t.book(INFO.ticker) is not None
    # a book for a market not followed is ignored
    t.on_book(BookTop("KXSOL15M-26JUL081915-15", None, 0, None, 0, at), stale=False)
    assert t.tickers() == [INFO.ticker]


def test_index_history_is_bounded_by_its_window() -> None:
    t = MarketTracker(index_window=timedelta(minutes=1))
    for s in range(3600):
        t.on_index(IndexPrint(OPEN + timedelta(seconds=s), 150.0))
    assert len(t._prints) <= 61
    assert t.index_age_seconds(OPEN + timedelta(seconds=3605)) == 6.0


def test_inputs_say_whether_what_strategies_read_changed() -> None:
    t = MarketTracker()
    t.set_markets([INFO])
    at = OPEN + timedelta(seconds=5)
    assert t.on_index(IndexPrint(at, 150.0)) is True
    assert t.on_index(IndexPrint(at, 151.0)) is False  # a replayed time is not accepted
    assert t.on_book(_top(at), stale=False) is True  # the first book
    assert t.on_book(_top(at + timedelta(seconds=1)), stale=False) is False  # only re-confirmed
    assert t.on_book(attrs.evolve(_top(at), no_bid_size=21), stale=False) is True  # a size at the touch
    assert t.on_book(attrs.evolve(_top(at), no_bid_size=21), stale=True) is True  # hidden: stale
    assert t.on_book(attrs.evolve(_top(at), no_bid_size=21), stale=True) is False  # still hidden
    assert t.on_book(attrs.evolve(_top(at), no_bid_size=21), stale=False) is True  # shown again
    assert t.on_book(BookTop("KXSOL15M-OTHER", 4000, 1, None, 0, at), stale=False) is False  # not followed


def test_a_feed_faster_than_one_print_a_second_counts_each_second_of_the_closing_window_once() -> None:
    # A spot stand-in (Coinbase's ticker) prints several times a second: the settlement takes one print
    # per second, so each second counts once, with its first print, and no more than 60 are observed.
    t = MarketTracker()
    t.set_markets([INFO])
    start = CLOSE - timedelta(seconds=60)
    firsts: dict[int, float] = {}
    for i in range(-50, 150):  # every 0.4 s from 20 s before the window to 0.4 s before the close
        at = start + timedelta(milliseconds=400 * i)
        price = 150.0 + i / 100
        t.on_index(IndexPrint(at, price))
        if at >= start:
            firsts.setdefault((400 * i) // 1000, price)
        observed = t.closing(INFO.ticker)
        assert observed.observed_count == len(firsts)
        assert observed.observed_sum == sum(reversed(firsts.values()))
    assert len(firsts) == 60 and t.closing(INFO.ticker).observed_count == 60
