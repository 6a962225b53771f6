"""Changes to existing orders on Kalshi's V2 routes: cancel, decrease, amend, cancel-all, and the
batch routes (create and cancel several orders at once).

Each change is sent **once**. A transport error, a 5xx or an unreadable 2xx leaves the outcome
unknown: :class:`CancelInFlight` (ask with ``get_order``); any other error status is a definite
refusal, raised typed. A batch gives one result per item; an item whose outcome is unknown is
:class:`OrderInFlight` (create) or :class:`CancelInFlight` (cancel).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, TypeVar

import trio

from kalshid.exchange.errors import (
    CancelInFlight,
    ExchangeError,
    OrderInFlight,
    ProtocolError,
    ServerError,
    TransportError,
)
from kalshid.exchange.kalshi.reads import KalshiReads
from kalshid.exchange.kalshi.wire import answers
from kalshid.exchange.kalshi.wire import orders as ow
from kalshid.exchange.types import AmendRequest, CancelResult, Order, OrderChange, OrderRequest
from kalshid.logs import get_logger

T = TypeVar("T")
log = get_logger(__name__)
# Pauses before reading a cancelled order again while reads still show it resting (seen: ~0.4 s).
CANCEL_READ_WAITS_S = (0.1, 0.3, 0.6)


class KalshiOrderChanges(KalshiReads):
    """Cancel, decrease, amend and batch writes (module docstring)."""

    async def _modify_once(self, order_id: str, method: str, path: str, *, template: str,
                           body: dict[str, Any] | None = None, params: dict[str, Any] | None = None,
                           items: int = 1) -> Any:
        """Send a change to existing orders exactly once and return the decoded answer. A transport
        error, a 5xx or an unreadable 2xx leaves the outcome unknown → :class:`CancelInFlight` (ask
        with :meth:`get_order`); any other error status is a definite refusal, raised typed."""
        try:
            resp = await self._write(method, path, body, params=params,
                                     cost=self.limiter.cost(method, template, items))
        except TransportError as exc:
            raise CancelInFlight(order_id, exc) from exc
        if resp.status_code >= 400:
            err = answers.error_of(resp.status_code, resp.content)
            if isinstance(err, ServerError):
                raise CancelInFlight(order_id, err) from err
            raise err
        try:
            return answers.body_of(resp.content)
        except ProtocolError as exc:
            raise CancelInFlight(order_id, exc) from exc

    async def cancel_order(self, order_id: str, *, ticker: str) -> CancelResult:
        """Cancel once (``DELETE /portfolio/events/orders/{id}?market_ticker=``, routed by the market).
        The result carries the order as it then stands when a read of it succeeds. Unknown outcome →
        :class:`CancelInFlight` (ask with :meth:`get_order`).

        Kalshi's reads lag its writes: a read a few hundred ms after the acknowledged cancel has been
        seen to say ``resting`` still. Such a read is stale (a cancel leaves nothing resting), so it is
        read again after :data:`CANCEL_READ_WAITS_S`; one that never catches up is not returned (the
        result's ``order`` is None, and the feed's ``user_order`` says the rest)."""
        body = await self._modify_once(order_id, "DELETE", ow.order_path(order_id), template=ow.ORDER_TEMPLATE,
                                       params={"market_ticker": ticker})
        try:
            ack = ow.parse_ack(body, "cancel response")
            ow.require_counts(ack, "cancel response", "reduced_by")
        except ProtocolError as exc:
            raise CancelInFlight(order_id, exc) from exc
        return CancelResult(order_id=order_id, reduced_by=ack.reduced_by or 0, order=await self._cancelled(order_id))

    async def _cancelled(self, order_id: str) -> Order | None:
        """The order just after an acknowledged cancel, or None if no read of it is current yet."""
        for wait in (*CANCEL_READ_WAITS_S, None):
            order = await self._order_after(order_id)
            if order is None or not order.is_open:
                return order
            if wait is None:
                log.info("kalshi_cancel_read_stale", order_id=order_id, status=order.status,
                         remaining=order.remaining_count)
                return None
            await trio.sleep(wait)
        raise AssertionError("unreachable")

    async def decrease_order(self, order_id: str, *, ticker: str, reduce_by: int | None = None,
                             reduce_to: int | None = None) -> OrderChange:
        """Reduce a resting order by ``reduce_by`` or to ``reduce_to`` contracts, once (keeps its queue
        place; unknown outcome → :class:`CancelInFlight`)."""
        body = ow.encode_decrease(ticker=ticker, reduce_by=reduce_by, reduce_to=reduce_to)
        answer = await self._modify_once(order_id, "POST", ow.order_path(order_id) + "/decrease",
                                         template=ow.ORDER_TEMPLATE + "/decrease", body=body)
        return ow.order_change(order_id, answer, "decrease response", "remaining_count")

    async def amend_order(self, amend: AmendRequest) -> OrderChange:
        """Change a resting order's price and/or total size once (``AmendOrderV2``); unknown outcome →
        :class:`CancelInFlight`."""
        answer = await self._modify_once(amend.order_id, "POST", ow.order_path(amend.order_id) + "/amend",
                                         template=ow.ORDER_TEMPLATE + "/amend", body=ow.encode_amend(amend))
        return ow.order_change(amend.order_id, answer, "amend response")

    async def cancel_all_orders(self) -> None:
        """The kill switch: ``DELETE /portfolio/events/orders`` cancels every resting order of the
        account on every shard (204). Orders placed in the minute after it may be cancelled too. An
        unknown outcome is :class:`CancelInFlight` (order id ``*``): send it again, it is idempotent."""
        await self._modify_once("*", "DELETE", ow.ORDERS_V2_PATH, template=ow.ORDERS_V2_PATH)

    async def create_orders(self, requests: Sequence[OrderRequest]) -> list[Order | ExchangeError]:
        """Place several orders with ``POST /portfolio/events/orders/batched`` (in as many batches as the
        write bucket allows), each sent once. One result per request, in order: the placed order, or
        the item's error; an unknown outcome (transport, 5xx, an item without ``order_id``) is
        :class:`OrderInFlight` for that item."""
        out: list[Order | ExchangeError] = []
        for chunk in self._chunks(requests, "POST"):
            out.extend(await self._create_batch(chunk))
        return out

    async def _create_batch(self, chunk: Sequence[OrderRequest]) -> list[Order | ExchangeError]:
        def in_flight(cause: BaseException | str) -> list[Order | ExchangeError]:
            return [OrderInFlight(r.client_order_id, r.ticker, cause) for r in chunk]

        try:
            resp = await self._write("POST", ow.BATCH_V2_PATH, ow.encode_batch_create(chunk),
                                     cost=self.limiter.cost("POST", ow.BATCH_V2_PATH, len(chunk)))
        except TransportError as exc:
            return in_flight(exc)
        if resp.status_code >= 400:
            err = answers.error_of(resp.status_code, resp.content)
            if isinstance(err, ServerError):
                return in_flight(err)
            return [err] * len(chunk)
        try:
            items = ow.batch_items(answers.body_of(resp.content), "batch create response")
        except ProtocolError as exc:
            return in_flight(exc)
        return ow.batch_create_results(chunk, items)

    async def cancel_orders(self, orders: Sequence[tuple[str, str]]) -> list[int | ExchangeError]:
        """Cancel ``(order_id, market_ticker)`` pairs with ``DELETE /portfolio/events/orders/batched``.
        One result per pair: the contracts the cancel removed, or the item's error (an unknown outcome
        is :class:`CancelInFlight`)."""
        out: list[int | ExchangeError] = []
        for chunk in self._chunks(orders, "DELETE"):
            try:
                answer = await self._modify_once(chunk[0][0], "DELETE", ow.BATCH_V2_PATH,
                                                 template=ow.BATCH_V2_PATH, body=ow.encode_batch_cancel(chunk),
                                                 items=len(chunk))
                items = {str(i.get("order_id")): i for i in ow.batch_items(answer, "batch cancel response")}
            except (CancelInFlight, ProtocolError) as exc:
                out.extend(CancelInFlight(oid, exc) for oid, _ in chunk)
                continue
            except ExchangeError as exc:  # the whole batch refused
                out.extend(exc for _ in chunk)
                continue
            out.extend(ow.batch_cancel_result(oid, items.get(oid)) for oid, _ in chunk)
        return out

    def _chunks(self, items: Sequence[T], method: str) -> list[Sequence[T]]:
        """``items`` in batches whose token cost fits the write bucket."""
        per = max(1, self.limiter.cost(method, ow.BATCH_V2_PATH, 1))
        size = max(1, int(self.limiter.write.capacity // per))
        return [items[i:i + size] for i in range(0, len(items), size)]
