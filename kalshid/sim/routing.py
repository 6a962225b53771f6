"""How every simulator REST request is handled: the request pipeline and the route table's decorator.

Every request passes, in order: its body is read in full (so a request refused for any reason never
leaves unread bytes on a keep-alive connection, where they would be taken for the next request),
injected faults (if configured), authentication (``/portfolio/*`` and ``/account/limits``: 401
otherwise), the token bucket of its kind (read for GET, write otherwise; 429 when short), then the
handler. Handler errors are :class:`ExchangeError` → ``{"error": {"code", "message", "details"}}`` with
their status. Unknown routes and methods get the same envelope with 404/405.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

import trio
from quart import Response, request
from quart_trio import QuartTrio

from kalshid.sim import wire
from kalshid.sim.authn import HEADER_KEY, AuthError
from kalshid.sim.model import ExchangeError
from kalshid.sim.ratelimit import DEFAULT_COST
from kalshid.sim.venue import Venue

PREFIX = "/trade-api/v2"
Result = tuple[Any, int]
Handler = Callable[..., Awaitable[Result]]
Cost = Callable[[Any], int]


def flat_cost(tokens: int) -> Cost:
    return lambda body: tokens


def per_item_cost(tokens: int) -> Cost:
    """``tokens`` per entry of the body's ``orders`` array (at least one)."""

    def cost(body: Any) -> int:
        items = body.get("orders") if isinstance(body, dict) else None
        return tokens * max(1, len(items) if isinstance(items, list) else 1)

    return cost


async def read_body() -> Any:
    """The request's JSON body (``None`` when absent or not JSON), after draining it from the socket."""
    raw = await request.get_data()
    if not raw:
        return None
    return await request.get_json(force=True, silent=True)


class Router:
    """Registers handlers on ``app`` and runs each request through the pipeline above.

    A handler is ``async def h(user, body, **path_params) -> (json_body | None, status)``; ``None``
    as the body answers with no content (e.g. 204).
    """

    def __init__(self, app: QuartTrio, venue: Venue) -> None:
        self.app = app
        self.venue = venue
        self.endpoint_costs: list[tuple[str, str, int]] = []

    async def _dispatch(self, fn: Handler, kind: str, auth: bool, cost: Cost, kw: dict[str, Any]) -> Any:
        venue = self.venue
        body = await read_body()
        fault = None
        if venue.faults is not None:
            if venue.faults.latency_s:
                await trio.sleep(venue.faults.latency_s)
            fault = venue.faults.http_fault(now=venue.now(), detail=f"{request.method} {request.path}")
            if fault in ("500", "503"):
                code = "internal_error" if fault == "500" else "service_unavailable"
                return wire.error_json(code, "injected fault"), int(fault)
            if fault == "429":
                return too_many_requests(), 429
        bucket_key = request.headers.get(HEADER_KEY) or request.remote_addr or "anonymous"
        user: str | None = None
        if auth:
            try:
                bucket_key, user = venue.keys.authenticate(request.headers, request.method, request.path)
            except AuthError as exc:
                return wire.error_json("unauthorized", str(exc)), 401
        if not venue.limiter.allow(bucket_key, kind, cost(body), trio.current_time()):
            return too_many_requests(), 429
        try:
            result, status = await fn(user, body, **kw)
        except ExchangeError as exc:
            result, status = wire.error_json(exc.code, exc.message, exc.field), exc.status
        finally:
            venue.publish()
        if fault == "lost":  # the work is done; the client never hears about it
            await trio.sleep_forever()
        if result is None:
            return Response("", status)
        return result, status

    def route(
        self, path: str, method: str, *, auth: bool = False, cost: Cost | None = None, tokens: int = DEFAULT_COST
    ) -> Callable[[Handler], Handler]:
        """Register ``fn`` for ``method path``; ``cost`` (default: ``tokens`` flat) is what it takes
        from the bucket. Costs other than the default are listed by ``/account/endpoint_costs``."""
        kind = "read" if method == "GET" else "write"
        charge = cost or flat_cost(tokens)
        if tokens != DEFAULT_COST:
            self.endpoint_costs.append((method, PREFIX + path.replace("<", "{").replace(">", "}"), tokens))

        def decorate(fn: Handler) -> Handler:
            async def view(**kw: Any) -> Any:
                return await self._dispatch(fn, kind, auth, charge, kw)

            view.__name__ = f"{fn.__name__}_{method.lower()}"
            self.app.add_url_rule(PREFIX + path, view_func=view, methods=[method])
            return fn

        return decorate

    def install_error_handlers(self) -> None:
        """JSON 404/405 in Kalshi's envelope, draining the body first (see the module docstring)."""

        @self.app.errorhandler(404)
        async def not_found(error: Exception) -> Response:
            await request.get_data()
            text = wire.error_text("not_found", f"no route {request.method} {request.path}")
            return Response(text, 404, content_type="application/json")

        @self.app.errorhandler(405)
        async def not_allowed(error: Exception) -> Response:
            await request.get_data()
            text = wire.error_text("method_not_allowed", f"{request.method} is not allowed on {request.path}")
            return Response(text, 405, content_type="application/json")


def user_id(user: str | None) -> str:
    """The authenticated user of a handler registered with ``auth=True`` (always set there)."""
    assert user is not None, "handler needs auth=True"
    return user


def too_many_requests() -> dict[str, Any]:
    return wire.error_json("too_many_requests", "rate limit exceeded: the token bucket is empty")
