"""The trading pipeline's shared context: the objects its components hand each other.

``kalshid run`` builds one :class:`Pipeline` and the components that share it
(:class:`kalshid.trading.wiring.TradingDaemon`). Each component starts in dependency order and lives
inside the one before it (:mod:`kalshid.daemon.supervisor`), so it stops before them:

    exchange (journal, embedded simulator, REST client) → feed → markets (discovery and rollover)
    → risk → execution (reconciles first) → api, control socket, watchdog → strategy

Data flows through bounded memory channels, each with one owner:

    feed ──market data──► strategy ──proposals──► risk ──approved orders──► execution
    feed ──order events──────────────────────────────────────────────────► execution
    execution ──reports (fills, order states, settlements)──► risk

:class:`TradingState` is the pipeline's shared, single-threaded state (one Trio thread: no locks are
needed, but nothing may be read across an ``await`` and assumed unchanged). Risk owns the portfolio,
breaker and day ledger; execution owns the live orders; strategy owns the market tracker.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from contextlib import AbstractContextManager
from datetime import datetime
from typing import Any

import attrs
import trio

from kalshid.core.breaker import Breaker
from kalshid.core.portfolio import Portfolio
from kalshid.core.risk import DayLedger, RestingOrder
from kalshid.core.signals import Signal
from kalshid.core.strategies.registry import StrategyRegistry
from kalshid.core.tracker import MarketTracker
from kalshid.core.vocab import Action, Side
from kalshid.exchange.base import Exchange, FeedEvent, MarketFeed
from kalshid.exchange.types import Fill, Market, Order, Settlement
from kalshid.store import Journal


# --- messages between stages ------------------------------------------------------------------
@attrs.frozen
class Proposal:
    """A strategy's signal on its way to risk. ``data_local_time`` is the trio time the market data
    behind it arrived (so risk can add queueing delay to the data's age)."""

    signal: Signal
    book_age_seconds: float | None
    index_age_seconds: float | None
    data_local_time: float


@attrs.frozen
class ApprovedOrder:
    """An order risk approved, with the count it approved and its ``client_order_id``.

    Risk registers it in ``TradingState.open_orders`` (in flight) *before* handing it over, so the next
    risk check counts it even if execution has not picked it up yet."""

    client_order_id: str
    signal_id: int | None
    strategy: str
    ticker: str
    side: Side
    action: Action
    count: int
    price_cc: int
    time_in_force: str | None
    approved_at: datetime
    data_local_time: float
    # journaled by execution together with the intent, in one transaction (one fsync before the send)
    signal_record: Any = None
    verdict_record: Any = None


@attrs.frozen
class WindowClosing:
    """Cancel our resting orders in ``ticker``: its window is about to close (or has)."""

    ticker: str
    reason: str


@attrs.frozen
class ShutdownRequested:
    """Stop taking approved orders; cancel resting ones if configured; then drain."""


@attrs.frozen
class CancelAll:
    """Pull the kill switch: cancel every resting order of the account (Kalshi's cancel-all)."""

    reason: str


@attrs.frozen
class CatchUp:
    """Periodic: poll fills and settlements, resolve in-flight orders (sent by execution's own ticker)."""


ExecutionInput = ApprovedOrder | WindowClosing | ShutdownRequested | CancelAll | CatchUp | FeedEvent


@attrs.frozen
class FillBooked:
    """A new fill (never seen before) is in the journal; risk applies it to the portfolio."""

    fill: Fill
    strategy: str | None


@attrs.frozen
class OrdersChanged:
    """Our set of open (resting or unresolved) orders changed; risk re-reads ``state.open_orders``."""


@attrs.frozen
class SettlementBooked:
    settlement: Settlement


@attrs.frozen
class ResetBreaker:
    requested_by: str
    done: trio.Event = attrs.field(factory=trio.Event, eq=False)


RiskInput = Proposal | FillBooked | OrdersChanged | SettlementBooked | ResetBreaker


@attrs.define
class LiveOrder:
    """One of our orders that is not finished: resting, partly filled, or of unknown outcome."""

    client_order_id: str
    strategy: str
    ticker: str
    side: Side
    action: Action
    price_cc: int
    remaining: int
    order_id: str | None = None
    in_flight: bool = False

    def as_resting(self) -> RestingOrder:
        return RestingOrder(self.ticker, self.side, self.action, self.remaining, self.price_cc)


@attrs.define
class TradingState:
    """Shared state of a running pipeline (see the module docstring for who owns what)."""

    mode: str                                  # sim | dry | live
    portfolio: Portfolio
    ledger: DayLedger
    breaker: Breaker
    started_at: datetime | None = None
    trading_enabled: bool = True               # POST /api/start|stop
    entries_enabled: bool = True               # POST /api/stop-entry (exits and settlement go on)
    ready: bool = False                        # reconciled and trading
    exchange_trading_active: bool = True       # GET /exchange/status trading_active
    reconciliation: dict[str, Any] = attrs.field(factory=dict)
    current_market: Market | None = None
    next_market: Market | None = None
    open_orders: dict[str, LiveOrder] = attrs.field(factory=dict)
    busy: set[tuple[str, str]] = attrs.field(factory=set)  # (strategy, ticker) with an intent working
    # contracts each strategy holds per (strategy, ticker, side): a signal's Kelly size is a target
    # position, so the strategy stage only tops up to it
    holdings: dict[tuple[str, str, str], int] = attrs.field(factory=dict)
    last_fair: dict[str, dict[str, float]] = attrs.field(factory=dict)   # ticker -> strategy -> fair P(side)
    last_edge: dict[str, dict[str, float]] = attrs.field(factory=dict)
    exchange_balance_cc: int | None = None
    peak_equity_cc: int = 0
    counters: dict[str, int] = attrs.field(factory=dict)
    last_progress: float = 0.0                 # trio time the pipeline last processed anything
    orders_paused_until: float = 0.0          # trio time: no order is placed before it (after a cancel-all)

    def bump(self, name: str, by: int = 1) -> None:
        self.counters[name] = self.counters.get(name, 0) + by

    def resting_for_risk(self) -> list[RestingOrder]:
        return [o.as_resting() for o in self.open_orders.values() if o.remaining > 0]


@attrs.define
class Pipeline:
    """Everything the components share. Fields are filled in as components start."""

    state: TradingState
    registry: StrategyRegistry
    tracker: MarketTracker = attrs.field(factory=MarketTracker)
    journal: Journal | None = None
    exchange: Exchange | None = None
    feed: MarketFeed | None = None
    market_data: tuple[trio.MemorySendChannel[FeedEvent], trio.MemoryReceiveChannel[FeedEvent]] | None = None
    execution_in: tuple[trio.MemorySendChannel[ExecutionInput],
                        trio.MemoryReceiveChannel[ExecutionInput]] | None = None
    risk_in: tuple[trio.MemorySendChannel[RiskInput], trio.MemoryReceiveChannel[RiskInput]] | None = None
    publish: Callable[[str, dict[str, Any]], None] = lambda _type, _data: None
    # held while an order is being placed: dashboard event delivery waits (Broadcaster.hold)
    hold_events: Callable[[], AbstractContextManager[None]] = contextlib.nullcontext
    markets_changed: trio.Event = attrs.field(factory=trio.Event)
    sim_handle: Any = None
    last_order_local_time: float | None = None

    def require_journal(self) -> Journal:
        if self.journal is None:
            raise RuntimeError("the journal is not open yet (component order)")
        return self.journal

    def require_exchange(self) -> Exchange:
        if self.exchange is None:
            raise RuntimeError("the exchange is not connected yet (component order)")
        return self.exchange

    def live_order_for(self, *, order_id: str | None = None, client_order_id: str | None = None
                       ) -> LiveOrder | None:
        if client_order_id and client_order_id in self.state.open_orders:
            return self.state.open_orders[client_order_id]
        if order_id:
            for o in self.state.open_orders.values():
                if o.order_id == order_id:
                    return o
        return None

    def exchange_order_matches(self, order: Order) -> LiveOrder | None:
        return self.live_order_for(order_id=order.order_id, client_order_id=order.client_order_id)
