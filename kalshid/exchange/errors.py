"""Typed exchange errors.

Every failure the exchange client can report is an :class:`ExchangeError` subclass, so callers branch
on the *type*, never on message text. Error messages carry what the exchange said (its ``code`` and
``message``) and never request headers, key ids or signatures.

Two outcomes are not errors of the exchange but of *knowledge*: :class:`OrderInFlight` and
:class:`CancelInFlight` say "we sent it, the answer was lost; ask the exchange what happened". They
must never be treated as "failed": resolve them (``resolve_in_flight`` / ``get_order``) before acting.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any


class ExchangeError(Exception):
    """An error reported by (or about talking to) the exchange.

    ``status`` is the HTTP status (0 when there was no response), ``code`` the exchange's error code
    string when it sent one (codes are UNCONFIRMED: log them, don't branch on them), ``message`` its text.
    """

    def __init__(self, message: str, *, status: int = 0, code: str | None = None,
                 details: str | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.details = details

    def __str__(self) -> str:
        parts = [f"HTTP {self.status}" if self.status else None,
                 f"code={self.code}" if self.code else None, self.message,
                 f"({self.details})" if self.details else None]
        return " ".join(p for p in parts if p)


class BadRequest(ExchangeError):
    """400: the request was rejected as invalid; sending it again will not help."""


class InsufficientBalance(BadRequest):
    """400 with code ``insufficient_balance``: not enough cash for this order."""


class AuthError(ExchangeError):
    """401: the key id, timestamp or signature was not accepted."""


class Forbidden(ExchangeError):
    """403: authenticated, but not allowed (entitlement, account state)."""


class NotFound(ExchangeError):
    """404: no such market, order or resource."""


class Conflict(ExchangeError):
    """409: duplicate ``client_order_id``, or an order that can no longer be modified."""


class Gone(ExchangeError):
    """410: the route was retired (``deprecated_v1_order_endpoint`` for the legacy order writes).
    Nothing was done; kalshid sends no write to a retired route, so this is a bug or a wrong host."""


class RateLimited(ExchangeError):
    """429: a rate-limit bucket is empty. Back off (a read honours a Retry-After, which Kalshi is not known to send)."""


class ServerError(ExchangeError):
    """5xx: the exchange failed. For writes the outcome is unknown (see the in-flight errors)."""


class TransportError(ExchangeError):
    """No usable HTTP response: connect failure, timeout, reset. For writes the outcome is unknown."""


class ProtocolError(ExchangeError):
    """A response or message did not have the shape we need; the message names the field."""


class OrderInFlight(ExchangeError):
    """An order POST got no definite answer (timeout, 5xx, transport error, or a 409 we could not
    resolve). The order may or may not exist. Resolve it by ``client_order_id``; never send it again."""

    def __init__(self, client_order_id: str, ticker: str, cause: BaseException | str) -> None:
        super().__init__(f"order {client_order_id} on {ticker} is in flight: {cause}")
        self.client_order_id = client_order_id
        self.ticker = ticker
        self.cause = cause


class CancelInFlight(ExchangeError):
    """A cancel got no definite answer. The order may or may not be canceled: ask with ``get_order``."""

    def __init__(self, order_id: str, cause: BaseException | str) -> None:
        super().__init__(f"cancel of order {order_id} is in flight: {cause}")
        self.order_id = order_id
        self.cause = cause


_BY_STATUS: dict[int, type[ExchangeError]] = {
    400: BadRequest, 401: AuthError, 403: Forbidden, 404: NotFound, 409: Conflict, 410: Gone,
    429: RateLimited,
}

_MAX_MESSAGE = 500  # an HTML error page must not flood the logs


def error_from_response(status: int, body: Any) -> ExchangeError:
    """The typed error for an HTTP error response.

    ``body`` is the decoded JSON (or the raw text when it was not JSON). Accepts ``{"error": {...}}``,
    ``{"error": "text"}`` (Kalshi's 429) and a bare ``{"code", "message", ...}``.
    """
    code: str | None = None
    details: str | None = None
    message = ""
    inner: Any = body.get("error", body) if isinstance(body, Mapping) else body
    if isinstance(inner, Mapping):
        code = _opt_str(inner.get("code"))
        message = _opt_str(inner.get("message")) or _opt_str(inner.get("msg")) or ""
        details = _opt_str(inner.get("details"))
    elif isinstance(inner, str):
        message = inner
    message = (message or f"HTTP {status} with no error message")[:_MAX_MESSAGE]
    if status == 400 and code == "insufficient_balance":
        cls: type[ExchangeError] = InsufficientBalance
    elif status >= 500:
        cls = ServerError
    else:
        cls = _BY_STATUS.get(status, ExchangeError)
    return cls(message, status=status, code=code, details=details)


def _opt_str(v: Any) -> str | None:
    if v is None or v == "":
        return None
    return str(v)
