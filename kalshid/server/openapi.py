"""The OpenAPI 3.1 document and the offline HTML reference, both generated from `ROUTES`.

The HTML page is self-contained (inline CSS, no JavaScript, nothing fetched from a CDN) so ``/docs``
works on an air-gapped host.
"""

from __future__ import annotations

import html
import json
from collections.abc import Sequence
from typing import Any, Final

import kalshid
from kalshid.control.broadcaster import EVENT_TYPES
from kalshid.control.commands import WS_COMMANDS
from kalshid.server.routes import Route

_ERROR_SCHEMA: Final = {
    "type": "object",
    "required": ["error"],
    "properties": {
        "error": {
            "type": "object",
            "required": ["code", "message"],
            "properties": {
                "code": {"type": "string"},
                "message": {"type": "string"},
                "field": {"type": "string"},
            },
        }
    },
}
_ERROR_TEXT: Final = {
    400: "Malformed request (body is not JSON); `field` names the culprit",
    401: "Missing or wrong bearer token",
    404: "Unknown strategy (or route)",
    409: "Refused in the current state (e.g. start while the breaker is tripped)",
    413: "Request body too large",
    415: "Request body not sent as Content-Type: application/json",
    422: "Invalid parameter or body value; `field` names it",
}

WS_DESCRIPTION: Final = f"""
**WebSocket `/ws`.** Authenticate with an `Authorization: Bearer` header, or (browsers) send
`{{"type": "auth", "token": "..."}}` as the first message within a few seconds. Events are pushed as
`{{"type": ..., "data": {{...}}, "ts": "<ISO-8601>"}}` with types {", ".join(sorted(EVENT_TYPES))};
`status_update` is also sent on connect and periodically. Commands:
`{{"type": "command", "id": 1, "command": <{" | ".join(sorted(WS_COMMANDS))}>, "args": {{...}}}}`
(`enable_strategy`/`disable_strategy` take `{{"name": ...}}`) answer
`{{"type": "ack", "id": 1, "result": ...}}` or
`{{"type": "error", "id": 1, "error": {{"code", "message", "field"?}}}}`. A client that reads too slowly
is disconnected with close code 1013.
"""


def _operation(route: Route) -> dict[str, Any]:
    op: dict[str, Any] = {
        "operationId": route.method.lower() + route.path.replace("/", "_").replace("{", "").replace("}", ""),
        "summary": route.summary,
        "tags": [route.tag],
    }
    if route.params:
        op["parameters"] = [
            {
                "name": p.name,
                "in": p.location,
                "required": p.required or p.location == "path",
                "description": p.description,
                "schema": dict(p.schema),
            }
            for p in route.params
        ]
    if route.body is not None:
        op["requestBody"] = {"required": True, "content": {"application/json": {"schema": dict(route.body)}}}
    media = {"json": "application/json", "text": "text/plain", "html": "text/html"}[route.kind]
    ok_schema = dict(route.response) if route.kind == "json" else {"type": "string"}
    responses: dict[str, Any] = {"200": {"description": "OK", "content": {media: {"schema": ok_schema}}}}
    codes = set(route.errors) | ({401} if route.auth else set())
    for code in sorted(codes):
        responses[str(code)] = {
            "description": _ERROR_TEXT[code],
            "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}},
        }
    op["responses"] = responses
    if not route.auth:
        op["security"] = []
    return op


def build_openapi(routes: Sequence[Route]) -> dict[str, Any]:
    """The OpenAPI 3.1 document describing ``routes`` (every one of them)."""
    paths: dict[str, dict[str, Any]] = {}
    for route in routes:
        paths.setdefault(route.path, {})[route.method.lower()] = _operation(route)
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "kalshid control API",
            "version": kalshid.__version__,
            "description": "Control and observe a running kalshid. Every endpoint except /api/health needs "
            "`Authorization: Bearer <token>`; /docs and /openapi.json also open with the cookie the "
            "dashboard's sign-in sets (POST /api/session). Errors are "
            '`{"error": {"code", "message", "field"?}}`.\n' + WS_DESCRIPTION,
        },
        "servers": [{"url": "/"}],
        "security": [{"bearerAuth": []}],
        "paths": paths,
        "components": {
            "securitySchemes": {"bearerAuth": {"type": "http", "scheme": "bearer"}},
            "schemas": {"Error": _ERROR_SCHEMA},
        },
    }


def _code(obj: Any) -> str:
    return f"<code>{html.escape(json.dumps(obj, separators=(',', ':')))}</code>"


def render_docs_html(doc: dict[str, Any]) -> str:
    """A self-contained HTML reference for ``doc`` (no scripts, no external resources)."""
    parts = [
        "<!doctype html><html lang='en'><head><meta charset='utf-8'>",
        f"<title>{html.escape(doc['info']['title'])}</title>",
        "<style>body{font:15px/1.45 system-ui,sans-serif;max-width:60rem;margin:2rem auto;padding:0 1rem}"
        "h2{border-bottom:1px solid #ccc;margin-top:2rem}.m{display:inline-block;min-width:3.5rem;"
        "font-weight:bold}table{border-collapse:collapse}td,th{border:1px solid #ddd;padding:.2rem .5rem;"
        "text-align:left}code{background:#f4f4f4;padding:0 .2rem}.op{margin:1.2rem 0}</style></head><body>",
        f"<h1>{html.escape(doc['info']['title'])} <small>{html.escape(doc['info']['version'])}</small></h1>",
        f"<p style='white-space:pre-wrap'>{html.escape(doc['info']['description'])}</p>",
        "<p>Machine-readable: <a href='/openapi.json'>/openapi.json</a></p>",
    ]
    for path, methods in doc["paths"].items():
        for method, op in methods.items():
            auth = "no auth" if op.get("security") == [] else "bearer token"
            parts.append(
                f"<div class='op' id='{html.escape(op['operationId'])}'><h3><span class='m'>{method.upper()}"
                f"</span> <code>{html.escape(path)}</code></h3><p>{html.escape(op['summary'])} ({auth})</p>"
            )
            if op.get("parameters"):
                parts.append(
                    "<table><tr><th>parameter</th><th>in</th><th>schema</th><th>description</th></tr>"
                )
                parts += [
                    f"<tr><td>{html.escape(p['name'])}</td><td>{p['in']}</td><td>{_code(p['schema'])}</td>"
                    f"<td>{html.escape(p['description'])}</td></tr>"
                    for p in op["parameters"]
                ]
                parts.append("</table>")
            if "requestBody" in op:
                parts.append(
                    f"<p>Body (JSON): {_code(op['requestBody']['content']['application/json']['schema'])}</p>"
                )
            codes = ", ".join(f"{c} {html.escape(r['description'])}" for c, r in op["responses"].items())
            parts.append(f"<p>Responses: {codes}</p></div>")
    parts.append("</body></html>")
    return "".join(parts)
