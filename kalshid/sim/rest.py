"""The simulator's REST API under ``/trade-api/v2`` (a Quart-Trio app; API-NOTES §4, §6).

Public market data needs no auth; ``/portfolio/*`` needs a valid Kalshi signature (401 otherwise).
Every request passes, in order: injected faults (if configured), authentication, the token-bucket
rate limiter (429 ``{"error": "too many requests"}``), then the handler. Handler errors are
:class:`ExchangeError` → ``{"error": {"code", "message", "details"}}`` with their status; unknown
routes get a JSON 404/405. Lists are newest first, paginated by an opaque cursor ("" = last page).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

import trio
from quart import Response, request
from quart_trio import QuartTrio

from kalshid.core.units import format_count, format_dollars
from kalshid.exchange.kalshi.auth import HEADER_KEY
from kalshid.sim import wire
from kalshid.sim.authn import AuthError
from kalshid.sim.model import STATUS_FILTER, ExchangeError, Market
from kalshid.sim.ratelimit import CANCEL_COST, DEFAULT_COST
from kalshid.sim.requests import (
    bad,
    page,
    parse_amend,
    parse_batch,
    parse_create_order,
    parse_decrease,
    query_int,
)
from kalshid.sim.venue import Venue

PREFIX = "/trade-api/v2"
Result = tuple[dict[str, Any], int]
Handler = Callable[..., Awaitable[Result]]


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
    ex = venue.exchange

    async def dispatch(
        fn: Handler, kind: str, auth: bool, cost: Callable[[Any], int], kw: dict[str, Any]
    ) -> Any:
        fault = None
        if venue.faults is not None:
            if venue.faults.latency_s:
                await trio.sleep(venue.faults.latency_s)
            fault = venue.faults.http_fault(now=venue.now(), detail=f"{request.method} {request.path}")
            if fault in ("500", "503"):
                return wire.error_json(
                    "internal_error" if fault == "500" else "service_unavailable", "injected fault"
                ), int(fault)
            if fault == "429":
                return {"error": "too many requests"}, 429
        bucket_key = request.headers.get(HEADER_KEY) or request.remote_addr or "anonymous"
        user: str | None = None
        if auth:
            try:
                bucket_key, user = venue.keys.authenticate(request.headers, request.method, request.path)
            except AuthError as exc:
                return wire.error_json("unauthorized", str(exc)), 401
        body = (
            await request.get_json(force=True, silent=True) if request.method in ("POST", "DELETE") else None
        )
        if not venue.limiter.allow(bucket_key, kind, cost(body), trio.current_time()):
            return {"error": "too many requests"}, 429
        try:
            result = await fn(user, body, **kw)
        except ExchangeError as exc:
            result = wire.error_json(exc.code, exc.message, exc.field), exc.status
        finally:
            venue.publish()
        if fault == "lost":  # the work is done; the client never hears about it
            await trio.sleep_forever()
        return result

    def route(
        path: str,
        method: str,
        *,
        kind: str = "read",
        auth: bool = False,
        cost: Callable[[Any], int] = lambda body: DEFAULT_COST,
    ) -> Callable[[Handler], Handler]:
        def decorate(fn: Handler) -> Handler:
            async def view(**kw: Any) -> Any:
                return await dispatch(fn, kind, auth, cost, kw)

            view.__name__ = f"{fn.__name__}_{method.lower()}"
            app.add_url_rule(PREFIX + path, view_func=view, methods=[method])
            return fn

        return decorate

    def batch_cost(per_item: int) -> Callable[[Any], int]:
        def cost(body: Any) -> int:
            items = body.get("orders") or body.get("ids") if isinstance(body, dict) else None
            return per_item * max(1, len(items) if isinstance(items, list) else 1)

        return cost

    def market_json(m: Market) -> dict[str, Any]:
        return wire.market_json(m, ex.books[m.ticker], ex.settlement_timer_seconds)

    def user_id(user: str | None) -> str:
        assert user is not None
        return user

    # --- public market data ---------------------------------------------------------------

    @route("/exchange/status", "GET")
    async def exchange_status(user: str | None, body: Any) -> Result:
        trading = any(m.status == "active" for m in ex.markets.values())
        return {
            "exchange_active": True,
            "trading_active": trading,
            "exchange_estimated_resume_time": None,
        }, 200

    @route("/series/<series_ticker>", "GET")
    async def series(user: str | None, body: Any, series_ticker: str) -> Result:
        if series_ticker != ex.series:
            raise ExchangeError(
                404, "series_not_found", f"series {series_ticker!r} not found", field="series_ticker"
            )
        return {"series": wire.series_json(ex.series, ex.fee_type)}, 200

    @route("/events/<event_ticker>", "GET")
    async def event(user: str | None, body: Any, event_ticker: str) -> Result:
        markets = [m for m in ex.markets_by_open() if m.event_ticker == event_ticker]
        if not markets:
            raise ExchangeError(
                404, "event_not_found", f"event {event_ticker!r} not found", field="event_ticker"
            )
        rendered = [market_json(m) for m in markets]
        nested = _flag(request.args.get("with_nested_markets"), "with_nested_markets")
        return {"event": wire.event_json(markets[0], rendered if nested else None), "markets": rendered}, 200

    @route("/markets", "GET")
    async def markets(user: str | None, body: Any) -> Result:
        args = request.args
        selected = ex.markets_by_open()
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
        chunk, cursor = page(selected, args)
        return {"markets": [market_json(m) for m in chunk], "cursor": cursor}, 200

    @route("/markets/trades", "GET")
    async def trades(user: str | None, body: Any) -> Result:
        args = request.args
        items = list(reversed(ex.trades))
        if ticker := args.get("ticker"):
            items = [t for t in items if t.ticker == ticker]
        items = _time_filter(items, args, lambda t: t.ts)
        chunk, cursor = page(items, args)
        return {"trades": [wire.trade_json(t) for t in chunk], "cursor": cursor}, 200

    @route("/markets/<ticker>", "GET")
    async def market(user: str | None, body: Any, ticker: str) -> Result:
        return {"market": market_json(ex.market(ticker))}, 200

    @route("/markets/<ticker>/orderbook", "GET")
    async def orderbook(user: str | None, body: Any, ticker: str) -> Result:
        ex.market(ticker)
        depth = query_int(request.args, "depth") or 0
        if not 0 <= depth <= 100:
            raise bad("depth", f"{depth} is outside [0, 100]")
        book = ex.books[ticker]
        return {
            "orderbook_fp": {
                "yes_dollars": wire.orderbook_levels(book, "yes", depth),
                "no_dollars": wire.orderbook_levels(book, "no", depth),
            }
        }, 200

    # --- portfolio ------------------------------------------------------------------------

    @route("/portfolio/balance", "GET", auth=True)
    async def balance(user: str | None, body: Any) -> Result:
        acct = ex.account(user_id(user))
        available = acct.available_cc
        return {
            "balance": wire.cents(available),
            "balance_dollars": format_dollars(available - available % 100),
            "portfolio_value": wire.cents(ex.portfolio_value_cc(acct.user_id)),
            "updated_ts": int(venue.now()),
        }, 200

    @route("/portfolio/orders", "POST", kind="write", auth=True)
    async def create_order(user: str | None, body: Any) -> Result:
        order = ex.place_order(user_id(user), parse_create_order(body), venue.now())
        return {"order": wire.order_json(order)}, 201

    @route("/portfolio/orders", "GET", auth=True)
    async def list_orders(user: str | None, body: Any) -> Result:
        args = request.args
        items = sorted(
            (o for o in ex.orders.values() if o.user_id == user), key=lambda o: o.created_ts, reverse=True
        )
        if ticker := args.get("ticker"):
            items = [o for o in items if o.ticker == ticker]
        if events := args.get("event_ticker"):
            wanted = set(events.split(","))
            items = [o for o in items if ex.markets[o.ticker].event_ticker in wanted]
        if status := args.get("status"):
            if status not in ("resting", "canceled", "executed"):
                raise bad("status", f"{status!r} is not one of resting, canceled, executed")
            items = [o for o in items if o.status == status]
        items = _time_filter(items, args, lambda o: o.created_ts)
        chunk, cursor = page(items, args)
        return {"orders": [wire.order_json(o) for o in chunk], "cursor": cursor}, 200

    @route("/portfolio/orders/batched", "POST", kind="write", auth=True, cost=batch_cost(DEFAULT_COST))
    async def batch_create(user: str | None, body: Any) -> Result:
        results = []
        for item in parse_batch(body):
            coid = item.get("client_order_id") if isinstance(item, dict) else None
            try:
                order = ex.place_order(user_id(user), parse_create_order(item), venue.now())
                results.append({"client_order_id": coid, "order": wire.order_json(order), "error": None})
            except ExchangeError as exc:
                results.append(
                    {
                        "client_order_id": coid,
                        "order": None,
                        "error": wire.error_json(exc.code, exc.message, exc.field)["error"],
                    }
                )
        return {"orders": results}, 201

    @route("/portfolio/orders/batched", "DELETE", kind="write", auth=True, cost=batch_cost(CANCEL_COST))
    async def batch_cancel(user: str | None, body: Any) -> Result:
        results = []
        for item in parse_batch(body):
            order_id = item.get("order_id") if isinstance(item, dict) else None
            if not isinstance(order_id, str):
                results.append(
                    {
                        "order_id": str(order_id),
                        "order": None,
                        "reduced_by_fp": "0.00",
                        "error": wire.error_json("invalid_parameter", "order_id: expected a string")["error"],
                    }
                )
                continue
            try:
                order, reduced = ex.cancel_order(user_id(user), order_id, venue.now())
                results.append(
                    {
                        "order_id": order_id,
                        "order": wire.order_json(order),
                        "reduced_by_fp": format_count(reduced),
                        "error": None,
                    }
                )
            except ExchangeError as exc:
                results.append(
                    {
                        "order_id": order_id,
                        "order": None,
                        "reduced_by_fp": "0.00",
                        "error": wire.error_json(exc.code, exc.message, exc.field)["error"],
                    }
                )
        return {"orders": results}, 200

    @route("/portfolio/orders/<order_id>", "GET", auth=True)
    async def get_order(user: str | None, body: Any, order_id: str) -> Result:
        return {"order": wire.order_json(ex.get_order(user_id(user), order_id))}, 200

    @route("/portfolio/orders/<order_id>", "DELETE", kind="write", auth=True, cost=lambda body: CANCEL_COST)
    async def cancel_order(user: str | None, body: Any, order_id: str) -> Result:
        order, reduced = ex.cancel_order(user_id(user), order_id, venue.now())
        return {"order": wire.order_json(order), "reduced_by_fp": format_count(reduced)}, 200

    @route("/portfolio/orders/<order_id>/amend", "POST", kind="write", auth=True)
    async def amend_order(user: str | None, body: Any, order_id: str) -> Result:
        old, new = ex.amend_order(user_id(user), order_id, **parse_amend(body), now=venue.now())
        return {"old_order": wire.order_json(old), "order": wire.order_json(new)}, 200

    @route("/portfolio/orders/<order_id>/decrease", "POST", kind="write", auth=True)
    async def decrease_order(user: str | None, body: Any, order_id: str) -> Result:
        order = ex.decrease_order(user_id(user), order_id, **parse_decrease(body), now=venue.now())
        return {"order": wire.order_json(order)}, 200

    @route("/portfolio/positions", "GET", auth=True)
    async def positions(user: str | None, body: Any) -> Result:
        args = request.args
        acct = ex.account(user_id(user))
        items = sorted(acct.positions.values(), key=lambda p: p.updated_ts, reverse=True)
        if ticker := args.get("ticker"):
            items = [p for p in items if p.ticker == ticker]
        if events := args.get("event_ticker"):
            wanted = set(events.split(","))
            items = [p for p in items if ex.markets[p.ticker].event_ticker in wanted]
        if count_filter := args.get("count_filter"):
            keep = set(count_filter.split(","))
            if not keep <= {"position", "total_traded"}:
                raise bad("count_filter", f"{count_filter!r}: allowed values are position, total_traded")
            items = [
                p
                for p in items
                if ("position" in keep and (p.yes or p.no)) or ("total_traded" in keep and p.total_traded_cc)
            ]
        chunk, cursor = page(items, args)
        by_event: dict[str, list[Any]] = {}
        for p in chunk:
            by_event.setdefault(ex.markets[p.ticker].event_ticker, []).append(p)
        return {
            "market_positions": [wire.position_json(p) for p in chunk],
            "event_positions": [wire.event_position_json(e, ps) for e, ps in by_event.items()],
            "cursor": cursor,
        }, 200

    @route("/portfolio/fills", "GET", auth=True)
    async def fills(user: str | None, body: Any) -> Result:
        args = request.args
        items = list(reversed(ex.account(user_id(user)).fills))
        if ticker := args.get("ticker"):
            items = [f for f in items if f.ticker == ticker]
        if order_id := args.get("order_id"):
            items = [f for f in items if f.order_id == order_id]
        items = _time_filter(items, args, lambda f: f.ts)
        chunk, cursor = page(items, args)
        return {"fills": [wire.fill_json(f) for f in chunk], "cursor": cursor}, 200

    @route("/portfolio/settlements", "GET", auth=True)
    async def settlements(user: str | None, body: Any) -> Result:
        args = request.args
        items = list(reversed(ex.account(user_id(user)).settlements))
        if ticker := args.get("ticker"):
            items = [s for s in items if s.ticker == ticker]
        if event_ticker := args.get("event_ticker"):
            items = [s for s in items if s.event_ticker == event_ticker]
        items = _time_filter(items, args, lambda s: s.settled_ts)
        chunk, cursor = page(items, args)
        return {"settlements": [wire.settlement_json(s) for s in chunk], "cursor": cursor}, 200

    @app.errorhandler(404)
    async def not_found(error: Exception) -> Response:
        return Response(
            wire.error_text("not_found", f"no route {request.method} {request.path}"),
            404,
            content_type="application/json",
        )

    @app.errorhandler(405)
    async def not_allowed(error: Exception) -> Response:
        return Response(
            wire.error_text("method_not_allowed", f"{request.method} is not allowed on {request.path}"),
            405,
            content_type="application/json",
        )

    return app


def _time_filter(items: list[Any], args: Any, ts_of: Callable[[Any], float]) -> list[Any]:
    lo, hi = query_int(args, "min_ts"), query_int(args, "max_ts")
    if lo is not None:
        items = [i for i in items if ts_of(i) >= lo]
    if hi is not None:
        items = [i for i in items if ts_of(i) <= hi]
    return items
