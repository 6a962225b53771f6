"""The simulator's REST API under ``/trade-api/v2`` (a Quart-Trio app; Kalshi OpenAPI v3.31.0).

This module builds the app and serves public market data; the portfolio reads live in
:mod:`kalshid.sim.rest_portfolio`, the V2 order writes, the retired V1 writes (410) and the account
limits in :mod:`kalshid.sim.rest_orders`; the request pipeline (auth, rate limits, errors) is
:mod:`kalshid.sim.routing`. Lists are newest first, paginated by an opaque cursor ("" = last page).

A new market shows in the ``GET /markets`` list only ``listing_delay_s`` after it opens, as Kalshi's
list lags a newborn 15-minute window by minutes (0: every market the simulator has created is listed
at once, unopened ones included); ``GET /markets/{ticker}`` always answers at once.
"""

from __future__ import annotations

from typing import Any

from quart import request
from quart_trio import QuartTrio

from kalshid.sim import rest_orders, rest_portfolio, wire
from kalshid.sim.model import STATUS_FILTER, ExchangeError, Market
from kalshid.sim.requests import bad, page, query_int, time_filter
from kalshid.sim.routing import PREFIX, Result, Router
from kalshid.sim.venue import Venue

__all__ = ["PREFIX", "create_app"]


def _flag(value: str | None, field: str) -> bool:
    if value in (None, "", "false", "False", "0"):
        return False
    if value in ("true", "True", "1"):
        return True
    raise bad(field, f"{value!r} is not true or false")


def create_app(venue: Venue) -> QuartTrio:
    """Build the REST app bound to ``venue`` (the WebSocket route is added by :mod:`kalshid.sim.ws`)."""
    app = QuartTrio(__name__)
    app.json.sort_keys = False  # type: ignore[attr-defined]
    router = Router(app, venue)
    ex = venue.exchange
    route = router.route

    def market_json(m: Market) -> dict[str, Any]:
        return wire.market_json(m, ex.books[m.ticker], ex.settlement_timer_seconds)

    def listed(m: Market) -> bool:
        delay = venue.listing_delay_s
        return delay <= 0 or venue.now() >= m.window.open_time.timestamp() + delay

    @route("/exchange/status", "GET")
    async def exchange_status(user: str | None, body: Any) -> Result:
        return wire.exchange_status_json(any(m.status == "active" for m in ex.markets.values())), 200

    @route("/series/<series_ticker>", "GET")
    async def series(user: str | None, body: Any, series_ticker: str) -> Result:
        if series_ticker != ex.series:
            raise ExchangeError(  # the spec declares 400, not 404, for this route
                400, "series_not_found", f"series {series_ticker!r} not found", field="series_ticker"
            )
        return {"series": wire.series_json(ex.series, ex.fee_type, ex.fee_multiplier)}, 200

    @route("/events/<event_ticker>", "GET")
    async def event(user: str | None, body: Any, event_ticker: str) -> Result:
        markets = [m for m in ex.markets_by_open() if m.event_ticker == event_ticker]
        if not markets:
            raise ExchangeError(
                404, "event_not_found", f"event {event_ticker!r} not found", field="event_ticker"
            )
        rendered = [market_json(m) for m in markets]
        nested = _flag(request.args.get("with_nested_markets"), "with_nested_markets")
        event = wire.event_json(markets[0], rendered if nested else None, fee_type_override=ex.event_fee_type_override,
                                fee_multiplier_override=ex.event_fee_multiplier_override)
        return {"event": event, "markets": rendered}, 200

    @route("/markets", "GET")
    async def markets(user: str | None, body: Any) -> Result:
        args = request.args
        selected = [m for m in ex.markets_by_open() if listed(m)]
        if series := args.get("series_ticker"):
            selected = [m for m in selected if m.event_ticker.split("-")[0] == series]
        if event_ticker := args.get("event_ticker"):
            selected = [m for m in selected if m.event_ticker == event_ticker]
        if tickers := args.get("tickers"):
            wanted = set(tickers.split(","))
            selected = [m for m in selected if m.ticker in wanted]
        if status := args.get("status"):
            if status not in STATUS_FILTER:
                raise bad("status", f"{status!r} is not one of {', '.join(STATUS_FILTER)}")
            selected = [m for m in selected if m.status in STATUS_FILTER[status]]
        lo, hi = query_int(args, "min_close_ts"), query_int(args, "max_close_ts")
        if lo is not None:
            selected = [m for m in selected if m.window.close_time.timestamp() >= lo]
        if hi is not None:
            selected = [m for m in selected if m.window.close_time.timestamp() <= hi]
        chunk, cursor = page(selected, args, minimum=0)
        return {"markets": [market_json(m) for m in chunk], "cursor": cursor}, 200

    @route("/markets/trades", "GET")
    async def trades(user: str | None, body: Any) -> Result:
        args = request.args
        items = list(reversed(ex.trades))
        if ticker := args.get("ticker"):
            items = [t for t in items if t.ticker == ticker]
        items = time_filter(items, args, lambda t: t.ts)
        chunk, cursor = page(items, args, minimum=0)
        return {"trades": [wire.trade_json(t) for t in chunk], "cursor": cursor}, 200

    @route("/markets/<ticker>", "GET")
    async def market(user: str | None, body: Any, ticker: str) -> Result:
        return {"market": market_json(ex.market(ticker))}, 200

    @route("/markets/<ticker>/orderbook", "GET")
    async def orderbook(user: str | None, body: Any, ticker: str) -> Result:
        ex.market(ticker)
        depth = max(0, query_int(request.args, "depth") or 0)  # "0 or negative means all levels"
        if depth > 100:
            raise bad("depth", f"{depth} is above 100")
        book = ex.books[ticker]
        return {
            "orderbook_fp": {
                "yes_dollars": wire.orderbook_levels(book, "yes", depth),
                "no_dollars": wire.orderbook_levels(book, "no", depth),
            }
        }, 200

    rest_portfolio.register(router)
    rest_orders.register(router)
    router.install_error_handlers()
    return app

