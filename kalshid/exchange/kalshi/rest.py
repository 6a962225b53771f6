"""Kalshi REST client (Trade API v3.31): signed, rate-limited, typed; placing an order is here.

:class:`KalshiRest` stacks one concept per module: the signed, rate-limited transport
(:mod:`.transport`), the reads (:mod:`.reads`), changes to existing orders and batches (:mod:`.changes`),
and here the create path (the order lane, the answer, a 409, an in-flight lookup). JSON shapes are
in :mod:`.wire`.

Every order write goes to the V2 routes under ``/portfolio/events/orders`` (:mod:`.wire.orders`): create,
cancel (routed by ``market_ticker``), amend, decrease, batch create/cancel and cancel-all. Reads stay on
``/portfolio/orders…``.

Failure contract:

- Reads (GET) are retried with exponential backoff and full jitter on 429, 5xx and transport
  errors, a bounded number of times; then the typed error is raised.
- A create is sent **exactly once**. Timeout, 5xx, transport error, or a 2xx without an ``order_id``
  → :class:`OrderInFlight`; 409 → looked up by ``client_order_id`` (returned if it matches, else
  :class:`OrderInFlight`). :meth:`KalshiRest.resolve_in_flight` later says what happened. 4xx → the
  typed error: not placed.
- Cancels, amends and decreases are sent once too; an unknown outcome is :class:`CancelInFlight`.
- Cancellation (a trio cancel scope) during a write leaves it in flight as well: resolve it.
"""

from __future__ import annotations

import functools
from collections.abc import Awaitable, Callable
from typing import Any

import attrs
import trio

from kalshid.exchange.base import OrderReply
from kalshid.exchange.errors import Conflict, ExchangeError, OrderInFlight, ProtocolError, ServerError, TransportError
from kalshid.exchange.kalshi.changes import KalshiOrderChanges
from kalshid.exchange.kalshi.orderlane import LaneConnection, LaneError, OrderLane
from kalshid.exchange.kalshi.presign import ORDERS_PATH
from kalshid.exchange.kalshi.transport import RetryPolicy, wall_clock_ms
from kalshid.exchange.kalshi.wire import answers
from kalshid.exchange.kalshi.wire import orders as ow
from kalshid.exchange.types import Order, OrderRequest
from kalshid.logs import get_logger

__all__ = ["KalshiRest", "RetryPolicy", "wall_clock_ms"]

log = get_logger(__name__)


class KalshiRest(KalshiOrderChanges):
    """The Kalshi REST API as an :class:`~kalshid.exchange.base.Exchange` (without the stream).

    Use as ``async with KalshiRest(...) as rest:``. ``transport`` lets tests pass an
    ``httpx.MockTransport``; ``in_flight_settle_s`` is how long :meth:`resolve_in_flight` waits
    before looking, so that an order still being processed has time to appear. Reads are
    :class:`~.reads.KalshiReads`, changes to existing orders :class:`~.changes.KalshiOrderChanges`,
    the transport :class:`~.transport.KalshiHttp`; placing an order is here.
    """

    # Kalshi nets YES and NO in one position per market: a trade closes the opposite holding first
    nets_positions = True

    # ------------------------------------------------------------------ orders (V2 routes)

    async def create_order(self, request: OrderRequest) -> Order:
        """Place ``request`` once. Returns the daemon's view of the placed order; raises
        :class:`OrderInFlight` when the outcome is unknown and a typed :class:`ExchangeError` when it
        was definitely rejected."""
        return await (await self.submit(request)).order()

    async def submit(self, request: OrderRequest) -> OrderReply:
        """Send ``request`` once and return while it is on its way; ``await reply.order()`` is then
        :meth:`create_order`'s answer (or its error).

        When the order can go without waiting (a connection of the order lane is ready and the write
        tokens are there) its bytes are handed to the socket before the first checkpoint, and the
        reply reads the answer. Otherwise nothing is sent yet and ``order()`` makes the whole request
        (waiting for tokens, through httpx if the lane has no connection): a caller never waits here.
        Raises :class:`OrderInFlight` if the write itself failed (the outcome is unknown)."""
        lane = self.lane
        body = ow.encode_create(request)
        if lane is None or not self.limiter.try_acquire_write(self._create_cost):
            return _Reply(self, request, functools.partial(self._post_order, body))
        conn = lane.take()
        if conn is None:  # the miss is counted: the reply goes through httpx, with the tokens taken
            return _Reply(self, request, functools.partial(self._post_order, body, lane=False, tokens_held=True))
        deadline = trio.current_time() + self._timeout_s
        try:
            await self._lane_send(lane, conn, body, deadline)
        except TransportError as exc:
            raise OrderInFlight(request.client_order_id, request.ticker, exc) from exc
        return _Reply(self, request, functools.partial(self._lane_receive, lane, conn, deadline))

    async def _order_answer(self, request: OrderRequest, status: int, content: bytes) -> Order:
        coid, ticker = request.client_order_id, request.ticker
        if status < 400:
            try:
                order = ow.order_from_create(request, ow.parse_ack(answers.body_of(content), "create order response"))
            except ProtocolError as exc:
                # Accepted (2xx) but unreadable: it may exist, we just don't know its state.
                raise OrderInFlight(coid, ticker, exc) from exc
            if order is None:  # a 2xx naming no order is not a placed order: resolve by client_order_id
                raise OrderInFlight(coid, ticker, f"HTTP {status} answer without an order_id")
            return order
        err = answers.error_of(status, content)
        if isinstance(err, ServerError):
            raise OrderInFlight(coid, ticker, err) from err
        if isinstance(err, Conflict):
            return await self._resolve_conflict(request, err)
        raise err

    async def _resolve_conflict(self, request: OrderRequest, err: Conflict) -> Order:
        """409 on create: the ``client_order_id`` may already be placed (an earlier, lost attempt)."""
        try:
            found = await self.find_order_by_client_id(request.client_order_id, ticker=request.ticker)
        except ExchangeError as exc:
            raise OrderInFlight(request.client_order_id, request.ticker, err) from exc
        if found is None:
            raise OrderInFlight(request.client_order_id, request.ticker, err) from err
        if (found.book_side, found.yes_price_cc) != (request.book_side, request.yes_price_cc):
            raise Conflict(f"client_order_id {request.client_order_id} belongs to a different order "
                           f"({found.book_side} {found.order_id})", status=409, code=err.code)
        log.info("kalshi_create_conflict_resolved", client_order_id=request.client_order_id,
                 order_id=found.order_id, status=found.status)
        return attrs.evolve(found, side=request.side, action=request.action)

    async def resolve_in_flight(self, client_order_id: str, *, ticker: str) -> Order | None:
        """What became of an in-flight create: the order, or None if it was not created.

        Waits ``in_flight_settle_s`` first (an order still being processed must have time to show),
        then looks it up with read retries. Raises the read's error if the exchange can't be asked;
        the order then stays in flight.
        """
        if self.in_flight_settle_s > 0:
            await trio.sleep(self.in_flight_settle_s)
        found = await self.find_order_by_client_id(client_order_id, ticker=ticker)
        log.info("kalshi_in_flight_resolved", client_order_id=client_order_id, ticker=ticker,
                 order_id=found.order_id if found else None, status=found.status if found else "not_created")
        return found

    async def _exact(self, order: Order) -> Order:
        """``order`` (finished, per its create answer) as the exchange now reports it, our intent kept;
        as it was if unreadable, or if the read is older than the answer (still open, or fewer fills:
        Kalshi's reads lag its writes, and a finished order never opens again)."""
        read = await self._order_after(order.order_id)
        if read is None or read.is_open or read.fill_count < order.fill_count:
            if read is not None:
                log.info("kalshi_order_read_stale", order_id=order.order_id, status=read.status,
                         filled=read.fill_count, answered_filled=order.fill_count)
            return order
        return attrs.evolve(read, side=order.side, action=order.action)

    async def _post_order(self, body: dict[str, Any], *, lane: bool = True,
                          tokens_held: bool = False) -> tuple[int, bytes]:
        """``POST /portfolio/events/orders`` and its whole answer: on the order lane when it has a
        connection ready (and ``lane``), else through httpx. Raises :class:`TransportError` when the
        outcome is unknown."""
        if not tokens_held:
            await self.limiter.acquire_write(self._create_cost)
        conn = self.lane.take() if self.lane is not None and lane else None
        if self.lane is None or conn is None:
            resp = await self._send("POST", ORDERS_PATH, body=body)
            return resp.status_code, resp.content
        deadline = trio.current_time() + self._timeout_s
        await self._lane_send(self.lane, conn, body, deadline)
        return await self._lane_receive(self.lane, conn, deadline)

    async def _lane_send(self, lane: OrderLane, conn: LaneConnection, body: dict[str, Any],
                         deadline: float) -> None:
        path = self._orders_url.path
        headers = self._auth_headers("POST", path)
        content = ow.body_bytes(body)
        try:
            await lane.send(conn, path, list(headers.items()), content, deadline=deadline)
        except LaneError as exc:
            raise TransportError(f"POST {path}: {exc}") from exc

    async def _lane_receive(self, lane: OrderLane, conn: LaneConnection, deadline: float) -> tuple[int, bytes]:
        try:
            answer = await lane.receive(conn, deadline=deadline)
        except LaneError as exc:
            raise TransportError(f"POST {self._orders_url.path}: {exc}") from exc
        return answer.status, answer.content


class _Reply:
    """An order request on its way (:meth:`KalshiRest.submit`): :meth:`order` gets its status and
    body with ``answer`` (reading it off the lane, or making the whole request when nothing was sent
    yet) and turns them into the order or its error; an unknown outcome is :class:`OrderInFlight`."""

    def __init__(self, rest: KalshiRest, request: OrderRequest,
                 answer: Callable[[], Awaitable[tuple[int, bytes]]]) -> None:
        self._rest, self._request, self._answer = rest, request, answer

    async def order(self) -> Order:
        try:
            status, content = await self._answer()
        except TransportError as exc:
            raise OrderInFlight(self._request.client_order_id, self._request.ticker, exc) from exc
        order = await self._rest._order_answer(self._request, status, content)
        if order.is_open or not order.fill_count:
            return order
        # Finished with fills (an IOC/FOK taker): its fees in the answer are a per-contract average, so
        # the order is read back once for the exact totals (reads may lag writes: then the answer stands).
        return await self._rest._exact(order)
