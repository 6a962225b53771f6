"""Domain types exchanged with any :class:`~kalshid.exchange.base.Exchange` (Kalshi, simulator, paper).

All frozen attrs classes. Money and prices are ``int`` centi-cents (``_cc``; $1 = 10 000 cc), counts
are ``int`` contracts, index values and strikes are ``Decimal``. Times are aware UTC datetimes from
the *exchange* (never the local wall clock); ``local_time`` fields are the receiver's trio clock.
JSON never appears here: :mod:`kalshid.exchange.kalshi.wire` converts at the edge.
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Literal

import attrs

from kalshid.core.book import OrderBook
from kalshid.core.units import CC_PER_CENT, UnitError, check_price_cc

__all__ = [
    "Action", "Balance", "CancelResult", "ExchangeStatus", "Fill", "IndexPrint", "Market", "Order",
    "OrderBook", "OrderRequest", "OrderStatus", "Position", "PriceRange", "Settlement", "Side",
    "TimeInForce",
]

Side = Literal["yes", "no"]
Action = Literal["buy", "sell"]
OrderStatus = Literal["resting", "canceled", "executed"]
TimeInForce = Literal["fill_or_kill", "good_till_canceled", "immediate_or_cancel"]

SIDES: tuple[Side, ...] = ("yes", "no")
ACTIONS: tuple[Action, ...] = ("buy", "sell")
ORDER_STATUSES: tuple[OrderStatus, ...] = ("resting", "canceled", "executed")
TIMES_IN_FORCE: tuple[TimeInForce, ...] = ("fill_or_kill", "good_till_canceled", "immediate_or_cancel")


@attrs.frozen
class ExchangeStatus:
    exchange_active: bool
    trading_active: bool
    estimated_resume_time: datetime | None = None


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
    fractional_trading_enabled: bool = False
    can_close_early: bool = False

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
    is only ever POSTed once with it. ``buy_max_cost_cc`` (whole cents) makes the order fill-or-kill.
    """

    ticker: str
    side: Side = attrs.field(validator=attrs.validators.in_(SIDES))
    action: Action = attrs.field(validator=attrs.validators.in_(ACTIONS))
    count: int = attrs.field(validator=_positive)
    price_cc: int = attrs.field(validator=_price)
    client_order_id: str = attrs.field(validator=attrs.validators.min_len(1))
    time_in_force: TimeInForce | None = attrs.field(
        default=None, validator=attrs.validators.optional(attrs.validators.in_(TIMES_IN_FORCE)))
    post_only: bool = False
    reduce_only: bool = False
    buy_max_cost_cc: int | None = attrs.field(default=None)
    expiration_ts: int | None = None  # Unix seconds (UNCONFIRMED unit, API-NOTES §4.9)
    cancel_order_on_pause: bool | None = None

    @buy_max_cost_cc.validator
    def _check_max_cost(self, _a: attrs.Attribute[int | None], value: int | None) -> None:
        if value is None:
            return
        if self.action != "buy":
            raise UnitError("buy_max_cost_cc: only valid on buy orders")
        if isinstance(value, bool) or not isinstance(value, int) or value <= 0 or value % CC_PER_CENT:
            raise UnitError(f"buy_max_cost_cc: expected a positive whole number of cents (in cc), "
                            f"got {value!r}")


@attrs.frozen
class Order:
    """An order as the exchange reports it. ``status`` is resting (possibly partly filled), canceled
    or executed (fully filled). ``fill_count + remaining_count`` is the current max size.
    ``action`` is None only when the source does not say (the WS ``user_order`` channel omits it)."""

    order_id: str
    client_order_id: str
    ticker: str
    side: Side
    action: Action | None
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
    """The outcome of a cancel: the order as it now stands and how many contracts the cancel removed
    (0 means it had already filled or been canceled)."""

    order: Order
    reduced_by: int


@attrs.frozen
class Fill:
    """One fill of one of our orders. ``ts`` is the exchange time of the trade."""

    fill_id: str
    order_id: str
    ticker: str
    side: Side
    action: Action
    count: int
    yes_price_cc: int
    no_price_cc: int
    is_taker: bool
    fee_cc: int
    ts: datetime | None
    client_order_id: str | None = None
    post_position: int | None = None
    purchased_side: Side | None = None

    @property
    def price_cc(self) -> int:
        return self.yes_price_cc if self.side == "yes" else self.no_price_cc


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
    ``received_at``); ``avg_60s`` the trailing 60-second average when the feed sent one.
    """

    index_id: str
    value: Decimal
    exchange_ts: datetime | None
    local_time: float
    avg_60s: Decimal | None = None
