"""The REST route table: every endpoint, its parameters, auth and documentation, in one place.

`ROUTES` drives both registration (`kalshid.server.app`) and the OpenAPI document
(`kalshid.server.openapi`), so the two cannot drift apart. A handler takes the `ApiContext`, the parsed
parameters and the parsed body, and returns JSON-able data (or a ready Response).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from typing import Any, Final

import attrs
import trio
from quart import Response

import kalshid
from kalshid.control.api import (
    DEFAULT_PAGE_LIMIT,
    MAX_PAGE_LIMIT,
    ORDER_STATUSES,
    PNL_GROUPS,
    DaemonControl,
    OrderQuery,
    TradeQuery,
)
from kalshid.control.broadcaster import Broadcaster
from kalshid.metrics import CONTENT_TYPE, Metrics
from kalshid.server.params import (
    Param,
    parse_cursor,
    parse_limit,
    parse_order_status,
    parse_pnl_group,
    parse_strategy_name,
    parse_ticker,
    parse_time,
)
from kalshid.server.settings import ApiSettings


@attrs.define
class ApiContext:
    """What handlers need; one per app."""

    control: DaemonControl
    settings: ApiSettings
    token: str = attrs.field(repr=False)
    broadcaster: Broadcaster
    metrics: Metrics
    openapi_json: bytes = b""
    docs_html: str = ""
    # Set when the server begins shutting down: every WebSocket session ends and closes with 1001.
    closing: trio.Event = attrs.field(factory=trio.Event)


Handler = Callable[[ApiContext, Mapping[str, Any], Any], Awaitable[Any]]


@attrs.frozen
class Route:
    """One endpoint. ``path`` uses OpenAPI's ``{name}`` syntax; ``body`` is the JSON schema of a request
    body (None: no body read); ``kind`` is the response media type family."""

    method: str
    path: str
    handler: Handler
    summary: str
    tag: str
    auth: bool = True
    params: tuple[Param, ...] = ()
    body: Mapping[str, Any] | None = None
    response: Mapping[str, Any] = attrs.field(factory=lambda: {"type": "object"})
    kind: str = "json"
    errors: tuple[int, ...] = ()


# -- parameter declarations --------------------------------------------------------------------------
_STR = {"type": "string"}
_LIMIT = Param(
    "limit",
    "query",
    parse_limit,
    {"type": "integer", "minimum": 1, "maximum": MAX_PAGE_LIMIT, "default": DEFAULT_PAGE_LIMIT},
    "page size",
)
_CURSOR = Param("cursor", "query", parse_cursor, _STR, "`cursor` from the previous page; omit for the first")
_TICKER = Param("ticker", "query", parse_ticker, _STR, "market ticker, e.g. KXSOL15M-24OCT011215-15")
_NAME = Param(
    "name",
    "path",
    parse_strategy_name,
    {"type": "string", "pattern": "^[A-Za-z0-9_.-]{1,64}$"},
    "strategy name",
    required=True,
)
_TIME = {"type": "string", "format": "date-time"}

_PAGE_SCHEMA = {
    "type": "object",
    "required": ["items", "cursor"],
    "properties": {
        "items": {"type": "array", "items": {"type": "object"}},
        "cursor": {"type": ["string", "null"]},
    },
}
_LIST = {"type": "array", "items": {"type": "object"}}


# -- handlers ----------------------------------------------------------------------------------------
async def health(ctx: ApiContext, p: Mapping[str, Any], body: Any) -> Any:
    # Liveness of the API process only: it must not depend on the pipeline answering.
    return {"status": "ok", "version": kalshid.__version__}


async def trades(ctx: ApiContext, p: Mapping[str, Any], body: Any) -> Any:
    return await ctx.control.trades(
        TradeQuery(
            ticker=p.get("ticker"),
            strategy=p.get("strategy"),
            since=p.get("since"),
            until=p.get("until"),
            cursor=p.get("cursor"),
            limit=p.get("limit", DEFAULT_PAGE_LIMIT),
        )
    )


async def orders(ctx: ApiContext, p: Mapping[str, Any], body: Any) -> Any:
    return await ctx.control.orders(
        OrderQuery(
            status=p.get("status"),
            ticker=p.get("ticker"),
            cursor=p.get("cursor"),
            limit=p.get("limit", DEFAULT_PAGE_LIMIT),
        )
    )


async def pnl(ctx: ApiContext, p: Mapping[str, Any], body: Any) -> Any:
    return await ctx.control.pnl(p.get("group_by", "day"))


async def set_params(ctx: ApiContext, p: Mapping[str, Any], body: Any) -> Any:
    return await ctx.control.set_strategy_params(p["name"], body)


async def metrics(ctx: ApiContext, p: Mapping[str, Any], body: Any) -> Any:
    return Response(ctx.metrics.exposition(), content_type=CONTENT_TYPE)


async def openapi(ctx: ApiContext, p: Mapping[str, Any], body: Any) -> Any:
    return Response(ctx.openapi_json, content_type="application/json")


async def docs(ctx: ApiContext, p: Mapping[str, Any], body: Any) -> Any:
    return Response(ctx.docs_html, content_type="text/html; charset=utf-8")


def _call(method: str) -> Handler:
    """A handler that calls a no-argument DaemonControl method."""

    async def handler(ctx: ApiContext, p: Mapping[str, Any], body: Any) -> Any:
        return await getattr(ctx.control, method)()

    return handler


def _named(method: str) -> Handler:
    """A handler that calls a DaemonControl method taking the strategy name from the path."""

    async def handler(ctx: ApiContext, p: Mapping[str, Any], body: Any) -> Any:
        return await getattr(ctx.control, method)(p["name"])

    return handler


ROUTES: Final[tuple[Route, ...]] = (
    Route("GET", "/api/health", health, "Liveness of the API (no authentication)", "meta", auth=False),
    Route(
        "GET",
        "/api/status",
        _call("status"),
        "State, mode, uptime, exchange connectivity, current market, equity, breaker",
        "status",
    ),
    Route("POST", "/api/start", _call("start"), "Resume trading", "commands", errors=(409,)),
    Route("POST", "/api/stop", _call("stop"), "Stop trading and cancel resting orders", "commands", errors=(409,)),
    Route("POST", "/api/stop-entry", _call("stop_entry"), "No new entries; exits continue", "commands",
          errors=(409,)),
    Route("POST", "/api/emergency/cancel-all", _call("cancel_all"),
          "Kill switch: cancel every resting order of the account now; no order for 60 s", "commands",
          errors=(409,)),
    Route(
        "POST",
        "/api/circuit-breaker/reset",
        _call("reset_breaker"),
        "Clear a tripped circuit breaker",
        "commands",
        errors=(409,),
    ),
    Route(
        "POST",
        "/api/reload",
        _call("reload"),
        "Re-read the configuration file (as SIGHUP)",
        "commands",
        errors=(409, 422),
    ),
    Route(
        "GET",
        "/api/trades",
        trades,
        "Fills, newest first, paginated",
        "history",
        params=(
            _TICKER,
            Param("strategy", "query", parse_strategy_name, _STR, "strategy name"),
            Param("since", "query", parse_time, _TIME, "inclusive lower bound (ISO-8601 with timezone)"),
            Param("until", "query", parse_time, _TIME, "inclusive upper bound (ISO-8601 with timezone)"),
            _CURSOR,
            _LIMIT,
        ),
        response=_PAGE_SCHEMA,
        errors=(422,),
    ),
    Route(
        "GET",
        "/api/orders",
        orders,
        "Orders, newest first, paginated",
        "history",
        params=(
            Param(
                "status",
                "query",
                parse_order_status,
                {"type": "string", "enum": list(ORDER_STATUSES)},
                "order status",
            ),
            _TICKER,
            _CURSOR,
            _LIMIT,
        ),
        response=_PAGE_SCHEMA,
        errors=(422,),
    ),
    Route("GET", "/api/positions", _call("positions"), "Open positions", "status", response=_LIST),
    Route(
        "GET",
        "/api/pnl",
        pnl,
        "Profit and loss grouped by day, strategy or window",
        "history",
        params=(
            Param(
                "group_by",
                "query",
                parse_pnl_group,
                {"type": "string", "enum": list(PNL_GROUPS), "default": "day"},
                "grouping",
            ),
        ),
        response=_LIST,
        errors=(422,),
    ),
    Route(
        "GET",
        "/api/markets",
        _call("markets"),
        "Current and next window: top of book, index, fair value, edge",
        "status",
    ),
    Route("GET", "/api/risk", _call("risk"), "Risk limits, usage and circuit-breaker state", "status",
          errors=(409,)),
    Route(
        "GET",
        "/api/strategies",
        _call("strategies"),
        "Strategies and their parameters",
        "strategies",
        response=_LIST,
    ),
    Route(
        "POST",
        "/api/strategies/{name}/enable",
        _named("enable_strategy"),
        "Enable a strategy",
        "strategies",
        params=(_NAME,),
        errors=(404, 409, 422),
    ),
    Route(
        "POST",
        "/api/strategies/{name}/disable",
        _named("disable_strategy"),
        "Disable a strategy",
        "strategies",
        params=(_NAME,),
        errors=(404, 409, 422),
    ),
    Route(
        "PUT",
        "/api/strategies/{name}/params",
        set_params,
        "Change strategy parameters (validated; all or nothing)",
        "strategies",
        params=(_NAME,),
        body={"type": "object", "additionalProperties": True},
        errors=(400, 404, 409, 413, 415, 422),
    ),
    Route(
        "GET", "/api/config", _call("config_redacted"), "Effective configuration, secrets redacted", "status"
    ),
    Route(
        "GET",
        "/metrics",
        metrics,
        "Prometheus metrics (text format; bearer auth like the API)",
        "meta",
        kind="text",
    ),
    Route("GET", "/openapi.json", openapi, "This OpenAPI document (bearer auth like the API)", "meta"),
    Route(
        "GET",
        "/docs",
        docs,
        "Human-readable API reference (bearer auth like the API)",
        "meta",
        kind="html",
    ),
)
