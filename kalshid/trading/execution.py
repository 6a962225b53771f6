"""The execution stage: approved orders become exchange orders, exactly once, and every outcome is kept.

Contract (NautilusTrader-style):

* one ``client_order_id`` (UUID4) per intent (risk assigns it on approval); the intent is journaled —
  durably — *before* the request is sent; an order request is never retried;
* approved orders are placed concurrently (at most ``max_parallel_orders`` at a time), so an order
  approved on the same tick as another does not wait for the other's round trip. The order loop
  itself journals a decided order and sends it (``Exchange.submit``: the bytes leave before the
  first checkpoint) and a task of its own awaits the answer; when it cannot do that without waiting
  (no free slot, stopping), the whole placement runs in a task. The journal serializes their
  writes, the shutdown drain waits for every placement to end;
* a timeout, 5xx or transport error leaves the order *in flight*: it counts against risk as if resting
  and is resolved by looking it up by ``client_order_id`` (:meth:`_resolve_in_flight`), never resent;
* fills come from the feed and from periodic catch-up via REST; the journal keys them by ``fill_id``, so
  a fill seen twice is booked once, and only new fills go to risk;
* fills are joined with their orders by ``order_id`` (:mod:`kalshid.trading.fillowner`): the exchange
  reports only the YES-book side, the order says whether it bought or sold which side; then booked as
  the exchange netted them (:mod:`kalshid.trading.netting`: a NO buy while YES is held sells YES);
* resting orders are cancelled when their window closes and on shutdown when
  ``trading.cancel_on_shutdown`` is set; a breaker trip, ``stop`` and the operator's ``cancel-all``
  pull the kill switch (Kalshi's cancel-all, every resting order of the account at once), after which
  no order is placed for ``KILL_SWITCH_QUIET_S`` (the exchange may cancel orders placed in that minute);
* settlements come from the exchange and are checked against the journal.
"""

from __future__ import annotations

import math
from collections import OrderedDict
from datetime import datetime, timedelta

import attrs
import trio

from kalshid.core.vocab import Action as CoreAction
from kalshid.core.vocab import Side as CoreSide
from kalshid.exchange.base import (
    FillReceived,
    MarketLifecycle,
    OrderReply,
    OrderUpdated,
    PositionUpdated,
    Reconnected,
)
from kalshid.exchange.errors import (
    BadRequest,
    CancelInFlight,
    Conflict,
    ExchangeError,
    NotFound,
    OrderInFlight,
    RateLimited,
    ServerError,
    TransportError,
)
from kalshid.exchange.types import Fill, Order, OrderRequest
from kalshid.logs import BoundLogger, get_logger
from kalshid.metrics import Metrics
from kalshid.store import records
from kalshid.trading.convert import journal_fill, journal_settlement, order_update
from kalshid.trading.exchangeclock import ExchangeClock
from kalshid.trading.fillowner import FillOwners, Owner
from kalshid.trading.messages import (
    ApprovedOrder,
    CancelAll,
    CatchUp,
    ExecutionInput,
    FillBooked,
    LiveOrder,
    OrdersChanged,
    Pipeline,
    RiskInput,
    SettlementBooked,
    ShutdownRequested,
    WindowClosing,
)
from kalshid.trading.netting import AccountHoldings

log = get_logger("kalshid.execution")

# Fills, order updates and cancels waiting for the bookkeeping task. Full, it holds the order loop back
# (backpressure, never loss); a burst after a reconnect is the largest expected (hundreds).
BOOKKEEPING_BUFFER = 4096


@attrs.frozen
class ExecutionSettings:
    order_timeout_s: float = 5.0          # an order request without an answer by then is in flight
    catch_up_every_s: float = 5.0         # REST poll of fills/settlements, in-flight resolution
    in_flight_give_up_s: float = 60.0     # not found by client_order_id for this long: never created
    cancel_on_shutdown: bool = True
    drain_timeout_s: float = 5.0
    max_parallel_orders: int = 8          # order requests outstanding at once (the rest queue, in order)
    fill_check_delay_s: float = 1.0       # after an ack with fills, REST catch-up if the feed has not caught up


# fill ids already journaled, remembered so that a REST catch-up (which returns the last seconds' fills
# again) does not write each one again; the journal's fill_id key stays the authority
SEEN_FILLS_REMEMBERED = 4096
# after a cancel-all, Kalshi may cancel orders placed within the next minute: place none then
KILL_SWITCH_QUIET_S = 60.0


@attrs.define
class _Placement:
    """One approved order between its send and its answer."""

    item: ApprovedOrder
    live: LiveOrder
    request: OrderRequest
    bound: BoundLogger
    deadline: float = math.inf             # Trio time: no answer by then means in flight
    reply: OrderReply | None = None         # set once sent (or handed to the exchange to send)
    error: Exception | None = None          # the send's outcome is unknown (raised by _conclude)


class ExecutionStage:
    def __init__(self, pipeline: Pipeline, clock: ExchangeClock, settings: ExecutionSettings,
                 metrics: Metrics | None = None) -> None:
        self.p = pipeline
        self.clock = clock
        self.settings = settings
        self.metrics = metrics
        self._in_flight_since: dict[str, float] = {}
        self._last_fill_ts: datetime | None = None
        self._last_settlement_ts: datetime | None = None
        self._stopping = False
        self._catch_up_now = trio.Event()
        self._catch_up_due = math.inf  # Trio time of the next catch-up (periodic, or asked for sooner)
        self._seen_fills: OrderedDict[str, None] = OrderedDict()
        self._owners: FillOwners | None = None  # built on first use (the journal and exchange are set then)
        self._holdings: AccountHoldings | None = None
        # order_id -> (strategy, ticker, contracts filled but not yet booked): a finished order whose
        # answer came before its fills keeps its strategy busy in that market until they are booked, so
        # the strategy never sizes its target again against holdings that do not yet count them
        self._unbooked: dict[str, tuple[str, str, int]] = {}
        self._order_slots = trio.CapacityLimiter(settings.max_parallel_orders)
        self._placing = 0
        self._placed = trio.Event()  # set whenever a placement ends (re-armed by the waiter)

    # --- the loop ---------------------------------------------------------------------------------
    async def run(self, inbox: trio.MemoryReceiveChannel[ExecutionInput],
                  risk: trio.MemorySendChannel[RiskInput]) -> None:
        """The order loop. Each approved order is placed in a task of its own as soon as it arrives;
        everything else (fills, order updates, cancels, shutdown) is handed, in arrival order, to one
        bookkeeping task; REST catch-up (fills, settlements, in-flight lookups) has its own task too. So
        an order never waits behind a journal write for a fill, a poll, or another order's round trip.

        The placements are never cancelled by this loop: each ends by itself (answer, error, or
        ``order_timeout_s`` → in flight). Only a failure elsewhere in the daemon cancels one
        mid-request, which leaves the order in flight in the journal for the next start to resolve."""
        async with trio.open_nursery() as nursery:
            nursery.start_soon(self._catch_up_loop, risk)
            books_send, books_recv = trio.open_memory_channel[ExecutionInput](BOOKKEEPING_BUFFER)
            async with inbox, risk, trio.open_nursery() as work:
                work.start_soon(self._bookkeeping, books_recv, risk)
                async with books_send:
                    async for item in inbox:
                        self.p.state.last_progress = trio.current_time()
                        if isinstance(item, ApprovedOrder):
                            self._placing += 1
                            placement = await self._send_here(item)
                            if placement is None:
                                work.start_soon(self._place_task, item, risk)
                            else:
                                work.start_soon(self._answer_task, placement, risk)
                        else:
                            await books_send.send(item)
                            if isinstance(item, ShutdownRequested):
                                break
                # approvals that arrived after the shutdown request: never journaled, never sent
                while True:
                    try:
                        left = inbox.receive_nowait()
                    except (trio.WouldBlock, trio.EndOfChannel):
                        break
                    if isinstance(left, ApprovedOrder):
                        self._drop(left, "trading is stopping")
            nursery.cancel_scope.cancel()

    async def _bookkeeping(self, items: trio.MemoryReceiveChannel[ExecutionInput],
                           risk: trio.MemorySendChannel[RiskInput]) -> None:
        async with items:
            async for item in items:
                self.p.state.last_progress = trio.current_time()
                if isinstance(item, FillReceived):
                    await self._book_fill(item.fill, risk, source="feed")
                elif isinstance(item, OrderUpdated):
                    await self._on_order(item.order, risk, source="feed")
                elif isinstance(item, CatchUp):
                    self.request_catch_up()
                elif isinstance(item, WindowClosing):
                    await self._cancel_where(lambda o, t=item.ticker: o.ticker == t, item.reason, risk)
                elif isinstance(item, CancelAll):
                    await self._kill_switch(item.reason, risk)
                elif isinstance(item, Reconnected):
                    log.info("feed reconnected: catching up on fills and orders by REST")
                    self.request_catch_up()
                elif isinstance(item, MarketLifecycle):
                    if item.event_type in ("settled", "determined"):
                        self._release_unbooked(item.ticker)
                        self.request_catch_up()
                elif isinstance(item, PositionUpdated):
                    pass  # positions are derived from fills; the exchange's view is checked at reconcile
                elif isinstance(item, ShutdownRequested):
                    self._stopping = True  # approved orders not yet journaled are dropped
                    await self._wait_placements()
                    await self._shutdown(risk)
                    return

    def _drop(self, item: ApprovedOrder, why: str) -> None:
        live = self.p.state.open_orders.get(item.client_order_id)
        if live is not None:
            self._forget(live)
        else:
            self.p.state.busy.discard((item.strategy, item.ticker))
        log.info("approved order dropped", reason=why, market=item.ticker, strategy=item.strategy)

    async def _send_here(self, item: ApprovedOrder) -> _Placement | None:
        """The hot path, in the order loop itself: journal the decision and send the order now, if that
        needs no wait (a free order slot, a decision the intent log takes without a lock, not
        stopping). The answer is then awaited in a task of its own (:meth:`_answer_task`). ``None``:
        nothing done, the order goes the task way (:meth:`_place_task`). Sending here saves the
        scheduler pass a new task would wait for, during which any other runnable task runs first."""
        if (self._stopping or not self.p.state.trading_enabled or item.signal_record is None
                or item.verdict_record is None or self._quiet()):
            return None
        try:  # the slot's borrower is the order (its answer task releases it), not this task
            self._order_slots.acquire_on_behalf_of_nowait(item.client_order_id)
        except trio.WouldBlock:
            return None
        try:
            with self.p.hold_events():
                placement = await self._begin(item)
                await self._transmit(placement)
        except BaseException:
            self._order_slots.release_on_behalf_of(item.client_order_id)
            raise
        return placement

    async def _answer_task(self, placement: _Placement, risk: trio.MemorySendChannel[RiskInput]) -> None:
        """The rest of a placement :meth:`_send_here` sent: its answer (it holds an order slot)."""
        try:
            with self.p.hold_events():
                await self._conclude(placement, risk)
        finally:
            self._order_slots.release_on_behalf_of(placement.item.client_order_id)
            self._placement_ended()

    async def _place_task(self, item: ApprovedOrder, risk: trio.MemorySendChannel[RiskInput]) -> None:
        try:
            try:
                self._order_slots.acquire_nowait()  # the usual case: a free slot, no scheduler pass
            except trio.WouldBlock:
                await self._order_slots.acquire()
            try:
                with self.p.hold_events():  # no dashboard sends competing with the journal write and request
                    await self._place(item, risk)
            finally:
                self._order_slots.release()
        finally:
            self._placement_ended()

    def _placement_ended(self) -> None:
        self._placing -= 1
        self._placed.set()

    async def _wait_placements(self) -> None:
        """Until no placement is running (each is bounded by ``order_timeout_s``)."""
        while self._placing:
            self._placed = trio.Event()
            await self._placed.wait()

    def request_catch_up(self, *, within: float = 0.0) -> None:
        """Ask the catch-up task to run now (a reconnect, a settlement), or within ``within`` seconds
        (fills seen in an ack: the feed usually books them first, and requests close together share
        one catch-up)."""
        due = trio.current_time() + within
        if due < self._catch_up_due:
            self._catch_up_due = due
            self._catch_up_now.set()

    async def _catch_up_loop(self, risk: trio.MemorySendChannel[RiskInput]) -> None:
        self._catch_up_due = min(self._catch_up_due, trio.current_time() + self.settings.catch_up_every_s)
        while True:
            while trio.current_time() < self._catch_up_due:
                with trio.move_on_at(self._catch_up_due):
                    await self._catch_up_now.wait()
                self._catch_up_now = trio.Event()
            self._catch_up_due = trio.current_time() + self.settings.catch_up_every_s
            if self._stopping:
                return
            await self.catch_up(risk)

    # --- placing ----------------------------------------------------------------------------------
    async def _place(self, item: ApprovedOrder, risk: trio.MemorySendChannel[RiskInput]) -> None:
        """Journal, send and conclude one approved order (in a task of its own)."""
        if self._stopping or not self.p.state.trading_enabled or self._quiet():
            # risk registered it; never journaled nor sent yet, so dropping it here loses nothing
            self._drop(item, "trading is stopping or stopped, or in the minute after a cancel-all")
            await risk.send(OrdersChanged())
            return
        placement = await self._begin(item)
        await self._transmit(placement)
        await self._conclude(placement, risk)

    async def _begin(self, item: ApprovedOrder) -> _Placement:
        """Register the order as live and in flight and journal its intent (durable before the send,
        see :meth:`~kalshid.store.db.Journal.record_decision`)."""
        state = self.p.state
        journal = self.p.require_journal()
        cid = item.client_order_id
        live = state.open_orders.get(cid) or LiveOrder(cid, item.strategy, item.ticker, item.side, item.action,
                                                       item.price_cc, item.count, in_flight=True)
        now = self.clock.now()
        tif = item.time_in_force
        intent = records.OrderIntent(
            client_order_id=cid, ts=now, strategy=item.strategy, ticker=item.ticker, side=item.side.value,
            action=item.action.value, price_cc=item.price_cc, count=item.count,
            tif=tif or "good_till_canceled", signal_id=item.signal_id)
        state.open_orders[cid] = live
        if item.signal_record is not None and item.verdict_record is not None:
            # signal, verdict and intent: one durable write before the order leaves (the hot path)
            await journal.record_decision(item.signal_record, item.verdict_record, intent)
        else:
            await journal.record_intent(intent)
            await journal.mark_in_flight(cid, now)
        request = OrderRequest(ticker=item.ticker, side=item.side.value, action=item.action.value,
                               count=item.count, price_cc=item.price_cc, client_order_id=cid,
                               time_in_force=tif)
        bound = log.bind(client_order_id=cid, market=item.ticker, strategy=item.strategy)
        return _Placement(item, live, request, bound)

    async def _transmit(self, placement: _Placement) -> None:
        """Send the request (``Exchange.submit``: its bytes leave before the first checkpoint when
        nothing needs waiting for). An unknown outcome is kept for :meth:`_conclude`, never retried."""
        item = placement.item
        placement.bound.info("order sending", side=item.side.value, action=item.action.value,
                             count=item.count, price_cc=item.price_cc, tif=item.time_in_force)
        sent_at = trio.current_time()
        self.p.last_order_local_time = sent_at
        placement.deadline = sent_at + self.settings.order_timeout_s
        try:
            with trio.fail_at(placement.deadline):
                placement.reply = await self.p.require_exchange().submit(placement.request)
        except (trio.TooSlowError, ExchangeError) as exc:  # OrderInFlight, when the write failed
            placement.error = exc

    async def _conclude(self, placement: _Placement, risk: trio.MemorySendChannel[RiskInput]) -> None:
        """The order's answer: acknowledged (its state booked), rejected, or in flight until resolved by
        ``client_order_id``."""
        journal = self.p.require_journal()
        state = self.p.state
        item, live, bound = placement.item, placement.live, placement.bound
        cid = item.client_order_id
        try:
            if placement.error is not None:
                raise placement.error
            assert placement.reply is not None
            with trio.fail_at(placement.deadline):
                order = await placement.reply.order()
        except (OrderInFlight, trio.TooSlowError, ServerError, TransportError, RateLimited) as exc:
            # RateLimited on a create is a definite "not accepted" on Kalshi, but treating it as unknown
            # costs only a lookup and can never duplicate an order.
            self._in_flight_since[cid] = trio.current_time()
            bound.warning("order outcome unknown: in flight until resolved by client_order_id",
                          error=f"{type(exc).__name__}: {exc}")
            self.p.publish("alert", {"level": "warning", "kind": "order_in_flight", "client_order_id": cid,
                                     "ticker": item.ticker, "detail": str(exc)})
            await risk.send(OrdersChanged())
            return
        except (BadRequest, Conflict, NotFound, ExchangeError) as exc:
            await journal.apply_order_update(records.OrderUpdate(
                state=records.OrderState.REJECTED, ts=self.clock.now(), filled=0, remaining=0, fees_cc=0,
                client_order_id=cid, source="exchange", detail=f"{type(exc).__name__}: {exc}"))
            self._forget(live)
            bound.warning("order rejected by the exchange", error=f"{type(exc).__name__}: {exc}")
            if self.metrics is not None:
                self.metrics.rejection(source="exchange", reason=type(exc).__name__)
            self.p.publish("alert", {"level": "warning", "kind": "order_rejected", "client_order_id": cid,
                                     "ticker": item.ticker, "detail": str(exc)})
            await risk.send(OrdersChanged())
            return
        latency = trio.current_time() - item.data_local_time
        if self.metrics is not None:
            self.metrics.order_sent(latency_s=latency)
        bound.info("order acknowledged", order_id=order.order_id, status=order.status,
                   filled=order.fill_count, remaining=order.remaining_count,
                   tick_to_order_ms=round(latency * 1000, 3))
        state.bump("orders")
        await self._on_order(order, risk, source="create")

    # --- order state --------------------------------------------------------------------------------
    async def _on_order(self, order: Order, risk: trio.MemorySendChannel[RiskInput], *, source: str) -> None:
        journal = self.p.require_journal()
        outcome = await journal.apply_order_update(order_update(order, ts=self.clock.now(), source=source))
        live = self.p.exchange_order_matches(order)
        if live is None:
            if outcome is records.UpdateOutcome.UNKNOWN and order.is_open:
                await self._adopt(order)
            return
        if outcome in (records.UpdateOutcome.STALE, records.UpdateOutcome.ILLEGAL):
            # an older view arriving late (e.g. the create's answer after the feed's fill): the journal
            # kept the newer one, and so does the live order
            return
        live.order_id = order.order_id
        live.in_flight = False
        live.remaining = order.remaining_count
        self._in_flight_since.pop(live.client_order_id, None)
        if outcome is not records.UpdateOutcome.DUPLICATE:  # the same view again (ack, then the feed)
            self.p.publish("order_update", {
                "client_order_id": live.client_order_id, "order_id": order.order_id, "ticker": order.ticker,
                "status": order.status, "filled": order.fill_count, "remaining": order.remaining_count,
                "strategy": live.strategy})
            if self.metrics is not None:
                self.metrics.order_status(order.status)
        if not order.is_open:
            self._forget(live, keep_busy=await self._awaits_fills(live, order))
        await risk.send(OrdersChanged())
        if order.fill_count > 0 and source != "feed":
            # make sure the fills behind these counts are booked even if the feed's fill messages lag
            self.request_catch_up(within=self.settings.fill_check_delay_s)

    def _quiet(self) -> bool:
        """In the minute after a cancel-all: nothing may be placed."""
        return trio.current_time() < self.p.state.orders_paused_until

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

    def _forget(self, live: LiveOrder, *, keep_busy: bool = False) -> None:
        # its fills may still come in from the feed (an IOC order's ack often comes before them)
        self.owners.remember(live.order_id, _owner(live))
        self.p.state.open_orders.pop(live.client_order_id, None)
        self._in_flight_since.pop(live.client_order_id, None)
        if not keep_busy:
            self.p.state.busy.discard((live.strategy, live.ticker))

    async def _awaits_fills(self, live: LiveOrder, order: Order) -> bool:
        """Whether the finished ``order`` has fills the journal has not booked yet (they are then
        awaited, see ``_unbooked``)."""
        if order.fill_count <= 0:
            return False
        booked = await self.p.require_journal().list_fills(order_id=order.order_id, limit=1000)
        missing = order.fill_count - sum(f.count for f in booked.items)  # netted parts add up to the fill
        if missing <= 0:
            return False
        self._unbooked[order.order_id] = (live.strategy, live.ticker, missing)
        return True

    def _fills_booked(self, order_id: str, count: int) -> None:
        """``count`` contracts of ``order_id`` were booked: its strategy is free once all of them are."""
        entry = self._unbooked.get(order_id)
        if entry is None:
            return
        strategy, ticker, missing = entry
        if missing > count:
            self._unbooked[order_id] = (strategy, ticker, missing - count)
            return
        del self._unbooked[order_id]
        self._free(strategy, ticker)

    def _release_unbooked(self, ticker: str) -> None:
        """A settled market: fills still awaited there no longer hold its strategies."""
        for order_id, (strategy, t, _) in list(self._unbooked.items()):
            if t == ticker:
                del self._unbooked[order_id]
                self._free(strategy, ticker)

    def _free(self, strategy: str, ticker: str) -> None:
        waiting = any((s, t) == (strategy, ticker) for s, t, _ in self._unbooked.values())
        working = any((o.strategy, o.ticker) == (strategy, ticker) for o in self.p.state.open_orders.values())
        if not waiting and not working:
            self.p.state.busy.discard((strategy, ticker))

    async def _adopt(self, order: Order) -> None:
        from kalshid.trading.convert import external_order

        journal = self.p.require_journal()
        cid, new = await journal.adopt_external_order(external_order(order, ts=self.clock.now()))
        self.p.state.open_orders[cid] = LiveOrder(cid, "external", order.ticker, CoreSide(order.side),
                                                  CoreAction(order.action or "buy"), order.price_cc,
                                                  order.remaining_count, order.order_id)
        if new:
            log.warning("external order adopted: not placed by this daemon", order_id=order.order_id,
                        market=order.ticker)
            self.p.publish("alert", {"level": "warning", "kind": "external_order", "order_id": order.order_id,
                                     "ticker": order.ticker})

    # --- fills and settlements -------------------------------------------------------------------
    async def _book_fill(self, fill: Fill, risk: trio.MemorySendChannel[RiskInput], *, source: str) -> None:
        if fill.fill_id in self._seen_fills:
            return  # journaled already (a catch-up returns the last seconds' fills again)
        journal = self.p.require_journal()
        live = self.p.live_order_for(order_id=fill.order_id, client_order_id=fill.client_order_id)
        owner = _owner(live) if live is not None else None
        if owner is not None:
            fill = attrs.evolve(fill.with_intent(owner.side, owner.action),
                                client_order_id=fill.client_order_id or owner.client_order_id)
        else:
            fill, owner = await self.owners.resolve(fill)
        strategy = owner.strategy if owner is not None else None
        if fill.ts is not None and (self._last_fill_ts is None or fill.ts > self._last_fill_ts):
            self._last_fill_ts = fill.ts
        self._seen_fills[fill.fill_id] = None
        if len(self._seen_fills) > SEEN_FILLS_REMEMBERED:
            self._seen_fills.popitem(last=False)
        # netted as the exchange applied it (closing the opposite holding first), unless it does not net
        parts = await self.holdings.split(fill) if self._nets else [fill]
        for part in parts:
            if not await journal.record_fill(journal_fill(part, ts=self.clock.now(), strategy=strategy)):
                return  # the first part decides: booked before (a fill seen twice)
            self.holdings.booked(part)
            await self._fill_booked(part, strategy, source, risk)
        if parts:
            self._fills_booked(fill.order_id, fill.count)

    async def _fill_booked(self, fill: Fill, strategy: str | None, source: str,
                           risk: trio.MemorySendChannel[RiskInput]) -> None:
        log.info("fill", fill_id=fill.fill_id, order_id=fill.order_id, client_order_id=fill.client_order_id,
                 market=fill.ticker, side=fill.side, action=fill.action, count=fill.count,
                 price_cc=fill.price_cc, fee_cc=fill.fee_cc, taker=fill.is_taker, strategy=strategy,
                 source=source)
        self.p.state.bump("fills")
        if strategy is not None:
            key = (strategy, fill.ticker, fill.side)
            held = self.p.state.holdings.get(key, 0) + (fill.count if fill.action == "buy" else -fill.count)
            self.p.state.holdings[key] = max(0, held)
        if self.metrics is not None:
            self.metrics.fill(strategy=strategy or "external", count=fill.count)
        self.p.publish("trade_execution", {
            "fill_id": fill.fill_id, "order_id": fill.order_id, "client_order_id": fill.client_order_id,
            "ticker": fill.ticker, "side": fill.side, "action": fill.action, "count": fill.count,
            "price_cc": fill.price_cc, "fee_cc": fill.fee_cc, "is_taker": fill.is_taker,
            "strategy": strategy, "ts": fill.ts.isoformat() if fill.ts else None})
        await risk.send(FillBooked(fill, strategy))

    async def _poll_fills(self, risk: trio.MemorySendChannel[RiskInput], *, ticker: str | None = None) -> None:
        exchange = self.p.require_exchange()
        since = self._last_fill_ts - timedelta(seconds=5) if self._last_fill_ts else None
        try:
            fills = await exchange.list_fills(ticker=ticker, since=since)
        except ExchangeError as exc:
            log.warning("fill catch-up failed; will retry", error=f"{type(exc).__name__}: {exc}")
            return
        for fill in sorted(fills, key=lambda f: (f.ts is None, f.ts)):
            await self._book_fill(fill, risk, source="rest")

    async def _poll_settlements(self, risk: trio.MemorySendChannel[RiskInput]) -> None:
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
            record, new = await journal.record_settlement(journal_settlement(s, ts=self.clock.now()))
            if not new:
                continue
            if record.check is records.JournalCheck.MISMATCH:
                log.error("settlement does not match the journal", market=s.ticker, detail=record.check_detail)
                self.p.publish("alert", {"level": "error", "kind": "settlement_mismatch", "ticker": s.ticker,
                                         "detail": record.check_detail})
            await risk.send(SettlementBooked(s))

    async def catch_up(self, risk: trio.MemorySendChannel[RiskInput]) -> None:
        await self._resolve_in_flight(risk)
        await self._poll_fills(risk)
        await self._poll_settlements(risk)

    async def _resolve_in_flight(self, risk: trio.MemorySendChannel[RiskInput]) -> None:
        exchange = self.p.require_exchange()
        journal = self.p.require_journal()
        # only orders whose request has ended without an answer; one still being sent is left alone
        for live in [o for o in self.p.state.open_orders.values()
                     if o.in_flight and o.client_order_id in self._in_flight_since]:
            try:
                order = await exchange.resolve_in_flight(live.client_order_id, ticker=live.ticker)
            except ExchangeError as exc:
                log.warning("in-flight lookup failed; will retry", client_order_id=live.client_order_id,
                            error=f"{type(exc).__name__}: {exc}")
                continue
            if order is not None:
                log.info("in-flight order resolved", client_order_id=live.client_order_id,
                         order_id=order.order_id, status=order.status)
                await self._on_order(order, risk, source="resolve")
                continue
            since = self._in_flight_since[live.client_order_id]
            if trio.current_time() - since >= self.settings.in_flight_give_up_s:
                await journal.apply_order_update(records.OrderUpdate(
                    state=records.OrderState.REJECTED, ts=self.clock.now(), filled=0, remaining=0, fees_cc=0,
                    client_order_id=live.client_order_id, source="resolve",
                    detail=f"not found by client_order_id for {self.settings.in_flight_give_up_s:.0f}s"))
                log.warning("in-flight order never reached the exchange", client_order_id=live.client_order_id)
                self._forget(live)
                await risk.send(OrdersChanged())

    # --- cancelling -------------------------------------------------------------------------------
    async def _cancel_where(self, pred: object, reason: str, risk: trio.MemorySendChannel[RiskInput]) -> None:
        exchange = self.p.require_exchange()
        targets = [o for o in self.p.state.open_orders.values() if pred(o)]  # type: ignore[operator]
        for live in targets:
            if live.in_flight or live.order_id is None:
                await self._resolve_in_flight(risk)
                if live.in_flight or live.order_id is None:
                    continue
            try:
                result = await exchange.cancel_order(live.order_id, ticker=live.ticker)
            except CancelInFlight:
                order = await self._get_order(live.order_id)
                if order is not None:
                    await self._on_order(order, risk, source="cancel")
                continue
            except NotFound:
                order = await self._get_order(live.order_id)
                if order is not None:
                    await self._on_order(order, risk, source="cancel")
                else:
                    self._forget(live)
                continue
            except ExchangeError as exc:
                log.warning("cancel failed", order_id=live.order_id, error=f"{type(exc).__name__}: {exc}")
                continue
            log.info("order canceled", order_id=live.order_id, client_order_id=live.client_order_id,
                     reduced_by=result.reduced_by, reason=reason)
            order = result.order or await self._get_order(live.order_id)
            if order is not None:
                await self._on_order(order, risk, source="cancel")

    async def _kill_switch(self, reason: str, risk: trio.MemorySendChannel[RiskInput]) -> None:
        """Cancel every resting order of the account at once (Kalshi's cancel-all), place nothing for
        ``KILL_SWITCH_QUIET_S``, then read back each of our orders' final state. If the exchange
        refuses the cancel-all, each of our orders is cancelled on its own instead."""
        self.p.state.orders_paused_until = trio.current_time() + KILL_SWITCH_QUIET_S
        try:
            await self.p.require_exchange().cancel_all_orders()
        except ExchangeError as exc:
            log.error("cancel-all failed: cancelling order by order", reason=reason,
                      error=f"{type(exc).__name__}: {exc}")
            self.p.publish("alert", {"level": "error", "kind": "cancel_all_failed", "detail": str(exc)})
            await self._cancel_where(lambda o: True, reason, risk)
            return
        log.warning("kill switch: every resting order canceled", reason=reason,
                    quiet_s=KILL_SWITCH_QUIET_S, open_orders=len(self.p.state.open_orders))
        self.p.publish("alert", {"level": "warning", "kind": "cancel_all", "detail": reason})
        await self._resolve_in_flight(risk)
        for live in list(self.p.state.open_orders.values()):
            if live.order_id is not None:
                order = await self._get_order(live.order_id)
                if order is not None:
                    await self._on_order(order, risk, source="cancel")

    async def _get_order(self, order_id: str) -> Order | None:
        try:
            return await self.p.require_exchange().get_order(order_id)
        except ExchangeError as exc:
            log.warning("order lookup failed", order_id=order_id, error=f"{type(exc).__name__}: {exc}")
            return None

    async def _shutdown(self, risk: trio.MemorySendChannel[RiskInput]) -> None:
        self._stopping = True
        with trio.move_on_after(self.settings.drain_timeout_s):
            if self.settings.cancel_on_shutdown:
                await self._cancel_where(lambda o: True, "shutdown", risk)
            await self.catch_up(risk)
        left = list(self.p.state.open_orders)
        log.info("execution drained", open_orders=len(left),
                 in_flight=sum(1 for o in self.p.state.open_orders.values() if o.in_flight))


def _owner(live: LiveOrder) -> Owner:
    return Owner(live.client_order_id, live.strategy, live.side, live.action)
