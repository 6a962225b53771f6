"""Pure, fast parsers for the numbers and times Kalshi puts on the wire (Kalshi's OpenAPI spec).

Kalshi sends the same quantity in several shapes: ``"0.5600"`` (4-decimal dollars), ``"0.560"``,
``56`` (legacy integer cents), ``"10.00"`` / ``10`` (counts), numbers as strings or as JSON numbers,
times as RFC 3339 strings or Unix seconds or milliseconds. These helpers turn each into our exact
units (centi-cents, whole contracts, aware UTC datetimes) or raise :class:`WireValueError` naming
the field. The hot paths (book deltas) take a fast route for the common 4-decimal/2-decimal strings.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

from kalshid.core.book import CENTI_PER_CONTRACT
from kalshid.core.units import FinerThanCentiCent, UnitError, cents_to_cc, dollars_to_cc, parse_count

# Unix times above this are milliseconds, below are seconds (1e11 s is the year 5138).
_MS_THRESHOLD = 100_000_000_000


class WireValueError(ValueError):
    """A wire value has the wrong type or cannot be represented exactly; names the field."""


def dollars_cc(value: object, field: str) -> int:
    """A ``*_dollars`` value (string, int or Decimal dollars) in centi-cents, exactly."""
    if type(value) is str and len(value) == 6 and value[1] == ".":
        # "0.5600": the overwhelmingly common shape; skip Decimal.
        d0, frac = value[0], value[2:]
        if d0.isdigit() and frac.isdigit():
            return int(d0) * 10_000 + int(frac)
    if isinstance(value, bool) or not isinstance(value, str | int | Decimal):
        raise WireValueError(f"{field}: expected a dollar amount, got {value!r}")
    try:
        return dollars_to_cc(value)
    except FinerThanCentiCent as exc:
        raise FractionalAmountError(f"{field}: {exc}") from exc
    except UnitError as exc:
        raise WireValueError(f"{field}: {exc}") from exc


def cents_cc(value: object, field: str) -> int:
    """A legacy integer-cents value (int, or an integral string/Decimal) in centi-cents."""
    if isinstance(value, str | Decimal) and not isinstance(value, bool):
        try:
            d = Decimal(value)
        except ArithmeticError as exc:
            raise WireValueError(f"{field}: not a number of cents: {value!r}") from exc
        if not d.is_finite() or d != d.to_integral_value():
            raise WireValueError(f"{field}: not a whole number of cents: {value!r}")
        value = int(d)
    if isinstance(value, bool) or not isinstance(value, int):
        raise WireValueError(f"{field}: expected integer cents, got {value!r}")
    return cents_to_cc(value)


class FractionalCountError(WireValueError):
    """A count with hundredths of a contract (Kalshi's granularity is 0.01). kalshid books whole
    contracts and never rounds one: the message names the field and the value and says what to do."""


class FractionalAmountError(FractionalCountError):
    """A dollar amount finer than $0.0001 (``"0.913401"``). Prices, fees and whole-contract costs are
    whole centi-cents; only fractional contracts make such an amount (0.01 contract × $0.4567), so it is
    treated as their trace: refused in the account's own items of a traded market, left alone elsewhere."""


def _fractional(value: object) -> bool:
    try:
        d = Decimal(value)  # type: ignore[arg-type]
    except (ArithmeticError, TypeError, ValueError):
        return False
    return d.is_finite() and d != d.to_integral_value()


def count(value: object, field: str) -> int:
    """A count (``"10.00"``, ``10``, ``"-3.00"``) as whole contracts. A fractional count raises
    :class:`FractionalCountError` (never rounded); any other malformed count :class:`WireValueError`."""
    if type(value) is int:
        return value
    if type(value) is str and value.endswith(".00"):
        head = value[:-3]
        if head.isdigit() or (head[:1] == "-" and head[1:].isdigit()):
            return int(head)
    if isinstance(value, bool) or not isinstance(value, str | int | Decimal):
        raise WireValueError(f"{field}: expected a count, got {value!r}")
    try:
        return parse_count(value)
    except UnitError as exc:
        if _fractional(value):
            raise FractionalCountError(
                f"{field}: {value!r} is a fractional count; kalshid trades and books whole contracts and "
                "never rounds one, so it does not trade while the exchange reports one. Keep fractional "
                "trades off the account kalshid trades (docs/kalshi-api.md, 'Fractional counts')"
            ) from exc
        raise WireValueError(f"{field}: {exc}") from exc


def count_centi(value: object, field: str) -> int:
    """A count (``"2.50"``, ``10``, ``"-0.01"``) exactly, in hundredths of a contract (``"2.50"`` → 250):
    the shape for other traders' sizes (book levels, deltas, trades, volume), which may be fractional.
    A count finer than 0.01 or malformed raises :class:`WireValueError`; nothing is rounded."""
    if type(value) is int:
        return value * CENTI_PER_CONTRACT
    if type(value) is str and len(value) > 3 and value[-3] == ".":
        head, frac = value[:-3], value[-2:]
        if frac.isdigit() and (head.isdigit() or (head[:1] == "-" and head[1:].isdigit())):
            whole = int(head)
            sign = -1 if head[:1] == "-" else 1
            return whole * CENTI_PER_CONTRACT + sign * int(frac)
    centi = decimal(value, field) * CENTI_PER_CONTRACT
    if centi != centi.to_integral_value():
        raise WireValueError(f"{field}: {value!r} is finer than Kalshi's 0.01-contract granularity")
    return int(centi)


def whole_floor(centi: int) -> int:
    """Hundredths of a contract as the whole contracts in them, rounded toward zero (what an order
    for whole contracts can use of another trader's size; ``-250`` → ``-2``)."""
    return centi // CENTI_PER_CONTRACT if centi >= 0 else -((-centi) // CENTI_PER_CONTRACT)


def decimal(value: object, field: str) -> Decimal:
    """Any exact number (string, int, Decimal) as a finite Decimal. Floats are refused: decode JSON
    with ``parse_float=Decimal`` so that JSON numbers with a fraction arrive as Decimal."""
    if isinstance(value, bool) or not isinstance(value, str | int | Decimal):
        raise WireValueError(f"{field}: expected a decimal number, got {value!r}")
    try:
        d = Decimal(value)
    except ArithmeticError as exc:
        raise WireValueError(f"{field}: not a decimal number: {value!r}") from exc
    if not d.is_finite():
        raise WireValueError(f"{field}: not a finite number: {value!r}")
    return d


def timestamp(value: object, field: str) -> datetime:
    """An RFC 3339 string, or Unix seconds/milliseconds (int or integral string), as aware UTC."""
    if isinstance(value, str):
        s = value.strip()
        if s.isdigit():
            return _from_unix(int(s))
        return _parse_rfc3339(s, field)
    if isinstance(value, int | Decimal) and not isinstance(value, bool):
        return _from_unix(value)
    raise WireValueError(f"{field}: expected a timestamp, got {value!r}")


def _from_unix(n: int | Decimal) -> datetime:
    seconds = Decimal(n)
    if abs(seconds) >= _MS_THRESHOLD:
        seconds /= 1000
    whole = int(seconds)
    micro = int((seconds - whole) * 1_000_000)
    return datetime.fromtimestamp(whole, UTC) + timedelta(microseconds=micro)


def _parse_rfc3339(s: str, field: str) -> datetime:
    t = s.replace("z", "Z")
    # Python 3.11 parses at most 6 fractional digits; Kalshi sometimes sends nanoseconds.
    dot = t.find(".")
    if dot != -1:
        end = dot + 1
        while end < len(t) and t[end].isdigit():
            end += 1
        if end - dot - 1 > 6:
            t = t[: dot + 7] + t[end:]
    try:
        dt = datetime.fromisoformat(t)
    except ValueError as exc:
        raise WireValueError(f"{field}: not an RFC 3339 time: {s!r}") from exc
    if dt.tzinfo is None:
        raise WireValueError(f"{field}: time has no UTC offset: {s!r}")
    return dt.astimezone(UTC)
