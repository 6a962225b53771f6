"""The risk stage: every order passes here, and fills, settlements and breaker state flow back here.

It owns the portfolio, the day ledger and the circuit breaker (in :class:`TradingState`). For each
proposal it builds the pure :class:`~kalshid.core.risk.RiskState` — data ages include the time the
proposal spent queued — runs :meth:`RiskEngine.check`, journals the signal and the verdict (with its
reason code), and sends approved orders to execution. Fills and settlements update the portfolio;
every equity change is shown to the breaker, and a trip is journaled, alerted, and makes execution
cancel everything resting.

Market data reaches risk two ways. A proposal carries what its check needs (its signal's exchange
time, the data's ages). Fills, settlements and operator commands arrive without market data: for
them risk takes the exchange time and the books (the marks of its positions) from the strategy
stage's latest snapshot (``snapshots.strategy``: immutable, replaced by the strategy stage after each
batch it folds, read by reference), so nothing is added to the proposal's path.

Risk never waits for the journal on its way to the next proposal: rejected signals and equity
snapshots are queued to a write-behind task (:mod:`kalshid.trading.writebehind`), written in order;
only a breaker transition is waited for (it must be on disk before trading goes on). An approved
order's decision is journaled by execution, on the event loop (``Journal.record_decision``).
"""

from __future__ import annotations

import functools
import uuid
from collections import OrderedDict
from collections.abc import Mapping
from datetime import datetime

import attrs
import trio

from kalshid.core.audit import trading_differences
from kalshid.core.breaker import Breaker, BreakerError, BreakerEvent, BreakerStatus
from kalshid.core.decision import order_intent
from kalshid.core.portfolio import Portfolio, PortfolioError
from kalshid.core.risk import RiskEngine, RiskState
from kalshid.core.signals import BookTop
from kalshid.core.vocab import Side
from kalshid.logs import get_logger
from kalshid.metrics import Metrics
from kalshid.store import records
from kalshid.trading.convert import core_fill
from kalshid.trading.messages import (
    ApprovedOrder,
    CancelAll,
    Counters,
    ExchangePositions,
    ExecutionInput,
    FillBooked,
    LiveOrder,
    OrdersChanged,
    Pipeline,
    Proposal,
    ResetBreaker,
    RiskInput,
    SetEntries,
    SetRiskLimits,
    SettlementBooked,
    refuse_waiting,
)
from kalshid.trading.writebehind import WriteBehind

log = get_logger("kalshid.risk")

SETTLED_REMEMBERED = 1024  # markets whose settlement risk remembers (a day has 96 windows)


class RiskStage:
    def __init__(self, pipeline: Pipeline, engine: RiskEngine, metrics: Metrics | None = None) -> None:
        self.p = pipeline
        self.engine = engine  # replaced only by a SetRiskLimits from the inbox, between two proposals
        self.metrics = metrics
        self.write_behind = WriteBehind()
        self.counters = Counters()
        self._booked_at: dict[str, float] = {}  # ticker -> Trio time of its latest fill or settlement applied
        # the latest markets settled and their results: a fill booked after its market's settlement is
        # settled with it (its contracts were paid with the rest)
        self._settled: OrderedDict[str, Side] = OrderedDict()
        pipeline.snapshots.risk = attrs.evolve(pipeline.snapshots.risk, limits=engine.limits,
                                               counters=self.counters.view)

    def now(self, at: datetime | None = None) -> datetime:
        """The exchange time of the market data the strategy stage has folded (module docstring), or,
        before any has been folded, ``at``: the exchange's own time of the fill or settlement being
        booked (one can come in before the first market data after a start or a reconnect)."""
        now = self.p.snapshots.strategy.data_time or at
        if now is None:
            raise RuntimeError("risk needs exchange time, and no market data has arrived yet")
        return now

    def marks(self) -> dict[str, int]:
        """Each position's mark, from the books of the strategy stage's snapshot (not stale, followed)."""
        return marks_for(self.p.state.portfolio, self.p.snapshots.strategy.tops)

    def equity_cc(self) -> int:
        return self.p.state.portfolio.equity_cc(self.marks())

    async def run(self, inbox: trio.MemoryReceiveChannel[RiskInput],
                  orders: trio.MemorySendChannel[ExecutionInput]) -> None:
        async with trio.open_nursery() as nursery:
            await nursery.start(self.write_behind.run)
            await self._serve(inbox, orders)
            nursery.cancel_scope.cancel()  # the writer writes what is queued, then ends

    async def _serve(self, inbox: trio.MemoryReceiveChannel[RiskInput],
                     orders: trio.MemorySendChannel[ExecutionInput]) -> None:
        async with inbox, orders:
            try:
                await self._serve_items(inbox, orders)
            finally:  # stopping (or cancelled): a command still queued is refused, not left to time out
                refuse_waiting(inbox, "the risk stage has stopped")

    async def _serve_items(self, inbox: trio.MemoryReceiveChannel[RiskInput],
                           orders: trio.MemorySendChannel[ExecutionInput]) -> None:
        async for item in inbox:
            self.p.state.last_progress = trio.current_time()
            if isinstance(item, Proposal):
                await self._on_proposal(item, orders)
            elif isinstance(item, FillBooked):
                await self._on_fill(item, orders)
            elif isinstance(item, SettlementBooked):
                await self._on_settlement(item, orders)
            elif isinstance(item, ExchangePositions):
                self._on_exchange_positions(item)
            elif isinstance(item, ResetBreaker):
                await self._on_reset(item)
            elif isinstance(item, SetEntries):
                await self._on_set_entries(item)
            elif isinstance(item, SetRiskLimits):
                self._on_set_limits(item)
            elif isinstance(item, OrdersChanged):
                pass  # open orders are read from the shared state on every check

    async def _on_proposal(self, proposal: Proposal, orders: trio.MemorySendChannel[ExecutionInput]) -> None:
        state = self.p.state
        journal = self.p.require_journal()
        signal = proposal.signal
        now = signal.created_at
        ledger = state.ledger
        state.ledger = ledger.rolled(now, state.portfolio)
        rolled = state.ledger is not ledger
        queued = max(0.0, trio.current_time() - proposal.data_local_time)
        rstate = RiskState(
            portfolio=state.portfolio, ledger=state.ledger, breaker_status=state.breaker.status,
            resting=self.p.orders.resting_for_risk(),
            book_age_seconds=None if proposal.book_age_seconds is None else proposal.book_age_seconds + queued,
            index_age_seconds=None if proposal.index_age_seconds is None else proposal.index_age_seconds + queued,
            position_mismatches=state.position_audit.describe(), fee_refusals=state.fee_refusals,
        )
        intent = order_intent(signal, proposal.min_edge)
        verdict = self.engine.check(intent, rstate, now)
        signal_record = records.Signal(
            ts=now, strategy=signal.strategy, ticker=signal.ticker, side=signal.side.value,
            action=signal.action.value, price_cc=signal.price_cc, count=signal.count,
            fair_prob=signal.fair_prob, edge=signal.edge, confidence=signal.confidence, reason=signal.reason)
        verdict_record = records.RiskVerdict(signal_id=1, ts=now, approved=verdict.approved,
                                             reason_code=verdict.reason.value, detail=verdict.detail)
        count = verdict.count_for(intent)
        if not verdict.approved or count <= 0:
            if rolled:
                self.p.publish_risk()
            log.info("risk verdict", strategy=signal.strategy, market=signal.ticker, approved=verdict.approved,
                     reason=verdict.reason.value, detail=verdict.detail, count=count)
            await self.write_behind.later(
                "rejection", functools.partial(journal.record_rejection, signal_record, verdict_record))
            if self.metrics is not None:
                self.metrics.rejection(source="risk", reason=verdict.reason.value)
            self.counters.bump("rejections")
            self.p.orders.release(signal.strategy, signal.ticker)
            self.p.publish("alert", {"level": "info", "kind": "risk_rejection", "reason": verdict.reason.value,
                                     "detail": verdict.detail, "strategy": signal.strategy,
                                     "ticker": signal.ticker, "action": signal.action.value})
            return
        self.counters.bump("approvals")
        # Registered as ours (in flight) before the hand-over: the next proposal's check counts it even
        # if execution has not taken it yet (risk and execution are separate tasks).
        cid = str(uuid.uuid4())
        self.p.orders.reserve(LiveOrder(cid, signal.strategy, signal.ticker, signal.side, signal.action,
                                        signal.price_cc, count, in_flight=True))
        await orders.send(ApprovedOrder(
            client_order_id=cid, signal_id=None, strategy=signal.strategy, ticker=signal.ticker, side=signal.side,
            action=signal.action, count=count, price_cc=signal.price_cc, time_in_force="immediate_or_cancel",
            approved_at=now, data_local_time=proposal.data_local_time, signal_record=signal_record,
            verdict_record=verdict_record))
        # logged after the hand-over: the order's journal write and request do not wait for this line
        log.info("risk verdict", strategy=signal.strategy, market=signal.ticker, approved=True,
                 reason=verdict.reason.value, detail=verdict.detail, count=count)
        if rolled:
            self.p.publish_risk()

    async def _on_fill(self, item: FillBooked, orders: trio.MemorySendChannel[ExecutionInput]) -> None:
        state = self.p.state
        fill = core_fill(item.fill, ts=self.now(item.fill.ts))
        self._booked_at[item.fill.ticker] = trio.current_time()
        self._roll_day(fill.ts)
        try:
            result = item.settled or self._settled.get(fill.ticker)
            if result is None:
                state.portfolio = state.portfolio.apply_fill(fill)
            else:  # found after its market's settlement, which paid for what it left (a sale: for what it took)
                state.portfolio = state.portfolio.apply_settled_fill(fill, result)
                log.warning("fill booked after its market's settlement; settled with it", fill_id=item.fill.fill_id,
                            market=fill.ticker, result=result.value, action=fill.action.value, side=fill.side.value,
                            count=fill.count)
        except PortfolioError as exc:
            # The journal has the fill; the portfolio cannot explain it (e.g. an external sell). Loud.
            log.error("fill does not apply to the portfolio", fill_id=item.fill.fill_id,
                      market=item.fill.ticker, error=str(exc))
            self.p.publish("alert", {"level": "error", "kind": "portfolio_mismatch", "detail": str(exc),
                                     "fill_id": item.fill.fill_id})
            return
        self.p.publish("position_update", position_payload(self.p, item.fill.ticker))
        await self._observe_equity(fill.ts, orders)

    async def _on_settlement(self, item: SettlementBooked, orders: trio.MemorySendChannel[ExecutionInput]) -> None:
        s = item.settlement
        state = self.p.state
        if s.market_result not in ("yes", "no"):
            log.error("settlement result not yes/no; position left for the operator", market=s.ticker,
                      result=s.market_result)
            self.p.publish("alert", {"level": "error", "kind": "settlement_unhandled", "ticker": s.ticker,
                                     "result": s.market_result})
            return
        before = state.portfolio.realized_pnl_cc
        self._booked_at[s.ticker] = trio.current_time()
        at = s.settled_time or self.now()
        self._roll_day(at)
        state.portfolio = state.portfolio.settle(s.ticker, Side(s.market_result))
        self._settled[s.ticker] = Side(s.market_result)
        while len(self._settled) > SETTLED_REMEMBERED:
            self._settled.popitem(last=False)
        log.info("settled", market=s.ticker, result=s.market_result, revenue_cc=s.revenue_cc,
                 realized_cc=state.portfolio.realized_pnl_cc - before)
        self.p.publish("position_update", position_payload(self.p, s.ticker))
        await self._observe_equity(at, orders)

    def _roll_day(self, at: datetime) -> None:
        """The day ledger rolled to ``at``'s trading day (or the later of it and the market data's),
        before a fill or settlement changes the realised P&L: what is realised after the day boundary
        is the new day's, whether or not a proposal rolled the ledger first."""
        state = self.p.state
        ledger = state.ledger
        state.ledger = ledger.rolled(max(at, self.now(at)), state.portfolio)
        if state.ledger is not ledger:
            self.p.publish_risk()

    async def _observe_equity(self, now: datetime, orders: trio.MemorySendChannel[ExecutionInput]) -> None:
        state = self.p.state
        equity = self.equity_cc()
        state.peak_equity_cc = max(state.peak_equity_cc, equity)
        breaker, events = state.breaker.observe(now, equity)
        await self._apply_breaker(breaker, events, equity, at=now)
        if events and breaker.status is BreakerStatus.HALTED:
            await orders.send(CancelAll("circuit breaker halted trading"))

    async def _apply_breaker(self, breaker: Breaker, events: tuple[BreakerEvent, ...], equity: int, *,
                             at: datetime | None = None) -> None:
        state = self.p.state
        state.breaker = breaker
        journal = self.p.require_journal()
        snapshot = records.EquitySnapshot(ts=self.now(at), cash_cc=state.portfolio.cash_cc, equity_cc=equity,
                                          peak_cc=breaker.peak_equity_cc)
        await self.write_behind.later("equity", functools.partial(journal.record_equity, snapshot))
        for ev in events:
            event = records.BreakerEvent(ts=ev.at, from_state=ev.from_status.value, to_state=ev.to_status.value,
                                         reason=f"{ev.reason.value}: {ev.detail}")
            await self.write_behind.now("breaker event", functools.partial(journal.record_breaker_event, event))
            level = "critical" if ev.to_status is BreakerStatus.HALTED else "warning"
            getattr(log, "critical" if level == "critical" else "warning")(
                "circuit breaker", from_state=ev.from_status.value, to_state=ev.to_status.value,
                reason=ev.reason.value, detail=ev.detail, equity_cc=equity)
            self.p.publish("alert", {"level": level, "kind": "circuit_breaker", "from": ev.from_status.value,
                                     "to": ev.to_status.value, "reason": ev.reason.value, "detail": ev.detail})
            if self.metrics is not None:
                self.metrics.set_breaker(ev.to_status is BreakerStatus.HALTED)
        self.p.publish_risk()

    def _on_exchange_positions(self, item: ExchangePositions) -> None:
        """The position audit (:mod:`kalshid.core.audit`): the exchange's positions against the
        portfolio, which has every fill and settlement the catch-up before this message booked; a
        market with a fill or settlement applied since the audit's first read is not judged by it, and
        a closed window not at all (its settlement is checked when booked). A
        difference confirmed by the next audit holds new entries (``POSITION_MISMATCH``), is logged as
        an error and alerted, until an audit finds the journal and the exchange in agreement again."""
        state = self.p.state
        before = state.position_audit
        busy = {t for t, at in self._booked_at.items() if at >= item.started}
        self._booked_at = {t: at for t, at in self._booked_at.items() if at >= item.started}
        differences = trading_differences(state.portfolio.positions, item.positions, item.left_alone, item.read_at)
        audit = state.position_audit = before.observe(differences, item.read_at, busy)
        if self.metrics is not None:
            self.metrics.set_position_mismatches(len(audit.confirmed))
        newly = [d for t, d in audit.confirmed.items() if t not in before.confirmed]
        if newly:
            log.error("position audit: the journal and the exchange disagree; no new entries until they agree",
                      differences=[d.describe() for d in audit.confirmed.values()])
            self.p.publish("alert", {"level": "error", "kind": "position_mismatch",
                                     "detail": "; ".join(d.describe() for d in newly),
                                     "ticker": ",".join(d.ticker for d in newly)})
        elif before.confirmed and audit.agrees:
            log.info("position audit: no difference left (the positions agree again, or the window closed and "
                     "its settlement is checked instead); entries resume", markets=sorted(before.confirmed))
            self.p.publish("alert", {"level": "info", "kind": "positions_agree",
                                     "detail": "no difference left in " + ", ".join(sorted(before.confirmed))})
        unconfirmed = [d.describe() for t, d in differences.items() if t not in audit.confirmed and t not in busy]
        if unconfirmed:  # a fill read by one side only lasts one audit; the next one tells
            log.info("position audit: a difference to be confirmed by the next audit", differences=unconfirmed)
        self.p.publish_risk()

    def _on_set_limits(self, item: SetRiskLimits) -> None:
        """Operator reload: the next proposal is checked against ``item.limits``."""
        if item.limits != self.engine.limits:
            self.engine = RiskEngine(item.limits)
            self.p.snapshots.risk = attrs.evolve(self.p.snapshots.risk, limits=item.limits)
            log.info("risk limits changed", limits=attrs.asdict(item.limits))
        item.answer()

    async def _on_reset(self, item: ResetBreaker) -> None:
        state = self.p.state
        if self.p.snapshots.strategy.data_time is None:
            item.answer("no market data has arrived yet; try again in a few seconds")
            return
        equity = self.equity_cc()
        try:
            breaker, events = state.breaker.reset(self.now(), equity, detail=item.requested_by)
        except BreakerError as exc:
            log.info("breaker reset ignored", reason=str(exc))
            item.answer(str(exc))
            return
        await self._apply_breaker(breaker, events, equity)
        item.answer()

    async def _on_set_entries(self, item: SetEntries) -> None:
        """Operator stop-entry (REDUCING: exits only) and resume; refused while HALTED."""
        state = self.p.state
        if state.breaker.status is BreakerStatus.HALTED:
            item.answer("circuit breaker is tripped; nothing trades until it is reset")
            return
        if self.p.snapshots.strategy.data_time is None:
            item.answer("no market data has arrived yet; try again in a few seconds")
            return
        now = self.now()
        try:
            if item.enabled:
                breaker, events = state.breaker.resume(now, detail=item.requested_by)
            else:
                breaker, events = state.breaker.stop_entries(now, detail=item.requested_by)
        except BreakerError as exc:
            item.answer(str(exc))
            return
        state.entries_enabled = item.enabled
        await self._apply_breaker(breaker, events, self.equity_cc())
        item.answer()


def marks_for(portfolio: Portfolio, tops: Mapping[str, BookTop]) -> dict[str, int]:
    """Each position's mark (cc per contract): the YES mid of its book, where a book is known."""
    out: dict[str, int] = {}
    for ticker in portfolio.positions:
        top = tops.get(ticker)
        if top is not None and top.yes_mid_prob is not None:
            out[ticker] = round(top.yes_mid_prob * 10_000)
    return out


def position_payload(p: Pipeline, ticker: str) -> dict[str, object]:
    pos = p.state.portfolio.position(ticker)
    return {"ticker": ticker, "yes_count": pos.yes_count, "no_count": pos.no_count,
            "cost_basis_cc": pos.cost_basis_cc, "fees_cc": pos.fees_cc,
            "realized_pnl_cc": pos.realized_pnl_cc, "cash_cc": p.state.portfolio.cash_cc}
