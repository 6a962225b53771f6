"""Coinbase Exchange WebSocket messages, typed (pure parsing; the feed is :mod:`kalshid.exchange.spot`).

:func:`parse_message` turns one message into a :data:`SpotMessage` or raises
:class:`~kalshid.exchange.errors.ProtocolError` naming the bad field. Unknown message types are
:class:`Ignored`, as Coinbase's documentation asks.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import datetime
from decimal import Decimal
from typing import Any

import attrs

from kalshid.core import wire as w
from kalshid.exchange.errors import ProtocolError


@attrs.frozen
class Ticker:
    sequence: int
    product_id: str
    price: Decimal
    time: datetime
    best_bid: Decimal | None = None
    best_ask: Decimal | None = None


@attrs.frozen
class Heartbeat:
    sequence: int
    product_id: str
    time: datetime


@attrs.frozen
class Subscriptions:
    """The server's list of what this connection is subscribed to: channel name → product ids."""

    channels: dict[str, tuple[str, ...]]


@attrs.frozen
class ErrorMessage:
    message: str
    reason: str


@attrs.frozen
class Ignored:
    """A message type we do not use (Coinbase may add types at any time)."""

    type: str


SpotMessage = Ticker | Heartbeat | Subscriptions | ErrorMessage | Ignored


def _req(m: dict[str, Any], key: str, ctx: str, conv: Callable[[object, str], Any]) -> Any:
    if m.get(key) is None:
        raise ProtocolError(f"{ctx}: missing field {key!r}")
    try:
        return conv(m[key], f"{ctx}.{key}")
    except (w.WireValueError, ValueError, TypeError) as exc:
        raise ProtocolError(str(exc)) from exc


def _sequence(value: object, field: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise w.WireValueError(f"{field}: expected a non-negative integer, got {value!r}")
    return value


def _text(value: object, field: str) -> str:
    if not isinstance(value, str) or not value:
        raise w.WireValueError(f"{field}: expected a non-empty string, got {value!r}")
    return value


def _price(value: object, field: str) -> Decimal:
    d = w.decimal(value, field)
    if d <= 0:
        raise w.WireValueError(f"{field}: expected a price > 0, got {value!r}")
    return d


def parse_message(raw: str | bytes) -> SpotMessage:
    """One Coinbase feed message, typed. Raises :class:`ProtocolError` naming the bad field."""
    try:
        m = json.loads(raw, parse_float=Decimal)
    except ValueError as exc:
        raise ProtocolError(f"coinbase: message is not JSON: {exc}") from exc
    if not isinstance(m, dict):
        raise ProtocolError(f"coinbase: expected a JSON object, got {type(m).__name__}")
    typ = _req(m, "type", "coinbase message", _text)
    if typ == "ticker":
        opt = {k: _req(m, k, "ticker", _price) for k in ("best_bid", "best_ask") if m.get(k) is not None}
        return Ticker(sequence=_req(m, "sequence", "ticker", _sequence),
                      product_id=_req(m, "product_id", "ticker", _text),
                      price=_req(m, "price", "ticker", _price), time=_req(m, "time", "ticker", w.timestamp), **opt)
    if typ == "heartbeat":
        return Heartbeat(sequence=_req(m, "sequence", "heartbeat", _sequence),
                         product_id=_req(m, "product_id", "heartbeat", _text),
                         time=_req(m, "time", "heartbeat", w.timestamp))
    if typ == "subscriptions":
        chans = m.get("channels")
        if not isinstance(chans, list):
            raise ProtocolError(f"subscriptions: 'channels' is not a list: {chans!r}")
        out: dict[str, tuple[str, ...]] = {}
        for c in chans:
            if isinstance(c, str):  # a bare channel name (no products)
                out[c] = ()
            elif isinstance(c, dict) and isinstance(c.get("name"), str):
                ids = c.get("product_ids") or []
                if not isinstance(ids, list) or not all(isinstance(i, str) for i in ids):
                    raise ProtocolError(f"subscriptions: channel {c['name']!r} product_ids is not a list of "
                                        f"strings: {ids!r}")
                out[c["name"]] = tuple(ids)
            else:
                raise ProtocolError(f"subscriptions: bad channel entry {c!r}")
        return Subscriptions(out)
    if typ == "error":
        return ErrorMessage(message=str(m.get("message") or ""), reason=str(m.get("reason") or ""))
    return Ignored(typ)
