"""Kalshi JSON field conventions, in one place (Trade API v3.31): exact decoding, required and optional
fields, money (``*_dollars`` strings, else legacy integer cents) and counts (``*_fp`` strings).

Strict about what is needed: a missing or malformed required field raises :class:`ProtocolError`
naming the object and the field; unknown fields are ignored. Numbers are accepted as strings or
JSON numbers. Decode JSON with :func:`loads` (fractions become ``Decimal``, never float).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from datetime import datetime
from decimal import Decimal
from typing import Any, TypeVar

from kalshid.core import wire as w
from kalshid.exchange.errors import ProtocolError

T = TypeVar("T")
Obj = Mapping[str, Any]

_DECODER = json.JSONDecoder(parse_float=Decimal)  # built once: json.loads(..., parse_float=) builds one per call


def loads(data: bytes | str) -> Any:
    """Decode JSON exactly: non-integral numbers become ``Decimal``."""
    try:
        return _DECODER.decode(data.decode() if isinstance(data, bytes) else data)
    except ValueError as exc:
        raise ProtocolError(f"response is not JSON: {exc}") from exc


def field(obj: Obj, key: str, ctx: str, conv: Callable[[object, str], T]) -> T:
    """``conv(obj[key])``, or :class:`ProtocolError` naming ``ctx.key``."""
    if key not in obj or obj[key] is None:
        raise ProtocolError(f"{ctx}: missing field {key!r}")
    try:
        return conv(obj[key], f"{ctx}.{key}")
    except (w.WireValueError, ValueError, TypeError) as exc:
        raise ProtocolError(str(exc)) from exc


def opt(obj: Obj, key: str, ctx: str, conv: Callable[[object, str], T]) -> T | None:
    """Like :func:`field` but None when the key is absent, null or an empty string."""
    v = obj.get(key)
    if v is None or v == "":
        return None
    return field(obj, key, ctx, conv)


def _new_or_legacy(obj: Obj, key: str, convert: Callable[[object, str], int], legacy_key: str | None,
                   legacy_convert: Callable[[object, str], int], ctx: str, required: bool) -> int | None:
    """The 2026 field if present, else its legacy integer twin; missing both is an error if required."""
    if obj.get(key) not in (None, ""):
        return field(obj, key, ctx, convert)
    if legacy_key is not None and obj.get(legacy_key) not in (None, ""):
        return field(obj, legacy_key, ctx, legacy_convert)
    if required:
        alt = f" (or {legacy_key!r})" if legacy_key else ""
        raise ProtocolError(f"{ctx}: missing field {key!r}{alt}")
    return None


def money(obj: Obj, dollars_key: str, cents_key: str | None, ctx: str, *,
          required: bool = True) -> int | None:
    """A money/price field in cc: the ``*_dollars`` string, else the legacy integer-cents field."""
    return _new_or_legacy(obj, dollars_key, w.dollars_cc, cents_key, w.cents_cc, ctx, required)


def counts(obj: Obj, fp_key: str, legacy_key: str | None, ctx: str, *, required: bool = True) -> int | None:
    """A count field: the ``*_fp`` string, else the legacy integer."""
    return _new_or_legacy(obj, fp_key, w.count, legacy_key, w.count, ctx, required)


def public_count(v: object, where: str) -> int:
    """A count about other traders (volume, open interest, a public trade's or a quote's size), which may
    be fractional, as the whole contracts in it (rounded toward zero; the exact value is read with
    :func:`kalshid.core.wire.count_centi`). Finer than 0.01 or malformed: :class:`WireValueError`."""
    return w.whole_floor(w.count_centi(v, where))


def public_counts(obj: Obj, fp_key: str, ctx: str, *, required: bool = True) -> int | None:
    """A ``*_fp`` count about other traders, in whole contracts (:func:`public_count`)."""
    return _new_or_legacy(obj, fp_key, public_count, None, public_count, ctx, required)


def string(v: object, where: str) -> str:
    if not isinstance(v, str):
        raise w.WireValueError(f"{where}: expected a string, got {v!r}")
    return v


def boolean(v: object, where: str) -> bool:
    if not isinstance(v, bool):
        raise w.WireValueError(f"{where}: expected a boolean, got {v!r}")
    return v


def one_of(choices: tuple[str, ...]) -> Callable[[object, str], Any]:
    def conv(v: object, where: str) -> str:
        if v not in choices:
            raise w.WireValueError(f"{where}: expected one of {choices}, got {v!r}")
        return str(v)
    return conv


def integer(v: object, where: str) -> int:
    if isinstance(v, bool) or not isinstance(v, int | str):
        raise w.WireValueError(f"{where}: expected an integer, got {v!r}")
    try:
        return int(v)
    except ValueError as exc:
        raise w.WireValueError(f"{where}: expected an integer, got {v!r}") from exc


def obj_of(body: Any, key: str, ctx: str) -> Obj:
    """``body[key]`` as an object, or :class:`ProtocolError`."""
    if not isinstance(body, Mapping) or not isinstance(body.get(key), Mapping):
        raise ProtocolError(f"{ctx}: expected an object under {key!r}")
    return body[key]  # type: ignore[no-any-return]


def unix_seconds(t: datetime) -> int:
    """A Unix-seconds query parameter (``min_ts``) from an aware datetime, rounded down."""
    if t.tzinfo is None:
        raise ValueError("naive datetime: pass timezone-aware times")
    return int(t.timestamp() // 1)
