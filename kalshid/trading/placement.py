"""One order's placement, the execution stage's hot path: journal the intent, send it, take the answer.

:class:`Placer` does the three steps of one approved order; the execution stage
(:mod:`kalshid.trading.execution`) decides where and when they run (in its order loop, or in a task
of their own) and holds the order slots. The steps:

* :meth:`Placer.begin`: the order becomes live and in flight in the order book, and its signal,
  verdict and intent are journaled in one durable write, *before* the request is sent;
* :meth:`Placer.transmit`: ``Exchange.submit`` (its bytes leave before the first checkpoint when
  nothing needs waiting for); an unknown outcome (timeout, transport error) is kept, never retried;
* :meth:`Placer.conclude`: the answer. Acknowledged: its state goes to the bookkeeper. Rejected:
  journaled and forgotten. Unknown (timeout, 5xx, 429, transport error): the order stays *in flight*
  until the bookkeeper resolves it by ``client_order_id``.

Every exchange wait is bounded by ``order_timeout_s`` from the send, and cut short by a stop
(:class:`~kalshid.trading.stopbudget.StopBudget`).
"""

from __future__ import annotations

import math

import attrs
import trio

from kalshid.core.orders import LiveOrder
from kalshid.exchange.base import OrderReply
from kalshid.exchange.errors import (
    BadRequest,
    Conflict,
    ExchangeError,
    NotFound,
    OrderInFlight,
    RateLimited,
    ServerError,
    TransportError,
)
from kalshid.exchange.types import OrderRequest
from kalshid.logs import BoundLogger, get_logger
from kalshid.metrics import Metrics
from kalshid.store import records
from kalshid.trading.bookkeeping import Bookkeeper
from kalshid.trading.exchangeclock import ExchangeClock
from kalshid.trading.messages import ApprovedOrder, OrdersChanged, Pipeline, RiskInput
from kalshid.trading.stopbudget import StopBudget

log = get_logger("kalshid.execution")


@attrs.define
class Placement:
    """One approved order between its send and its answer."""

    item: ApprovedOrder
    live: LiveOrder
    request: OrderRequest
    bound: BoundLogger
    deadline: float = math.inf             # Trio time: no answer by then means in flight
    reply: OrderReply | None = None         # set once sent (or handed to the exchange to send)
    error: Exception | None = None          # the send's outcome is unknown (raised by conclude)


class Placer:
    """The placement steps of the execution stage (module docstring); it shares the stage's order book
    (through ``pipeline``), bookkeeper and stop budget."""

    def __init__(self, pipeline: Pipeline, clock: ExchangeClock, keeper: Bookkeeper, budget: StopBudget, *,
                 order_timeout_s: float, metrics: Metrics | None = None) -> None:
        self.p = pipeline
        self.clock = clock
        self.keeper = keeper
        self.budget = budget
        self.order_timeout_s = order_timeout_s
        self.metrics = metrics

    async def begin(self, item: ApprovedOrder) -> Placement:
        """Register the order as live and in flight and journal its intent (durable before the send,
        see :meth:`~kalshid.store.db.Journal.record_decision`)."""
        journal = self.p.require_journal()
        cid = item.client_order_id
        live = self.p.orders.get(cid) or LiveOrder(cid, item.strategy, item.ticker, item.side, item.action,
                                                   item.price_cc, item.count, in_flight=True)
        now = self.clock.now()
        tif = item.time_in_force
        intent = records.OrderIntent(
            client_order_id=cid, ts=now, strategy=item.strategy, ticker=item.ticker, side=item.side.value,
            action=item.action.value, price_cc=item.price_cc, count=item.count,
            tif=tif or "good_till_canceled", signal_id=item.signal_id)
        self.p.orders.sending(live)
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
        return Placement(item, live, request, bound)

    async def transmit(self, placement: Placement) -> None:
        """Send the request (``Exchange.submit``: its bytes leave before the first checkpoint when
        nothing needs waiting for). An unknown outcome is kept for :meth:`conclude`, never retried.

        The ``order sending`` line is logged once ``submit`` has returned or raised, so the request does
        not wait for it (docs/performance.md, "Tick-to-order"); it comes before any line about the
        order's answer, and the order is in flight from the moment it is written."""
        item = placement.item
        sent_at = trio.current_time()
        self.p.last_order_local_time = sent_at
        placement.deadline = sent_at + self.order_timeout_s
        try:
            with self.budget.answer_by(placement.deadline):
                placement.reply = await self.p.require_exchange().submit(placement.request)
        except (trio.TooSlowError, ExchangeError) as exc:  # OrderInFlight, when the write failed
            placement.error = exc
        finally:
            placement.bound.info("order sending", side=item.side.value, action=item.action.value,
                                 count=item.count, price_cc=item.price_cc, tif=item.time_in_force)

    async def conclude(self, placement: Placement, risk: trio.MemorySendChannel[RiskInput]) -> None:
        """The order's answer: acknowledged (its state booked), rejected, or in flight until resolved by
        ``client_order_id``."""
        journal = self.p.require_journal()
        item, live, bound = placement.item, placement.live, placement.bound
        cid = item.client_order_id
        try:
            if placement.error is not None:
                raise placement.error
            assert placement.reply is not None
            with self.budget.answer_by(placement.deadline):
                order = await placement.reply.order()
        except (OrderInFlight, trio.TooSlowError, ServerError, TransportError, RateLimited) as exc:
            # RateLimited on a create is a definite "not accepted" on Kalshi, but treating it as unknown
            # costs only a lookup and can never duplicate an order.
            known = self.p.orders.get(cid)
            if known is None:  # its fills (the feed) finished it while the answer was awaited
                bound.info("order answer not seen; the order had already ended", error=f"{type(exc).__name__}: {exc}")
                return
            if not known.in_flight:  # the feed reported it meanwhile: nothing is unknown
                bound.info("order answer not seen; the exchange had already reported the order",
                           error=f"{type(exc).__name__}: {exc}")
                return
            self.p.orders.lost_answer(cid, trio.current_time())
            self.p.publish_execution()
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
            self.keeper.forget(live)
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
        self.keeper.counters.bump("orders")
        await self.keeper.on_order(order, risk, source="create")
