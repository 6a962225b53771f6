"""The execution stage's bookkeeping: order states, fills and settlements as the exchange reports them,
in-flight resolution and cancels. The Trio and journal shell around :class:`~kalshid.core.orders.LiveOrders`.

* an order's state from the exchange is journaled first (the journal refuses a stale or illegal one),
  then applied to the live order; a finished order leaves the book, and its strategy stays busy in
  that market until fills its answer reported are booked;
* fills come from the feed and from periodic catch-up via REST; the journal keys them by ``fill_id``, so
  a fill seen twice is booked once, and only new fills go to risk;
* fills are joined with their orders by ``order_id`` (:mod:`kalshid.trading.fillowner`): the exchange
  reports only the YES-book side, the order says whether it bought or sold which side; then booked as
  the exchange netted them (:mod:`kalshid.trading.netting`: a NO buy while YES is held sells YES);
* an order of unknown outcome is looked up by ``client_order_id``; not found for ``in_flight_give_up_s``
  it never arrived (rejected, marked as given up). Kalshi's reads can lag: if the exchange reports it
  later after all (an order update, a read, or a fill of it), the journal takes it back, it rejoins
  the book if it still rests (risk counts it, cancels reach it) and an alert says so. Such an order has
  no ``order_id`` in the journal: a report of it without a ``client_order_id`` is read by its
  ``order_id`` before it is taken as external (:mod:`kalshid.trading.orderowner`);
* settlements come from the exchange and are checked against the journal.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable
from datetime import datetime, timedelta

import attrs
import trio

from kalshid.core.audit import trading_differences
from kalshid.core.orders import LiveOrder, OrderPhase
from kalshid.core.vocab import Action as CoreAction
from kalshid.core.vocab import Side as CoreSide
from kalshid.exchange.errors import CancelInFlight, ExchangeError, NotFound
from kalshid.exchange.types import Fill, Order
from kalshid.logs import get_logger
from kalshid.metrics import Metrics
from kalshid.store import records
from kalshid.trading.convert import external_order, journal_fill, journal_settlement, order_update
from kalshid.trading.exchangeclock import ExchangeClock
from kalshid.trading.fillowner import FillOwners, Owner
from kalshid.trading.messages import (
    Counters,
    ExchangePositions,
    FillBooked,
    OrdersChanged,
    Pipeline,
    RiskInput,
    SettlementBooked,
)
from kalshid.trading.netting import AccountHoldings, oldest_first
from kalshid.trading.orderowner import client_id_from_read, orders_without_order_id, uncertain_detail

log = get_logger("kalshid.execution")

Risk = trio.MemorySendChannel[RiskInput]

# after a cancel-all, Kalshi may cancel orders placed within the next minute: place none then
KILL_SWITCH_QUIET_S = 60.0
SETTLEMENTS_REMEMBERED = 4096  # markets whose journaled settlement is remembered (a day has 96 windows)


class Bookkeeper:
    """Applies what the exchange says about our orders, fills and settlements (one per execution stage)."""

    def __init__(self, pipeline: Pipeline, clock: ExchangeClock, *, in_flight_give_up_s: float,
                 metrics: Metrics | None = None) -> None:
        self.p = pipeline
        self.clock = clock
        self.in_flight_give_up_s = in_flight_give_up_s
        self.metrics = metrics
        self._last_fill_ts: datetime | None = None
        self._last_settlement_ts: datetime | None = None
        # markets whose settlement the journal has (the catch-up reads the last minutes' settlements again)
        self._settlements_journaled: OrderedDict[str, None] = OrderedDict()
        self._owners: FillOwners | None = None  # built on first use (the journal and exchange are set then)
        self._holdings: AccountHoldings | None = None
        # the execution stage's counters (fills here, orders in its order loop), published in its snapshot
        self.counters = Counters()
        pipeline.snapshots.execution = attrs.evolve(pipeline.snapshots.execution, counters=self.counters.view)

    @property
    def owners(self) -> FillOwners:
        if self._owners is None:
            self._owners = FillOwners(self.p.require_journal(), self.p.require_exchange())
        return self._owners

    @property
    def holdings(self) -> AccountHoldings:
        if self._holdings is None:
            self._holdings = AccountHoldings(self.p.require_journal())
        return self._holdings

    @property
    def _nets(self) -> bool:
        """Whether the exchange nets YES and NO (Kalshi and the paper account do)."""
        return bool(getattr(self.p.require_exchange(), "nets_positions", True))

    def forget(self, live: LiveOrder, *, unbooked: int = 0) -> None:
        """``live`` is finished: it leaves the book (see :meth:`LiveOrders.finish`)."""
        # its fills may still come in from the feed (an IOC order's ack often comes before them)
        self.owners.remember(live.order_id, owner_of(live))
        self.p.orders.finish(live, unbooked=unbooked)
        self.p.publish_execution()

    # --- order state --------------------------------------------------------------------------------
    async def on_order(self, order: Order, risk: Risk, *, source: str) -> None:
        journal = self.p.require_journal()
        outcome = await journal.apply_order_update(order_update(order, ts=self.clock.now(), source=source))
        if outcome is records.UpdateOutcome.UNKNOWN and not order.client_order_id:
            # not known by its order_id: it may be ours all the same, its create answer lost (orderowner)
            named = await client_id_from_read(self.p.require_exchange(), order)
            if named is not None:
                await self.on_order(named, risk, source=source)
                return
        if outcome is records.UpdateOutcome.TAKEN_BACK:
            await self._take_back(order, source)
        live = self.p.exchange_order_matches(order)
        if live is None:
            if outcome is records.UpdateOutcome.UNKNOWN and order.is_open:
                await self._adopt(order, source)
            elif outcome is records.UpdateOutcome.UNKNOWN and not order.client_order_id:
                await self._maybe_ours(order, source)  # finished: nothing to adopt, its fills come as external
            return
        if outcome in (records.UpdateOutcome.STALE, records.UpdateOutcome.ILLEGAL):
            # an older view arriving late (e.g. the create's answer after the feed's fill): the journal
            # kept the newer one, and so does the live order
            return
        self.p.orders.answered(live, order_id=order.order_id, remaining=order.remaining_count,
                               filled=order.fill_count, is_open=order.is_open)
        if outcome is not records.UpdateOutcome.DUPLICATE:  # the same view again (ack, then the feed)
            self.p.publish("order_update", {
                "client_order_id": live.client_order_id, "order_id": order.order_id, "ticker": order.ticker,
                "status": order.status, "filled": order.fill_count, "remaining": order.remaining_count,
                "strategy": live.strategy})
            if self.metrics is not None:
                self.metrics.order_status(order.status)
        if live.phase is OrderPhase.DONE:
            self.forget(live, unbooked=await self._unbooked(order))
        else:
            self.p.publish_execution()
        await risk.send(OrdersChanged())

    async def _take_back(self, order: Order, source: str) -> None:
        """``order`` was given up as never sent, and the journal has just taken it back: it rejoins the
        book (as unknown; :meth:`on_order` then gives it the exchange's state) and the operator is told."""
        journal = self.p.require_journal()
        rec = await journal.get_order_by_order_id(order.order_id)
        if rec is None and order.client_order_id:
            rec = await journal.get_order_by_client_id(order.client_order_id)
        if rec is None:  # the journal just applied the update to it: a journal bug, said loudly
            log.error("order taken back is not in the journal", order_id=order.order_id)
            return
        self.p.orders.take_back(LiveOrder(rec.client_order_id, rec.strategy, rec.ticker, CoreSide(rec.side.value),
                                          CoreAction(rec.action.value), rec.price_cc, order.remaining_count,
                                          order.order_id, in_flight=True))
        self.p.publish("alert", {
            "level": "error", "kind": "order_taken_back", "client_order_id": rec.client_order_id,
            "order_id": order.order_id, "ticker": order.ticker,
            "detail": f"given up as never sent, reported by the exchange after all ({source}): {order.status}, "
                      f"{order.fill_count} filled, {order.remaining_count} left"})

    async def _unbooked(self, order: Order) -> int:
        """Contracts of the finished ``order`` filled but not in the journal yet."""
        if order.fill_count <= 0:
            return 0
        booked = await self.p.require_journal().list_fills(order_id=order.order_id, limit=1000)
        return max(0, order.fill_count - sum(f.count for f in booked.items))  # netted parts add up

    async def _adopt(self, order: Order, source: str) -> None:
        journal = self.p.require_journal()
        cid, new = await journal.adopt_external_order(external_order(order, ts=self.clock.now()))
        self.p.orders.adopt(LiveOrder(cid, "external", order.ticker, CoreSide(order.side),
                                      CoreAction(order.action or "buy"), order.price_cc,
                                      order.remaining_count, order.order_id))
        self.p.publish_execution()
        if new and not order.client_order_id and await self._maybe_ours(order, source):
            return
        if new:
            log.warning("external order adopted: not placed by this daemon", order_id=order.order_id,
                        market=order.ticker)
            self.p.publish("alert", {"level": "warning", "kind": "external_order", "order_id": order.order_id,
                                     "ticker": order.ticker})

    async def _maybe_ours(self, order: Order, source: str) -> bool:
        """``order``, reported with no ``client_order_id`` and not identified by a read, is taken as
        external; if an order of ours in its market has no ``order_id`` yet, it may be that one: an
        error and an alert naming them (returns True), for the operator to check (orderowner)."""
        candidates = await orders_without_order_id(self.p.require_journal(), order.ticker)
        if not candidates:
            return False
        detail = uncertain_detail(order.order_id, order.ticker, order.status, candidates, source)
        log.error("order of uncertain owner taken as external: it may be one of ours", order_id=order.order_id,
                  market=order.ticker, status=order.status, candidates=candidates, detail=detail)
        self.p.publish("alert", {"level": "error", "kind": "order_owner_uncertain", "order_id": order.order_id,
                                 "ticker": order.ticker, "candidates": candidates, "detail": detail})
        return True

    # --- fills and settlements -------------------------------------------------------------------
    async def book_fill(self, fill: Fill, risk: Risk, *, source: str) -> None:
        if not self.p.orders.first_sight(fill.fill_id):
            return  # journaled already (a catch-up returns the last seconds' fills again)
        journal = self.p.require_journal()
        live = self.p.live_order_for(order_id=fill.order_id, client_order_id=fill.client_order_id)
        owner = owner_of(live) if live is not None else None
        if owner is not None:
            fill = attrs.evolve(fill.with_intent(owner.side, owner.action),
                                client_order_id=fill.client_order_id or owner.client_order_id)
        else:
            fill, owner = await self.owners.resolve(fill)
        strategy = owner.strategy if owner is not None else None
        if fill.ts is not None and (self._last_fill_ts is None or fill.ts > self._last_fill_ts):
            self._last_fill_ts = fill.ts
        # netted as the exchange applied it (closing the opposite holding first), unless it does not net
        parts = await self.holdings.split(fill) if self._nets else [fill]
        if not parts:
            return  # booked before
        now = self.clock.now()
        settled = await self._settled_result(fill.ticker)
        written = await journal.record_fill_parts([journal_fill(part, ts=now, strategy=strategy) for part in parts])
        if not written[0]:
            return  # the first part decides: booked before (a fill seen twice)
        # each part goes on with a time (the exchange's, else the estimate the journal booked it at): risk
        # dates it by that when no market data has come in yet
        for part in parts:
            self.holdings.booked(part)
            await self._fill_booked(part if part.ts else attrs.evolve(part, ts=now), strategy, source, risk,
                                    settled)
        self.p.orders.fills_booked(fill.order_id, fill.count)
        if owner is not None:
            await self._check_not_overfilled(fill, owner, risk)

    async def _check_not_overfilled(self, fill: Fill, owner: Owner, risk: Risk) -> None:
        """More contracts booked for one of our orders than it was for, or than its final state says it
        filled (a rejection included): a fill counted twice under two ids, or the exchange contradicting
        the order. The fills stay booked as reported (they are the account's); it is said loudly, and the
        position audit compares with the exchange's position. A fill of an order given up as never sent
        shows it was sent after all: the order is read and taken back first (see :meth:`on_order`)."""
        journal = self.p.require_journal()
        rec = await journal.get_order_by_client_id(owner.client_order_id)
        if rec is not None and rec.given_up and await self.read_back(fill.order_id, risk, source="fill"):
            rec = await journal.get_order_by_client_id(owner.client_order_id)
        if rec is None or rec.external:  # an order placed elsewhere may have been amended there
            return
        final = rec.state in (records.OrderState.EXECUTED, records.OrderState.CANCELED, records.OrderState.REJECTED)
        limit = rec.filled if final else rec.count
        booked = sum(f.count for f in (await journal.list_fills(order_id=fill.order_id, limit=1000)).items)
        if booked > limit:
            what = f"its final state ({rec.state.value}, {rec.filled} filled)" if final else f"its count ({rec.count})"
            log.error("fills exceed their order: one counted twice, or the exchange contradicts the order",
                      order_id=fill.order_id, client_order_id=rec.client_order_id, market=fill.ticker,
                      order_count=rec.count, state=rec.state.value, filled=rec.filled, booked=booked,
                      fill_id=fill.fill_id)
            self.p.publish("alert", {"level": "error", "kind": "fills_exceed_order", "order_id": fill.order_id,
                                     "ticker": fill.ticker, "detail": f"{booked} contracts booked for an order "
                                                                      f"whose {what} says fewer"})

    async def _settled_result(self, ticker: str) -> CoreSide | None:
        """The result of ``ticker``'s settlement if the journal has one (yes or no), else None."""
        record = await self.p.require_journal().get_settlement(ticker)
        result = record.settlement.result.value if record is not None else None
        return CoreSide(result) if result in ("yes", "no") else None

    async def _fill_booked(self, fill: Fill, strategy: str | None, source: str, risk: Risk,
                           settled: CoreSide | None = None) -> None:
        log.info("fill", fill_id=fill.fill_id, order_id=fill.order_id, client_order_id=fill.client_order_id,
                 market=fill.ticker, side=fill.side, action=fill.action, count=fill.count,
                 price_cc=fill.price_cc, fee_cc=fill.fee_cc, taker=fill.is_taker, strategy=strategy,
                 source=source)
        self.counters.bump("fills")
        if settled is None:  # a settled market's holdings are gone with it
            self.p.orders.fill_booked(strategy, fill.ticker, fill.side, fill.action, fill.count)
        if self.metrics is not None:
            self.metrics.fill(strategy=strategy or "external", count=fill.count)
        self.p.publish("trade_execution", {
            "fill_id": fill.fill_id, "order_id": fill.order_id, "client_order_id": fill.client_order_id,
            "ticker": fill.ticker, "side": fill.side, "action": fill.action, "count": fill.count,
            "price_cc": fill.price_cc, "fee_cc": fill.fee_cc, "is_taker": fill.is_taker,
            "strategy": strategy, "ts": fill.ts.isoformat() if fill.ts else None})
        await risk.send(FillBooked(fill, strategy, settled))

    async def poll_fills(self, risk: Risk, *, ticker: str | None = None) -> None:
        exchange = self.p.require_exchange()
        since = self._last_fill_ts - timedelta(seconds=5) if self._last_fill_ts else None
        try:
            fills = await exchange.list_fills(ticker=ticker, since=since)
        except ExchangeError as exc:
            log.warning("fill catch-up failed; will retry", error=f"{type(exc).__name__}: {exc}")
            return
        for fill in oldest_first(fills):
            await self.book_fill(fill, risk, source="rest")

    async def poll_settlements(self, risk: Risk) -> None:
        exchange = self.p.require_exchange()
        journal = self.p.require_journal()
        since = self._last_settlement_ts - timedelta(minutes=5) if self._last_settlement_ts else None
        try:
            settlements = await exchange.list_settlements(since=since)
        except ExchangeError as exc:
            log.warning("settlement catch-up failed; will retry", error=f"{type(exc).__name__}: {exc}")
            return
        for s in sorted(settlements, key=lambda x: (x.settled_time is None, x.settled_time)):
            if s.settled_time and (self._last_settlement_ts is None or s.settled_time > self._last_settlement_ts):
                self._last_settlement_ts = s.settled_time
            if s.ticker not in self._settlements_journaled and await journal.get_settlement(s.ticker) is None:
                # its market's fills first, whatever their time: one no message or catch-up brought is
                # booked before the settlement is checked against the journal, and paid with it
                await self.book_missed_fills([s.ticker], risk, why="settlement")
            record, new = await journal.record_settlement(journal_settlement(s, ts=self.clock.now()))
            self._settlements_journaled[s.ticker] = None
            while len(self._settlements_journaled) > SETTLEMENTS_REMEMBERED:
                self._settlements_journaled.popitem(last=False)
            if not new:
                continue
            if record.check is records.JournalCheck.MISMATCH:
                log.error("settlement does not match the journal", market=s.ticker, detail=record.check_detail)
                self.p.publish("alert", {"level": "error", "kind": "settlement_mismatch", "ticker": s.ticker,
                                         "detail": record.check_detail})
            if s.market_result in ("yes", "no"):  # else risk leaves the position for the operator
                self.p.orders.settled(s.ticker)
            dated = s if s.settled_time else attrs.evolve(s, settled_time=record.settlement.settled_ts)
            await risk.send(SettlementBooked(dated))

    def unexplained(self, positions: ExchangePositions) -> list[str]:
        """The open windows (and other series' markets) where ``positions`` differ from the portfolio
        as risk holds it now: where the position audit looks for fills the catch-up missed."""
        return list(trading_differences(self.p.state.portfolio.positions, positions.positions, positions.left_alone,
                                        positions.read_at))

    async def book_missed_fills(self, tickers: list[str], risk: Risk, *, why: str = "position audit") -> None:
        """Every exchange fill of ``tickers``, whatever its time, that the journal lacks: booked now
        (the catch-up reads fills from a few seconds before the newest one it has seen; a fill older
        than that, which no message brought, is found here), with a warning each. ``why``: who looks
        (the position audit, for open windows; the settlement check, for a market about to be settled)."""
        exchange = self.p.require_exchange()
        journal = self.p.require_journal()
        for ticker in tickers:
            try:
                fills = await exchange.list_fills(ticker=ticker)
            except ExchangeError as exc:
                then = "the next audit tries again" if why == "position audit" else "checked without them"
                log.warning(f"{why}: fills not readable; {then}", market=ticker,
                            error=f"{type(exc).__name__}: {exc}")
                continue
            booked = {f.fill_id for f in await journal.all_fills(ticker=ticker)}
            for fill in oldest_first(fills):
                if fill.fill_id in booked:
                    continue
                log.warning(f"{why}: a fill no message or catch-up brought; booking it now",
                            fill_id=fill.fill_id, order_id=fill.order_id, market=fill.ticker,
                            ts=fill.ts.isoformat() if fill.ts else None)
                await self.book_fill(fill, risk, source="audit" if why == "position audit" else "settlement")

    async def exchange_positions(self) -> ExchangePositions | None:
        """The exchange's positions for the position audit, or None (logged) when they cannot be read:
        the next audit tries again."""
        exchange = self.p.require_exchange()
        started = trio.current_time()
        try:
            positions = await exchange.list_positions()
        except ExchangeError as exc:
            log.warning("position audit: the exchange's positions are not readable; the next audit tries again",
                        error=f"{type(exc).__name__}: {exc}")
            return None
        aside = frozenset(e.ticker for e in getattr(exchange, "fractional_elsewhere", ()))
        return ExchangePositions({p.ticker: p.position for p in positions if p.position != 0}, aside,
                                 self.clock.now(), started)

    async def catch_up(self, risk: Risk) -> None:
        await self.resolve_in_flight(risk)
        await self.poll_fills(risk)
        await self.poll_settlements(risk)

    async def resolve_in_flight(self, risk: Risk) -> None:
        """Look up every order of unknown outcome by its ``client_order_id`` (one still being sent is
        left alone); one not found for ``in_flight_give_up_s`` never arrived."""
        exchange = self.p.require_exchange()
        journal = self.p.require_journal()
        for live in self.p.orders.unknown():
            try:
                order = await exchange.resolve_in_flight(live.client_order_id, ticker=live.ticker)
            except ExchangeError as exc:
                log.warning("in-flight lookup failed; will retry", client_order_id=live.client_order_id,
                            error=f"{type(exc).__name__}: {exc}")
                continue
            if order is not None:
                log.info("in-flight order resolved", client_order_id=live.client_order_id,
                         order_id=order.order_id, status=order.status)
                await self.on_order(order, risk, source="resolve")
                continue
            since = self.p.orders.unknown_since(live.client_order_id)
            if since is not None and trio.current_time() - since >= self.in_flight_give_up_s:
                await journal.apply_order_update(records.OrderUpdate(
                    state=records.OrderState.REJECTED, ts=self.clock.now(), filled=0, remaining=0, fees_cc=0,
                    client_order_id=live.client_order_id, source="resolve", gives_up=True,
                    detail=f"not found by client_order_id for {self.in_flight_give_up_s:.0f}s"))
                log.warning("in-flight order never reached the exchange", client_order_id=live.client_order_id)
                self.forget(live)
                await risk.send(OrdersChanged())

    # --- cancelling -------------------------------------------------------------------------------
    async def cancel_market(self, ticker: str, reason: str, risk: Risk) -> None:
        await self.cancel_where(lambda o: o.ticker == ticker, reason, risk)

    async def cancel_where(self, pred: Callable[[LiveOrder], bool], reason: str, risk: Risk) -> None:
        exchange = self.p.require_exchange()
        for live in [o for o in self.p.orders if pred(o)]:
            if live.in_flight or live.order_id is None:
                await self.resolve_in_flight(risk)
                if live.in_flight or live.order_id is None:
                    continue
            try:
                result = await exchange.cancel_order(live.order_id, ticker=live.ticker)
            except CancelInFlight:
                await self.read_back(live.order_id, risk)
                continue
            except NotFound:
                if not await self.read_back(live.order_id, risk):
                    self.forget(live)
                continue
            except ExchangeError as exc:
                log.warning("cancel failed", order_id=live.order_id, error=f"{type(exc).__name__}: {exc}")
                continue
            log.info("order canceled", order_id=live.order_id, client_order_id=live.client_order_id,
                     reduced_by=result.reduced_by, reason=reason)
            if result.order is not None:
                await self.on_order(result.order, risk, source="cancel")
            else:
                await self.read_back(live.order_id, risk)

    async def kill_switch(self, reason: str, risk: Risk, *, taken: Callable[[], None] = lambda: None) -> None:
        """Cancel every resting order of the account at once (Kalshi's cancel-all), place nothing for
        ``KILL_SWITCH_QUIET_S``, then read back each of our orders' final state. If the exchange
        refuses the cancel-all, each of our orders is cancelled on its own instead. ``taken`` is called
        once orders are paused, before the cancel-all is sent (the operator's acknowledgement)."""
        self.p.orders.pause(trio.current_time() + KILL_SWITCH_QUIET_S)
        self.p.publish_execution()
        taken()
        try:
            await self.p.require_exchange().cancel_all_orders()
        except ExchangeError as exc:
            log.error("cancel-all failed: cancelling order by order", reason=reason,
                      error=f"{type(exc).__name__}: {exc}")
            self.p.publish("alert", {"level": "error", "kind": "cancel_all_failed", "detail": str(exc)})
            await self.cancel_where(lambda o: True, reason, risk)
            return
        log.warning("kill switch: every resting order canceled", reason=reason,
                    quiet_s=KILL_SWITCH_QUIET_S, open_orders=len(self.p.orders))
        self.p.publish("alert", {"level": "warning", "kind": "cancel_all", "detail": reason})
        await self.resolve_in_flight(risk)
        for live in self.p.orders:
            if live.order_id is not None:
                await self.read_back(live.order_id, risk)

    async def read_back(self, order_id: str, risk: Risk, *, source: str = "cancel") -> bool:
        """Apply the exchange's current state of ``order_id``; False if it could not be read."""
        try:
            order = await self.p.require_exchange().get_order(order_id)
        except ExchangeError as exc:
            log.warning("order lookup failed", order_id=order_id, error=f"{type(exc).__name__}: {exc}")
            return False
        if order is None:
            return False
        await self.on_order(order, risk, source=source)
        return True


def owner_of(live: LiveOrder) -> Owner:
    return Owner(live.client_order_id, live.strategy, live.side, live.action)
