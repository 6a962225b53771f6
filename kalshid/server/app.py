"""The control API: a Quart-Trio app built from `ROUTES`, served by hypercorn inside the daemon's nursery.

`api_server_task` is the one entry point the supervisor uses. It never starts work on ``app.nursery``;
it stops hypercorn through ``shutdown_trigger`` (so Quart's shutdown runs), and on
shutdown ends every WebSocket session first so the drain takes milliseconds, not
``graceful_timeout`` (P2).

Request pipeline: CORS preflight → body size (413) → bearer auth (401) → parameter/body parsing
(400/422 naming the field) → `DaemonControl` call (ControlError → 404/409/422) → JSON. Unknown routes
are 404 and wrong methods 405, both JSON; nothing a client sends can produce a 500.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Awaitable, Callable
from typing import Final

import trio
from hypercorn.config import Config as HyperConfig
from hypercorn.trio import serve
from quart import Response, request
from quart_trio import QuartTrio

from kalshid.control.api import DaemonControl
from kalshid.control.broadcaster import Broadcaster
from kalshid.daemon.audit import acting_as
from kalshid.metrics import Metrics
from kalshid.server import compat, dashboard
from kalshid.server.auth import allowed_origin, bearer_ok
from kalshid.server.errors import ApiError, error_response, register_error_handlers
from kalshid.server.openapi import build_openapi, render_docs_html
from kalshid.server.params import parse_json_object, parse_path, parse_query
from kalshid.server.routes import ROUTES, ApiContext, Route
from kalshid.server.settings import ApiSettings, resolve_token
from kalshid.server.ws import serve_websocket

log = logging.getLogger("kalshid.server")

_CORS_METHODS: Final = "GET, POST, PUT, OPTIONS"
_CORS_HEADERS: Final = "Authorization, Content-Type"


def _quart_path(path: str) -> str:
    return path.replace("{", "<").replace("}", ">")


def _view(ctx: ApiContext, route: Route) -> Callable[..., Awaitable[Response]]:
    async def view(**view_args: str) -> Response:
        params = parse_query(route.params, request.args)
        params.update(parse_path(route.params, view_args))
        if route.body is not None and request.mimetype != "application/json":
            raise ApiError(415, "unsupported_media_type",
                           "request body must be JSON sent as Content-Type: application/json", "body")
        body = (
            parse_json_object(await request.get_data(True, False, False)) if route.body is not None else None
        )
        with acting_as("api"):
            result = await route.handler(ctx, params, body)
        if isinstance(result, Response):
            return result
        return Response(json.dumps(result), content_type="application/json")

    return view


def create_app(
    control: DaemonControl,
    settings: ApiSettings,
    *,
    token: str,
    broadcaster: Broadcaster,
    metrics: Metrics,
) -> tuple[QuartTrio, ApiContext]:
    """The Quart-Trio app and its context (the context's ``closing`` event ends WebSocket sessions)."""
    app = QuartTrio("kalshid.server")
    app.config["MAX_CONTENT_LENGTH"] = settings.max_request_bytes
    # no HTML redirects (//api, /api//x): such a path is simply not found, as JSON
    app.url_map.merge_slashes = False
    ctx = ApiContext(control, settings, token, broadcaster, metrics)
    dash = dashboard.Dashboard(control)
    app.extensions["kalshid.dashboard"] = dash
    all_routes = (*ROUTES, *dash.routes(), *compat.COMPAT_ROUTES)
    document = build_openapi(all_routes)
    ctx.openapi_json = json.dumps(document, indent=1).encode()
    ctx.docs_html = render_docs_html(document)
    register_error_handlers(app)

    routes: dict[str, Route] = {}
    for route in all_routes:
        endpoint = f"{route.method} {route.path}"
        routes[endpoint] = route
        app.add_url_rule(_quart_path(route.path), endpoint, _view(ctx, route), methods=[route.method])

    async def ws() -> Response | None:
        with acting_as("ws"):
            return await serve_websocket(ctx)

    app.add_websocket("/ws", "ws", ws)
    dash.register_pages(app)

    @app.before_request
    async def guard() -> Response | None:
        origin = request.headers.get("Origin")
        if request.method == "OPTIONS" and "Access-Control-Request-Method" in request.headers:
            allowed = allowed_origin(origin, settings.cors_origins)
            if allowed is None:
                return error_response(403, "forbidden", "origin not allowed")
            return Response(
                "",
                status=204,
                headers={
                    "Access-Control-Allow-Origin": allowed,
                    "Access-Control-Allow-Methods": _CORS_METHODS,
                    "Access-Control-Allow-Headers": _CORS_HEADERS,
                    "Access-Control-Max-Age": "600",
                    "Vary": "Origin",
                },
            )
        length = request.content_length
        if length is not None and length > settings.max_request_bytes:
            return error_response(
                413, "payload_too_large", f"request body exceeds {settings.max_request_bytes} bytes"
            )
        route = routes.get(request.endpoint or "")
        # Unmatched paths fall to the JSON 404/405 handlers; they reveal nothing /openapi.json doesn't.
        if (
            route is not None
            and route.auth
            and not bearer_ok(request.headers.get("Authorization"), token)
            and not dash.cookie_ok(route.path, token)
        ):
            return error_response(
                401,
                "unauthorized",
                dashboard.DOCS_UNAUTHORIZED if route.path in dashboard.COOKIE_PATHS
                else "missing or invalid bearer token",
                headers={"WWW-Authenticate": 'Bearer realm="kalshid"'},
            )
        return None

    @app.after_request
    async def decorate(response: Response) -> Response:
        allowed = allowed_origin(request.headers.get("Origin"), settings.cors_origins)
        if allowed is not None:
            response.headers["Access-Control-Allow-Origin"] = allowed
            response.headers.add("Vary", "Origin")
        await _drain_body(response)
        response.headers.setdefault("Cache-Control", "no-store")
        response.headers["X-Content-Type-Options"] = "nosniff"
        rule = request.url_rule.rule if request.url_rule is not None else "unmatched"
        metrics.api_request(rule, response.status_code)
        return response

    return app, ctx


BODY_DRAIN_S: Final = 2.0


async def _drain_body(response: Response) -> None:
    """Read what is left of the request's body, so the next request on a kept-alive connection is
    parsed from its start; a body too large or too slow to read ends the connection instead."""
    if request.content_length in (None, 0) and "chunked" not in request.headers.get("Transfer-Encoding", ""):
        return
    if response.status_code == 413:
        response.headers["Connection"] = "close"
        return
    drained = False
    with trio.move_on_after(BODY_DRAIN_S):
        try:
            await request.get_data(cache=True)
            drained = True
        except Exception:  # any failure reading it: the connection cannot be reused
            drained = False
    if not drained:
        response.headers["Connection"] = "close"


async def status_ticker(ctx: ApiContext) -> None:
    """Publish ``status_update`` every ``status_interval_s`` while anyone is listening. Runs until cancelled;
    the pipeline publishes additional updates on every state change."""
    while True:
        await trio.sleep(ctx.settings.status_interval_s)
        if ctx.broadcaster.statistics().subscribers:
            ctx.broadcaster.publish({"type": "status_update", "data": await ctx.control.status()})


def hypercorn_config(settings: ApiSettings) -> HyperConfig:
    cfg = HyperConfig()
    host = f"[{settings.host}]" if ":" in settings.host else settings.host
    cfg.bind = [f"{host}:{settings.port}"]
    cfg.graceful_timeout = settings.graceful_timeout_s
    cfg.websocket_max_message_size = settings.max_request_bytes
    cfg.include_server_header = False
    # Route hypercorn's logs through stdlib logging (and so structlog), not its own stderr format (P12).
    cfg.errorlog = logging.getLogger("hypercorn.error")
    cfg.accesslog = logging.getLogger("hypercorn.access")
    return cfg


async def api_server_task(
    control: DaemonControl,
    settings: ApiSettings,
    *,
    shutdown: trio.Event,
    broadcaster: Broadcaster,
    metrics: Metrics,
    task_status: trio.TaskStatus[str] = trio.TASK_STATUS_IGNORED,
) -> None:
    """Serve the API until ``shutdown`` is set; reports the bound URL (e.g. ``http://127.0.0.1:8000``).

    Raises ValueError (bad token settings) or OSError (cannot bind) before reporting started. When
    ``shutdown`` is set it closes the broadcaster (later publishes are dropped), ends every WebSocket
    session with 1001, lets hypercorn drain in-flight requests for up to ``graceful_timeout_s``, and
    returns. Cancelling the task also works but skips that drain.
    """
    token = resolve_token(settings)
    app, ctx = create_app(control, settings, token=token, broadcaster=broadcaster, metrics=metrics)

    async def trigger() -> None:
        await shutdown.wait()
        ctx.closing.set()
        broadcaster.close()

    started = False
    try:
        async with trio.open_nursery() as nursery:

            async def http(task_status: trio.TaskStatus[list[str]] = trio.TASK_STATUS_IGNORED) -> None:
                await serve(
                    app, hypercorn_config(settings), shutdown_trigger=trigger, task_status=task_status
                )
                nursery.cancel_scope.cancel()  # drained: stop the ticker too (it loops forever)

            binds: list[str] = await nursery.start(http)
            nursery.start_soon(status_ticker, ctx)
            nursery.start_soon(app.extensions["kalshid.dashboard"].follow, broadcaster)
            log.info("API listening on %s", binds[0])
            log.info("dashboard: open %s/ and sign in with the API token", binds[0])
            started = True
            task_status.started(binds[0])
    except BaseExceptionGroup as group:
        # hypercorn's nested nurseries wrap a bind failure three groups deep; give the supervisor a plain
        # OSError naming the address instead.
        leaves = _leaves(group)
        if not started and len(leaves) == 1 and isinstance(leaves[0], OSError):
            err = leaves[0]
            raise OSError(
                err.errno, f"API cannot listen on {settings.host}:{settings.port}: {err.strerror}"
            ) from err
        raise


def _leaves(group: BaseExceptionGroup[BaseException]) -> list[BaseException]:
    out: list[BaseException] = []
    for exc in group.exceptions:
        out.extend(_leaves(exc) if isinstance(exc, BaseExceptionGroup) else [exc])
    return out


__all__ = ["ApiSettings", "api_server_task", "create_app", "hypercorn_config", "status_ticker"]
