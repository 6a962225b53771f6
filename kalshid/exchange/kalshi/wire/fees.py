"""Kalshi's fee structure on the wire: a ``Series``' ``fee_type``/``fee_multiplier``, an ``EventData``'s
``fee_type_override``/``fee_multiplier_override`` (Trade API v3.31), and the feed's ``event_fee_update``.

The multiplier is a JSON number (the spec's ``double``), read exactly: :func:`.fields.loads` decodes a
fraction as ``Decimal``, so ``1``, ``1.0`` and ``1.25`` are exact and compared exactly. The event's
overrides may be absent or null (no override); the series' two fields are required.

Bad input is a :class:`~kalshid.exchange.errors.ProtocolError` naming the object and the field: a
missing required field, a multiplier that is a string, a boolean or negative, a fee type that is empty
or not a string. A fee type outside Kalshi's ``FeeType`` enum is kept as it is (unknown enum values are
not an error): it is simply not the structure kalshid models.
"""

from __future__ import annotations

from collections.abc import Callable
from decimal import Decimal
from typing import TypeVar

from kalshid.core import wire as w
from kalshid.core.fees import FeeStructure
from kalshid.exchange.base import EventFeeUpdated
from kalshid.exchange.errors import ProtocolError
from kalshid.exchange.kalshi.wire.fields import Obj, field, obj_of, string
from kalshid.exchange.types import EventFees, SeriesFees

T = TypeVar("T")


def multiplier(v: object, where: str) -> Decimal:
    """A fee multiplier: a JSON number >= 0, exact."""
    if isinstance(v, bool) or not isinstance(v, int | Decimal):
        raise w.WireValueError(f"{where}: expected a number, got {v!r}")
    d = Decimal(v)
    if not d.is_finite() or d < 0:
        raise w.WireValueError(f"{where}: expected a finite number >= 0, got {v!r}")
    return d


def fee_type(v: object, where: str) -> str:
    """A ``FeeType`` value: a non-empty string (a value Kalshi adds later is kept as it is)."""
    text = string(v, where)
    if not text.strip():
        raise w.WireValueError(f"{where}: expected a fee type, got an empty string")
    return text


def _nullable(obj: Obj, key: str, ctx: str, conv: Callable[[object, str], T]) -> T | None:
    """``conv(obj[key])``, or None when the key is absent or null (an empty string is not null)."""
    return None if obj.get(key) is None else field(obj, key, ctx, conv)


def parse_series_fees(body: object) -> SeriesFees:
    """``GetSeriesResponse`` (``{"series": Series}``) → the series' fee structure."""
    d = obj_of(body, "series", "series")
    ctx = f"series {d.get('ticker', '?')}"
    return SeriesFees(field(d, "ticker", ctx, string),
                      FeeStructure(field(d, "fee_type", ctx, fee_type), field(d, "fee_multiplier", ctx, multiplier)))


def parse_event_fees(body: object) -> EventFees:
    """``GetEventResponse`` (``{"event": EventData, "markets": [...]}``) → the event's fee override."""
    d = obj_of(body, "event", "event")
    ctx = f"event {d.get('event_ticker', '?')}"
    return EventFees(field(d, "event_ticker", ctx, string), field(d, "series_ticker", ctx, string),
                     _nullable(d, "fee_type_override", ctx, fee_type),
                     _nullable(d, "fee_multiplier_override", ctx, multiplier))


def parse_event_fee_update(m: Obj, local_time: float) -> EventFeeUpdated:
    """``event_fee_update``: an event's fee override set or cleared. Both overrides are required keys whose
    value may be null (cleared); a missing one is unreadable rather than read as cleared, which would let
    kalshid buy at a fee it does not model. A message naming its event whose overrides cannot be read is
    an update with ``error`` set (the event's structure is then unknown until it is read again); one
    naming no event is a :class:`ProtocolError`."""
    ctx = f"event_fee_update {m.get('event_ticker', '?')}"
    event = field(m, "event_ticker", ctx, string)
    try:
        for key in ("fee_type_override", "fee_multiplier_override"):
            if key not in m:
                raise ProtocolError(f"{ctx}: {key} is missing (null clears an override; absent says nothing)")
        kind_read = _nullable(m, "fee_type_override", ctx, fee_type)
        factor_read = _nullable(m, "fee_multiplier_override", ctx, multiplier)
    except ProtocolError as exc:
        return EventFeeUpdated(event_ticker=event, fee_type_override=None, fee_multiplier_override=None,
                               local_time=local_time, error=str(exc))
    return EventFeeUpdated(event_ticker=event, fee_type_override=kind_read, fee_multiplier_override=factor_read,
                           local_time=local_time)
