"""KXSOL15M markets: tickers, quarter-hour windows and the settlement rule (the KXSOL15M contract terms).

A market covers one quarter-hour window ``[open_time, close_time)``; windows are aligned to :00, :15,
:30 and :45 and the next opens the instant the previous closes. Tickers name the *close* time in US
Eastern time (DST-aware): ``KXSOL15M-26JUL081900-00`` closes at 19:00 EDT (23:00 UTC) on 2026-07-08.

The contract resolves YES iff the simple average of the 60 index prints before close is at least
``floor_strike``, the simple average of the 60 prints before open (ties pay YES).
"""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import attrs

SERIES = "KXSOL15M"
INDEX_ID = "SOLUSD_RTI"
WINDOW = timedelta(minutes=15)
WINDOW_SECONDS = 900
AVERAGING_SECONDS = 60
EASTERN = ZoneInfo("America/New_York")

_MONTHS = ("JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC")
_TICKER_RE = re.compile(
    r"^(?P<series>[A-Z0-9]+)-(?P<yy>\d{2})(?P<mon>[A-Z]{3})(?P<dd>\d{2})(?P<hh>\d{2})(?P<mm>\d{2})-(?P<suffix>\d{2})$"
)


class TickerError(ValueError):
    """A string is not a 15-minute market ticker, or names a time that does not exist."""


@attrs.frozen
class Window:
    """One quarter-hour trading window; times are timezone-aware UTC."""

    open_time: datetime
    close_time: datetime

    @property
    def series_event_ticker(self) -> str:
        return event_ticker(self.close_time)

    def contains(self, t: datetime) -> bool:
        return self.open_time <= t < self.close_time

    def seconds_to_close(self, t: datetime) -> float:
        return (self.close_time - t).total_seconds()


def _utc(t: datetime) -> datetime:
    if t.tzinfo is None:
        raise ValueError("naive datetime: pass timezone-aware times")
    return t.astimezone(UTC)


def window_containing(t: datetime) -> Window:
    """The window whose ``[open, close)`` contains ``t``."""
    t = _utc(t)
    floored = t.replace(minute=t.minute - t.minute % 15, second=0, microsecond=0)
    return Window(floored, floored + WINDOW)


def window_closing_at(close_time: datetime) -> Window:
    close_time = _utc(close_time)
    if close_time.minute % 15 or close_time.second or close_time.microsecond:
        raise ValueError(f"{close_time.isoformat()} is not a quarter-hour boundary")
    return Window(close_time - WINDOW, close_time)


def next_window(w: Window) -> Window:
    return Window(w.close_time, w.close_time + WINDOW)


def event_ticker(close_time: datetime, series: str = SERIES) -> str:
    """``KXSOL15M-26JUL081900`` for a window closing 2026-07-08 19:00 ET."""
    et = _utc(close_time).astimezone(EASTERN)
    return f"{series}-{et:%y}{_MONTHS[et.month - 1]}{et:%d%H%M}"


def market_ticker(close_time: datetime, series: str = SERIES) -> str:
    """``KXSOL15M-26JUL081900-00``: the event ticker plus the close minute."""
    et = _utc(close_time).astimezone(EASTERN)
    return f"{event_ticker(close_time, series)}-{et:%M}"


def in_series(ticker: str, series: str = SERIES) -> bool:
    """``ticker`` is a market of ``series`` (kalshid trades only the markets of its series)."""
    return ticker.startswith(f"{series}-")


def parse_market_ticker(ticker: str) -> tuple[str, Window]:
    """``(series, window)`` from a market ticker. The ET close time must exist and be unambiguous
    after resolving the DST fold the way Kalshi's schedule implies (the first occurrence)."""
    m = _TICKER_RE.match(ticker)
    if not m:
        raise TickerError(f"not a 15-minute market ticker: {ticker!r}")
    if m["mon"] not in _MONTHS:
        raise TickerError(f"unknown month {m['mon']!r} in ticker {ticker!r}")
    if m["suffix"] != m["mm"]:
        raise TickerError(f"ticker {ticker!r}: suffix {m['suffix']} differs from the close minute {m['mm']}")
    try:
        local = datetime(2000 + int(m["yy"]), _MONTHS.index(m["mon"]) + 1, int(m["dd"]),
                         int(m["hh"]), int(m["mm"]), tzinfo=EASTERN)
    except ValueError as exc:
        raise TickerError(f"ticker {ticker!r} names an impossible time: {exc}") from exc
    close = local.astimezone(UTC)
    if close.astimezone(EASTERN).replace(tzinfo=None) != local.replace(tzinfo=None):
        raise TickerError(f"ticker {ticker!r} names a time skipped by the DST change")
    try:
        return m["series"], window_closing_at(close)
    except ValueError as exc:
        raise TickerError(f"ticker {ticker!r}: {exc}") from exc


def resolves_yes(closing_average: float | int, floor_strike: float | int) -> bool:
    """The settlement rule: YES iff the closing 60-second average is at least the strike (ties YES)."""
    return closing_average >= floor_strike
