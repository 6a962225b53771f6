"""KXSOL15M tickers and windows, in US Eastern time across DST changes."""

from datetime import UTC, datetime, timedelta

import pytest

from kalshid.core import markets


def test_documented_ticker_closes_at_nineteen_hundred_eastern_daylight_time() -> None:
    series, window = markets.parse_market_ticker("KXSOL15M-26JUL081900-00")
    assert series == "KXSOL15M"
    assert window.close_time == datetime(2026, 7, 8, 23, 0, tzinfo=UTC)
    assert window.open_time == datetime(2026, 7, 8, 22, 45, tzinfo=UTC)
    assert markets.market_ticker(window.close_time) == "KXSOL15M-26JUL081900-00"
    assert markets.event_ticker(window.close_time) == "KXSOL15M-26JUL081900"


def test_winter_tickers_use_eastern_standard_time() -> None:
    close = datetime(2026, 1, 15, 19, 30, tzinfo=UTC)  # 14:30 EST
    assert markets.market_ticker(close) == "KXSOL15M-26JAN151430-30"


def test_every_window_across_the_spring_dst_change_round_trips() -> None:
    t = datetime(2026, 3, 8, 5, 0, tzinfo=UTC)  # 00:00 EST; clocks jump at 02:00 EST = 07:00 UTC
    w = markets.window_containing(t)
    for _ in range(16):
        ticker = markets.market_ticker(w.close_time)
        assert markets.parse_market_ticker(ticker)[1] == w
        nxt = markets.next_window(w)
        assert nxt.open_time == w.close_time
        w = nxt


def test_window_containing_is_half_open() -> None:
    t = datetime(2026, 7, 8, 22, 45, tzinfo=UTC)
    assert markets.window_containing(t).open_time == t
    assert markets.window_containing(t - timedelta(microseconds=1)).close_time == t


@pytest.mark.parametrize("bad", ["KXSOL15M", "KXSOL15M-26XYZ081900-00", "KXSOL15M-26JUL081900-15",
                                 "KXSOL15M-26JUL081907-07", "KXSOL15M-26FEB301900-00",
                                 "KXSOL15M-26MAR080215-15"])
def test_bad_tickers_are_rejected_with_a_reason(bad: str) -> None:
    with pytest.raises(markets.TickerError):
        markets.parse_market_ticker(bad)


def test_naive_datetimes_are_refused() -> None:
    with pytest.raises(ValueError, match="naive"):
        markets.window_containing(datetime(2026, 1, 1))


def test_ties_resolve_yes() -> None:
    assert markets.resolves_yes(100, 100)
    assert not markets.resolves_yes(99.99, 100)
