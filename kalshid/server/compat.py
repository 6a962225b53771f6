"""The seed's REST routes and WebSocket messages, with the seed's meaning, for its existing frontends.

REST (bearer auth like every route):
- ``GET /api/balance``: cash, equity and realised P&L in dollars.
- ``GET /api/fills``: the fills page of ``GET /api/trades`` (``ticker``, ``cursor``, ``limit``).
- ``GET /api/settlements``: realised P&L per settled or closed window, newest first.
- ``GET /api/trades/active``: open positions and the orders still resting or in flight.
- ``POST /api/emergency/halt``: stop trading and cancel every resting order (``POST /api/stop``).

``POST /api/emergency/cancel-all`` (the kill switch) belongs to the exchange layer, not to this module.

WebSocket (after authentication): ``{"type": "ping"}`` → ``{"type": "pong"}``; ``get_status`` →
``{"type": "status_update", "data": <status>}``; ``start_bot`` / ``stop_bot`` → the ``ack`` of ``start`` /
``stop``. Each reply echoes the message's ``id``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Final

from kalshid.control.api import DEFAULT_PAGE_LIMIT, ControlError, OrderQuery, TradeQuery
from kalshid.control.broadcaster import utc_now_iso
from kalshid.control.commands import WS_COMMANDS, execute, parse_command
from kalshid.server.params import Param, parse_cursor, parse_limit, parse_ticker
from kalshid.server.routes import ApiContext, Route

SEED_MESSAGES: Final = frozenset({"ping", "get_status", "start_bot", "stop_bot"})

_STR: Final = {"type": "string"}
_LIMIT: Final = Param("limit", "query", parse_limit, {"type": "integer", "minimum": 1, "maximum": 1000,
                                                       "default": DEFAULT_PAGE_LIMIT}, "page size")
_CURSOR: Final = Param("cursor", "query", parse_cursor, _STR, "`cursor` from the previous page")
_TICKER: Final = Param("ticker", "query", parse_ticker, _STR, "market ticker")
_PAGE: Final = {"type": "object", "required": ["items", "cursor"],
                "properties": {"items": {"type": "array", "items": {"type": "object"}},
                               "cursor": {"type": ["string", "null"]}}}


async def balance(ctx: ApiContext, p: Mapping[str, Any], body: Any) -> Any:
    status = await ctx.control.status()
    cash = status.get("cash", status.get("equity"))
    return {"balance": cash, "cash": cash, "equity": status.get("equity"),
            "realized_pnl": status.get("realized_pnl"), "mode": status.get("mode")}


async def fills(ctx: ApiContext, p: Mapping[str, Any], body: Any) -> Any:
    return await ctx.control.trades(TradeQuery(ticker=p.get("ticker"), cursor=p.get("cursor"),
                                               limit=p.get("limit", DEFAULT_PAGE_LIMIT)))


async def settlements(ctx: ApiContext, p: Mapping[str, Any], body: Any) -> Any:
    """Windows with realised P&L (the journal's P&L by window), newest ticker first, one page."""
    status = await ctx.control.status()
    live = {status.get("market"), status.get("next_market")}
    rows = await ctx.control.pnl("window")
    items = [{"ticker": r.get("window"), **{k: v for k, v in r.items() if k != "window"}}
             for r in rows if r.get("window") not in live]
    items.sort(key=lambda r: str(r["ticker"]), reverse=True)
    return {"items": items[: p.get("limit", DEFAULT_PAGE_LIMIT)], "cursor": None}


async def active(ctx: ApiContext, p: Mapping[str, Any], body: Any) -> Any:
    positions = await ctx.control.positions()
    resting = await ctx.control.orders(OrderQuery(status="resting", limit=1000))
    in_flight = await ctx.control.orders(OrderQuery(status="in_flight", limit=1000))
    return {"positions": positions, "orders": [*in_flight["items"], *resting["items"]]}


async def halt(ctx: ApiContext, p: Mapping[str, Any], body: Any) -> Any:
    return await ctx.control.stop()


COMPAT_ROUTES: Final[tuple[Route, ...]] = (
    Route("GET", "/api/balance", balance, "Cash, equity and realised P&L (the seed's route)", "compat"),
    Route("GET", "/api/fills", fills, "Fills, newest first (the seed's name for /api/trades)", "compat",
          params=(_TICKER, _CURSOR, _LIMIT), response=_PAGE, errors=(422,)),
    Route("GET", "/api/settlements", settlements, "Realised P&L per settled or closed window, newest first",
          "compat", params=(_LIMIT,), response=_PAGE, errors=(422,)),
    Route("GET", "/api/trades/active", active, "Open positions and live (resting or in-flight) orders",
          "compat"),
    Route("POST", "/api/emergency/halt", halt, "Stop trading and cancel every resting order (as /api/stop)",
          "commands", errors=(409,)),
)


async def seed_message(ctx: ApiContext, kind: str, request_id: Any) -> dict[str, Any]:
    """The reply to one of the seed's `SEED_MESSAGES` (after authentication)."""
    if kind == "ping":
        return {"type": "pong", "id": request_id, "ts": utc_now_iso()}
    if kind == "get_status":
        return {"type": "status_update", "id": request_id, "data": await ctx.control.status(),
                "ts": utc_now_iso()}
    # Through the command table, like the WebSocket's own ``start``/``stop`` commands.
    command = parse_command("start" if kind == "start_bot" else "stop", None, WS_COMMANDS)
    try:
        result = await execute(ctx.control, command)
    except ControlError as exc:
        return {"type": "error", "id": request_id, "error": exc.to_json()}
    return {"type": "ack", "id": request_id, "result": result}
