"""Test doubles and builders for the simulator tests (not part of kalshid)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any, cast

from kalshid.core.markets import window_containing
from kalshid.core.vocab import Action, Side
from kalshid.sim.counts import contracts, parse_count
from kalshid.sim.engine import Exchange
from kalshid.sim.model import OrderRequest

# 2026-07-08 22:50 UTC (18:50 EDT): inside the window closing 23:00 UTC = KXSOL15M-26JUL081900-00.
T0 = datetime(2026, 7, 8, 22, 50, tzinfo=UTC).timestamp()
TICKER = "KXSOL15M-26JUL081900-00"


class FnIndex:
    """An index whose print at second ``ts`` is ``fn(ts)`` (quantized to 4 decimals)."""

    def __init__(self, fn: Callable[[int], Decimal | int | str | float]) -> None:
        self.fn = fn
        self.calls = 0

    def print_at(self, ts: int) -> Decimal:
        self.calls += 1
        return Decimal(str(self.fn(ts))).quantize(Decimal("0.0001"))


def flat_index(value: str = "150") -> FnIndex:
    return FnIndex(lambda ts: Decimal(value))


def exchange_with_market(*users: tuple[str, int], now: float = T0, seed: int = 1) -> Exchange:
    """An exchange with the window containing ``now`` listed and active (strike 150) and funded users."""
    ex = Exchange(seed=seed)
    window = window_containing(datetime.fromtimestamp(now, UTC))
    ex.list_market(window, now)
    ex.activate_market(ex.markets_by_open()[0].ticker, Decimal("150"), now)
    for user, dollars in users:
        ex.open_account(user, dollars * 10_000)
    ex.drain_events()
    return ex


def req(side: str, action: str, count: int | str, cents: int, **kw: Any) -> OrderRequest:
    """An order request at a whole-cent price for ``count`` whole contracts (an ``int``) or a count
    string such as ``"2.50"``; the engine counts hundredths. Keyword arguments go to :class:`OrderRequest`."""
    fields: dict[str, Any] = {"ticker": TICKER, **kw}
    hundredths = contracts(count) if isinstance(count, int) else parse_count(count)
    return OrderRequest(
        side=cast(Side, side), action=cast(Action, action), count=hundredths, price_cc=cents * 100, **fields
    )
