"""The browser dashboard: the page at ``/``, its static files, the docs cookie and ``/api/decisions``.

The page and its script/style are public (they hold no data); everything they show comes from the
authenticated API. The browser keeps the API token in ``sessionStorage`` and sends it as a bearer header
(REST) or in the first WebSocket message; it never appears in a URL.

``/docs`` and ``/openapi.json`` are opened by the browser itself (a link), which cannot add a header, so
after sign-in the page calls ``POST /api/session``: the response sets a short-lived cookie (HttpOnly,
SameSite=Strict, ``Max-Age`` one hour) holding an expiry and an HMAC of it keyed by the API token. That
cookie is accepted for those two read-only routes only (`Dashboard.cookie_ok`); changing the token
invalidates every cookie.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any, Final

from quart import Response, request
from quart_trio import QuartTrio

from kalshid.control.broadcaster import Broadcaster
from kalshid.control.decisions import DecisionTracker, register
from kalshid.server.routes import ApiContext, Route

STATIC_DIR: Final = Path(__file__).resolve().parent / "static"
COOKIE_NAME: Final = "kalshid_docs"
COOKIE_MAX_AGE_S: Final = 3600
COOKIE_PATHS: Final = frozenset({"/docs", "/openapi.json"})
# the 401 of those paths: a browser following a link sends no header, the dashboard's sign-in sets the cookie
DOCS_UNAUTHORIZED: Final = "send a bearer token, or sign in on the dashboard at / first"
# Only our own files and connections; inline scripts/styles in markup are refused.
CONTENT_SECURITY_POLICY: Final = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; "
    "frame-ancestors 'none'; base-uri 'none'; form-action 'self'"
)
_DECISIONS_SCHEMA: Final = {
    "type": "object",
    "required": ["strategies", "reasons", "last"],
    "properties": {
        "strategies": {"type": "object"},
        "reasons": {"type": "object", "additionalProperties": {"type": "integer"}},
        "last": {"type": ["object", "null"]},
    },
}


def _signature(token: str, expires: int) -> str:
    return hmac.new(token.encode(), f"docs-cookie:{expires}".encode(), hashlib.sha256).hexdigest()


def make_cookie_value(token: str, now: float) -> str:
    """``<expiry unix seconds>.<hex HMAC-SHA256 of it keyed by the token>``."""
    expires = int(now) + COOKIE_MAX_AGE_S
    return f"{expires}.{_signature(token, expires)}"


def cookie_value_ok(value: str | None, token: str, now: float) -> bool:
    """True if ``value`` was made by `make_cookie_value` with ``token`` and has not expired."""
    if not value or "." not in value:
        return False
    expires_text, _, signature = value.partition(".")
    if not expires_text.isascii() or not expires_text.isdigit() or len(expires_text) > 12:
        return False
    expires = int(expires_text)
    if expires < now or expires > now + COOKIE_MAX_AGE_S + 60:
        return False
    return hmac.compare_digest(signature.encode(), _signature(token, expires).encode())


async def _index() -> Response:
    body = (STATIC_DIR / "index.html").read_bytes()
    response = Response(body, content_type="text/html; charset=utf-8")
    response.headers["Content-Security-Policy"] = CONTENT_SECURITY_POLICY
    response.headers["Referrer-Policy"] = "no-referrer"
    response.headers["X-Frame-Options"] = "DENY"
    return response


class Dashboard:
    """The dashboard's part of one API app: its routes, pages and the decision tracker."""

    def __init__(self, control: object, *, clock: Callable[[], float] = time.time) -> None:
        self.tracker = DecisionTracker()
        self._clock = clock
        register(control, self.tracker)

    def routes(self) -> tuple[Route, ...]:
        """Authenticated API routes the dashboard adds (listed in the OpenAPI document)."""

        async def session(ctx: ApiContext, p: Mapping[str, Any], body: Any) -> Any:
            value = make_cookie_value(ctx.token, self._clock())
            payload = json.dumps({"docs": "/docs", "expires_in_s": COOKIE_MAX_AGE_S})
            response = Response(payload, content_type="application/json")
            response.set_cookie(COOKIE_NAME, value, max_age=COOKIE_MAX_AGE_S, path="/", httponly=True,
                                samesite="Strict", secure=request.scheme == "https")
            return response

        async def decisions(ctx: ApiContext, p: Mapping[str, Any], body: Any) -> Any:
            return self.tracker.snapshot()

        return (
            Route("POST", "/api/session", session,
                  "Set a one-hour HttpOnly cookie that opens /docs and /openapi.json in this browser", "meta"),
            Route("GET", "/api/decisions", decisions,
                  "Last signal and risk verdict per strategy, verdict counts per reason", "status",
                  response=_DECISIONS_SCHEMA),
        )

    def cookie_ok(self, path: str, token: str) -> bool:
        """True if the current request may use the docs cookie instead of a bearer header for ``path``."""
        return path in COOKIE_PATHS and cookie_value_ok(request.cookies.get(COOKIE_NAME), token, self._clock())

    def register_pages(self, app: QuartTrio) -> None:
        """The page at ``/`` (public, no data). Its script and style are ``/static/app.js`` and
        ``/static/app.css``, served by Quart's static route from `STATIC_DIR` (the app's static folder)."""
        if app.static_folder is None or Path(app.static_folder).resolve() != STATIC_DIR:
            raise RuntimeError(f"the API app must serve its static folder {STATIC_DIR}")
        app.add_url_rule("/", "dashboard", _index, methods=["GET"])

    async def follow(self, broadcaster: Broadcaster) -> None:
        """Feed the decision tracker from ``broadcaster`` until it closes."""
        await self.tracker.follow(broadcaster)

