"""An HTTP answer from Kalshi: its decoded body, or the typed error of a failed request.

An empty body (``204``) decodes to ``{}``. A body that is not the JSON expected is described in a few
words (:func:`describe`): a proxy's HTML error page by its title, never copied into a log line; an answer
cut short by its length and first characters. A plain-text error body is kept as the error's message.
"""

from __future__ import annotations

import re
from typing import Any

from kalshid.exchange.errors import ExchangeError, ProtocolError, error_from_response
from kalshid.exchange.kalshi.wire.fields import loads

_TITLE = re.compile(rb"<title[^>]*>(.*?)</title>", re.IGNORECASE | re.DOTALL)
_TAG = re.compile(rb"<[^>]*>")
_SHOWN = 60  # characters of a body that is neither JSON nor HTML shown in an error


def describe(content: bytes) -> str:
    """A short, log-safe description of a body that is not the JSON expected."""
    if not content.strip():
        return "an empty body"
    if _is_html(content):  # named by its title, else by its first words
        m = _TITLE.search(content[:4096])
        words = m.group(1) if m else _TAG.sub(b" ", content[:4096])
        title = " ".join(words.decode("utf-8", "replace").split())[:_SHOWN]
        return f"an HTML page ({title!r})" if title else "an HTML page"
    text = content[:_SHOWN].decode("utf-8", "replace")
    return f"{len(content)} bytes starting {text!r}"


def _is_html(content: bytes) -> bool:
    head = content.lstrip()[:512].lower()
    return head.startswith((b"<!doctype html", b"<html")) or b"<body" in head or b"<head" in head


def body_of(content: bytes) -> Any:
    """The decoded JSON body (``{}`` when empty). Raises :class:`ProtocolError` saying what came instead
    when it is not JSON."""
    if not content:
        return {}
    try:
        return loads(content)
    except ProtocolError as exc:
        raise ProtocolError(f"{exc} (got {describe(content)})") from exc


def error_of(status: int, content: bytes) -> ExchangeError:
    """The typed error for a failed answer (status ≥ 400) with this body."""
    try:
        body: Any = loads(content)
    except ProtocolError:
        text = content.decode("utf-8", "replace")
        body = f"{describe(content)}, not the API's JSON error" if _is_html(content) else text
    return error_from_response(status, body)
