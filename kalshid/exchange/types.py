"""Domain types exchanged with any :class:`~kalshid.exchange.base.Exchange` (Kalshi, simulator, paper).

All frozen attrs classes. Money and prices are ``int`` centi-cents (``_cc``; $1 = 10 000 cc), counts
are ``int`` contracts, index values and strikes are ``Decimal``. Times are aware UTC datetimes from
the *exchange* (never the local wall clock); ``local_time`` fields are the receiver's trio clock.
JSON never appears here: :mod:`kalshid.exchange.kalshi.wire` converts at the edge.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from decimal import Decimal
from typing import Literal, TypeVar

import attrs

from kalshid.core.book import OrderBook
from kalshid.core.fees import FeeStructure, effective_fee_structure
from kalshid.core.units import CC_PER_CENT, ONE_DOLLAR_CC, UnitError, check_price_cc
from kalshid.core.vocab import Action, BookSide, Side, TimeInForce, book_side_of

__all__ = [
    "Action", "AmendRequest", "Balance", "BookSide", "CancelResult", "EventFees", "ExchangeStatus", "FeeStructure",
    "Fill", "IndexPrint", "Market", "Order", "OrderBook", "OrderChange", "OrderRequest", "OrderStatus", "Position",
    "PriceRange", "SelfTradePrevention", "SeriesFees", "Settlement", "Side", "TimeInForce", "book_side_of",
    "intent_of",
]

OrderStatus = Literal["resting", "canceled", "executed"]
SelfTradePrevention = Literal["taker_at_cross", "maker"]
T = TypeVar("T")

# The wire strings of each vocabulary, for parsers that check a raw value.
SIDES: tuple[str, ...] = tuple(m.value for m in Side)
ACTIONS: tuple[str, ...] = tuple(m.value for m in Action)
ORDER_STATUSES: tuple[OrderStatus, ...] = ("resting", "canceled", "executed")
TIMES_IN_FORCE: tuple[str, ...] = tuple(m.value for m in TimeInForce)
BOOK_SIDES: tuple[str, ...] = tuple(m.value for m in BookSide)
SELF_TRADE_PREVENTION: tuple[SelfTradePrevention, ...] = ("taker_at_cross", "maker")


# Converters: the types take a member or its wire string and hold the member (``ValueError`` names a
# value that is neither), so ``is`` comparisons hold whoever built the object. A dict lookup, because
# fills and orders are built on the hot path and ``Side(value)`` costs several times more.
_SIDE_OF: dict[str, Side] = {m.value: m for m in Side}
_ACTION_OF: dict[str, Action] = {m.value: m for m in Action}
_BOOK_SIDE_OF: dict[str, BookSide] = {m.value: m for m in BookSide}
_TIF_OF: dict[str, TimeInForce] = {m.value: m for m in TimeInForce}


def _member(table: Mapping[str, T], value: str, kind: str) -> T:
    try:
        return table[value]
    except (KeyError, TypeError):
        raise ValueError(f"{value!r} is not a valid {kind}") from None


def _side(value: str) -> Side:
    return _member(_SIDE_OF, value, "Side")


def _action(value: str) -> Action:
    return _member(_ACTION_OF, value, "Action")


def _opt_action(value: str | None) -> Action | None:
    return None if value is None else _member(_ACTION_OF, value, "Action")


def _opt_side(value: str | None) -> Side | None:
    return None if value is None else _member(_SIDE_OF, value, "Side")


def _opt_book_side(value: str | None) -> BookSide | None:
    return None if value is None else _member(_BOOK_SIDE_OF, value, "BookSide")


def _opt_tif(value: str | None) -> TimeInForce | None:
    return None if value is None else _member(_TIF_OF, value, "TimeInForce")


def intent_of(book_side: BookSide) -> tuple[Side, Action]:
    """The (side, action) an order or fill of ``book_side`` is read as when nothing else is known about
    it (an order not placed by kalshid): a purchase of its outcome side. ``bid`` buys YES, ``ask`` buys
    NO; on Kalshi, which nets YES and NO in one position, that moves the position exactly as the trade
    did whatever the placer meant (buying NO and selling YES are the same trade)."""
    return (Side.YES, Action.BUY) if book_side == BookSide.BID else (Side.NO, Action.BUY)


@attrs.frozen
class ExchangeStatus:
    exchange_active: bool
    trading_active: bool
    estimated_resume_time: datetime | None = None


@attrs.frozen
class SeriesFees:
    """A series' fee structure (``GET /series/{series_ticker}``: ``fee_type``, ``fee_multiplier``)."""

    series_ticker: str
    fee: FeeStructure


@attrs.frozen
class EventFees:
    """An event's fee override (``GET /events/{event_ticker}``: ``fee_type_override``,
    ``fee_multiplier_override``); None where the event sets none (its series' applies)."""

    event_ticker: str
    series_ticker: str
    fee_type_override: str | None = None
    fee_multiplier_override: Decimal | None = None

    def effective(self, series: FeeStructure) -> FeeStructure:
        """The fee structure of this event's markets, given its series'."""
        return effective_fee_structure(series, self.fee_type_override, self.fee_multiplier_override)


@attrs.frozen
class PriceRange:
    """Prices in ``[start_cc, end_cc]`` are valid on multiples of ``step_cc`` counted from ``start_cc``."""

    start_cc: int
    end_cc: int
    step_cc: int


@attrs.frozen
class Market:
    """One market as listed by the exchange.

    ``status`` is the exchange's object status (``active``, ``closed``, ``determined``, ``finalized``…;
    the simulator and older APIs may say ``open``/``unopened``/``settled``). Quote fields are the
    exchange's top of book: ``yes_bid_cc == 0`` means no bid, ``yes_ask_cc == 10 000`` no ask.
    """

    ticker: str
    event_ticker: str
    status: str
    open_time: datetime
    close_time: datetime
    floor_strike: Decimal | None = None
    yes_bid_cc: int | None = None
    yes_ask_cc: int | None = None
    no_bid_cc: int | None = None
    no_ask_cc: int | None = None
    last_price_cc: int | None = None
    volume: int | None = None
    open_interest: int | None = None
    result: str = ""
    settlement_value_cc: int | None = None
    expiration_value: str = ""
    strike_type: str | None = None
    price_level_structure: str = ""
    price_ranges: tuple[PriceRange, ...] = ()
    can_close_early: bool = False
    exchange_index: int = 0

    def tick_cc(self, price_cc: int) -> int | None:
        """The tick size that applies at ``price_cc``, or None if no range covers it."""
        for r in self.price_ranges:
            if r.start_cc <= price_cc <= r.end_cc:
                return r.step_cc
        return None

    def is_valid_price(self, price_cc: int) -> bool:
        """True iff ``price_cc`` lies on this market's tick grid (no ranges known: whole cents)."""
        if not 0 < price_cc < 10_000:
            return False
        if not self.price_ranges:
            return price_cc % CC_PER_CENT == 0
        return any(r.start_cc <= price_cc <= r.end_cc and (price_cc - r.start_cc) % r.step_cc == 0
                   for r in self.price_ranges)


def _positive(_inst: object, attribute: attrs.Attribute[int], value: int) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
        raise UnitError(f"{attribute.name}: expected a positive integer, got {value!r}")


def _price(_inst: object, attribute: attrs.Attribute[int], value: int) -> None:
    check_price_cc(value, what=attribute.name)


@attrs.frozen
class OrderRequest:
    """A new limit order. ``price_cc`` is the price of ``side`` (a NO buy at 4 200 cc pays $0.42).

    ``client_order_id`` is the idempotency key (a UUID4); it must be unique per order, and an order
    is only ever sent once with it. On Kalshi's YES-quoted book the order is a ``bid`` or an ``ask`` at
    ``yes_price_cc`` (:attr:`book_side`). ``time_in_force`` None means good-till-canceled;
    ``reduce_only`` needs immediate-or-cancel and ``expiration_ts`` (Unix seconds) good-till-canceled.
    ``self_trade_prevention``: ``taker_at_cross`` (the default) cancels the incoming order when it
    would cross one of our own resting orders, so what rests is never pulled by our own new order.
    """

    ticker: str
    side: Side = attrs.field(converter=_side)
    action: Action = attrs.field(converter=_action)
    count: int = attrs.field(validator=_positive)
    price_cc: int = attrs.field(validator=_price)
    client_order_id: str = attrs.field(validator=attrs.validators.min_len(1))
    time_in_force: TimeInForce | None = attrs.field(default=None, converter=_opt_tif)
    post_only: bool = False
    reduce_only: bool = False
    expiration_ts: int | None = None
    cancel_order_on_pause: bool | None = None
    self_trade_prevention: SelfTradePrevention = attrs.field(
        default="taker_at_cross", validator=attrs.validators.in_(SELF_TRADE_PREVENTION))

    def __attrs_post_init__(self) -> None:
        tif = self.tif
        if self.reduce_only and tif != "immediate_or_cancel":
            raise UnitError("reduce_only: only valid with time_in_force immediate_or_cancel")
        if self.expiration_ts is not None and tif != "good_till_canceled":
            raise UnitError("expiration_ts: only valid with time_in_force good_till_canceled")

    @property
    def tif(self) -> TimeInForce:
        """The time in force that is sent (always sent: good-till-canceled when not given)."""
        return self.time_in_force or TimeInForce.GOOD_TILL_CANCELED

    @property
    def book_side(self) -> BookSide:
        return book_side_of(self.side, self.action)

    @property
    def yes_price_cc(self) -> int:
        """The order's price on the YES-quoted book."""
        return self.price_cc if self.side == "yes" else ONE_DOLLAR_CC - self.price_cc


@attrs.frozen
class AmendRequest:
    """A change of a resting order's price and/or size (``AmendOrderV2Request``). ``request`` is the
    order as it should now stand (ticker, side, action, new price, client ids); ``total_count`` is
    what may fill in all: contracts already filled plus the desired resting remainder. Changing the
    price or raising the size sends the order to the back of the queue; lowering it keeps its place."""

    order_id: str
    request: OrderRequest
    total_count: int
    updated_client_order_id: str | None = None


@attrs.frozen
class Order:
    """An order as the exchange reports it. ``status`` is resting (possibly partly filled), canceled
    or executed (fully filled). ``fill_count + remaining_count`` is the current max size.

    ``book_side`` is what the exchange says (``bid`` buys YES, ``ask`` sells YES); ``side``/``action``
    are the placer's intent when known (an order kalshid built), else :func:`intent_of` the book side.
    ``action`` is None only when the source does not say."""

    order_id: str
    client_order_id: str
    ticker: str
    side: Side = attrs.field(converter=_side)
    action: Action | None = attrs.field(converter=_opt_action)
    status: OrderStatus
    yes_price_cc: int
    no_price_cc: int
    fill_count: int
    remaining_count: int
    initial_count: int
    taker_fill_cost_cc: int = 0
    maker_fill_cost_cc: int = 0
    taker_fees_cc: int = 0
    maker_fees_cc: int = 0
    type: str = "limit"
    created_time: datetime | None = None
    last_update_time: datetime | None = None
    expiration_time: datetime | None = None
    book_side: BookSide | None = attrs.field(default=None, converter=_opt_book_side)

    @property
    def price_cc(self) -> int:
        """The limit price of this order's own side."""
        return self.yes_price_cc if self.side == "yes" else self.no_price_cc

    @property
    def fees_cc(self) -> int:
        return self.taker_fees_cc + self.maker_fees_cc

    @property
    def is_open(self) -> bool:
        return self.status == "resting"


@attrs.frozen
class CancelResult:
    """The outcome of a cancel: how many contracts it removed (0: the order had already filled or been
    canceled) and the order as it then stands, when the exchange could say (None: ask later)."""

    order_id: str
    reduced_by: int
    order: Order | None = None


@attrs.frozen
class OrderChange:
    """The answer to an amend or a decrease: the counts the exchange reported (None: not reported)."""

    order_id: str
    client_order_id: str | None
    remaining_count: int | None
    fill_count: int | None = None
    ts: datetime | None = None


@attrs.frozen
class Fill:
    """One fill of one of our orders. ``ts`` is the exchange time of the trade.

    The exchange reports only the YES-book side (``book_side``); ``side``/``action`` are :func:`intent_of`
    it until the fill is joined by ``order_id`` with the order that made it (:meth:`with_intent`)."""

    fill_id: str
    order_id: str
    ticker: str
    side: Side = attrs.field(converter=_side)
    action: Action = attrs.field(converter=_action)
    count: int
    yes_price_cc: int
    no_price_cc: int
    is_taker: bool
    fee_cc: int
    ts: datetime | None
    client_order_id: str | None = None
    post_position: int | None = None
    purchased_side: Side | None = attrs.field(default=None, converter=_opt_side)
    book_side: BookSide | None = attrs.field(default=None, converter=_opt_book_side)

    @property
    def price_cc(self) -> int:
        return self.yes_price_cc if self.side == "yes" else self.no_price_cc

    def with_intent(self, side: Side, action: Action) -> Fill:
        """This fill as a trade of ``side``/``action`` (the order's intent, known from the journal)."""
        return attrs.evolve(self, side=side, action=action)


@attrs.frozen
class Position:
    """Our position in one market: ``position`` > 0 is YES contracts, < 0 is NO contracts."""

    ticker: str
    position: int
    total_traded_cc: int = 0
    market_exposure_cc: int = 0
    realized_pnl_cc: int = 0
    fees_paid_cc: int = 0
    resting_orders_count: int = 0
    last_updated: datetime | None = None


@attrs.frozen
class Settlement:
    """A market's settlement of our position. ``revenue_cc`` is what was paid out to us."""

    ticker: str
    event_ticker: str
    market_result: str
    yes_count: int
    no_count: int
    yes_total_cost_cc: int
    no_total_cost_cc: int
    revenue_cc: int
    fee_cc: int
    settled_time: datetime | None
    value_cc: int | None = None


@attrs.frozen
class Balance:
    """Cash available for trading and the marked value of open positions."""

    balance_cc: int
    portfolio_value_cc: int | None = None
    updated_ts: datetime | None = None


@attrs.frozen
class IndexPrint:
    """One print of a settlement index (e.g. ``SOLUSD_RTI``).

    ``exchange_ts`` is the source's time for the value (the CF frame time, else Kalshi's
    ``received_at``); ``avg_60s`` the trailing 60-second average when the feed sent one;
    ``close_avg_60s`` the average over the last 60 s before the coming quarter hour (sent only in that
    minute, over ``close_avg_window`` seconds so far), which is what a 15-minute window settles on.
    """

    index_id: str
    value: Decimal
    exchange_ts: datetime | None
    local_time: float
    avg_60s: Decimal | None = None
    close_avg_60s: Decimal | None = None
    close_avg_window: int | None = None
