"""Circuit breaker transitions."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from kalshid.core.breaker import (
    Breaker,
    BreakerConfig,
    BreakerError,
    BreakerReason,
    BreakerStatus,
    trading_day,
)

T0 = datetime(2026, 7, 1, 10, 0, tzinfo=UTC)


def test_daily_loss_trips_at_twenty_percent() -> None:
    b = Breaker.start(T0, 1_000_000, BreakerConfig(max_drawdown_fraction=1.0))
    b, ev = b.observe(T0 + timedelta(minutes=1), 800_001)
    assert b.status is BreakerStatus.RUNNING and ev == ()
    b, ev = b.observe(T0 + timedelta(minutes=2), 800_000)
    assert b.status is BreakerStatus.HALTED
    assert ev[0].reason is BreakerReason.DAILY_LOSS and ev[0].from_status is BreakerStatus.RUNNING
    assert ev[0].detail == "daily loss $20.0000 >= 20% of start-of-day equity $100.0000"
    assert not b.allows_exits and not b.allows_entries


def test_drawdown_from_peak_trips_at_fifteen_percent() -> None:
    b = Breaker.start(T0, 1_000_000, BreakerConfig(max_daily_loss_fraction=0.5))
    b, _ = b.observe(T0 + timedelta(minutes=1), 2_000_000)
    b, ev = b.observe(T0 + timedelta(minutes=2), 1_700_001)
    assert ev == ()
    b, ev = b.observe(T0 + timedelta(minutes=3), 1_700_000)
    assert b.status is BreakerStatus.HALTED and ev[0].reason is BreakerReason.DRAWDOWN
    assert ev[0].detail == "drawdown $30.0000 >= 15% of peak equity $200.0000"


def test_a_small_limit_is_stated_with_its_digits() -> None:
    b = Breaker.start(T0, 1_000_000, BreakerConfig(max_drawdown_fraction=0.0001))
    _, ev = b.observe(T0 + timedelta(minutes=1), 999_900)
    assert ev[0].detail == "drawdown $0.0100 >= 0.01% of peak equity $100.0000"


def test_halted_stays_halted_until_reset_which_rebases() -> None:
    b, _ = Breaker.start(T0, 1_000_000).observe(T0, 700_000)
    assert b.status is BreakerStatus.HALTED
    b2, ev = b.observe(T0 + timedelta(days=1), 1_500_000)  # even a new day and a recovery
    assert b2.status is BreakerStatus.HALTED and ev == ()
    with pytest.raises(BreakerError):
        b2.resume(T0)
    b3, ev = b2.reset(T0 + timedelta(days=1, minutes=1), 650_000)
    assert b3.status is BreakerStatus.RUNNING and ev[0].reason is BreakerReason.RESET
    assert b3.peak_equity_cc == 650_000 and b3.day_start_equity_cc == 650_000
    b4, ev = b3.observe(T0 + timedelta(days=1, minutes=2), 640_000)
    assert b4.status is BreakerStatus.RUNNING
    with pytest.raises(BreakerError):
        b4.reset(T0, 1)


def test_reducing_allows_exits_only_and_resumes() -> None:
    b = Breaker.start(T0, 1_000_000)
    r, ev = b.stop_entries(T0, "stopentry")
    assert r.status is BreakerStatus.REDUCING and r.allows_exits and not r.allows_entries
    assert ev[0].detail == "stopentry"
    assert r.stop_entries(T0) == (r, ())
    back, ev = r.resume(T0)
    assert back.status is BreakerStatus.RUNNING and ev[0].reason is BreakerReason.RESUME
    h, ev = r.halt(T0, "kill")
    assert h.status is BreakerStatus.HALTED and ev[0].from_status is BreakerStatus.REDUCING
    assert h.halt(T0) == (h, ())
    # A REDUCING breaker still trips on loss
    t, ev = r.observe(T0, 790_000)
    assert t.status is BreakerStatus.HALTED


def test_day_rollover_resets_start_of_day_equity() -> None:
    b = Breaker.start(T0, 1_000_000, BreakerConfig(max_drawdown_fraction=1.0))
    b, _ = b.observe(T0 + timedelta(hours=10), 850_000)  # -15% today: fine
    b, _ = b.observe(T0 + timedelta(hours=14), 850_000)  # next UTC day starts at 850 000
    assert b.day_start_equity_cc == 850_000
    b, _ev = b.observe(T0 + timedelta(hours=15), 700_000)  # -17.6% of the new day: fine
    assert b.status is BreakerStatus.RUNNING


def test_an_observation_dated_an_earlier_day_does_not_restart_todays_loss() -> None:
    """A fill reported late (a catch-up) is observed at its own, earlier time: the breaker stays in
    today, so today's start-of-day equity, and the loss measured from it, are kept."""
    b = Breaker.start(T0, 1_000_000, BreakerConfig(max_drawdown_fraction=1.0))
    b, _ = b.observe(T0 + timedelta(hours=2), 850_000)  # -15% today: fine
    b, ev = b.observe(T0 - timedelta(hours=11), 850_000)  # a fill of yesterday evening, booked now
    assert ev == () and b.day == T0.date() and b.day_start_equity_cc == 1_000_000
    b, ev = b.observe(T0 + timedelta(hours=3), 800_000)  # -20% of today's start
    assert b.status is BreakerStatus.HALTED and ev[0].reason is BreakerReason.DAILY_LOSS


def test_trading_day_boundary() -> None:
    assert trading_day(datetime(2026, 7, 1, 23, 59, tzinfo=UTC)).day == 1
    assert trading_day(datetime(2026, 7, 2, 0, 0, tzinfo=UTC)).day == 2
    assert trading_day(datetime(2026, 7, 2, 3, 0, tzinfo=UTC), timedelta(hours=4)).day == 1
    with pytest.raises(ValueError):
        trading_day(datetime(2026, 7, 2))
    with pytest.raises(BreakerError):
        BreakerConfig(max_daily_loss_fraction=0.0)
