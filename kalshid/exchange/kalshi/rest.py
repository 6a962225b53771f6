"""Kalshi REST client (Trade API v3.31): signed, rate-limited, typed.

Every request is signed (public endpoints too: harmless) over ``ts + METHOD + URL path`` with the
query stripped; the time comes from an injectable wall clock in ms. Requests first take their
endpoint's tokens from the read or write bucket (:mod:`.ratelimit`).

Every order write goes to the V2 routes under ``/portfolio/events/orders`` (:mod:`.orderwire`): create,
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
import json
import random
import time
from collections.abc import Awaitable, Callable, Sequence
from datetime import datetime
from types import TracebackType
from typing import Any, TypeVar

import attrs
import httpx
import trio

from kalshid.exchange.base import OrderReply
from kalshid.exchange.errors import (
    CancelInFlight,
    Conflict,
    ExchangeError,
    OrderInFlight,
    ProtocolError,
    RateLimited,
    ServerError,
    TransportError,
)
from kalshid.exchange.kalshi.auth import Signer
from kalshid.exchange.kalshi.orderlane import LaneConnection, LaneError, OrderLane
from kalshid.exchange.kalshi.presign import ORDERS_PATH, PresignedOrders
from kalshid.exchange.kalshi.ratelimit import EndpointCosts, RateLimiter, RateLimits, limits_from_account
from kalshid.exchange.kalshi.wire import answers, fields, objects
from kalshid.exchange.kalshi.wire import orders as ow
from kalshid.exchange.types import (
    AmendRequest,
    Balance,
    CancelResult,
    ExchangeStatus,
    Fill,
    Market,
    Order,
    OrderBook,
    OrderChange,
    OrderRequest,
    Position,
    Settlement,
)
from kalshid.logs import get_logger

log = get_logger(__name__)

T = TypeVar("T")


def wall_clock_ms() -> int:
    """Unix time in ms for the signature timestamp (the only wall-clock read in the client)."""
    return time.time_ns() // 1_000_000


@attrs.frozen
class RetryPolicy:
    """Read retries: ``attempts`` tries in all; the n-th wait is uniform in [0, min(max_s, base_s·2ⁿ)]."""

    attempts: int = 4
    base_s: float = 0.25
    max_s: float = 5.0

    def delay(self, attempt: int, rng: Callable[[], float]) -> float:
        return float(rng() * min(self.max_s, self.base_s * (2 ** attempt)))


class KalshiRest:
    """The Kalshi REST API as an :class:`~kalshid.exchange.base.Exchange` (without the stream).

    Use as ``async with KalshiRest(...) as rest:``. ``transport`` lets tests pass an
    ``httpx.MockTransport``; ``in_flight_settle_s`` is how long :meth:`resolve_in_flight` waits
    before looking, so that an order still being processed has time to appear.
    """

    # Kalshi nets YES and NO in one position per market: a trade closes the opposite holding first
    nets_positions = True

    def __init__(self, base_url: str, signer: Signer, *, transport: httpx.AsyncBaseTransport | None = None,
                 limits: RateLimits | None = None, retry: RetryPolicy | None = None, timeout_s: float = 10.0,
                 wall_ms: Callable[[], int] = wall_clock_ms, rng: Callable[[], float] = random.random,
                 in_flight_settle_s: float = 1.0, page_limit: int = 1000) -> None:
        self._signer = signer
        self._wall_ms = wall_ms
        self._rng = rng
        self.retry = retry or RetryPolicy()
        self.limiter = RateLimiter(limits)
        self.in_flight_settle_s = in_flight_settle_s
        self.page_limit = page_limit
        self._client = httpx.AsyncClient(base_url=base_url.rstrip("/"), transport=transport,
                                         timeout=httpx.Timeout(timeout_s),
                                         headers={"Accept": "application/json"})
        self._timeout_s = timeout_s
        self._orders_url = httpx.URL(str(self._client.base_url).rstrip("/") + ORDERS_PATH)
        self.presigned: PresignedOrders | None = None
        self.lane: OrderLane | None = None

    def presigner(self, **kw: Any) -> PresignedOrders:
        """Order signatures made ahead of time (see :mod:`.presign`); run its :meth:`~PresignedOrders.run`
        in a task for it to take effect."""
        self.presigned = PresignedOrders(self._signer, self._orders_url.path, wall_ms=self._wall_ms, **kw)
        return self.presigned

    def order_lane(self, **kw: Any) -> OrderLane | None:
        """Connections kept open for order requests (see :mod:`.orderlane`); run its
        :meth:`~OrderLane.run` in a task for it to take effect. ``None`` when httpx would not send the
        request straight to the host itself (a proxy from the environment, a test transport)."""
        url = self._orders_url
        if self._client._transport_for_url(url) is not self._client._transport or not isinstance(
                self._client._transport, httpx.AsyncHTTPTransport) or url.scheme not in ("http", "https"):
            return None
        tls = url.scheme == "https"
        self.lane = OrderLane(url.host, url.port or (443 if tls else 80), tls=tls,
                              connect_timeout_s=self._timeout_s, **kw)
        return self.lane

    async def __aenter__(self) -> KalshiRest:
        return self

    async def __aexit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                        tb: TracebackType | None) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        await self._client.aclose()

    # ------------------------------------------------------------------ transport

    @property
    def _create_cost(self) -> int:
        return self.limiter.cost("POST", ORDERS_PATH)

    async def _send(self, method: str, path: str, *, params: dict[str, Any] | None = None,
                    body: dict[str, Any] | None = None) -> httpx.Response:
        clean = {k: v for k, v in (params or {}).items() if v is not None}
        request = self._client.build_request(method, path, params=clean or None, json=body)
        # Sign exactly the path that goes on the wire (base path included, query excluded).
        request.headers.update(self._auth_headers(method, request.url.path))
        # Straight to the transport (the one httpx picks for the URL, proxies from the environment
        # included): AsyncClient.send adds an auth flow, a redirect loop, cookie extraction and event
        # hooks, none of which this API uses (signed headers, no cookies, no redirects: a redirected
        # POST must never be followed), and ~30% of the request's CPU before its first byte is sent.
        transport = self._client._transport_for_url(request.url)  # httpx is pinned; tests cover this
        try:
            response = await transport.handle_async_request(request)
            try:
                await response.aread()
            finally:
                await response.aclose()
        except httpx.TransportError as exc:
            raise TransportError(f"{method} {request.url.path}: {type(exc).__name__}: {exc}") from exc
        response.request = request
        return response

    def _auth_headers(self, method: str, wire_path: str) -> dict[str, str]:
        """The signed headers for a request to ``wire_path`` (the path on the wire: base path included,
        query excluded): a presigned set for an order POST when one is ready, else signed now."""
        signed = self.presigned.take(method, wire_path) if self.presigned is not None else None
        return signed or self._signer.headers(self._wall_ms(), method, wire_path)

    async def _get(self, path: str, params: dict[str, Any] | None = None, *, template: str | None = None) -> Any:
        """GET with rate limiting (the cost of ``template``, default ``path``) and bounded, jittered
        retries on 429/5xx/transport errors."""
        last = self.retry.attempts - 1
        cost = self.limiter.cost("GET", template or path)
        for attempt in range(self.retry.attempts):
            await self.limiter.acquire_read(cost)
            try:
                resp = await self._send("GET", path, params=params)
            except TransportError as exc:
                err: ExchangeError = exc
            else:
                if resp.status_code < 400:
                    return answers.body_of(resp.content)
                err = answers.error_of(resp.status_code, resp.content)
                if not isinstance(err, RateLimited | ServerError):
                    raise err
            if attempt == last:
                raise err
            delay = self.retry.delay(attempt, self._rng)
            log.warning("kalshi_read_retry", path=path, attempt=attempt + 1, delay_s=round(delay, 3),
                        error=str(err))
            await trio.sleep(delay)
        raise AssertionError("unreachable")

    async def _paginate(self, path: str, key: str, params: dict[str, Any]) -> list[Any]:
        """All items of a cursor-paginated list (an empty or missing cursor ends it)."""
        items: list[Any] = []
        cursor: str | None = None
        seen: set[str] = set()
        while True:
            body = await self._get(path, {**params, "limit": self.page_limit, "cursor": cursor})
            page = body.get(key) if isinstance(body, dict) else None
            if page is None:
                page = []
            if not isinstance(page, list):
                raise ProtocolError(f"GET {path}: {key!r} is not a list")
            items.extend(page)
            cursor = body.get("cursor") or None
            if cursor is None:
                return items
            if cursor in seen:
                raise ProtocolError(f"GET {path}: cursor {cursor!r} repeated; refusing to loop")
            seen.add(cursor)

    async def _write(self, method: str, path: str, body: dict[str, Any] | None = None, *,
                     params: dict[str, Any] | None = None, cost: int | None = None) -> httpx.Response:
        await self.limiter.acquire_write(cost)
        return await self._send(method, path, body=body, params=params)

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
        # as httpx encodes json= bodies
        content = json.dumps(body, ensure_ascii=False, separators=(",", ":"), allow_nan=False).encode()
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

    async def read(self, path: str, params: dict[str, Any] | None = None) -> Any:
        """A GET of ``path`` (rate-limited, retried like every read) and its decoded JSON body."""
        return await self._get(path, params)

    # ------------------------------------------------------------------ market data

    async def get_exchange_status(self) -> ExchangeStatus:
        return objects.parse_exchange_status(await self._get("/exchange/status"))

    async def list_markets(self, *, series_ticker: str | None = None, status: str | None = None,
                           event_ticker: str | None = None,
                           tickers: Sequence[str] | None = None) -> list[Market]:
        params = {"series_ticker": series_ticker, "status": status, "event_ticker": event_ticker,
                  "tickers": ",".join(tickers) if tickers else None}
        return [objects.parse_market(m) for m in await self._paginate("/markets", "markets", params)]

    async def get_market(self, ticker: str) -> Market:
        body = await self._get(f"/markets/{ticker}")
        return objects.parse_market(fields.obj_of(body, "market", f"market {ticker}"))

    async def get_orderbook(self, ticker: str, *, depth: int = 0) -> OrderBook:
        body = await self._get(f"/markets/{ticker}/orderbook", {"depth": depth or None})
        return objects.parse_orderbook(ticker, body)

    # ------------------------------------------------------------------ portfolio

    async def get_balance(self) -> Balance:
        return objects.parse_balance(await self._get("/portfolio/balance"))

    async def list_orders(self, *, ticker: str | None = None, status: str | None = None,
                          min_ts: datetime | None = None) -> list[Order]:
        params = {"ticker": ticker, "status": status,
                  "min_ts": fields.unix_seconds(min_ts) if min_ts else None}
        return [objects.parse_order(o) for o in await self._paginate("/portfolio/orders", "orders", params)]

    async def get_order(self, order_id: str) -> Order:
        body = await self._get(f"/portfolio/orders/{order_id}", template="/portfolio/orders/{order_id}")
        return objects.parse_order(fields.obj_of(body, "order", f"order {order_id}"))

    async def find_order_by_client_id(self, client_order_id: str, *, ticker: str) -> Order | None:
        """The order with this ``client_order_id`` on ``ticker``, or None. Scans every page."""
        for raw in await self._paginate("/portfolio/orders", "orders", {"ticker": ticker}):
            if isinstance(raw, dict) and raw.get("client_order_id") == client_order_id:
                return objects.parse_order(raw)
        return None

    async def list_fills(self, *, ticker: str | None = None, since: datetime | None = None) -> list[Fill]:
        params = {"ticker": ticker, "min_ts": fields.unix_seconds(since) if since else None}
        return [objects.parse_fill(f) for f in await self._paginate("/portfolio/fills", "fills", params)]

    async def list_positions(self, *, ticker: str | None = None) -> list[Position]:
        raw = await self._paginate("/portfolio/positions", "market_positions", {"ticker": ticker})
        return [objects.parse_position(p) for p in raw]

    async def list_settlements(self, *, ticker: str | None = None,
                               since: datetime | None = None) -> list[Settlement]:
        params = {"ticker": ticker, "min_ts": fields.unix_seconds(since) if since else None}
        raw = await self._paginate("/portfolio/settlements", "settlements", params)
        return [objects.parse_settlement(s) for s in raw]

    # ------------------------------------------------------------------ orders (V2 routes)

    async def create_order(self, request: OrderRequest) -> Order:
        """Place ``request`` once. Returns the daemon's view of the placed order; raises
        :class:`OrderInFlight` when the outcome is unknown and a typed :class:`ExchangeError` when it
        was definitely rejected."""
        return await (await self.send_order(request)).order()

    async def send_order(self, request: OrderRequest) -> OrderReply:
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
        :class:`CancelInFlight` (ask with :meth:`get_order`)."""
        body = await self._modify_once(order_id, "DELETE", ow.order_path(order_id), template=ow.ORDER_TEMPLATE,
                                       params={"market_ticker": ticker})
        try:
            ack = ow.parse_ack(body, "cancel response")
            ow.require_counts(ack, "cancel response", "reduced_by")
        except ProtocolError as exc:
            raise CancelInFlight(order_id, exc) from exc
        return CancelResult(order_id=order_id, reduced_by=ack.reduced_by or 0, order=await self._order_after(order_id))

    async def _exact(self, order: Order) -> Order:
        """``order`` as the exchange now reports it (our intent kept), or as it was if unreadable."""
        read = await self._order_after(order.order_id)
        return attrs.evolve(read, side=order.side, action=order.action) if read is not None else order

    async def _order_after(self, order_id: str) -> Order | None:
        """The order just after a change, or None if it can't be read yet (reads may lag writes)."""
        try:
            return await self.get_order(order_id)
        except ExchangeError as exc:
            log.info("kalshi_order_read_after_write_failed", order_id=order_id, error=str(exc))
            return None

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

    # ------------------------------------------------------------------ account

    async def load_rate_limits(self) -> RateLimits:
        """Read this key's buckets (``GET /account/limits``) and the endpoint costs
        (``/account/endpoint_costs``) and rate-limit by them from now on."""
        try:
            limits = limits_from_account(await self._get("/account/limits"), cost=self.limiter.limits.cost)
            costs = EndpointCosts.from_account(await self._get("/account/endpoint_costs"))
        except ValueError as exc:
            raise ProtocolError(str(exc)) from exc
        self.limiter = RateLimiter(limits, costs)
        log.info("kalshi_rate_limits", read_per_s=limits.read_per_s, read_capacity=limits.read_capacity,
                 write_per_s=limits.write_per_s, write_capacity=limits.write_capacity,
                 default_cost=costs.default)
        return limits


class _Reply:
    """An order request on its way (:meth:`KalshiRest.send_order`): :meth:`order` gets its status and
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
