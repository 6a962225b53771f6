"""The strategy stage: market data in, proposals out.

Consumes the feed's market-data events, keeps its :class:`~kalshid.core.tracker.MarketTracker`
current, and asks each enabled strategy for a signal when one of its inputs changed: an accepted index
print or a change of the current market's top of book (:mod:`kalshid.core.decision`, "When to
evaluate": the rule the backtest applies too). A strategy that already has an order working in that
market (pending, in flight or resting) is not asked to trade again until it finishes: one intent at a
time per strategy and market (the busy marks of :class:`~kalshid.core.orders.LiveOrders`; risk clears
one on a rejection, execution when the order is finished).

Bursts: the stage takes everything already waiting in its inbox (up to :data:`BATCH_LIMIT` events),
folds it all into the tracker, and evaluates the strategies **once**, on the final state, stamped
with the newest triggering event's time. The feed hands over a network read's messages in one step
(:mod:`kalshid.exchange.wsclient`), so a burst of book deltas costs one evaluation, not one per
intermediate book, and a signal on the burst's last message does not wait behind the others'
evaluations. Every event is still folded in order: no print is skipped (the strategies see all new
prints in their history), no lifecycle change or stale mark is lost.

Markets: the tracker follows the markets of the markets room's newest
:class:`~kalshid.trading.messages.FollowMarkets` (``TradingState.follow``), applied by this stage before
it folds the next event of its inbox and recorded there (``MarketsFollowed``, with the count of events
folded so far), so what the stage follows and what a replay follows change at the same place in the
event stream. The current market the stage evaluates is that message's, never read elsewhere.

Also raises :class:`WindowClosing` for execution a little before each close (exchange time), so
resting orders never ride into the settlement window.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import attrs
import trio

from kalshid.core.basis import BasisConfig, BasisTracker
from kalshid.core.decision import (
    Outcome,
    bankroll_cc,
    closing_due,
    entries_enabled,
    evaluate_strategies,
    side_edges,
    trading_enabled,
)
from kalshid.core.markets import INDEX_ID
from kalshid.core.signals import BookTop, Signal
from kalshid.core.signals import IndexPrint as CoreIndexPrint
from kalshid.core.strategies.base import ParamError, PriceHistory
from kalshid.core.tracker import MarketTracker
from kalshid.exchange.base import (
    BookUpdated,
    FeedEvent,
    FeedResynced,
    FeedStale,
    IndexPrinted,
    MarketLifecycle,
    Reconnected,
)
from kalshid.logs import get_logger
from kalshid.research.recording import MarketsFollowed, evaluation_record
from kalshid.trading.convert import book_top
from kalshid.trading.messages import (
    Counters,
    FollowMarkets,
    Pipeline,
    Proposal,
    SetStrategy,
    SetStrategyParams,
    WindowClosing,
    refuse_waiting,
)

log = get_logger("kalshid.strategy")

BATCH_LIMIT = 512  # events folded per evaluation at most, so a flood still yields to other tasks
COMMAND_BUFFER = 8  # operator commands waiting for the stage (each caller awaits its answer)
BASIS_PUBLISH_INTERVAL_S = 0.25  # the snapshot's index-vs-spot view: for people, a few times a second is plenty


class StrategyStage:
    def __init__(self, pipeline: Pipeline, *, max_count_per_signal: int = 10_000,
                 underlying: str = "index", record: Callable[[object], None] | None = None) -> None:
        self.p = pipeline
        self.record = record  # the recorder's offer: each evaluation is recorded beside the market data
        self.received = 0  # market-data events taken from the inbox, in order
        self.tracker = MarketTracker()
        self._follow: FollowMarkets | None = None  # the markets message applied last
        self._current: str | None = None  # its current market: the one evaluated
        self.max_count = max_count_per_signal
        self.underlying = underlying
        self.basis = BasisTracker(BasisConfig())
        self._closing_sent: set[str] = set()
        # the last fair value and edges per followed market (published as the stage's snapshot)
        self.last_fair: dict[str, dict[str, float]] = {}
        self.last_edge: dict[str, dict[str, float]] = {}
        self._views_changed = False
        # operator commands (enable/disable a strategy, set its parameters), applied by this stage between two batches
        self.commands, self._commands = trio.open_memory_channel[SetStrategy | SetStrategyParams](COMMAND_BUFFER)
        self._closing_logged: set[str] = set()
        self._refused_books: set[str] = set()  # markets whose latest book the tracker refused (said once)
        self.counters = Counters()
        self._basis_due = -math.inf  # Trio time the snapshot's basis view may be refreshed again
        pipeline.snapshots.strategy = attrs.evolve(pipeline.snapshots.strategy, counters=self.counters.view)

    async def run(self, market_data: trio.MemoryReceiveChannel[FeedEvent],
                  proposals: trio.MemorySendChannel[object],
                  closing: trio.MemorySendChannel[object]) -> None:
        async with market_data, proposals, closing, trio.open_nursery() as nursery:
            nursery.start_soon(self._serve_commands)
            await self._serve(market_data, proposals, closing)
            nursery.cancel_scope.cancel()

    async def _serve_commands(self) -> None:
        """Apply operator commands to the registry. The data loop reads the registry only between its
        awaits, so a command lands between two evaluations, never inside one."""
        async with self._commands:  # closed when the stage ends: a later command fails at once
            try:
                async for command in self._commands:
                    command.answer(self._apply(command))
            finally:  # the stage is stopping: a command still queued is refused, not left to time out
                refuse_waiting(self._commands, "the strategy stage has stopped")

    def _apply(self, command: SetStrategy | SetStrategyParams) -> str | None:
        """Apply an operator command to the registry; why not, if it is refused."""
        registry = self.p.registry
        if command.name not in registry.names():
            return f"unknown strategy {command.name!r}"
        if isinstance(command, SetStrategyParams):
            try:
                registry.with_params(command.name, command.params)
            except ParamError as exc:
                return str(exc)
            log.info("strategy parameters changed", strategy=command.name, params=dict(command.params))
            return None
        registry.enable(command.name) if command.enabled else registry.disable(command.name)
        log.info("strategy enabled" if command.enabled else "strategy disabled", strategy=command.name)
        return None

    async def _serve(self, market_data: trio.MemoryReceiveChannel[FeedEvent],
                     proposals: trio.MemorySendChannel[object], closing: trio.MemorySendChannel[object]) -> None:
        async for event in market_data:
            self.p.state.last_progress = trio.current_time()
            trigger, at = self._fold_waiting(event, market_data)
            if trigger is None:  # nothing to evaluate; a book may have gone stale: risk's marks drop it
                self._publish_snapshot()
                continue
            await self._check_closing(closing)
            if trigger:
                for proposal in self._evaluate(at):
                    await proposals.send(proposal)
                    # announced after the hand-over: risk and execution do not wait for the log line
                    self._announce(proposal.signal)
            self._publish_snapshot()

    def _fold_waiting(self, first: FeedEvent,
                      market_data: trio.MemoryReceiveChannel[FeedEvent]) -> tuple[bool | None, float]:
        """Fold ``first`` and every event already waiting (module docstring, "Bursts"), in order.
        Returns the combined trigger (True if any event calls for an evaluation, else False if any
        moved time, else None) and the local time of the last event that called for one."""
        if self.p.state.follow is not self._follow:
            self.follow(self.p.state.follow)
        trigger = self._fold(first)
        at = event_local_time(first) if trigger else 0.0
        for _ in range(BATCH_LIMIT - 1):
            try:
                event = market_data.receive_nowait()
            except (trio.WouldBlock, trio.EndOfChannel):
                break  # nothing more now; a closed inbox ends the ``async for`` on its next turn
            folded = self._fold(event)
            if folded:
                at = event_local_time(event)
                trigger = True
            elif folded is not None and trigger is None:
                trigger = False
        return trigger, at

    def follow(self, message: FollowMarkets | None) -> None:
        """Follow the markets of ``message`` from the next event on (module docstring, "Markets")."""
        self._follow = message
        markets = message.markets if message is not None else ()
        self._current = message.current if message is not None else None
        self.tracker.set_markets(list(markets))
        if self.record is not None:
            self.record(MarketsFollowed(tuple(m.ticker for m in markets), self._current, self.received))

    def _fold(self, event: FeedEvent) -> bool | None:
        """Update the tracker; True if strategies should run, False if only time moved, None if nothing."""
        self.received += 1
        tracker = self.tracker
        if isinstance(event, IndexPrinted):
            pr = event.print
            if pr.exchange_ts is None:
                return None
            if pr.index_id == INDEX_ID:
                self.basis.on_index(pr.local_time, pr.value)
                if self.underlying != "index":
                    return None
                close_avg = None if pr.close_avg_60s is None else float(pr.close_avg_60s)
                return tracker.on_index(CoreIndexPrint(pr.exchange_ts, float(pr.value), close_avg,
                                                       pr.close_avg_window))
            # a spot print (e.g. COINBASE:SOL-USD): tracked against the index; it drives the strategies
            # only when configured to stand in for the index, shifted by the smoothed basis
            self.basis.on_spot(pr.local_time, pr.value)
            if self.underlying != "coinbase":
                return None
            # without any index print to pair with (no index access), the spot is used as it is
            value = pr.value if self.basis.smoothed_basis is None else self.basis.adjusted_spot(pr.value)
            return tracker.on_index(CoreIndexPrint(pr.exchange_ts, float(value)))
        if isinstance(event, BookUpdated):
            now = tracker.now
            book = event.book
            if now is None and book.exchange_ts is None:
                return None
            try:
                top = book_top(book, updated_at=book.exchange_ts or now)  # type: ignore[arg-type]
            except ValueError as exc:
                # said once until a book of that market is taken again (a crossed book comes with every
                # update until it uncrosses or the feed resyncs it); counted each time
                self.counters.bump("books_refused")
                if book.ticker not in self._refused_books:
                    self._refused_books.add(book.ticker)
                    log.warning("book rejected by the tracker; treating it as stale until one is taken",
                                market=book.ticker, error=str(exc))
                tracker.mark_stale(book.ticker)
                return None
            if self._refused_books and book.ticker in self._refused_books:
                self._refused_books.discard(book.ticker)
                log.info("book taken again", market=book.ticker)
            changed = tracker.on_book(top, stale=book.stale)
            return changed and book.ticker == self._current
        if isinstance(event, FeedStale):
            tracker.mark_stale(event.ticker or None)
            self.counters.bump("feed_stale")
            return None
        if isinstance(event, FeedResynced | Reconnected):
            return None
        if isinstance(event, MarketLifecycle):
            self.p.markets_changed.set()
            return False
        return None

    async def _check_closing(self, closing: trio.MemorySendChannel[object]) -> None:
        tracker = self.tracker
        now = tracker.now
        if now is None:
            return
        for ticker in tracker.tickers():
            info = tracker.info(ticker)
            if info is None or ticker in self._closing_sent:
                continue
            if closing_due(now, info.close_time):
                self._closing_sent.add(ticker)
                await closing.send(WindowClosing(ticker, "window closing"))
        if len(self._closing_sent) > 64:
            keep = set(tracker.tickers())
            self._closing_sent &= keep
        if len(self.last_fair) > 4 or len(self.last_edge) > 4:  # only the followed markets are shown
            followed = set(tracker.tickers())
            for table in (self.last_fair, self.last_edge):
                for ticker in [t for t in table if t not in followed]:
                    del table[ticker]
                    self._views_changed = True

    def _evaluate(self, data_local_time: float) -> list[Proposal]:
        state = self.p.state
        ticker = self._current
        tracker = self.tracker
        if ticker is None or not state.ready or not state.exchange_trading_active:
            return []
        new_prints = tracker.take_new_prints()
        top = tracker.book(ticker)
        orders = self.p.orders
        bankroll = bankroll_cc(state.portfolio.cash_cc, orders.resting_for_risk())
        view = tracker.view(ticker, bankroll_cc=bankroll, max_count=self.max_count)
        if view is None:
            return []
        if view.closing_note and ticker not in self._closing_logged:
            # once per market: the closing minute priced from the own prints (or a disagreement) and why
            self._closing_logged.add(ticker)
            log.warning("closing average", market=ticker, source=view.closing_source, reason=view.closing_note)
            if len(self._closing_logged) > 64:
                self._closing_logged = {ticker}
        busy = orders.busy_in(ticker)
        # the execution stage's switch, the risk stage's breaker and position audit, as published
        risk = self.p.snapshots.risk
        enabled = trading_enabled(self.p.snapshots.execution.trading_enabled, risk.breaker.status)
        entries = entries_enabled(risk.breaker.status, risk.position_audit.agrees)
        history = PriceHistory(index=new_prints[:-1] if new_prints else ())
        out: list[Proposal] = []
        evaluations = evaluate_strategies(self.p.registry.active(), view, tracker.last_print, history, top,
                                          trading_enabled=enabled, busy=busy, holdings=orders.holdings,
                                          entries_enabled=entries)
        if self.record is not None:
            self.record(evaluation_record(self.received, view, enabled, busy, orders.holdings,
                                          evaluations, entries_enabled=entries))
        for ev in evaluations:
            if ev.fair_yes is not None or ev.strategy in self.last_fair.get(ticker, ()):
                self._show_fair(ticker, ev.strategy, ev.fair_yes, top)
            if ev.outcome is Outcome.SILENT:
                continue
            self.counters.bump("signals")
            if ev.outcome is Outcome.SUPPRESSED:
                self.counters.bump("signals_suppressed")
                continue
            if ev.outcome is Outcome.AT_TARGET or ev.proposal is None:
                self.counters.bump("signals_at_target")
                continue
            orders.claim(ev.strategy, ticker)
            out.append(Proposal(ev.proposal, tracker.book_age_seconds(ticker),
                                tracker.index_age_seconds(view.now), data_local_time,
                                min_edge=self.p.registry.get(ev.strategy).min_edge))
        return out

    def _show_fair(self, ticker: str, strategy: str, fair: float | None, top: BookTop | None) -> None:
        """Keep what ``/api/markets`` shows of ``strategy`` in ``ticker`` to its latest evaluation: its
        fair value and the edge of each side with an ask, or nothing when it priced nothing (a cold
        volatility, no strike yet, the market closed) or a side has no ask, never an older figure."""
        self._views_changed = True
        fairs = self.last_fair.setdefault(ticker, {})
        edges = self.last_edge.setdefault(ticker, {})
        now = {} if fair is None or top is None else side_edges(fair, top)
        for side in ("yes", "no"):
            key = f"{strategy}:{side}"
            if side in now:
                edges[key] = now[side]
            else:
                edges.pop(key, None)
        if fair is None:
            fairs.pop(strategy, None)
        else:
            fairs[strategy] = fair

    def _publish_snapshot(self) -> None:
        """The stage's snapshot (books of the followed markets and their ages, last index print, fair
        values, edges, the market data's time) if any of it changed: after the proposals are on their
        way, never before. Risk takes its exchange time and marks from it."""
        self._publish_basis()
        tracker = self.tracker
        snapshot = self.p.snapshots.strategy
        tops = {t: top for t in tracker.tickers() if (top := tracker.book(t)) is not None}
        same_tops = tops.keys() == snapshot.tops.keys() and all(top is snapshot.tops[t] for t, top in tops.items())
        if same_tops and tracker.last_print is snapshot.last_print and tracker.now is snapshot.data_time \
                and not self._views_changed:
            return
        if self._views_changed:
            self._views_changed = False
            snapshot = attrs.evolve(snapshot, last_fair={t: dict(v) for t, v in self.last_fair.items()},
                                    last_edge={t: dict(v) for t, v in self.last_edge.items()})
        self.p.snapshots.strategy = attrs.evolve(snapshot, tops=tops, last_print=tracker.last_print,
                                                 data_time=tracker.now, feed_seen_at=tracker.feed_seen_at)

    def _publish_basis(self) -> None:
        """The snapshot's index-vs-spot view, at most every :data:`BASIS_PUBLISH_INTERVAL_S`, when it changed."""
        now = trio.current_time()
        if now < self._basis_due:
            return
        self._basis_due = now + BASIS_PUBLISH_INTERVAL_S
        view = self.basis.view(now)
        last = self.p.snapshots.strategy.basis
        if last is not None and (last.samples, last.unpaired, last.spot, last.index, last.smoothed) == \
                (view.samples, view.unpaired, view.spot, view.index, view.smoothed):
            return
        self.p.snapshots.strategy = attrs.evolve(self.p.snapshots.strategy, basis=view)

    def _announce(self, signal: Signal) -> None:
        log.info("signal", strategy=signal.strategy, market=signal.ticker, side=signal.side.value,
                 action=signal.action.value, price_cc=signal.price_cc, count=signal.count,
                 edge=round(signal.edge, 4), fair=round(signal.fair_prob, 4), reason=signal.reason)
        self.p.publish("trading_signal", {
            "strategy": signal.strategy, "ticker": signal.ticker, "side": signal.side.value,
            "action": signal.action.value, "price_cc": signal.price_cc, "count": signal.count,
            "edge": signal.edge, "fair": signal.fair_prob, "confidence": signal.confidence,
            "reason": signal.reason, "ts": signal.created_at.isoformat()})


def event_local_time(event: FeedEvent) -> float:
    if isinstance(event, IndexPrinted):
        return event.print.local_time
    return getattr(event, "local_time", trio.current_time())
