"""Property: the breaker trips exactly where ``loss >= Fraction(repr(limit)) * equity`` says, on random
equity paths across day boundaries, whatever the limits (its integer comparison is that, exactly)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from fractions import Fraction

from hypothesis import given, settings
from hypothesis import strategies as st

from kalshid.core.breaker import Breaker, BreakerConfig, BreakerReason, BreakerStatus, trading_day

T0 = datetime(2026, 7, 1, 22, 0, tzinfo=UTC)
fraction_st = st.one_of(st.sampled_from([0.1, 0.15, 0.2, 0.3, 1.0, 0.07]), st.floats(0.001, 1.0))


@settings(max_examples=300, deadline=None)
@given(daily=fraction_st, drawdown=fraction_st, start=st.integers(1, 10_000_000),
       path=st.lists(st.tuples(st.integers(0, 7_200), st.integers(-2_000_000, 2_000_000)), max_size=30))
def test_trips_where_the_exact_fractions_say(daily: float, drawdown: float, start: int,
                                             path: list[tuple[int, int]]) -> None:
    config = BreakerConfig(max_daily_loss_fraction=daily, max_drawdown_fraction=drawdown)
    breaker = Breaker.start(T0, start, config)
    day, day_start, peak, halted = trading_day(T0), start, start, False
    now = T0
    for step, delta in path:
        now += timedelta(seconds=step)
        equity = max(0, start + delta)
        if trading_day(now) != day:
            day, day_start = trading_day(now), equity
        peak = max(peak, equity)
        expect: BreakerReason | None = None
        if not halted:
            if day_start - equity > 0 and day_start - equity >= Fraction(repr(daily)) * day_start:
                expect = BreakerReason.DAILY_LOSS
            elif peak - equity > 0 and peak - equity >= Fraction(repr(drawdown)) * peak:
                expect = BreakerReason.DRAWDOWN
        breaker, events = breaker.observe(now, equity)
        assert [e.reason for e in events] == ([expect] if expect else [])
        halted = halted or expect is not None
        assert (breaker.status is BreakerStatus.HALTED) == halted
        assert (breaker.day, breaker.day_start_equity_cc, breaker.peak_equity_cc) == (day, day_start, peak)
