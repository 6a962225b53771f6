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

and two values their sender replaces (the receiver needs only the newest; the sender never waits):
markets ──:class:`FollowMarkets`──► strategy, and strategy ──its snapshot (exchange time, books)──► risk.

Each piece of state has one writer (one Trio thread: no locks are needed, but nothing may be read
across an ``await`` and assumed unchanged); see ``docs/architecture.md``, "Who owns what":

* the execution stage: the :class:`~kalshid.core.orders.LiveOrders` (live orders, in-flight marks, busy
  strategies, strategy holdings, the pause after a cancel-all) and the operator's start/stop switch;
* the risk stage: portfolio, day ledger, breaker, equity peak, the operator's stop-entry, the risk limits;
* the strategy stage: its market tracker (no other stage reads it), the basis tracker, fair values, edges;
* each stage: its own :class:`Counters`;
* the wiring's rooms (markets, recovery): the daemon's facts (mode, markets followed, reconciliation,
  readiness).

Other stages learn by message (an inbox item, or one of the two values above). Operator commands and
configuration reloads are messages to the owning stage's inbox (:class:`Command`, awaited with
:func:`ask`). Readers outside the stages (API, control socket) read the immutable snapshots each stage
publishes on change (:class:`Snapshots`), which carry a read-only view of the stage's counters.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Mapping
from contextlib import AbstractContextManager
from datetime import datetime
from types import MappingProxyType
from typing import Any

import attrs
import trio

from kalshid.core.audit import PositionAudit
from kalshid.core.basis import BasisView
from kalshid.core.breaker import Breaker
from kalshid.core.orders import LiveOrder as LiveOrder  # re-exported: the stages and reconciliation use it
from kalshid.core.orders import LiveOrders, OrdersSnapshot
from kalshid.core.portfolio import Portfolio
from kalshid.core.risk import DayLedger, RiskLimits
from kalshid.core.signals import BookTop, IndexPrint, Signal
from kalshid.core.strategies.registry import StrategyRegistry
from kalshid.core.tracker import MarketInfo
from kalshid.core.vocab import Action, Side
from kalshid.exchange.base import Exchange, FeedEvent, MarketFeed
from kalshid.exchange.types import Fill, Market, Order, Settlement
from kalshid.store import Journal
from kalshid.trading.fees import MarketFees


# --- messages between stages ------------------------------------------------------------------
@attrs.frozen
class Proposal:
    """A strategy's signal on its way to risk. ``data_local_time`` is the trio time the market data
    behind it arrived (so risk can add queueing delay to the data's age); ``min_edge`` is the
    strategy's threshold, which a reduced buy must still reach."""

    signal: Signal
    book_age_seconds: float | None
    index_age_seconds: float | None
    data_local_time: float
    min_edge: float = 0.0


@attrs.frozen(eq=False)
class FollowMarkets:
    """Markets → strategy (``TradingState.follow``, new each discovery round): follow ``markets``, the
    ``current`` one first. The strategy stage applies the newest before it folds its next event."""

    markets: tuple[MarketInfo, ...]
    current: str | None


@attrs.frozen
class ApprovedOrder:
    """An order risk approved, with the count it approved and its ``client_order_id``.

    Risk reserves it in the order book (:meth:`~kalshid.core.orders.LiveOrders.reserve`) *before*
    handing it over, so the next risk check counts it even if execution has not picked it up yet."""

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
class CatchUp:
    """Periodic: poll fills and settlements, resolve in-flight orders (sent by execution's own ticker)."""


# --- operator commands: a message to the owning stage, awaited with ``ask`` -------------------------
class StageUnavailable(RuntimeError):
    """The stage a command was sent to is not running, or did not answer in time."""


@attrs.define
class Command:
    """An operator command on its way to the stage that owns what it changes. The stage applies it in
    its own task and calls :meth:`answer`; ``refused`` is set when it would not apply it (why)."""

    done: trio.Event = attrs.field(factory=trio.Event, eq=False, kw_only=True)
    refused: str | None = attrs.field(default=None, kw_only=True)

    def answer(self, refused: str | None = None) -> None:
        self.refused = refused
        self.done.set()


@attrs.define
class SetTrading(Command):
    """Execution: start or stop placing orders; ``cancel_all`` pulls the kill switch as well."""

    enabled: bool
    reason: str
    cancel_all: bool = False


@attrs.define
class SetEntries(Command):
    """Risk: stop new entries (breaker REDUCING: exits only) or resume them; refused while HALTED."""

    enabled: bool
    requested_by: str


@attrs.define
class ResetBreaker(Command):
    """Risk: reset a HALTED breaker (a breaker not HALTED is left as it is)."""

    requested_by: str


@attrs.define
class SetStrategy(Command):
    """Strategy: enable or disable one strategy of the registry."""

    name: str
    enabled: bool


@attrs.define
class SetStrategyParams(Command):
    """Strategy: change some parameters of one strategy (validated by the registry; refused if invalid)."""

    name: str
    params: Mapping[str, Any]


@attrs.define
class SetRiskLimits(Command):
    """Risk: check every later proposal against ``limits``. Applied between two messages of the
    stage's inbox, so each proposal is checked against one set of limits, never a mix."""

    limits: RiskLimits


async def ask(inbox: trio.MemorySendChannel[Any] | None, command: Command, *, stage: str,
              timeout_s: float = 5.0) -> None:
    """Send ``command`` to a stage's inbox and wait for its answer. Raises :class:`StageUnavailable`
    (naming ``stage``) if the stage is not running, its inbox is closed, or it has not answered
    within ``timeout_s`` (the command may still be applied later: read the stage's snapshot)."""
    if inbox is None:
        raise StageUnavailable(f"the {stage} stage is not running")
    with trio.move_on_after(timeout_s):
        try:
            await inbox.send(command)
        except (trio.BrokenResourceError, trio.ClosedResourceError):
            raise StageUnavailable(f"the {stage} stage has stopped") from None
        await command.done.wait()
        return
    raise StageUnavailable(f"the {stage} stage did not answer within {timeout_s:g} s")


@attrs.define
class CancelAll(Command):
    """Execution: pull the kill switch, cancel every resting order of the account (Kalshi's cancel-all).
    Answered once the stage holds every new order back, as the cancel-all goes out."""

    reason: str


ExecutionInput = ApprovedOrder | WindowClosing | ShutdownRequested | CancelAll | CatchUp | SetTrading | FeedEvent


@attrs.frozen
class FillBooked:
    """A new fill (never seen before) is in the journal; risk applies it to the portfolio. ``settled``:
    the result of its market's settlement when the journal already had one as the fill was booked (a
    fill reported after its market settled, which risk settles with it whether or not it heard of the
    settlement itself, e.g. before a restart)."""

    fill: Fill
    strategy: str | None
    settled: Side | None = None


@attrs.frozen
class OrdersChanged:
    """Our set of open (resting or unresolved) orders changed (risk reads the order book on each check)."""


@attrs.frozen
class SettlementBooked:
    settlement: Settlement


@attrs.frozen
class ExchangePositions:
    """The exchange's positions (ticker → signed count, YES positive), the same before and after a
    catch-up whose fills reach risk ahead of this message; risk compares them with its portfolio (the
    position audit, :mod:`kalshid.core.audit`). ``left_alone``: markets the exchange client set aside;
    ``read_at``: exchange time; ``started``: Trio time of the first read (a market risk books a fill in
    after it is not judged by this audit)."""

    positions: Mapping[str, int]
    left_alone: frozenset[str]
    read_at: datetime
    started: float


RiskInput = (Proposal | FillBooked | OrdersChanged | SettlementBooked | ExchangePositions | ResetBreaker | SetEntries
             | SetRiskLimits)


def refuse_waiting(inbox: trio.MemoryReceiveChannel[Any], why: str) -> None:
    """Answer every command still waiting in a stopping stage's ``inbox`` with the refusal ``why``
    (other messages are dropped), so that no caller of :func:`ask` waits out its timeout."""
    while True:
        try:
            left = inbox.receive_nowait()
        except (trio.WouldBlock, trio.EndOfChannel, trio.ClosedResourceError):
            return
        if isinstance(left, Command):
            left.answer(why)


class Counters:
    """One stage's event counts since start. Only the owning stage bumps them (no await, no copy: the
    hot path pays one dict update); everyone else reads :attr:`view`, a read-only live mapping that
    the stage's snapshot carries."""

    def __init__(self) -> None:
        self._counts: dict[str, int] = {}
        self.view: Mapping[str, int] = MappingProxyType(self._counts)

    def bump(self, name: str, by: int = 1) -> None:
        self._counts[name] = self._counts.get(name, 0) + by


_NO_COUNTS: Mapping[str, int] = MappingProxyType({})


# --- snapshots: what each stage owns, immutable, replaced by the stage on every change ------------------
# ``counters`` is each stage's :attr:`Counters.view` (live, read-only), carried from one snapshot to the next
@attrs.frozen
class ExecutionSnapshot:
    trading_enabled: bool = True               # POST /api/start|stop
    orders: OrdersSnapshot = attrs.field(factory=OrdersSnapshot)
    counters: Mapping[str, int] = _NO_COUNTS   # orders, fills


@attrs.frozen
class RiskSnapshot:
    portfolio: Portfolio
    ledger: DayLedger
    breaker: Breaker
    peak_equity_cc: int = 0
    entries_enabled: bool = True               # POST /api/stop-entry (exits and settlement go on)
    limits: RiskLimits | None = None           # what the next proposal is checked against
    counters: Mapping[str, int] = _NO_COUNTS   # approvals, rejections
    position_audit: PositionAudit = attrs.field(factory=PositionAudit)  # the journal's positions against the exchange's


@attrs.frozen
class StrategySnapshot:
    tops: Mapping[str, BookTop] = attrs.field(factory=dict)  # the followed markets' books (not stale)
    last_print: IndexPrint | None = None
    last_fair: Mapping[str, Mapping[str, float]] = attrs.field(factory=dict)  # ticker -> strategy -> P(yes)
    last_edge: Mapping[str, Mapping[str, float]] = attrs.field(factory=dict)
    data_time: datetime | None = None          # exchange time of the market data folded so far
    basis: BasisView | None = None             # index vs spot, refreshed a few times a second at most
    counters: Mapping[str, int] = _NO_COUNTS   # signals, signals_suppressed, signals_at_target, feed_stale
    feed_seen_at: datetime | None = None       # exchange time of the feed's newest message (confirms the tops)

    def book_age_seconds(self, ticker: str) -> float | None:
        """The tracker's ``book_age_seconds(ticker)`` at ``data_time``: ``None`` if stale or not followed."""
        top = self.tops.get(ticker)
        if top is None or self.data_time is None:
            return None
        return max(0.0, (self.data_time - (self.feed_seen_at or top.updated_at)).total_seconds())


@attrs.define
class Snapshots:
    """The latest snapshot of each stage (each field is replaced, never changed, by its owner)."""

    execution: ExecutionSnapshot
    risk: RiskSnapshot
    strategy: StrategySnapshot = attrs.field(factory=StrategySnapshot)

    def counters(self) -> dict[str, int]:
        """Every stage's counters in one mapping, by name (each name is counted by one stage)."""
        merged = {**self.execution.counters, **self.risk.counters, **self.strategy.counters}
        return dict(sorted(merged.items()))


@attrs.define
class TradingState:
    """The risk stage's books and the daemon's facts (see the module docstring for who writes what).

    The risk stage is the only writer of ``portfolio``, ``ledger``, ``breaker``, ``peak_equity_cc``,
    ``entries_enabled`` and ``position_audit`` once trading starts (recovery loads them first); the
    wiring's rooms write the rest (markets, readiness, reconciliation)."""

    mode: str                                  # sim | dry | live
    portfolio: Portfolio
    ledger: DayLedger
    breaker: Breaker
    started_at: datetime | None = None
    entries_enabled: bool = True               # POST /api/stop-entry (exits and settlement go on)
    ready: bool = False                        # reconciled and trading
    exchange_trading_active: bool = True       # GET /exchange/status trading_active
    reconciliation: dict[str, Any] = attrs.field(factory=dict)
    current_market: Market | None = None
    next_market: Market | None = None
    follow: FollowMarkets | None = None        # the markets room's newest message to the strategy stage
    exchange_balance_cc: int | None = None
    peak_equity_cc: int = 0
    last_progress: float = 0.0                 # trio time the pipeline last processed anything
    position_audit: PositionAudit = attrs.field(factory=PositionAudit)  # risk's: confirmed differences hold new entries
    # the markets room's: each followed market's fee structure, and why buys are refused in those whose
    # structure is not kalshid's model or not known (risk's FEE_SCHEDULE)
    market_fees: tuple[MarketFees, ...] = ()
    fee_refusals: Mapping[str, str] = attrs.field(factory=dict)

    def risk_snapshot(self) -> RiskSnapshot:
        return RiskSnapshot(self.portfolio, self.ledger, self.breaker, self.peak_equity_cc, self.entries_enabled,
                            position_audit=self.position_audit)


@attrs.define
class Pipeline:
    """Everything the components share. Fields are filled in as components start."""

    state: TradingState
    registry: StrategyRegistry
    orders: LiveOrders = attrs.field(factory=LiveOrders)    # the execution stage's (see the module docstring)
    trading_enabled: bool = True       # the execution stage's operator switch (start/stop); read on the order path
    snapshots: Snapshots = attrs.field(default=attrs.Factory(
        lambda self: Snapshots(ExecutionSnapshot(), self.state.risk_snapshot()), takes_self=True))
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
        return self.orders.find(order_id=order_id, client_order_id=client_order_id)

    def exchange_order_matches(self, order: Order) -> LiveOrder | None:
        return self.live_order_for(order_id=order.order_id, client_order_id=order.client_order_id)

    def publish_execution(self) -> None:
        """The execution stage's snapshot, after a change (never on the way to an order's send)."""
        self.snapshots.execution = ExecutionSnapshot(self.trading_enabled, self.orders.snapshot(),
                                                     self.snapshots.execution.counters)

    def publish_risk(self) -> None:
        """The risk stage's snapshot, after a change (its limits and counters carry over)."""
        last = self.snapshots.risk
        self.snapshots.risk = attrs.evolve(self.state.risk_snapshot(), limits=last.limits, counters=last.counters)

