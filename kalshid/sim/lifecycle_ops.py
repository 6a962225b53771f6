"""Market lifecycle transitions of the simulated exchange (a mixin of :class:`~kalshid.sim.engine.Exchange`).

``initialized`` (listed, ``floor_strike`` null) → ``active`` (strike fixed, trading) → ``closed``
(resting orders cancelled) → ``determined`` (``result`` and ``expiration_value`` set) →
``finalized`` (settled: $1 per winning contract, settlement records written). Each step emits a
``market_lifecycle_v2`` event: ``created``, ``activated``, ``determined``, ``settled``. A normal close
emits no lifecycle event of its own (Kalshi's ``deactivated`` means a pause); clients see it as the
``status`` change and the ``determined`` event that follows at the same instant.

Pure, like the engine: time is passed in; a transition out of order raises ``ValueError``.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from decimal import Decimal
from typing import TYPE_CHECKING

import attrs

from kalshid.core.markets import Window
from kalshid.sim.model import LifecycleEvent, Market, MarketStatus, PositionEvent, Trade

if TYPE_CHECKING:
    from kalshid.core.matching import MatchingBook
    from kalshid.sim.accounts import Account
    from kalshid.sim.model import Event, Order


KEEP_TRADES = 5_000
KEEP_FINALIZED = 192  # two days of quarter-hours


class LifecycleOps(ABC):
    markets: dict[str, Market]
    books: dict[str, MatchingBook]
    orders: dict[str, Order]
    accounts: dict[str, Account]
    trades: list[Trade]
    internal_users: set[str]
    keep_finalized: int
    _client_ids: set[tuple[str, str]]
    _events: list[Event]

    @abstractmethod
    def _new_market(self, window: Window, now: float) -> Market: ...

    @abstractmethod
    def _cancel_resting(self, order: Order, now: float) -> Order: ...

    def _transition(self, ticker: str, expected: MarketStatus, now: float, **changes: object) -> Market:
        market = self.markets[ticker]
        if market.status != expected:
            raise ValueError(f"market {ticker} is {market.status}, expected {expected}")
        market = attrs.evolve(market, updated_ts=now, **changes)  # type: ignore[arg-type]
        self.markets[ticker] = market
        return market

    def list_market(self, window: Window, now: float) -> Market:
        """List (create) the market for ``window`` in status ``initialized``; idempotent."""
        from kalshid.core.markets import market_ticker

        existing = self.markets.get(market_ticker(window.close_time))
        if existing is not None:
            return existing
        market = self._new_market(window, now)
        self._events.append(LifecycleEvent(market, "created", now))
        return market

    def activate_market(self, ticker: str, floor_strike: Decimal, now: float) -> Market:
        """Open the market with its strike: ``activated``, then ``metadata_updated`` publishing the strike
        (Kalshi sends a market's strike on that message, not on ``activated``)."""
        market = self._transition(ticker, "initialized", now, status="active", floor_strike=floor_strike)
        self._events.append(LifecycleEvent(market, "activated", now))
        self._events.append(LifecycleEvent(market, "metadata_updated", now))
        return market

    def close_market(self, ticker: str, now: float) -> Market:
        """Stop trading: every resting order is cancelled (its reservation released)."""
        for order in [o for o in self.orders.values() if o.ticker == ticker and o.status == "resting"]:
            self._cancel_resting(order, now)
        return self._transition(ticker, "active", now, status="closed")

    def determine_market(self, ticker: str, expiration_value: Decimal, now: float) -> Market:
        """Fix the result: YES iff ``expiration_value`` ≥ ``floor_strike`` (ties YES)."""
        strike = self.markets[ticker].floor_strike
        if strike is None:
            raise ValueError(f"market {ticker} has no floor_strike")
        result = "yes" if expiration_value >= strike else "no"
        market = self._transition(
            ticker,
            "closed",
            now,
            status="determined",
            result=result,
            expiration_value=expiration_value,
            determined_ts=now,
        )
        self._events.append(LifecycleEvent(market, "determined", now))
        return market

    def settle_market(self, ticker: str, now: float) -> Market:
        """Pay winners $1 per contract, write settlement records, close out open interest."""
        market = self.markets[ticker]
        if market.status != "determined":
            raise ValueError(f"market {ticker} is {market.status}, expected determined")
        for acct in self.accounts.values():
            if acct.settle(ticker, market.event_ticker, market.result, now) is not None:
                self._events.append(PositionEvent(acct.positions[ticker]))
        market = self._transition(
            ticker, "determined", now, status="finalized", settled_ts=now, open_interest=0
        )
        self._events.append(LifecycleEvent(market, "settled", now))
        self._prune_after_settlement(ticker)
        return market

    def _prune_after_settlement(self, ticker: str) -> None:
        """Bound memory: forget the internal users' orders, fills and settlements of a settled market
        at once, keep the last ``KEEP_TRADES`` public trades, and keep the last ``keep_finalized``
        finalized markets with everyone's history in them (what ``/portfolio/*`` serves). An older
        market is forgotten whole: its orders, every user's fills, settlements and position rows, and
        its client order ids. Cash and balances are not history: they are never touched here."""
        internal = self.internal_users
        if internal:
            self._forget_market_history(ticker, internal)
        if len(self.trades) > KEEP_TRADES:
            del self.trades[: len(self.trades) - KEEP_TRADES]
        finalized = [t for t, m in self.markets.items() if m.status == "finalized"]
        for old in finalized[: max(0, len(finalized) - self.keep_finalized)]:
            self._forget_market_history(old, None)
            del self.markets[old]
            self.books.pop(old, None)

    def _forget_market_history(self, ticker: str, users: set[str] | None) -> None:
        """Drop the orders, fills, settlements and position rows of ``ticker`` (of ``users``; ``None``:
        of everyone). Only for a finalized market: nothing rests in it, every position is settled."""
        gone = [o for o in self.orders.values() if o.ticker == ticker and (users is None or o.user_id in users)]
        for o in gone:
            del self.orders[o.order_id]
            self._client_ids.discard((o.user_id, o.client_order_id))
        for user, acct in self.accounts.items():
            if users is not None and user not in users:
                continue
            if any(f.ticker == ticker for f in acct.fills):
                acct.fills[:] = [f for f in acct.fills if f.ticker != ticker]
            if any(s.ticker == ticker for s in acct.settlements):
                acct.settlements[:] = [s for s in acct.settlements if s.ticker != ticker]
            acct.positions.pop(ticker, None)
