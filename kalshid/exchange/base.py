"""The one seam between kalshid and an exchange: :class:`Exchange` (requests) and :class:`MarketFeed`
(the stream), plus the typed events the stream delivers.

Implementations: :class:`kalshid.exchange.kalshi.rest.KalshiRest` and
:class:`~kalshid.exchange.kalshi.ws.KalshiFeed` against Kalshi's hosts or the simulator, and
later a paper exchange that takes market data from a real one and fills orders itself. Everything
crossing the seam is a frozen type from :mod:`kalshid.exchange.types`; errors are
:mod:`kalshid.exchange.errors`.

Write-side contract (NautilusTrader-style): ``create_order`` raises :class:`OrderInFlight` when the
outcome is unknown; the order is then resolved with ``resolve_in_flight`` and is never sent twice.
``cancel_order`` (routed by the market's ticker), ``amend_order`` and ``decrease_order`` raise
:class:`CancelInFlight` likewise; resolve with ``get_order``.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterable, Sequence
from datetime import datetime
from decimal import Decimal
from types import TracebackType
from typing import Protocol

import attrs
import trio

from kalshid.exchange.types import (
    AmendRequest,
    Balance,
    CancelResult,
    EventFees,
    ExchangeStatus,
    Fill,
    IndexPrint,
    Market,
    Order,
    OrderBook,
    OrderChange,
    OrderRequest,
    Position,
    SeriesFees,
    Settlement,
)

# --- stream events. Every event has ``local_time``: the trio clock when it was received. ---


@attrs.frozen
class BookUpdated:
    """A market's book changed; ``book`` is the full current snapshot (never a diff), so a consumer
    that misses coalesced updates still holds the latest state."""

    book: OrderBook
    local_time: float


@attrs.frozen
class IndexPrinted:
    print: IndexPrint
    local_time: float


@attrs.frozen
class FillReceived:
    fill: Fill
    local_time: float


@attrs.frozen
class OrderUpdated:
    """A ``user_order`` message: the order's full current state."""

    order: Order
    local_time: float


@attrs.frozen
class PositionUpdated:
    """A ``market_position`` message (dollar strings on the wire, cc here)."""

    ticker: str
    position: int
    position_cost_cc: int | None
    realized_pnl_cc: int | None
    fees_paid_cc: int | None
    volume: int | None
    local_time: float


@attrs.frozen
class MarketLifecycle:
    """A ``market_lifecycle_v2`` event: created, activated, deactivated, close_date_updated,
    determined (with ``result``/``settlement_value_cc``) or settled. Times are the exchange's."""

    ticker: str
    event_type: str
    local_time: float
    open_ts: datetime | None = None
    close_ts: datetime | None = None
    result: str | None = None
    settlement_value_cc: int | None = None
    determination_ts: datetime | None = None
    settled_ts: datetime | None = None
    is_deactivated: bool | None = None
    floor_strike: Decimal | None = None


@attrs.frozen
class EventFeeUpdated:
    """An ``event_fee_update`` (delivered on the ``market_lifecycle_v2`` channel): an event's fee override
    set, or cleared (both None: its series' fee structure applies again). ``error``: the message named the
    event but its overrides could not be read (both None then, meaning nothing): the event's structure is
    not known until it is read again."""

    event_ticker: str
    fee_type_override: str | None
    fee_multiplier_override: Decimal | None
    local_time: float
    error: str | None = None


@attrs.frozen
class TradePrinted:
    """A public trade in a market (anyone's)."""

    ticker: str
    trade_id: str
    count: int
    yes_price_cc: int
    no_price_cc: int
    taker_side: str
    ts: datetime | None
    local_time: float


@attrs.frozen
class TickerUpdated:
    ticker: str
    price_cc: int | None
    yes_bid_cc: int | None
    yes_ask_cc: int | None
    volume: int | None
    open_interest: int | None
    ts: datetime | None
    local_time: float
    yes_bid_size: int | None = None
    yes_ask_size: int | None = None


@attrs.frozen
class FeedStale:
    """The book of ``ticker`` lost sync (sequence gap, bad delta, disconnect); do not trade on it
    until :class:`FeedResynced`. ``reason`` says why."""

    ticker: str
    reason: str
    local_time: float


@attrs.frozen
class FeedResynced:
    """A fresh snapshot arrived for ``ticker``; its book is trustworthy again."""

    ticker: str
    local_time: float


@attrs.frozen
class Reconnected:
    """The connection was re-established and everything re-subscribed. Fills and order updates that
    happened while disconnected were *not* replayed: reconcile via REST (``list_fills(since=...)``)."""

    attempt: int
    local_time: float


@attrs.frozen
class SubscriptionFailed:
    """The exchange refused a subscription command (e.g. code 16 market not found)."""

    channel: str
    code: int | None
    message: str
    market_tickers: tuple[str, ...]
    local_time: float


FeedEvent = (BookUpdated | IndexPrinted | FillReceived | OrderUpdated | PositionUpdated | MarketLifecycle
             | EventFeeUpdated | TradePrinted | TickerUpdated | FeedStale | FeedResynced | Reconnected
             | SubscriptionFailed)


class EventSink(Protocol):
    """Where a feed writes its events: a ``trio.MemorySendChannel[FeedEvent]`` or the pipeline's
    :class:`~kalshid.trading.router.FeedRouter`. ``send_nowait`` raises ``trio.WouldBlock`` when there is
    no room (having delivered nothing); ``send`` waits for room; the feed closes it when it ends."""

    def send_nowait(self, value: FeedEvent, /) -> None: ...

    async def send(self, value: FeedEvent, /) -> None: ...

    def clone(self) -> EventSink: ...

    def close(self) -> None: ...

    async def aclose(self) -> None: ...

    async def __aenter__(self) -> EventSink: ...

    async def __aexit__(self, exc_type: type[BaseException] | None, exc_value: BaseException | None,
                        traceback: TracebackType | None) -> None: ...


class MarketFeed(Protocol):
    """A long-lived stream of :data:`FeedEvent` for a changing set of markets.

    ``run`` is a long-lived task: it calls ``task_status.started()`` once connected and subscribed,
    reconnects on transient failures, and raises on anything else. ``set_markets`` changes which
    markets' books/tickers/trades are followed, also while connected.
    """

    async def run(self, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None: ...

    async def set_markets(self, tickers: Iterable[str]) -> None: ...

    def book(self, ticker: str) -> OrderBook | None: ...


class OrderReply(Protocol):
    """An order request on its way (:meth:`Exchange.submit`); :meth:`order` is its answer, with
    :meth:`Exchange.create_order`'s errors."""

    async def order(self) -> Order: ...


class UnsentOrder:
    """``submit`` for an exchange that makes an order request in one step: nothing is sent until
    :meth:`order`, which makes the whole ``create_order`` call."""

    def __init__(self, create: Callable[[OrderRequest], Awaitable[Order]], request: OrderRequest) -> None:
        self._create = create
        self._request = request

    async def order(self) -> Order:
        return await self._create(self._request)


class Exchange(Protocol):
    """Requests to an exchange. Reads may be retried internally; writes never are."""

    # market data
    async def get_exchange_status(self) -> ExchangeStatus: ...

    async def list_markets(self, *, series_ticker: str | None = None, status: str | None = None,
                           event_ticker: str | None = None,
                           tickers: Sequence[str] | None = None) -> list[Market]: ...

    async def get_market(self, ticker: str) -> Market: ...

    async def get_orderbook(self, ticker: str, *, depth: int = 0) -> OrderBook: ...

    async def get_series_fees(self, series_ticker: str) -> SeriesFees:
        """The series' published fee structure (``fee_type``, ``fee_multiplier``)."""
        ...

    async def get_event_fees(self, event_ticker: str) -> EventFees:
        """The event's fee override (None fields: the series' structure applies)."""
        ...

    # portfolio
    async def get_balance(self) -> Balance: ...

    async def list_orders(self, *, ticker: str | None = None, status: str | None = None,
                          min_ts: datetime | None = None) -> list[Order]: ...

    async def get_order(self, order_id: str) -> Order: ...

    async def find_order_by_client_id(self, client_order_id: str, *, ticker: str) -> Order | None: ...

    async def list_fills(self, *, ticker: str | None = None, since: datetime | None = None) -> list[Fill]: ...

    async def list_positions(self, *, ticker: str | None = None) -> list[Position]: ...

    async def list_settlements(self, *, ticker: str | None = None,
                               since: datetime | None = None) -> list[Settlement]: ...

    # orders
    async def submit(self, request: OrderRequest) -> OrderReply:
        """Place ``request`` once: the one way the daemon places an order. The adapter sends it now
        when it can (the bytes leave before ``submit`` returns); otherwise nothing is sent until
        ``await reply.order()``, which also reads the answer. Never waits for tokens or a connection;
        raises only :class:`~kalshid.exchange.errors.OrderInFlight` (a write that failed), the answer's
        errors come from ``order()``."""
        ...

    async def create_order(self, request: OrderRequest) -> Order:
        """``await (await submit(request)).order()``: place and wait for the answer (tools, tests)."""
        ...

    async def resolve_in_flight(self, client_order_id: str, *, ticker: str) -> Order | None: ...

    async def cancel_order(self, order_id: str, *, ticker: str) -> CancelResult: ...

    async def decrease_order(self, order_id: str, *, ticker: str, reduce_by: int | None = None,
                             reduce_to: int | None = None) -> OrderChange: ...

    async def amend_order(self, amend: AmendRequest) -> OrderChange: ...

    async def cancel_all_orders(self) -> None:
        """Cancel every resting order of the account (the kill switch). Orders placed in the minute
        after it may be cancelled as well: place none then."""
        ...
