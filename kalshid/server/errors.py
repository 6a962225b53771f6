"""JSON errors for the control API: one shape everywhere, never an HTML page, never a 500 for bad input.

Shape: ``{"error": {"code": "...", "message": "...", "field": "..."?}}``.
"""

from __future__ import annotations

import json
import logging
from typing import Final

from quart import Quart, Response
from werkzeug.exceptions import HTTPException

from kalshid.control.api import ControlError

log = logging.getLogger("kalshid.server")

_HTTP_CODES: Final = {
    400: "bad_request",
    401: "unauthorized",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    409: "conflict",
    411: "length_required",
    413: "payload_too_large",
    415: "unsupported_media_type",
    422: "invalid",
    431: "headers_too_large",
}
_CONTROL_STATUS: Final = {"invalid": 422, "not_found": 404, "conflict": 409}


class ApiError(Exception):
    """An HTTP error to return as JSON; raise it from any handler."""

    def __init__(self, status: int, code: str, message: str, field: str | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.field = field


def error_response(
    status: int, code: str, message: str, field: str | None = None, headers: dict[str, str] | None = None
) -> Response:
    body: dict[str, str] = {"code": code, "message": message}
    if field is not None:
        body["field"] = field
    return Response(
        json.dumps({"error": body}), status=status, headers=headers or {}, content_type="application/json"
    )


def register_error_handlers(app: Quart) -> None:
    """Turn every error, including Werkzeug's routing/size errors, into the JSON shape above."""

    @app.errorhandler(ApiError)
    async def _api_error(exc: ApiError) -> Response:
        return error_response(exc.status, exc.code, exc.message, exc.field)

    @app.errorhandler(ControlError)
    async def _control_error(exc: ControlError) -> Response:
        return error_response(_CONTROL_STATUS[exc.code], exc.code, exc.message, exc.field)

    @app.errorhandler(HTTPException)
    async def _http_error(exc: HTTPException) -> Response:
        status = exc.code or 500
        headers: dict[str, str] = {}
        if status == 405 and getattr(exc, "valid_methods", None):
            headers["Allow"] = ", ".join(sorted(exc.valid_methods))  # type: ignore[attr-defined]
        message = exc.description or exc.name
        if status == 413:
            limit = app.config.get("MAX_CONTENT_LENGTH")
            message = f"request body exceeds {limit} bytes"
        return error_response(status, _HTTP_CODES.get(status, "http_error"), message, None, headers)

    @app.errorhandler(Exception)
    async def _unexpected(exc: Exception) -> Response:
        log.exception("unhandled error in the API")
        return error_response(500, "internal_error", "internal error; see the daemon log")
