"""The account's own fractional counts: where kalshid refuses them and where it leaves them alone.

kalshid trades whole contracts in the markets of its series (``KXSOL15M``) and never rounds a count of
its own account (:class:`~kalshid.core.wire.FractionalCountError`). The account may also be traded by
hand in other series, where Kalshi allows 0.01 contract: a fractional order, fill, position or
settlement *there* is none of kalshid's business and must not stop it. So the account-wide reads
parse item by item (:func:`parse_each`):

A fractional count's trace counts as one: an amount finer than $0.0001, which only fractional contracts
make (:class:`~kalshid.core.wire.FractionalAmountError`, e.g. the cost of a whole position left from
2.50 bought and 0.50 sold).

- an item that cannot be read because of a fractional count, in a market **outside** the series, is
  left out of the answer and returned as a :class:`FractionalElsewhere` (reconciliation reports it);
- the same in a market **of** the series raises :class:`~kalshid.exchange.errors.ProtocolError`
  saying what (the field and value), where (the market) and what to do;
- any other unreadable item raises as always.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from typing import Any, TypeVar

import attrs

from kalshid.core.markets import SERIES, in_series
from kalshid.core.wire import FractionalCountError
from kalshid.exchange.errors import ProtocolError

T = TypeVar("T")


@attrs.frozen
class FractionalElsewhere:
    """An item of the account with a fractional count in a market kalshid does not trade: left alone.

    ``kind`` is ``order``, ``fill``, ``position`` or ``settlement``; ``ident`` the order or fill id
    (empty for positions and settlements); ``detail`` the parse error naming the field and value."""

    kind: str
    ticker: str
    ident: str
    detail: str

    def describe(self) -> str:
        who = f" {self.ident}" if self.ident else ""
        return f"{self.kind}{who} in {self.ticker}: {self.detail}"


def fractional_cause(exc: BaseException) -> FractionalCountError | None:
    """The :class:`FractionalCountError` behind ``exc`` (itself or a cause), if any."""
    seen: BaseException | None = exc
    while seen is not None:
        if isinstance(seen, FractionalCountError):
            return seen
        seen = seen.__cause__
    return None


def item_ticker(raw: Mapping[str, Any]) -> str | None:
    ticker = raw.get("ticker") or raw.get("market_ticker")
    return ticker if isinstance(ticker, str) and ticker else None


def elsewhere(kind: str, raw: object, exc: ProtocolError, series: str = SERIES) -> FractionalElsewhere:
    """``raw`` (an account item that ``exc`` refused) as a :class:`FractionalElsewhere` when the refusal
    is a fractional count in a market outside ``series``; otherwise raises: ``exc`` itself, or for a
    market of ``series`` a :class:`ProtocolError` that says it is one kalshid trades."""
    cause = fractional_cause(exc)
    ticker = item_ticker(raw) if isinstance(raw, Mapping) else None
    if cause is None or ticker is None:
        raise exc
    if in_series(ticker, series):
        raise ProtocolError(f"{exc} [{ticker} is a {series} market, which kalshid trades: it stays off until "
                            "the account's count there is whole again]") from exc
    assert isinstance(raw, Mapping)
    ident = raw.get("trade_id") or raw.get("fill_id") or raw.get("order_id") or ""
    return FractionalElsewhere(kind, ticker, str(ident), str(cause))


def parse_each(items: Iterable[Any], parse: Callable[[Any], T], kind: str, *,
               series: str = SERIES) -> tuple[list[T], list[FractionalElsewhere]]:
    """``parse`` every item; fractional items outside ``series`` set aside (module docstring)."""
    out: list[T] = []
    aside: list[FractionalElsewhere] = []
    for raw in items:
        try:
            out.append(parse(raw))
        except ProtocolError as exc:
            aside.append(elsewhere(kind, raw, exc, series))
    return out, aside
