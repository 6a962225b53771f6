"""An HTTP answer from Kalshi: its decoded body, or the typed error of a failed request.

An empty body (``204``) decodes to ``{}``; an error body that is not JSON is kept as text for the
error's message (:func:`~kalshid.exchange.errors.error_from_response` maps status and body).
"""

from __future__ import annotations

from typing import Any

from kalshid.exchange.errors import ExchangeError, ProtocolError, error_from_response
from kalshid.exchange.kalshi.wire.fields import loads


def body_of(content: bytes) -> Any:
    """The decoded JSON body (``{}`` when empty). Raises :class:`ProtocolError` when it is not JSON."""
    return loads(content) if content else {}


def error_of(status: int, content: bytes) -> ExchangeError:
    """The typed error for a failed answer (status ≥ 400) with this body."""
    try:
        body: Any = loads(content)
    except ProtocolError:
        body = content.decode("utf-8", "replace")
    return error_from_response(status, body)
