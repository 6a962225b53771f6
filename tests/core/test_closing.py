"""The published closing average in the last minute: joined to the own prints, or a fallback with a reason."""

import math
from datetime import UTC, datetime, timedelta

import pytest

from kalshid.core.closing import OWN, PUBLISHED, closing_observation
from kalshid.core.pricing import fair_yes_probability
from kalshid.core.signals import BookTop, IndexPrint
from kalshid.core.strategies.base import PriceHistory
from kalshid.core.strategies.kelly_volatility import KellyVolatility, KellyVolatilityParams
from kalshid.core.tracker import MarketInfo, MarketTracker

OPEN = datetime(2026, 7, 8, 22, 45, tzinfo=UTC)
CLOSE = OPEN + timedelta(minutes=15)
START = CLOSE - timedelta(seconds=60)
STRIKE = 100.0
INFO = MarketInfo("KXSOL15M-26JUL081900-00", OPEN, CLOSE, STRIKE)


def _obs(w: int | None = 30, avg: float | None = 99.9, *, start: float | None = 100.0, own_count: int = 31,
         own_sum: float = 3100.0, at: int | None = None, price: float = 100.1):
    ts = START + timedelta(seconds=at if at is not None else (w or 30))
    return closing_observation(close_time=CLOSE, own_sum=own_sum, own_count=own_count, start_print=start,
                               print_ts=ts, print_price=price, published_avg=avg, published_window=w)


def test_the_published_average_and_the_window_start_print_give_the_settlement_prints() -> None:
    o = _obs()
    assert o.source == PUBLISHED
    assert o.observed_count == 31 and o.observed_sum == pytest.approx(30 * 99.9 + 100.0)
    assert "differs" in o.note  # own prints average 100.0, the published ones 99.9


def test_at_the_close_tick_the_close_print_is_taken_out() -> None:
    o = _obs(w=60, avg=100.5, at=60, price=103.0, own_count=60, own_sum=0.0)
    assert o.source == PUBLISHED and o.observed_count == 60
    assert o.observed_sum == pytest.approx(60 * 100.5 - 103.0 + 100.0)


@pytest.mark.parametrize(("kwargs", "reason"), [
    ({"w": None, "avg": None}, "no published closing average 30 s into the closing window"),
    ({"w": 0}, "window_size 0 is not in [1, 60]"),
    ({"w": 61, "at": 30}, "window_size 61 is not in [1, 60]"),
    ({"avg": float("nan")}, "is not a positive number"),
    ({"avg": -1.0}, "is not a positive number"),
    ({"avg": 150.0}, "from the index print"),
    ({"w": 25, "at": 30}, "is short: window_size 25 but 30 s of the window elapsed"),
    ({"w": 35, "at": 30}, "is long: window_size 35 but 30 s"),
    ({"start": None}, "the own print at close - 60 s"),
])
def test_missing_garbled_short_or_unjoinable_averages_fall_back_to_own_prints(kwargs: dict, reason: str) -> None:
    o = _obs(**kwargs)
    assert o.source == OWN and (o.observed_sum, o.observed_count) == (3100.0, 31)
    assert reason in o.note


def test_nothing_is_due_before_the_last_minute() -> None:
    o = _obs(w=None, avg=None, at=-5)
    assert o.source == OWN and o.note == ""


def _tracker_with_gap() -> MarketTracker:
    """Own prints 100.0 from close-60 s to close-31 s, then a gap; the print at close-30 s publishes
    an average of 99.9 over the 30 prints from close-59 s."""
    t = MarketTracker()
    t.set_markets([INFO])
    for s in range(-120, -30):
        t.on_index(IndexPrint(CLOSE + timedelta(seconds=s), 100.0))
    return t


def test_the_strategy_prices_the_last_minute_from_the_published_average() -> None:
    t = _tracker_with_gap()
    t.on_index(IndexPrint(START + timedelta(seconds=30), 100.1, close_avg=99.9, close_avg_window=30))
    view = t.view(INFO.ticker, bankroll_cc=10_000_000, max_count=100)
    assert view is not None and view.closing_source == PUBLISHED and view.closing_count == 31
    # by hand: 31 settlement prints sum to 30*99.9 + 100.0 = 3097; the 29 still to come (the first
    # 1 s ahead) must sum to R = 6000 - 3097 = 2903; Var Y = s^2 (1 + 28*57/(6*29)).
    sigma = 1e-5
    sd = sigma * math.sqrt(1 + 28 * 57 / (6 * 29))
    expected = 0.5 * math.erfc(-math.log(29 * 100.1 / 2903.0) / sd / math.sqrt(2))
    assert expected == pytest.approx(0.1400, abs=5e-4)
    assert fair_yes_probability(100.1, STRIKE, sigma, 30.0, observed_sum=view.closing_sum,
                                observed_count=view.closing_count) == pytest.approx(expected, rel=1e-9)

    k = KellyVolatility(KellyVolatilityParams(min_edge=0.0, warmup_seconds=0.0))
    path = [IndexPrint(CLOSE + timedelta(seconds=s), 100.0 * math.exp(1e-5 * (-1) ** s)) for s in range(-900, -30)]
    book = BookTop(INFO.ticker, 5000, 10, 4000, 10, view.now)  # NO ask 0.50, YES ask 0.60
    signal = k.analyze(view, t.last_print, PriceHistory(index=path), book)
    assert k.last_model_yes is not None
    own_only = fair_yes_probability(100.1, STRIKE, k.vol.sigma_per_sqrt_second, 30.0,
                                    observed_sum=30 * 100.0, observed_count=30)
    assert k.last_model_yes == pytest.approx(
        fair_yes_probability(100.1, STRIKE, k.vol.sigma_per_sqrt_second, 30.0, observed_sum=3097.0,
                             observed_count=31), rel=1e-9)
    assert abs(k.last_model_yes - own_only) > 0.05  # the published average changed the answer
    assert signal is not None and "closing=31/60 published" in signal.reason


def test_a_garbled_average_leaves_the_own_prints_and_says_why() -> None:
    t = _tracker_with_gap()
    t.on_index(IndexPrint(START + timedelta(seconds=30), 100.1, close_avg=99.9, close_avg_window=12))
    view = t.view(INFO.ticker, bankroll_cc=1, max_count=1)
    assert view is not None and view.closing_source == OWN
    assert (view.closing_sum, view.closing_count) == (30 * 100.0 + 100.1, 31)
    assert "short: window_size 12" in view.closing_note
