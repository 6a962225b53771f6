"""The builders that fill a frozen value's slots without its constructor's checks
(:mod:`kalshid.core.slots`) give the value the checked constructor gives, field for field; the
tracker still checks a market's listing facts before it builds unchecked views of it, and shares a view
only while nothing it reads has changed."""

from __future__ import annotations

import math
from datetime import UTC, datetime, timedelta
from functools import partial

import attrs
import pytest
from hypothesis import given
from hypothesis import strategies as st

from kalshid.core.decision import Evaluation, Outcome, evaluate_strategies, top_changed
from kalshid.core.signals import BookTop, IndexPrint, MarketView, Signal, market_view_unchecked, signal_unchecked
from kalshid.core.sizing import SizeDecision, edge_per_contract, size_binary
from kalshid.core.strategies import KellyVolatility, MeanReversion, PriceHistory
from kalshid.core.tracker import MarketInfo, MarketTracker
from kalshid.core.vocab import Action, Side

T0 = datetime(2026, 6, 1, tzinfo=UTC)
times = st.integers(0, 10_000).map(lambda s: T0 + timedelta(seconds=s))


def _same(a: object, b: object) -> None:
    assert type(a) is type(b)
    assert attrs.astuple(a, recurse=False) == attrs.astuple(b, recurse=False)
    assert a == b and hash(a) == hash(b) and repr(a) == repr(b)


@given(st.text(min_size=1, max_size=8), st.sampled_from(list(Side)), st.integers(1, 9_999), st.integers(1, 10**6),
       st.floats(0, 1), st.floats(-1, 1), st.floats(0, 1), st.booleans(), times)
def test_signal_unchecked_is_the_checked_signal(ticker: str, side: Side, price: int, count: int, fair: float,
                                                edge: float, confidence: float, lazy: bool, at: datetime) -> None:
    reason = partial(str, "why") if lazy else "why"
    fast = signal_unchecked("s", ticker, side, Action.BUY, price, count, fair, edge, confidence, reason, at)
    plain = Signal(strategy="s", ticker=ticker, side=side, action=Action.BUY, price_cc=price, count=count,
                   fair_prob=fair, edge=edge, confidence=confidence, reason=reason, created_at=at)
    _same(fast, plain)
    assert fast.reason == "why"


@given(st.integers(1, 10**6), st.integers(1, 10**6), st.booleans())
def test_a_signal_with_another_count_is_the_evolved_signal(count: int, new_count: int, lazy: bool) -> None:
    reason = partial(str, "why") if lazy else "why"
    signal = Signal("s", "T", Side.NO, Action.BUY, 4_200, count, 0.6, 0.05, 0.5, reason, T0)
    rest = signal.with_count(new_count)
    # the same signal but for its count, its edge (that of an order of the new count, with its own fee) and
    # its reason, which says it is the rest of a target (formatted when read, as the strategy's own)
    evolved = attrs.evolve(signal, count=new_count, edge=edge_per_contract(0.6, new_count, 4_200),
                           reason=f"why (rest of a target of {count})")
    assert type(rest) is Signal and rest == evolved and hash(rest) == hash(evolved) and repr(rest) == repr(evolved)
    assert rest.reason == f"why (rest of a target of {count})"
    for bad in (0, -1, 2.0, True):
        with pytest.raises(ValueError, match="signal count must be an int > 0"):
            signal.with_count(bad)  # type: ignore[arg-type]


@given(times, st.integers(1, 3_600), times, st.one_of(st.none(), st.floats(0.01, 1e6)), st.integers(0, 10**9),
       st.integers(0, 10**4), st.floats(0, 1e6), st.integers(0, 60))
def test_market_view_unchecked_is_the_checked_view(open_time: datetime, length: int, now: datetime,
                                                   strike: float | None, bankroll: int, max_count: int,
                                                   closing_sum: float, closing_count: int) -> None:
    args = ("T", open_time, open_time + timedelta(seconds=length), now, strike, bankroll, max_count,
            closing_sum, closing_count, "own", "")
    _same(market_view_unchecked(*args), MarketView(*args))


def _tracker(info: MarketInfo) -> MarketTracker:
    tracker = MarketTracker()
    tracker.set_markets([info])
    tracker.on_index(IndexPrint(T0 + timedelta(seconds=5), 150.0))
    return tracker


def test_tracker_views_are_checked_views_second_by_second() -> None:
    info = MarketInfo("T", T0, T0 + timedelta(minutes=15), 150.0)
    tracker = _tracker(info)
    for s in range(6, 15 * 60 + 5):
        tracker.on_index(IndexPrint(T0 + timedelta(seconds=s), 150.0 + s / 1000, None, None))
        view = tracker.view("T", bankroll_cc=(s % 7) - 3, max_count=s % 5 - 1)
        assert view is not None
        closing = tracker.closing("T") if s >= 14 * 60 else None
        plain = MarketView("T", info.open_time, info.close_time, T0 + timedelta(seconds=s), 150.0,
                           max(0, (s % 7) - 3), max(0, s % 5 - 1),
                           closing.observed_sum if closing else 0.0, closing.observed_count if closing else 0,
                           closing.source if closing else "own", closing.note if closing else "")
        _same(view, plain)


@given(st.lists(st.tuples(st.sampled_from(["index", "book", "view"]), st.integers(0, 1), st.integers(-1, 2)),
                max_size=60))
def test_a_shared_view_is_the_view_built_again(ops: list[tuple[str, int, int]]) -> None:
    """The tracker shares its last view while nothing a view reads has changed: at each step, under
    bursts of books and prints at one exchange time around the closing window, its view is the one
    built afresh (the memo cleared)."""
    info = MarketInfo("T", T0, T0 + timedelta(minutes=15), 150.0)
    tracker = _tracker(info)
    at = T0 + timedelta(minutes=14, seconds=-2)
    for i, (kind, step, bankroll) in enumerate(ops):
        at += timedelta(seconds=step)
        if kind == "index":
            tracker.on_index(IndexPrint(at, 150.0 + i / 100))
        elif kind == "book":
            tracker.on_book(BookTop("T", 4_000 + i, 3, 5_000, 4, at), stale=False)
        view = tracker.view("T", bankroll_cc=bankroll, max_count=5)
        tracker._view_memo = None
        _same(view, tracker.view("T", bankroll_cc=bankroll, max_count=5))


def test_a_view_is_shared_until_what_it_reads_changes() -> None:
    info = MarketInfo("T", T0, T0 + timedelta(minutes=15), 150.0)
    tracker = _tracker(info)
    at = T0 + timedelta(minutes=14, seconds=30)  # inside the closing window
    tracker.on_book(BookTop("T", 4_000, 3, 5_000, 4, at), stale=False)
    first = tracker.view("T", bankroll_cc=10, max_count=5)
    assert tracker.view("T", bankroll_cc=10, max_count=5) is first
    tracker.on_book(BookTop("T", 4_100, 3, 5_000, 4, at), stale=False)  # the same exchange time
    assert tracker.view("T", bankroll_cc=10, max_count=5) is first
    for changed in (tracker.view("T", bankroll_cc=11, max_count=5), tracker.view("T", bankroll_cc=11, max_count=6)):
        assert changed is not first
    tracker.on_index(IndexPrint(at, 151.0))  # a print at the book's time: a closing print more
    after = tracker.view("T", bankroll_cc=11, max_count=6)
    assert after.closing_count == first.closing_count + 1 and after.now == first.now


@pytest.mark.parametrize("bad", [
    MarketInfo("T", T0 + timedelta(minutes=15), T0, 150.0),              # closes before it opens
    MarketInfo("T", T0, T0 + timedelta(minutes=15), float("nan")),       # no finite strike
    MarketInfo("T", T0, T0 + timedelta(minutes=15), -1.0),
])
def test_tracker_checks_new_listing_facts_before_unchecked_views(bad: MarketInfo) -> None:
    tracker = _tracker(MarketInfo("T", T0, T0 + timedelta(minutes=15), 150.0))
    assert tracker.view("T", bankroll_cc=1, max_count=1) is not None
    assert tracker.view("T", bankroll_cc=1, max_count=1) is not None  # the unchecked path
    tracker.set_markets([bad])
    for _ in range(2):
        with pytest.raises(ValueError):
            tracker.view("T", bankroll_cc=1, max_count=1)


@given(st.floats(0, 1), st.integers(1, 9_999), st.integers(0, 10**9), st.floats(0.01, 1), st.integers(0, 10**4))
def test_size_decision_is_the_constructed_one(fair: float, price: int, bankroll: int, fraction: float,
                                              cap: int) -> None:
    d = size_binary(fair, price, bankroll, kelly_fraction=fraction, max_count=cap)
    if d is not None:
        _same(d, SizeDecision(*attrs.astuple(d, recurse=False)))


def test_evaluations_and_signals_of_the_strategies_are_the_constructed_ones() -> None:
    kelly, mr = KellyVolatility(), MeanReversion()
    tracker = _tracker(MarketInfo("T", T0, T0 + timedelta(minutes=15), 150.0))
    seen = 0
    for s in range(6, 15 * 60):
        at = T0 + timedelta(seconds=s)
        tracker.on_index(IndexPrint(at, 150.0 + (s % 13) / 10))
        tracker.on_book(BookTop("T", 3_000 + (s % 40) * 100, 5, 3_000 - (s % 30) * 100, 7, at), stale=False)
        view = tracker.view("T", bankroll_cc=10**8, max_count=100)
        assert view is not None
        out = evaluate_strategies([kelly, mr], view, tracker.last_print, PriceHistory(), tracker.book("T"),
                                  trading_enabled=s % 3 != 0, busy=(), holdings={("kelly_volatility", "T", "yes"): 2})
        for ev in out:
            _same(ev, Evaluation(*attrs.astuple(ev, recurse=False)))
            if ev.signal is not None:
                seen += 1
                fields = attrs.asdict(ev.signal, recurse=False)
                fields["reason"] = fields.pop("_reason")
                _same(ev.signal, Signal(**fields))
    assert seen > 0
    assert {ev.outcome for ev in out} <= set(Outcome)


@given(st.floats(0, 1e-3), st.one_of(st.floats(-1.0, 1e4), st.just(math.nan)), st.floats(0, 1.0))
def test_vol_sigma_reads_the_variance_and_the_floor(weighted: float, evidence: float, floor: float) -> None:
    from kalshid.core.vol import EwmaVol, per_sqrt_minute_to_per_sqrt_second

    vol = attrs.evolve(EwmaVol(microstructure_floor=floor), weighted_variance=weighted, evidence_seconds=evidence)
    variance = vol.variance_per_second
    plain = max(math.sqrt(variance) if variance is not None else 0.0, per_sqrt_minute_to_per_sqrt_second(floor))
    assert repr(vol.sigma_per_sqrt_second) == repr(plain)
    assert vol.floor_per_sqrt_second == per_sqrt_minute_to_per_sqrt_second(floor)


tops = st.builds(lambda yes, ys, no, ns: BookTop("T", yes, ys if yes else 0, no, ns if no else 0, T0),
                 st.sampled_from([None, 4_000, 4_100]), st.integers(1, 3), st.sampled_from([None, 5_000, 5_100]),
                 st.integers(1, 3))


@given(st.lists(st.tuples(tops, st.booleans()), min_size=1, max_size=12))
def test_tracker_on_book_is_top_changed(inputs: list[tuple[BookTop, bool]]) -> None:
    tracker = MarketTracker()
    tracker.set_markets([MarketInfo("T", T0, T0 + timedelta(minutes=15), 150.0)])
    for top, stale in inputs:
        before = tracker.book("T")
        assert tracker.on_book(top, stale=stale) == top_changed(before, None if stale else top)
