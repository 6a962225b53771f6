"""The KXSOL15M schedule: which lifecycle transitions are due at a simulated instant (pure).

Rules (Kalshi's published rules, and our choices where they are silent):

* One market per quarter-hour window; the window containing ``now`` and the next
  :data:`LIST_AHEAD` windows are listed (status ``initialized``, ``floor_strike`` null until open).
* At ``open_time`` the market is activated with ``floor_strike`` = the simple average of the 60
  index prints at seconds ``open−60 … open−1``, rounded half-even to 4 decimals.
* At ``close_time`` trading stops; the market is determined at the same instant with
  ``expiration_value`` = the average of prints ``close−60 … close−1`` (4 decimals); YES iff
  ``expiration_value ≥ floor_strike`` on those rounded values, the numbers clients see.
* Settlement follows ``settlement_timer_seconds`` (default 60 s) after determination.
* DST fall-back: the windows closing in the repeated ET hour's *second* pass would reuse the first
  pass's tickers, so they are **not listed** (no KXSOL15M market trades for that hour; the window
  opening at the end of the repeated hour is listed again). :func:`listable` says which.

Event timestamps are the scheduled instants (``open_time``, ``close_time`` …), not the moment the
driver ran, so a late driver produces the same history.
"""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import ROUND_HALF_EVEN, Decimal
from typing import Protocol

from kalshid.core.markets import (
    AVERAGING_SECONDS,
    Window,
    market_ticker,
    next_window,
    parse_market_ticker,
    window_containing,
)
from kalshid.sim.engine import Exchange

LIST_AHEAD = 2
_TICK = Decimal("0.0001")


class IndexPrints(Protocol):
    def print_at(self, ts: int) -> Decimal: ...


def listable(window: Window) -> bool:
    """False for the second pass of a DST fall-back hour, whose ticker names an earlier window."""
    return parse_market_ticker(market_ticker(window.close_time))[1] == window


def average_before(index: IndexPrints, end_ts: int, seconds: int = AVERAGING_SECONDS) -> Decimal:
    """Simple average of the prints at ``end_ts − seconds … end_ts − 1``, 4 decimals (half-even)."""
    total = sum((index.print_at(t) for t in range(end_ts - seconds, end_ts)), Decimal(0))
    return (total / seconds).quantize(_TICK, rounding=ROUND_HALF_EVEN)


def windows_to_list(now: float) -> list[Window]:
    current = window_containing(datetime.fromtimestamp(now, UTC))
    windows = [current]
    for _ in range(LIST_AHEAD):
        windows.append(next_window(windows[-1]))
    return [w for w in windows if listable(w)]


def step(exchange: Exchange, index: IndexPrints, now: float) -> float:
    """Apply every transition due at or before ``now``; return the next instant one is due."""
    for window in windows_to_list(now):
        if market_ticker(window.close_time, exchange.series) not in exchange.markets:
            exchange.list_market(window, now)
    upcoming: list[float] = [window_containing(datetime.fromtimestamp(now, UTC)).close_time.timestamp()]
    timer = exchange.settlement_timer_seconds
    for market in sorted(exchange.markets.values(), key=lambda m: m.window.open_time):
        open_ts = int(market.window.open_time.timestamp())
        close_ts = int(market.window.close_time.timestamp())
        if market.status == "initialized":
            if now < open_ts:
                upcoming.append(open_ts)
                continue
            exchange.activate_market(market.ticker, average_before(index, open_ts), open_ts)
        market = exchange.markets[market.ticker]
        if market.status == "active":
            if now < close_ts:
                upcoming.append(close_ts)
                continue
            exchange.close_market(market.ticker, close_ts)
            exchange.determine_market(market.ticker, average_before(index, close_ts), close_ts)
        market = exchange.markets[market.ticker]
        if market.status == "determined":
            if now < close_ts + timer:
                upcoming.append(close_ts + timer)
                continue
            exchange.settle_market(market.ticker, close_ts + timer)
    future = [t for t in upcoming if t > now]
    return min(future) if future else now + 1.0
