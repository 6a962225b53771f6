"""Kalshi's REST transport: signed, rate-limited requests, read retries and pagination.

Every request is signed (public endpoints too: harmless) over ``ts + METHOD + URL path`` with the
query stripped; the time comes from an injectable wall clock in ms. Requests first take their
endpoint's tokens from the read or write bucket (:mod:`.ratelimit`). Reads (GET) are retried with
exponential backoff and full jitter on 429, 5xx, transport errors and a 2xx answer that is not JSON
(cut short, or a proxy's page), a bounded number of times; then the typed error is raised. A
``Retry-After`` (seconds) on a 429 or 5xx lengthens the wait, up to the policy's longest. Writes are
sent once: what an unknown outcome means is the caller's (:mod:`.rest`, :mod:`.changes`).

:class:`KalshiHttp` is the base of :class:`~kalshid.exchange.kalshi.rest.KalshiRest`; answers are
decoded by :mod:`.wire`.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable
from types import TracebackType
from typing import Any, Self

import attrs
import httpx
import trio

from kalshid.exchange.errors import ExchangeError, ProtocolError, RateLimited, ServerError, TransportError
from kalshid.exchange.kalshi.auth import Signer
from kalshid.exchange.kalshi.orderlane import OrderLane
from kalshid.exchange.kalshi.presign import ORDERS_PATH, PresignedOrders
from kalshid.exchange.kalshi.ratelimit import RateLimiter, RateLimits
from kalshid.exchange.kalshi.wire import answers
from kalshid.logs import get_logger

log = get_logger(__name__)


def wall_clock_ms() -> int:
    """Unix time in ms for the signature timestamp (the only wall-clock read in the client)."""
    return time.time_ns() // 1_000_000


def retry_after_s(value: str | None) -> float | None:
    """A ``Retry-After`` header's wait in seconds (the delay-seconds form; an HTTP date, which would need
    the wall clock, or anything unreadable is None: the policy's own backoff applies)."""
    if value is None or not value.strip().isdigit():
        return None
    return float(int(value.strip()))


@attrs.frozen
class RetryPolicy:
    """Read retries: ``attempts`` tries in all; the n-th wait is uniform in [0, min(max_s, base_s·2ⁿ)]."""

    attempts: int = 4
    base_s: float = 0.25
    max_s: float = 5.0

    def delay(self, attempt: int, rng: Callable[[], float]) -> float:
        return float(rng() * min(self.max_s, self.base_s * (2 ** attempt)))


class KalshiHttp:
    """The signed, rate-limited HTTP client to the Trade API (module docstring).

    Use as ``async with ...:``. ``transport`` lets tests pass an ``httpx.MockTransport``;
    ``in_flight_settle_s`` is how long a lookup of an in-flight create waits before looking, so that
    an order still being processed has time to appear.
    """

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

    async def __aenter__(self) -> Self:
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
            asked: float | None = None  # the answer's Retry-After, in seconds
            try:
                resp = await self._send("GET", path, params=params)
            except TransportError as exc:
                err: ExchangeError = exc
            else:
                if resp.status_code < 400:
                    try:
                        return answers.body_of(resp.content)
                    except ProtocolError as exc:  # cut short, or a proxy's page: reading again is safe
                        err = ProtocolError(f"GET {path}: HTTP {resp.status_code}: {exc}")
                else:
                    err = answers.error_of(resp.status_code, resp.content)
                    if not isinstance(err, RateLimited | ServerError):
                        raise err
                    asked = retry_after_s(resp.headers.get("retry-after"))
            if attempt == last:
                raise err
            delay = self.retry.delay(attempt, self._rng)
            if asked is not None:  # honoured, up to the longest wait the policy allows
                delay = max(delay, min(asked, self.retry.max_s))
            log.warning("kalshi_read_retry", path=path, attempt=attempt + 1, delay_s=round(delay, 3),
                        retry_after_s=asked, error=f"{type(err).__name__}: {err}")
            await trio.sleep(delay)
        raise AssertionError("unreachable")

    async def _paginate(self, path: str, key: str, params: dict[str, Any]) -> list[Any]:
        """All items of a cursor-paginated list (an empty or missing cursor ends it). An answer without
        the list's ``key`` is a :class:`ProtocolError`, never an empty list: "no orders" or "no fills"
        read from an answer of another shape would be believed (``null`` is an empty list)."""
        items: list[Any] = []
        cursor: str | None = None
        seen: set[str] = set()
        while True:
            body = await self._get(path, {**params, "limit": self.page_limit, "cursor": cursor})
            items.extend(listed(body, key, path))
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

    async def read(self, path: str, params: dict[str, Any] | None = None) -> Any:
        """A GET of ``path`` (rate-limited, retried like every read) and its decoded JSON body."""
        return await self._get(path, params)


def listed(body: Any, key: str, path: str) -> list[Any]:
    """The ``key`` list of one page of a list answer (``null``: empty). An answer without it is a
    :class:`ProtocolError`, never an empty list: "no orders" or "no fills" read from an answer of
    another shape would be believed."""
    if not isinstance(body, dict) or key not in body:
        got = f"keys {sorted(body)}" if isinstance(body, dict) else type(body).__name__
        raise ProtocolError(f"GET {path}: expected an object with a {key!r} list, got {got}")
    page = body[key]
    if page is None:
        return []
    if not isinstance(page, list):
        raise ProtocolError(f"GET {path}: {key!r} is not a list")
    return page
