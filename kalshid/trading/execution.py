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
* a stop has a budget, ``drain_timeout_s`` (a share of ``trading.shutdown_grace_seconds``): answers
  still awaited and exchange calls under way when it arrives get the first half (an unanswered order
  stays in flight), cancelling resting orders and the last catch-up the rest. What is still unknown
  then stays in flight in the journal, for the next start to resolve by ``client_order_id``;
* a timeout, 5xx or transport error leaves the order *in flight* (``UNKNOWN``): it counts against risk
  as if resting and is resolved by looking it up by ``client_order_id``, never resent;
* one order's journal write, send and answer are the placer's (:mod:`kalshid.trading.placement`); this
  stage decides where they run and holds the order slots;
* order states, fills, settlements and cancels are the bookkeeper's (:mod:`kalshid.trading.bookkeeping`),
  over the pure order book (:class:`~kalshid.core.orders.LiveOrders`, owned by this stage);
* resting orders are cancelled when their window closes and on shutdown when
  ``trading.cancel_on_shutdown`` is set; a breaker trip, ``stop`` and the operator's ``cancel-all``
  pull the kill switch (Kalshi's cancel-all, every resting order of the account at once), after which
  no order is placed for ``KILL_SWITCH_QUIET_S`` (the exchange may cancel orders placed in that minute);
* the operator's start/stop (:class:`~kalshid.trading.messages.SetTrading`) arrives in the inbox and is
  applied here; the stage's snapshot is published after every change, never before an order's send.
"""

from __future__ import annotations

import math

import attrs
import trio

from kalshid.exchange.base import (
    FillReceived,
    MarketLifecycle,
    OrderUpdated,
    PositionUpdated,
    Reconnected,
)
from kalshid.logs import get_logger
from kalshid.metrics import Metrics
from kalshid.trading.bookkeeping import Bookkeeper
from kalshid.trading.exchangeclock import ExchangeClock
from kalshid.trading.messages import (
    ApprovedOrder,
    CancelAll,
    CatchUp,
    Command,
    ExecutionInput,
    OrdersChanged,
    Pipeline,
    RiskInput,
    SetTrading,
    ShutdownRequested,
    WindowClosing,
)
from kalshid.trading.placement import Placement, Placer
from kalshid.trading.stopbudget import StopBudget

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
    drain_timeout_s: float = 5.0          # a stop's budget (see the module's contract)
    max_parallel_orders: int = 8          # order requests outstanding at once (the rest queue, in order)
    fill_check_delay_s: float = 1.0       # after an ack with fills, REST catch-up if the feed has not caught up
    position_audit_every_s: float = 60.0  # the exchange's positions sent to risk with a catch-up (0: never)


class ExecutionStage:
    def __init__(self, pipeline: Pipeline, clock: ExchangeClock, settings: ExecutionSettings,
                 metrics: Metrics | None = None) -> None:
        self.p = pipeline
        self.clock = clock
        self.settings = settings
        self.metrics = metrics
        self.keeper = Bookkeeper(pipeline, clock, in_flight_give_up_s=settings.in_flight_give_up_s,
                                 metrics=metrics)
        self._stopping = False
        self._catch_up_now = trio.Event()
        self._catch_up_due = math.inf  # Trio time of the next catch-up (periodic, or asked for sooner)
        self._order_slots = trio.CapacityLimiter(settings.max_parallel_orders)
        self._placing = 0
        self._placed = trio.Event()  # set whenever a placement ends (re-armed by the waiter)
        self._budget = StopBudget(settings.drain_timeout_s)  # exchange waits a stop cuts short
        self.placer = Placer(pipeline, clock, self.keeper, self._budget, order_timeout_s=settings.order_timeout_s,
                             metrics=metrics)

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
                            if not self.p.trading_enabled:  # stopped as it arrived: a later start does not revive it
                                self._drop(item, "trading is stopped")
                                await risk.send(OrdersChanged())
                                continue
                            self._placing += 1
                            placement = await self._send_here(item)
                            if placement is None:
                                work.start_soon(self._place_task, item, risk)
                            else:
                                work.start_soon(self._answer_task, placement, risk)
                        elif isinstance(item, SetTrading):  # at once, not behind the bookkeeping
                            self._set_trading(item)
                            if item.cancel_all:
                                await books_send.send(CancelAll(item.reason))
                        else:
                            if isinstance(item, ShutdownRequested):
                                self._begin_stop()
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
                    elif isinstance(left, Command):
                        left.answer("trading is stopping")
            nursery.cancel_scope.cancel()

    async def _bookkeeping(self, items: trio.MemoryReceiveChannel[ExecutionInput],
                           risk: trio.MemorySendChannel[RiskInput]) -> None:
        async with items:
            async for item in items:
                self.p.state.last_progress = trio.current_time()
                if isinstance(item, FillReceived):
                    await self.keeper.book_fill(item.fill, risk, source="feed")
                elif isinstance(item, OrderUpdated):
                    await self.keeper.on_order(item.order, risk, source="feed")
                elif isinstance(item, CatchUp):
                    self.request_catch_up()
                elif isinstance(item, WindowClosing):
                    with self._budget.cut_by_stop("window close cancels"):
                        await self.keeper.cancel_market(item.ticker, item.reason, risk)
                elif isinstance(item, CancelAll):
                    with self._budget.cut_by_stop("kill switch"):
                        await self.keeper.kill_switch(item.reason, risk, taken=item.answer)
                elif isinstance(item, Reconnected):
                    log.info("feed reconnected: catching up on fills and orders by REST")
                    self.request_catch_up()
                elif isinstance(item, MarketLifecycle):
                    if item.event_type in ("settled", "determined"):
                        self.p.orders.release_unbooked(item.ticker)
                        self.request_catch_up()
                elif isinstance(item, PositionUpdated):
                    pass  # positions are derived from fills; the exchange's view is checked at reconcile
                elif isinstance(item, ShutdownRequested):
                    await self._wait_placements()
                    await self._shutdown(risk)
                    return

    def _drop(self, item: ApprovedOrder, why: str) -> None:
        live = self.p.orders.get(item.client_order_id)
        if live is not None:
            self.keeper.forget(live)
        else:
            self.p.orders.release(item.strategy, item.ticker)
        log.info("approved order dropped", reason=why, market=item.ticker, strategy=item.strategy)

    async def _send_here(self, item: ApprovedOrder) -> Placement | None:
        """The hot path, in the order loop itself: journal the decision and send the order now, if that
        needs no wait (a free order slot, a decision the intent log takes without a lock, not
        stopping). The answer is then awaited in a task of its own (:meth:`_answer_task`). ``None``:
        nothing done, the order goes the task way (:meth:`_place_task`). Sending here saves the
        scheduler pass a new task would wait for, during which any other runnable task runs first."""
        if (self._stopping or item.signal_record is None
                or item.verdict_record is None or self._quiet()):
            return None
        try:  # the slot's borrower is the order (its answer task releases it), not this task
            self._order_slots.acquire_on_behalf_of_nowait(item.client_order_id)
        except trio.WouldBlock:
            return None
        try:
            with self.p.hold_events():
                placement = await self.placer.begin(item)
                await self.placer.transmit(placement)
        except BaseException:
            self._order_slots.release_on_behalf_of(item.client_order_id)
            raise
        return placement

    async def _answer_task(self, placement: Placement, risk: trio.MemorySendChannel[RiskInput]) -> None:
        """The rest of a placement :meth:`_send_here` sent: its answer (it holds an order slot)."""
        try:
            with self.p.hold_events():
                await self.placer.conclude(placement, risk)
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
        """Until no placement is running (each is bounded by ``order_timeout_s``, and once stopping by
        the first half of the drain)."""
        while self._placing:
            self._placed = trio.Event()
            await self._placed.wait()

    def _begin_stop(self) -> None:
        """The stop arrived: approved orders not yet journaled are dropped from now on, and every
        exchange wait under way ends within the first half of the drain."""
        self._stopping = True
        self._budget.begin()

    def request_catch_up(self, *, within: float = 0.0) -> None:
        """Ask the catch-up task to run now (a reconnect, a settlement), or within ``within`` seconds
        (fills seen in an ack: the feed usually books them first, and requests close together share
        one catch-up)."""
        due = trio.current_time() + within
        if due < self._catch_up_due:
            self._catch_up_due = due
            self._catch_up_now.set()

    async def _catch_up_loop(self, risk: trio.MemorySendChannel[RiskInput]) -> None:
        """REST catch-up every ``catch_up_every_s`` (or sooner when asked). Every
        ``position_audit_every_s`` the exchange's positions are read before and after the catch-up and,
        if no fill moved them in between, sent to risk behind the catch-up's fills and settlements: risk
        compares them with a portfolio that has booked everything they include (the position audit).
        Where they differ from the portfolio, every exchange fill of the market the journal lacks is
        booked first, whatever its time. A catch-up the positions moved during is not audited; the next
        one is."""
        every_audit = self.settings.position_audit_every_s
        audit_due = trio.current_time() + every_audit if every_audit > 0 else math.inf
        self._catch_up_due = min(self._catch_up_due, trio.current_time() + self.settings.catch_up_every_s)
        while True:
            while trio.current_time() < self._catch_up_due:
                with trio.move_on_at(self._catch_up_due):
                    await self._catch_up_now.wait()
                self._catch_up_now = trio.Event()
            self._catch_up_due = trio.current_time() + self.settings.catch_up_every_s
            if self._stopping:
                return
            positions = None
            if trio.current_time() >= audit_due:
                audit_due = trio.current_time() + every_audit
                positions = await self.keeper.exchange_positions()
            await self.keeper.catch_up(risk)
            if positions is not None:
                again = await self.keeper.exchange_positions()
                if again is not None and again.positions == positions.positions:
                    if unexplained := self.keeper.unexplained(again):
                        await self.keeper.book_missed_fills(unexplained, risk)
                    await risk.send(attrs.evolve(again, started=positions.started))

    # --- placing ----------------------------------------------------------------------------------
    async def _place(self, item: ApprovedOrder, risk: trio.MemorySendChannel[RiskInput]) -> None:
        """Journal, send and conclude one approved order (in a task of its own)."""
        if self._stopping or not self.p.trading_enabled or self._quiet():
            # risk registered it; never journaled nor sent yet, so dropping it here loses nothing
            self._drop(item, "trading is stopping or stopped, or in the minute after a cancel-all")
            await risk.send(OrdersChanged())
            return
        placement = await self.placer.begin(item)
        await self.placer.transmit(placement)
        await self.placer.conclude(placement, risk)

    # --- operator, cancelling, shutdown -----------------------------------------------------------------
    def _quiet(self) -> bool:
        """In the minute after a cancel-all: nothing may be placed."""
        return self.p.orders.paused(trio.current_time())

    def _set_trading(self, command: SetTrading) -> None:
        """The operator's start/stop, applied by the order loop as it arrives: every approved order
        behind it in the inbox sees it. A kill switch it asks for follows in the bookkeeping task."""
        self.p.trading_enabled = command.enabled
        self.p.publish_execution()
        command.answer()
        log.info("trading enabled" if command.enabled else "trading stopped", reason=command.reason)

    async def _shutdown(self, risk: trio.MemorySendChannel[RiskInput]) -> None:
        with trio.move_on_at(self._budget.stop_by) as budget:
            if self.settings.cancel_on_shutdown:
                await self.keeper.cancel_where(lambda o: True, "shutdown", risk)
            await self.keeper.catch_up(risk)
        in_flight = [o.client_order_id for o in self.p.orders if o.in_flight]
        if budget.cancelled_caught or in_flight:
            log.warning("execution drained within its budget, not completely; the next start resolves "
                        "what is in flight by client_order_id and reconciles the rest",
                        budget_s=self.settings.drain_timeout_s, open_orders=len(self.p.orders),
                        in_flight=in_flight)
        log.info("execution drained", open_orders=len(self.p.orders), in_flight=len(in_flight))
