"""The simulator's records and events: frozen values, replaced (never mutated) on every change.

Money and prices are centi-cents (cc), counts (orders, fills, trades, positions, volume, open
interest) integers in hundredths of a contract (:mod:`kalshid.sim.counts`), times simulated Unix
seconds (float). JSON shapes live in :mod:`kalshid.sim.wire`; nothing here knows about the wire.

Positions: a market's YES and NO holdings net into one signed position as on Kalshi (a buy closes
the other side first, :mod:`kalshid.sim.accounts`); ``position_fp`` on the wire is ``yes − no``
(positive = YES, negative = NO).
"""

from __future__ import annotations

from decimal import Decimal
from typing import Literal

import attrs

from kalshid.core.markets import Window
from kalshid.core.matching import BookDelta
from kalshid.core.vocab import Action, Side, TimeInForce

MarketStatus = Literal["initialized", "active", "closed", "determined", "finalized"]
OrderStatus = Literal["resting", "canceled", "executed"]
Stp = Literal["taker_at_cross", "maker"]
LifecycleType = Literal["created", "activated", "deactivated", "metadata_updated", "determined", "settled"]

# `/markets?status=` vocabulary → Market.status values it selects.
STATUS_FILTER: dict[str, tuple[MarketStatus, ...]] = {
    "unopened": ("initialized",),
    "open": ("active",),
    "paused": (),  # the simulator never pauses trading in a market
    "closed": ("closed", "determined"),
    "settled": ("finalized",),
}


class ExchangeError(Exception):
    """A request the exchange refuses. ``status`` is the HTTP status, ``code`` a stable string,
    ``field`` the offending request field when there is one."""

    def __init__(self, status: int, code: str, message: str, *, field: str | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.field = field

    def __repr__(self) -> str:
        return f"ExchangeError({self.status}, {self.code!r}, {self.message!r})"


@attrs.frozen
class Market:
    ticker: str
    event_ticker: str
    window: Window
    created_ts: float
    updated_ts: float
    status: MarketStatus = "initialized"
    floor_strike: Decimal | None = None
    expiration_value: Decimal | None = None
    result: Literal["yes", "no", ""] = ""
    determined_ts: float | None = None
    settled_ts: float | None = None
    last_price_cc: int = 0
    last_trade_size: int = 0
    volume: int = 0
    traded_notional_cc: int = 0  # Σ count × YES price of every trade
    open_interest: int = 0


@attrs.frozen
class OrderRequest:
    """A validated order. ``price_cc`` is the limit in the order's own side's terms."""

    ticker: str
    side: Side
    action: Action
    count: int
    price_cc: int
    client_order_id: str | None = None
    time_in_force: TimeInForce | None = None
    expiration_ts: int | None = None
    buy_max_cost_cc: int | None = None
    post_only: bool = False
    reduce_only: bool = False
    self_trade_prevention_type: Stp | None = None
    cancel_order_on_pause: bool = False


@attrs.frozen
class Order:
    order_id: str
    user_id: str
    client_order_id: str
    ticker: str
    side: Side
    action: Action
    order_type: Literal["limit", "market"]
    price_cc: int
    initial_count: int
    fill_count: int
    remaining_count: int
    status: OrderStatus
    created_ts: float
    updated_ts: float
    expiration_ts: int | None = None
    time_in_force: TimeInForce | None = None
    self_trade_prevention_type: Stp | None = None
    cancel_order_on_pause: bool = False
    taker_fill_cost_cc: int = 0
    maker_fill_cost_cc: int = 0
    taker_fees_cc: int = 0
    maker_fees_cc: int = 0
    taker_fee_terms: int = 0  # Σ C·p·(1−p) of taker fills, for the per-order fee accumulator
    maker_fee_terms: int = 0


@attrs.frozen
class Fill:
    fill_id: str
    trade_id: str
    order_id: str
    user_id: str
    client_order_id: str
    ticker: str
    side: Side
    action: Action
    count: int
    price_cc: int  # the order side's price
    is_taker: bool
    fee_cc: int
    ts: float
    post_position: int

    @property
    def yes_price_cc(self) -> int:
        return self.price_cc if self.side == "yes" else 10_000 - self.price_cc

    @property
    def purchased_side(self) -> Side:
        return self.side if self.action == "buy" else Side(self.side).other


@attrs.frozen
class Trade:
    trade_id: str
    ticker: str
    count: int
    yes_price_cc: int
    taker_side: Side
    ts: float


@attrs.frozen
class Position:
    """One user's holdings in one market. ``*_cost_cc`` is the cost basis of contracts still held."""

    user_id: str
    ticker: str
    yes: int = 0
    no: int = 0
    yes_cost_cc: int = 0
    no_cost_cc: int = 0
    realized_pnl_cc: int = 0
    fees_paid_cc: int = 0
    total_traded_cc: int = 0
    volume: int = 0
    resting_orders: int = 0
    updated_ts: float = 0.0

    @property
    def signed(self) -> int:
        return self.yes - self.no

    @property
    def exposure_cc(self) -> int:
        return self.yes_cost_cc + self.no_cost_cc


@attrs.frozen
class Settlement:
    user_id: str
    ticker: str
    event_ticker: str
    market_result: Side
    yes_count: int
    yes_total_cost_cc: int
    no_count: int
    no_total_cost_cc: int
    revenue_cc: int
    fee_cost_cc: int
    settled_ts: float


# --- events the engine emits; the WS layer fans them out -------------------------------------


@attrs.frozen
class OrderEvent:
    order: Order


@attrs.frozen
class FillEvent:
    fill: Fill


@attrs.frozen
class PositionEvent:
    position: Position


@attrs.frozen
class BookEvent:
    ticker: str
    delta: BookDelta
    ts: float
    client_order_id: str | None = None
    user_id: str | None = None


@attrs.frozen
class TradeEvent:
    trade: Trade


@attrs.frozen
class TickerEvent:
    market: Market
    yes_bid_cc: int | None
    yes_ask_cc: int | None
    ts: float
    yes_bid_size: int = 0
    yes_ask_size: int = 0


@attrs.frozen
class LifecycleEvent:
    market: Market
    event_type: LifecycleType
    ts: float


Event = OrderEvent | FillEvent | PositionEvent | BookEvent | TradeEvent | TickerEvent | LifecycleEvent
