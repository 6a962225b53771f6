"""The simulated exchange: markets, orders, matching, fees, accounts and the market lifecycle.

Pure and synchronous: no trio, no clock reads (``now`` is simulated Unix seconds, passed in), ids
from a seeded RNG, so a seed and a request sequence give the same results. Every operation
either succeeds completely or raises :class:`~kalshid.sim.model.ExchangeError` having changed
nothing. Operations append :data:`~kalshid.sim.model.Event` values; the shell takes them with
:meth:`Exchange.drain_events` and fans them out.

Counts are integers in hundredths of a contract (Kalshi's 0.01 granularity, :mod:`kalshid.sim.counts`):
an order for ``250`` is 2.50 contracts and fills, nets and settles in hundredths.

Order semantics: limit orders rest until cancelled or ``expiration_ts`` (GTC); IOC/FoK never rest;
``buy_max_cost`` (cents, contract cost excluding fees) makes an order fill-or-kill; ``post_only`` is
refused (400) when marketable; a ``reduce_only`` order's count is capped at what reduces the net
position (nothing to reduce: cancelled unfilled); self-trades are prevented (default
``taker_at_cross``: the incoming order's remainder is cancelled; ``maker``: own resting orders are
cancelled). Taker fees accumulate per order, rounded up to the cent on the order's total so far;
makers pay nothing under
``fee_type`` quadratic. Balance rules: :mod:`kalshid.sim.accounts`.

The parts: state, queries and holds in :mod:`kalshid.sim.state`, order entry and matching in
:mod:`kalshid.sim.entry`, cancel/decrease/amend/expiry in :mod:`kalshid.sim.changes`, the market
lifecycle in :mod:`kalshid.sim.lifecycle_ops`.
"""

from __future__ import annotations

from kalshid.core.markets import Window, event_ticker, market_ticker
from kalshid.core.matching import MatchingBook
from kalshid.sim.changes import OrderChanges
from kalshid.sim.lifecycle_ops import LifecycleOps
from kalshid.sim.model import Market


class Exchange(OrderChanges, LifecycleOps):
    """All simulated markets and accounts. See the module docstring for the rules."""

    def _new_market(self, window: Window, now: float) -> Market:
        ticker = market_ticker(window.close_time, self.series)
        market = Market(ticker, event_ticker(window.close_time, self.series), window, now, now)
        self.markets[ticker] = market
        self.books[ticker] = MatchingBook()
        return market
