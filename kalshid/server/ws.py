"""The ``/ws`` WebSocket session: authentication, event push, commands, slow-client eviction.

Life of a session:
1. Auth: an ``Authorization: Bearer`` header (a wrong one is refused with HTTP 401 before the upgrade),
   or, for browsers that cannot set headers, a first message ``{"type": "auth", "token": "..."}`` within
   ``ws_auth_timeout_s`` (else close 1008 with a reason).
2. Subscribe to the broadcaster with a bounded queue, send the current ``status_update``, then push every
   event while answering commands (`handle_message`) on the same connection.
3. End: the client leaves; or its queue overflowed (close 1013 "too slow"); or the server shuts down
   (`ApiContext.closing`, close 1001) — so hypercorn never waits out ``graceful_timeout``.
"""

from __future__ import annotations

import json
import logging
from typing import Any, Final

import trio
from quart import Response, websocket

from kalshid.control.api import ControlError
from kalshid.control.broadcaster import Subscription, encode_event
from kalshid.control.commands import WS_COMMANDS, CommandError, execute, parse_command
from kalshid.control.protocol import strict_json_loads
from kalshid.control.tap import client_subscribers
from kalshid.server.auth import bearer_ok, token_ok
from kalshid.server.compat import SEED_MESSAGES, seed_message
from kalshid.server.errors import error_response
from kalshid.server.routes import ApiContext

log = logging.getLogger("kalshid.server.ws")

CLOSE_NORMAL: Final = 1000
CLOSE_GOING_AWAY: Final = 1001
CLOSE_POLICY: Final = 1008
CLOSE_TRY_LATER: Final = 1013
# Bound on sending the close frame to a client that may not be reading at all.
CLOSE_TIMEOUT_S: Final = 1.0
# Most events a pump sends under one hold of the send lock (a command reply waits at most that long).
PUMP_BURST: Final = 16
_SCALARS: Final = (str, int, float, bool, type(None))


def _dumps(obj: dict[str, Any]) -> str:
    return json.dumps(obj, separators=(",", ":"))


def error_message(request_id: Any, code: str, message: str, field: str | None = None) -> dict[str, Any]:
    error: dict[str, Any] = {"code": code, "message": message}
    if field is not None:
        error["field"] = field
    return {"type": "error", "id": request_id, "error": error}


async def handle_message(ctx: ApiContext, raw: str | bytes) -> dict[str, Any]:
    """The reply to one client message (after authentication): an ``ack`` or an ``error``. Never raises
    for bad input; a pipeline bug becomes an ``internal_error`` reply and a logged traceback."""
    try:
        msg = strict_json_loads(raw)
    except ValueError as exc:
        return error_message(None, "bad_json", f"message is not valid JSON: {exc}")
    if not isinstance(msg, dict):
        return error_message(None, "bad_request", "message must be a JSON object")
    request_id = msg.get("id")
    if not isinstance(request_id, _SCALARS):
        return error_message(None, "bad_request", "id must be a string, number, boolean or null", "id")
    kind = msg.get("type")
    if kind == "auth":
        return {"type": "ack", "id": request_id, "result": {"authenticated": True}}
    if kind in SEED_MESSAGES:
        return await seed_message(ctx, kind, request_id)
    if kind != "command":
        return error_message(
            request_id, "unknown_type", f"type must be 'command' (or 'auth'), got {kind!r}", "type"
        )
    try:
        command = parse_command(msg.get("command"), msg.get("args"), WS_COMMANDS)
        result = await execute(ctx.control, command)
    except (CommandError, ControlError) as exc:
        return {"type": "error", "id": request_id, "error": exc.to_json()}
    except Exception:
        log.exception("websocket command %r failed", msg.get("command"))
        return error_message(request_id, "internal_error", "internal error; see the daemon log")
    return {"type": "ack", "id": request_id, "result": result}


async def _authenticate(ctx: ApiContext) -> tuple[int, str] | None:
    """Wait for the first-message auth; None on success, else the close code and reason."""
    with trio.move_on_after(ctx.settings.ws_auth_timeout_s):
        raw = await websocket.receive()
        try:
            msg = strict_json_loads(raw)
        except ValueError:
            msg = None
        if not isinstance(msg, dict) or msg.get("type") != "auth":
            return CLOSE_POLICY, 'first message must be {"type": "auth", "token": "..."}'
        if not token_ok(msg.get("token"), ctx.token):
            return CLOSE_POLICY, "unauthorized"
        await websocket.send(_dumps({"type": "ack", "id": msg.get("id"), "result": {"authenticated": True}}))
        return None
    return CLOSE_POLICY, f"authentication timed out after {ctx.settings.ws_auth_timeout_s:g} s"


async def _stream(ctx: ApiContext, sub: Subscription) -> tuple[int, str]:
    """Push events and answer commands until the client is evicted or the broadcaster closes.

    The pump sends a burst (the events of one order arrive together) under one hold of the send lock,
    taking the lock without a checkpoint when it is free: one scheduler step per frame sent rather
    than three (queue receive, lock, send). Every step of a dashboard send is a step an order's way
    through the pipeline may wait behind, ~100 clients × a few events per order."""
    send_lock = trio.Lock()  # one frame at a time: events and replies come from two tasks
    outcome = (CLOSE_GOING_AWAY, "server shutting down")

    async def send(*texts: str) -> None:
        if send_lock.locked():
            await send_lock.acquire()
        else:
            send_lock.acquire_nowait()  # no checkpoint here: websocket.send below is one
        try:
            for text in texts:
                await websocket.send(text)
        finally:
            send_lock.release()

    async def pump(cancel: trio.CancelScope) -> None:
        async for text in sub:
            await send(text, *sub.receive_waiting(PUMP_BURST))
        cancel.cancel()  # broadcaster closed: shutdown

    async def watch_overflow(cancel: trio.CancelScope) -> None:
        nonlocal outcome
        await sub.overflowed.wait()
        outcome = (CLOSE_TRY_LATER, f"client too slow: more than {ctx.settings.ws_queue_size} events queued")
        ctx.metrics.ws_eviction()
        log.warning("disconnecting a slow websocket client (queue of %d full)", ctx.settings.ws_queue_size)
        cancel.cancel()

    async def answer() -> None:
        while True:
            raw = await websocket.receive()
            await send(_dumps(await handle_message(ctx, raw)))

    await send(encode_event({"type": "status_update", "data": await ctx.control.status()}))
    async with trio.open_nursery() as nursery:
        nursery.start_soon(pump, nursery.cancel_scope)
        nursery.start_soon(watch_overflow, nursery.cancel_scope)
        nursery.start_soon(answer)
    return outcome


async def serve_websocket(ctx: ApiContext) -> Response | None:
    """The ``/ws`` handler body (see module docstring). Returns a 401 response to refuse an upgrade."""
    header = websocket.headers.get("Authorization")
    if header is not None and not bearer_ok(header, ctx.token):
        return error_response(401, "unauthorized", "missing or invalid bearer token")
    await websocket.accept()
    code, reason = CLOSE_GOING_AWAY, "server shutting down"
    with trio.CancelScope() as scope:

        async def cancel_on_closing() -> None:
            await ctx.closing.wait()
            scope.cancel()

        async with trio.open_nursery() as watcher:
            watcher.start_soon(cancel_on_closing)
            refused = None if header is not None else await _authenticate(ctx)
            if refused is not None:
                code, reason = refused
            else:
                sub = ctx.broadcaster.subscribe(ctx.settings.ws_queue_size)
                ctx.metrics.ws_clients(client_subscribers(ctx.broadcaster))
                try:
                    code, reason = await _stream(ctx, sub)
                finally:
                    sub.close()
                    ctx.metrics.ws_clients(client_subscribers(ctx.broadcaster))
            watcher.cancel_scope.cancel()
    with trio.move_on_after(CLOSE_TIMEOUT_S):
        await websocket.close(code, reason)
    return None
