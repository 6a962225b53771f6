"""Finding the current and the next KXSOL15M market.

``GET /markets?series_ticker=`` lists a new 15-minute window minutes after it opens, so the ticker is
*computed* from the window (:func:`kalshid.core.markets.market_ticker`, Eastern time) and confirmed with
``GET /markets/{ticker}``, which knows the market at once; the listing is only the fallback when the
computed ticker is unknown (a series whose schedule differs).

``now`` is always passed in (the caller's best estimate of *exchange* time); nothing here reads a
clock. :func:`pick_open_market` is pure; the ``find_*`` helpers ask an :class:`Exchange`.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime

from kalshid.core.markets import SERIES, WINDOW, market_ticker, window_containing
from kalshid.exchange.base import Exchange
from kalshid.exchange.errors import NotFound
from kalshid.exchange.types import Market

# Market object statuses that mean "trading now". The REST filter says ``open``; objects say
# ``active`` (v3.13) and older APIs/simulators ``open``.
OPEN_STATUSES = frozenset({"active", "open"})
UPCOMING_STATUSES = frozenset({"initialized", "unopened", "inactive"})


def pick_open_market(markets: Iterable[Market], now: datetime) -> Market | None:
    """The open market whose ``close_time`` is the soonest one strictly after ``now``.

    For ~30 s after a close Kalshi may still list the just-closed market as open; it is skipped
    because its close time is not in the future.
    """
    live = [m for m in markets if m.status in OPEN_STATUSES and m.close_time > now]
    return min(live, key=lambda m: m.close_time, default=None)


async def find_open_market(exchange: Exchange, now: datetime, *, series: str = SERIES) -> Market | None:
    """The series' currently open market, or None when none is open (maintenance, gap): the window
    containing ``now`` by its computed ticker, else the open listings."""
    try:
        market = await exchange.get_market(market_ticker(window_containing(now).close_time, series))
    except NotFound:
        market = None
    if market is not None and pick_open_market([market], now) is not None:
        return market
    return pick_open_market(await exchange.list_markets(series_ticker=series, status="open"), now)


async def find_next_market(exchange: Exchange, after: datetime, *, series: str = SERIES) -> Market | None:
    """The market whose window starts at ``after`` (normally the current market's ``close_time``).

    Tries the computed ticker first (one request); if the exchange does not know it yet, looks
    among the ``unopened`` listings. None if it is not listed yet.
    """
    ticker = market_ticker(after + WINDOW, series)
    try:
        return await exchange.get_market(ticker)
    except NotFound:
        pass
    upcoming = [m for m in await exchange.list_markets(series_ticker=series, status="unopened")
                if m.close_time > after]
    return min(upcoming, key=lambda m: m.close_time, default=None)
