"""The replay: market-data events through the daemon's own decision code, deterministically.

At each exchange time, over its events in one pass (the daemon folds a burst and evaluates once;
with ``evaluation="event"`` the strategies are asked after every triggering event instead, as the
daemon does when no burst is waiting):

1. taker orders whose arrival time (decision + latency) has come fill against the book as it stands
   (:mod:`kalshid.research.fills`);
2. the events are folded: listings set the current and next market (the one whose window contains
   now, and the one after it), index prints and book ticks go into the daemon's
   :class:`~kalshid.core.tracker.MarketTracker`, trade prints may fill resting orders, settlements pay out;
3. if an index print or a book tick of the current market arrived, the enabled strategies are
   evaluated once by :func:`kalshid.core.decision.evaluate_strategies` (bankroll = cash − resting buys'
   worst cost, busy and target-position rules as in the daemon, trading stopped while the breaker is
   HALTED); each proposal passes
   :meth:`kalshid.core.risk.RiskEngine.check` with the day ledger rolled and the data ages from the
   tracker; approved orders go to the fill model; fills update the
   :class:`~kalshid.core.portfolio.Portfolio` and every equity change is shown to the
   :class:`~kalshid.core.breaker.Breaker` (marks at the book mid), as the daemon's risk stage does.

No clock, no I/O, no randomness except the fill model's seeded draw: the same events and settings give
the same result. Signals in the daemon are immediate-or-cancel at the ask; a signal that carries a
``time_in_force`` of ``good_till_canceled`` (or ``post_only``) rests instead, from the fill latency after
the decision, and fills only on trades printed after that (never on the trades of the event that
triggered the decision, which per-event evaluation folds after it); it is cancelled
:data:`CANCEL_BEFORE_CLOSE` before its close, as the daemon's execution stage does. A resting order
that arrives at or through the ask does not rest: post-only is refused, good-till-cancelled takes
what it crosses as a taker. A breaker that trips to HALTED cancels every working order. With
``fills_as_recorded`` the fill model is not used: the recording's own fills are applied as they come.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from datetime import datetime, timedelta

import attrs

from kalshid.core.breaker import Breaker, BreakerStatus
from kalshid.core.decision import Outcome, bankroll_cc, evaluate_strategies, order_intent, trading_enabled
from kalshid.core.netting import net_parts
from kalshid.core.portfolio import Fill, Portfolio
from kalshid.core.risk import DayLedger, ReasonCode, RestingOrder, RiskEngine, RiskState
from kalshid.core.signals import Signal
from kalshid.core.strategies.base import PriceHistory
from kalshid.core.tracker import MarketInfo, MarketTracker
from kalshid.core.units import complement
from kalshid.core.vocab import Action, Side
from kalshid.research.events import (
    BookTick,
    Event,
    IndexTick,
    MarketListed,
    RecordedFill,
    Settled,
    TradePrint,
)
from kalshid.research.fills import FillModel, ModelFill, RestingBuy
from kalshid.research.forecasts import ForecastSlots
from kalshid.research.results import BacktestResult, EquityPoint, SignalRecord, TradeRecord
from kalshid.research.settings import BacktestSettings

CANCEL_BEFORE_CLOSE = timedelta(seconds=2)
RESTING_TIFS = ("good_till_canceled", "post_only")
_SIGNAL_COUNTERS = {o.value: f"signals_{o.value}" for o in Outcome}  # by value (an enum hashes in Python)
_REJECTED_COUNTERS = {r.value: f"rejected_{r.value}" for r in ReasonCode}
_PROPOSED = Outcome.PROPOSED
_NO_HISTORY = PriceHistory()  # frozen: one shared empty history
_NOT_BUSY: frozenset[str] = frozenset()


@attrs.define
class _Pending:
    order_id: str
    signal: Signal
    count: int
    arrival: datetime


class Replay:
    """One backtest run. Feed it with :meth:`run` (sorted events); read :attr:`result`."""

    def __init__(self, settings: BacktestSettings, *, results: dict[str, Side] | None = None,
                 index_gate_exempt: frozenset[str] = frozenset()) -> None:
        self.settings = settings
        self.registry = settings.registry()
        self.engine = RiskEngine(settings.risk)
        self.fill_model = FillModel(settings.fills, results)
        self.index_gate_exempt = index_gate_exempt
        self.tracker = MarketTracker()
        self.portfolio = Portfolio(settings.bankroll_cc)
        self.ledger: DayLedger | None = None
        self.breaker: Breaker | None = None
        self._trading = trading_enabled(True, BreakerStatus.RUNNING)  # the breaker's status allows it
        self._max_count = settings.max_count_per_signal
        self.markets: dict[str, MarketListed] = {}
        self.current: str | None = None
        self.books: dict[str, BookTick] = {}
        self.busy: set[tuple[str, str]] = set()
        self.holdings: dict[tuple[str, str, str], int] = {}
        self.pending: list[_Pending] = []
        self.resting: list[tuple[RestingBuy, Signal]] = []
        self.open_trades: dict[str, list[TradeRecord]] = {}
        self.result = BacktestResult(settings=settings, fill_model=self.fill_model.describe())
        self._seq = 0
        self._follow_until: datetime | None = None
        self._forecasts = ForecastSlots()

    # --- driving --------------------------------------------------------------------------------
    def run(self, events: Iterable[Event], progress: Callable[[int], None] | None = None) -> BacktestResult:
        """Replay ``events`` (sorted by :func:`~kalshid.research.events.event_sort_key`: by time, and
        within a time listings first) to the end; ``progress`` is called with the number of events of
        each time once it is done."""
        self._fold(events, progress)
        return self.finish()

    def step(self, ts: datetime, batch: list[Event]) -> None:
        """Everything the replay does at one time ``ts``, given its events (listings first); :meth:`run`
        does this for each time in turn."""
        if any(e.ts != ts for e in batch):
            raise ValueError(f"step at {ts.isoformat()} given events of other times")
        self._fold(batch, None)

    def _fold(self, events: Iterable[Event], progress: Callable[[int], None] | None) -> None:
        """The events in one pass. At each time: orders due execute and resting ones expire; the
        listings are read and the followed markets updated; the other events are folded, and the
        strategies evaluated after a triggering event (see the module docstring)."""
        each_event = self.settings.evaluation == "event"
        tracker, books, fill_model, markets = self.tracker, self.books, self.fill_model, self.markets
        ts: datetime | None = None
        count = 0  # events at ts
        listings = False  # ts's listings are being read (they come first within a time)
        relisted = trigger = False
        for e in events:
            if e.ts != ts:  # a new time: close the previous one, open this one
                if ts is not None:
                    if e.ts < ts:
                        raise ValueError(f"events out of order: {e.ts.isoformat()} after {ts.isoformat()}")
                    if listings:  # a time of listings alone
                        self._follow_if_due(ts, relisted)
                    if trigger:
                        self._evaluate(ts)
                        trigger = False
                    if progress is not None:
                        progress(count)
                ts, count = e.ts, 0
                if self.pending:
                    self._execute_due(ts)
                if self.resting:
                    self._expire_resting(ts)
                listings, relisted = True, False
            count += 1
            if listings:
                if isinstance(e, MarketListed):
                    old = markets.get(e.ticker)
                    relisted = relisted or old is None or old.listing != e.listing
                    markets[e.ticker] = e
                    continue
                listings = False
                if relisted or (self._follow_until is not None and ts >= self._follow_until):  # _follow_if_due
                    self._follow(ts, relisted)
            if trigger and each_event:
                self._evaluate(ts)
                trigger = False
            if type(e) is BookTick:  # the commonest first
                top = e.top
                books[top.ticker] = e
                if fill_model.taken:
                    fill_model.on_book(e)
                if tracker.on_book(top, stale=False) and top.ticker == self.current:
                    trigger = True
            elif isinstance(e, IndexTick):
                if tracker.on_index(e.index_print):
                    trigger = True
            else:
                self._fold_other(e)
        if ts is not None:
            if listings:
                self._follow_if_due(ts, relisted)
            if trigger:
                self._evaluate(ts)
            if progress is not None:
                progress(count)

    def _follow_if_due(self, ts: datetime, relisted: bool) -> None:
        if relisted or (self._follow_until is not None and ts >= self._follow_until):
            self._follow(ts, relisted)

    def _fold_other(self, e: Event) -> None:
        """Fold an event that triggers no evaluation: a trade print, a recorded fill, a settlement."""
        if isinstance(e, TradePrint):
            if self.resting:
                self._on_trade(e)
        elif isinstance(e, RecordedFill):
            if self.settings.fills_as_recorded:
                self._apply_fill(e.strategy, e.ticker, e.side, Action(e.action),
                                 ModelFill(e.count, e.price_cc, e.fee_cc, True), e.ts, None)
        elif isinstance(e, Settled):
            self._settle(e)
        elif isinstance(e, MarketListed):
            raise ValueError(f"a listing of {e.ticker} after other events at {e.ts.isoformat()}: "
                             "listings come first within a time (event_sort_key)")

    def finish(self) -> BacktestResult:
        """Close the run: unfilled orders are dropped; positions in unsettled markets are reported."""
        self.pending.clear()
        self.resting.clear()
        self.result.final_portfolio = self.portfolio
        self.result.forecasts = self._forecasts.forecasts()
        self.result.unsettled = sorted(self.portfolio.open_tickers())
        return self.result

    # --- markets ----------------------------------------------------------------------------------
    def _follow(self, ts: datetime, relisted: bool = False) -> None:
        """Follow the market open at ``ts`` and the next one, as the daemon's market discovery does.

        Called when a listing changed or the clock reached ``_follow_until``, the first open or close
        time after the previous call (before it, the set of open markets cannot change)."""
        later = [t for m in self.markets.values() for t in (m.open_time, m.close_time) if t > ts]
        self._follow_until = min(later) if later else None
        live = sorted((m for m in self.markets.values() if m.open_time <= ts < m.close_time),
                      key=lambda m: (m.close_time, m.ticker))
        current = live[0].ticker if live else None
        if current == self.current and not relisted:
            return
        self.current = current
        followed = []
        if current is not None:
            cur = self.markets[current]
            followed.append(cur)
            nxt = [m for m in self.markets.values() if m.open_time >= cur.close_time]
            if nxt:
                followed.append(min(nxt, key=lambda m: (m.open_time, m.ticker)))
        self.tracker.set_markets([MarketInfo(m.ticker, m.open_time, m.close_time, m.floor_strike)
                                  for m in followed])

    # --- decisions --------------------------------------------------------------------------------
    def _evaluate(self, ts: datetime) -> None:
        ticker = self.current
        if ticker is None:
            return
        counters = self.result.counters
        counters["evaluations"] += 1
        tracker = self.tracker
        top = tracker.book(ticker)
        cash = self.portfolio.cash_cc
        bankroll = bankroll_cc(cash, self._resting_for_risk()) if self.pending or self.resting else (
            cash if cash > 0 else 0)
        view = tracker.view(ticker, bankroll_cc=bankroll, max_count=self._max_count)
        if view is None:
            return
        new_prints = tracker.take_new_prints()
        history = PriceHistory(index=new_prints[:-1]) if len(new_prints) > 1 else _NO_HISTORY
        busy = {name for (name, t) in self.busy if t == ticker} if self.busy else _NOT_BUSY
        evaluations = evaluate_strategies(self.registry.active(), view, tracker.last_print, history, top,
                                          trading_enabled=self._trading, busy=busy, holdings=self.holdings)
        self._forecasts.record(ticker, view.close_time, view.now, top, evaluations)
        for ev in evaluations:
            if ev.signal is not None:
                counters[_SIGNAL_COUNTERS[ev.outcome._value_]] += 1
                if ev.outcome is _PROPOSED and ev.proposal is not None:
                    self._propose(ev.proposal, ts)

    def _propose(self, signal: Signal, now: datetime) -> None:
        self._ensure_started(now)
        assert self.ledger is not None and self.breaker is not None
        self.ledger = self.ledger.rolled(now, self.portfolio, self.settings.risk.day_rollover)
        book_age = self.tracker.book_age_seconds(signal.ticker)
        index_age = book_age if signal.ticker in self.index_gate_exempt else self.tracker.index_age_seconds(now)
        resting = self._resting_for_risk() if self.pending or self.resting else ()
        # positional (RiskState's field order): keywords cost a third of the construction
        state = RiskState(self.portfolio, self.ledger, self.breaker.status, resting, book_age, index_age)
        intent = order_intent(signal, self.registry.get(signal.strategy).min_edge)
        verdict = self.engine.check(intent, state, now)
        count = verdict.count_for(intent)
        self.result.signals.append(SignalRecord.of(signal, verdict.reason._value_, count,
                                                   self._minutes_left(signal.ticker, now)))
        if not verdict.approved or count <= 0:
            self.result.counters[_REJECTED_COUNTERS[verdict.reason._value_]] += 1
            return
        self.result.counters["approved"] += 1
        self._seq += 1
        order_id = f"bt-{self._seq}"
        self.busy.add((signal.strategy, signal.ticker))
        order = _Pending(order_id, signal, count, now + timedelta(seconds=self.settings.fills.latency_seconds))
        if self.settings.fills.latency_seconds == 0:
            self._execute(order, now)
        else:
            self.pending.append(order)

    def _resting_for_risk(self) -> list[RestingOrder]:
        out = [RestingOrder(p.signal.ticker, p.signal.side, Action.BUY, p.count, p.signal.price_cc)
               for p in self.pending]
        out += [RestingOrder(r.ticker, r.side, Action.BUY, r.count, r.price_cc) for r, _ in self.resting]
        return out

    # --- orders and fills -------------------------------------------------------------------------
    def _execute_due(self, ts: datetime) -> None:
        due = [p for p in self.pending if p.arrival <= ts]
        if due:
            self.pending = [p for p in self.pending if p.arrival > ts]
            for order in due:
                self._execute(order, order.arrival)

    def _execute(self, order: _Pending, at: datetime) -> None:
        """The order reaches the exchange at ``at``: a taker order fills against the book and the rest is
        cancelled; a resting one rests from ``at`` (:meth:`_rest`)."""
        s = order.signal
        self.busy.discard((s.strategy, s.ticker))
        if self.settings.fills_as_recorded:
            return  # the recording's own fills are applied as they come
        book = self.books.get(s.ticker)
        market = self.markets.get(s.ticker)
        if market is not None and at >= market.close_time:
            self.result.counters["orders_after_close"] += 1
            return
        tif = getattr(s, "time_in_force", None)
        if tif in RESTING_TIFS:
            self._rest(order, at, book, tif)
            return
        fills = self.fill_model.take(book, s.side, order.count, s.price_cc)
        if not fills:
            self.result.counters["orders_unfilled"] += 1
        for f in fills:
            self._apply_fill(s.strategy, s.ticker, s.side, s.action, f, at, s)

    def _rest(self, order: _Pending, at: datetime, book: BookTick | None, tif: str) -> None:
        """A resting buy arriving at ``at``. One priced at or through the ask it arrives to would take
        liquidity, not rest: post-only, the exchange refuses it; good-till-cancelled, the crossing part
        fills as a taker (at the asks, paying the taker fee) and only the rest rests."""
        s = order.signal
        asks = book.bids(s.side.other) if book is not None else ()
        count = order.count
        if asks and s.price_cc >= complement(asks[0][0]):
            if tif == "post_only":
                self.result.counters["resting_refused_post_only_would_cross"] += 1
                return
            for f in self.fill_model.take(book, s.side, count, s.price_cc):
                count -= f.count
                self._apply_fill(s.strategy, s.ticker, s.side, s.action, f, at, s)
        if count > 0:
            self.busy.add((s.strategy, s.ticker))
            self.resting.append((RestingBuy(order.order_id, s.ticker, s.side, s.price_cc, count, at), s))

    def _on_trade(self, trade: TradePrint) -> None:
        keep = []
        for order, signal in self.resting:
            fill = self.fill_model.on_trade(order, trade, fee_type=self.settings.fee_type)
            if fill is None:
                keep.append((order, signal))
                continue
            self.busy.discard((signal.strategy, signal.ticker))
            self._apply_fill(signal.strategy, order.ticker, order.side, Action.BUY, fill, trade.ts, signal)
        self.resting = keep

    def _expire_resting(self, ts: datetime) -> None:
        keep = []
        for order, signal in self.resting:
            market = self.markets.get(order.ticker)
            if market is not None and ts >= market.close_time - CANCEL_BEFORE_CLOSE:
                self.busy.discard((signal.strategy, signal.ticker))
                self.result.counters["resting_cancelled_at_close"] += 1
            else:
                keep.append((order, signal))
        self.resting = keep

    def _apply_fill(self, strategy: str | None, ticker: str, side: Side, action: Action, f: ModelFill,
                    ts: datetime, signal: Signal | None) -> None:
        """Book a fill as the exchange applies it to the netted position (:mod:`kalshid.core.netting`)."""
        self._ensure_started(ts)
        self._roll_day(ts)
        pos = self.portfolio.positions.get(ticker)
        parts = net_parts(side, action, f.count, f.price_cc, f.fee_cc,
                          pos.yes_count if pos else 0, pos.no_count if pos else 0)
        for part in parts:
            self.portfolio = self.portfolio.apply_fill(
                Fill(ticker, part.side, part.action, part.count, part.price_cc, part.fee_cc, ts))
            if strategy is not None:
                key = (strategy, ticker, part.side.value)
                held = self.holdings.get(key, 0) + (part.count if part.action is Action.BUY else -part.count)
                self.holdings[key] = max(0, held)
            trade = TradeRecord(ts=ts, ticker=ticker, strategy=strategy or "external", side=part.side.value,
                                action=part.action.value, count=part.count, price_cc=part.price_cc,
                                fee_cc=part.fee_cc, is_taker=f.is_taker,
                                fair_prob=signal.fair_prob if signal else None,
                                edge=signal.edge if signal else None, minutes_left=self._minutes_left(ticker, ts))
            self.open_trades.setdefault(ticker, []).append(trade)
            self.result.trades.append(trade)
        self._observe(ts)

    def _settle(self, e: Settled) -> None:
        self.fill_model.forget_market(e.ticker)
        self.pending = [p for p in self.pending if p.signal.ticker != e.ticker]
        self.resting = [(o, s) for o, s in self.resting if o.ticker != e.ticker]
        self.result.results[e.ticker] = e.result
        self._roll_day(e.ts)
        self.portfolio = self.portfolio.settle(e.ticker, e.result)
        for key in [k for k in self.holdings if k[1] == e.ticker]:
            del self.holdings[key]
        for trade in self.open_trades.pop(e.ticker, []):
            trade.settle(e.result)
        self.markets.pop(e.ticker, None)
        self._follow_until = e.ts  # a market settled before its close leaves the open set
        if self.breaker is not None:
            self._observe(e.ts)

    def _roll_day(self, now: datetime) -> None:
        """The day ledger rolled to ``now`` before a fill or settlement realises P&L there (as the
        daemon's risk stage does): what is realised after the day boundary is the new day's."""
        if self.ledger is not None:
            self.ledger = self.ledger.rolled(now, self.portfolio, self.settings.risk.day_rollover)

    def _ensure_started(self, now: datetime) -> None:
        if self.breaker is None:
            self.ledger = DayLedger.start(now, self.portfolio, self.settings.risk.day_rollover)
            self.breaker = Breaker.start(now, self.portfolio.cash_cc, self.settings.breaker)
            self._trading = trading_enabled(True, self.breaker.status)
            self.result.equity.append(EquityPoint(now, self.portfolio.cash_cc, self.portfolio.cash_cc))

    def _observe(self, now: datetime) -> None:
        assert self.breaker is not None
        marks = {}
        for ticker in self.portfolio.positions:
            top = self.tracker.book(ticker)
            if top is not None and top.yes_mid_prob is not None:
                marks[ticker] = round(top.yes_mid_prob * 10_000)
        equity = self.portfolio.equity_cc(marks)
        self.breaker, events = self.breaker.observe(now, equity)
        self._trading = trading_enabled(True, self.breaker.status)
        for ev in events:
            self.result.breaker_events.append(f"{ev.at.isoformat()} {ev.to_status.value}: {ev.detail}")
        if events and self.breaker.status is BreakerStatus.HALTED:  # as the daemon: cancel everything working
            self.result.counters["orders_cancelled_by_breaker"] += len(self.pending) + len(self.resting)
            self.pending, self.resting = [], []
            self.busy.clear()
        self.result.equity.append(EquityPoint(now, self.portfolio.cash_cc, equity))

    # --- records ----------------------------------------------------------------------------------
    def _minutes_left(self, ticker: str, ts: datetime) -> float | None:
        m = self.markets.get(ticker)
        return None if m is None else (m.close_time - ts).total_seconds() / 60.0
