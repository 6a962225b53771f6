"""Record types written to and read from the journal: small frozen attrs classes, validated on build.

Conventions (the same as :mod:`kalshid.core.units`):

- Money and prices are ``int`` centi-cents (``*_cc``; $1 = 10 000 cc). A price is the price of the
  contract ``side`` named on the record (a NO buy at 58 c has ``price_cc=5800``), in ``[1, 9999]``.
- Counts are whole contracts.
- Times are timezone-aware ``datetime``; the journal stores them as integer microseconds since the
  Unix epoch (UTC), so ordering and day bucketing are exact.
- ``side`` is the contract whose holding changes: a ``buy`` adds to it, a ``sell`` removes from it.

Every constructor raises :class:`ValueError` (or ``TypeError``) naming the field and value when the
input is wrong; nothing is silently defaulted.
"""

from __future__ import annotations

import enum
import math
from datetime import datetime
from typing import Any, Generic, TypeVar

import attrs

from kalshid.core.vocab import Action, Side, TimeInForce

T = TypeVar("T")


def journal_tif(value: str | TimeInForce) -> TimeInForce:
    """The time in force an order was journaled with. An order with no time in force rests until
    canceled: ``resting``, as the journal may hold it, reads as :attr:`TimeInForce.GOOD_TILL_CANCELED`."""
    return TimeInForce.GOOD_TILL_CANCELED if value == "resting" else TimeInForce(value)


class OrderState(enum.StrEnum):
    """Where an order stands, as the journal knows it (see :mod:`kalshid.store.orderstate`)."""

    PENDING = "pending"  # journaled, not yet sent
    IN_FLIGHT = "in_flight"  # sent; the exchange's answer has not been seen
    RESTING = "resting"
    PARTIALLY_FILLED = "partially_filled"
    EXECUTED = "executed"
    CANCELED = "canceled"
    REJECTED = "rejected"

    @property
    def is_terminal(self) -> bool:
        return self in (OrderState.EXECUTED, OrderState.CANCELED, OrderState.REJECTED)

    @property
    def is_unacknowledged(self) -> bool:
        """Journaled but possibly never acknowledged: resolve by ``client_order_id`` after a restart."""
        return self in (OrderState.PENDING, OrderState.IN_FLIGHT)


class SettlementResult(enum.StrEnum):
    YES = "yes"
    NO = "no"
    SCALAR = "scalar"
    VOID = "void"


class JournalCheck(enum.StrEnum):
    """Outcome of checking an exchange settlement against the fills in the journal."""

    OK = "ok"
    MISMATCH = "mismatch"


class UpdateOutcome(enum.StrEnum):
    """What :meth:`Journal.apply_order_update` did with an update."""

    APPLIED = "applied"
    DUPLICATE = "duplicate"  # same state and counts as stored: nothing to do
    STALE = "stale"  # fewer fills than already known: an older message arriving late
    ILLEGAL = "illegal"  # a transition the state machine forbids (terminal states are sticky)
    TAKEN_BACK = "taken_back"  # applied to an order given up as never sent: the exchange has it after all
    UNKNOWN = "unknown"  # no order with that client_order_id / order_id: adopt it if external


# ---- validators -------------------------------------------------------------------------------------


def _aware(_inst: Any, attribute: attrs.Attribute[Any], value: Any) -> None:
    if not isinstance(value, datetime):
        raise TypeError(f"{attribute.name}: expected a datetime, got {value!r}")
    if value.tzinfo is None or value.utcoffset() is None:
        raise ValueError(f"{attribute.name}: naive datetime {value!r}; pass a timezone-aware time")


def _int(lo: int | None = None, hi: int | None = None) -> Any:
    def check(_inst: Any, attribute: attrs.Attribute[Any], value: Any) -> None:
        if isinstance(value, bool) or not isinstance(value, int):
            raise TypeError(f"{attribute.name}: expected an int, got {value!r}")
        if lo is not None and value < lo:
            raise ValueError(f"{attribute.name}: {value} is below {lo}")
        if hi is not None and value > hi:
            raise ValueError(f"{attribute.name}: {value} is above {hi}")

    return check


def _finite(_inst: Any, attribute: attrs.Attribute[Any], value: Any) -> None:
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise ValueError(f"{attribute.name}: expected a finite number, got {value!r}")


def _text(_inst: Any, attribute: attrs.Attribute[Any], value: Any) -> None:
    if not isinstance(value, str) or not value.strip():
        raise ValueError(f"{attribute.name}: expected a non-empty string, got {value!r}")


_PRICE = _int(1, 9_999)
_COUNT = _int(1)
_NONNEG = _int(0)


# ---- records written --------------------------------------------------------------------------------


@attrs.frozen
class Signal:
    """A strategy's wish to trade. ``fair_prob``/``edge``/``confidence`` are probabilities (floats)."""

    ts: datetime = attrs.field(validator=_aware)
    strategy: str = attrs.field(validator=_text)
    ticker: str = attrs.field(validator=_text)
    side: Side = attrs.field(converter=Side)
    action: Action = attrs.field(converter=Action)
    price_cc: int = attrs.field(validator=_PRICE)
    count: int = attrs.field(validator=_COUNT)
    fair_prob: float = attrs.field(validator=_finite)
    edge: float = attrs.field(validator=_finite)
    confidence: float = attrs.field(validator=_finite)
    reason: str = ""


@attrs.frozen
class RiskVerdict:
    """The risk engine's answer to one signal."""

    signal_id: int = attrs.field(validator=_int(1))
    ts: datetime = attrs.field(validator=_aware)
    approved: bool = attrs.field(validator=attrs.validators.instance_of(bool))
    reason_code: str = attrs.field(validator=_text)
    detail: str = ""


@attrs.frozen
class OrderIntent:
    """One order we are about to send; ``client_order_id`` is its idempotency key, one per intent."""

    client_order_id: str = attrs.field(validator=_text)
    ts: datetime = attrs.field(validator=_aware)
    strategy: str = attrs.field(validator=_text)
    ticker: str = attrs.field(validator=_text)
    side: Side = attrs.field(converter=Side)
    action: Action = attrs.field(converter=Action)
    price_cc: int = attrs.field(validator=_PRICE)
    count: int = attrs.field(validator=_COUNT)
    tif: TimeInForce = attrs.field(converter=journal_tif)
    signal_id: int | None = attrs.field(default=None, validator=attrs.validators.optional(_int(1)))


@attrs.frozen
class OrderUpdate:
    """What the exchange says about an order (REST answer, ``user_order`` message, reconciliation).

    At least one of ``client_order_id`` / ``order_id`` is required; the journal looks the order up by
    ``client_order_id`` first. ``source`` says where the update came from, for the event log.
    ``gives_up`` marks a ``rejected`` that is this daemon's conclusion, not the exchange's: an order
    of unknown outcome not found by its ``client_order_id`` (the exchange may still report it later,
    and then the journal takes it back; see :mod:`kalshid.store.orderstate`).
    """

    state: OrderState = attrs.field(converter=OrderState)
    ts: datetime = attrs.field(validator=_aware)
    filled: int = attrs.field(validator=_NONNEG)
    remaining: int = attrs.field(validator=_NONNEG)
    fees_cc: int = attrs.field(validator=_NONNEG)
    client_order_id: str | None = None
    order_id: str | None = None
    source: str = "exchange"
    detail: str = ""
    gives_up: bool = False

    def __attrs_post_init__(self) -> None:
        if not self.client_order_id and not self.order_id:
            raise ValueError("OrderUpdate: needs a client_order_id or an order_id")
        if self.gives_up and self.state is not OrderState.REJECTED:
            raise ValueError(f"OrderUpdate: only a rejection gives an order up, not {self.state.value!r}")


@attrs.frozen
class ExternalOrder:
    """An order found on the exchange that this journal did not place; adopted and flagged external."""

    order_id: str = attrs.field(validator=_text)
    ts: datetime = attrs.field(validator=_aware)
    ticker: str = attrs.field(validator=_text)
    side: Side = attrs.field(converter=Side)
    action: Action = attrs.field(converter=Action)
    price_cc: int = attrs.field(validator=_PRICE)
    count: int = attrs.field(validator=_COUNT)
    state: OrderState = attrs.field(converter=OrderState)
    filled: int = attrs.field(validator=_NONNEG)
    remaining: int = attrs.field(validator=_NONNEG)
    fees_cc: int = attrs.field(validator=_NONNEG)
    client_order_id: str | None = None


@attrs.frozen
class Fill:
    """One execution, keyed by the exchange's ``fill_id`` (= legacy ``trade_id``).

    ``strategy`` may be left ``None``: the journal takes it from the order (by ``client_order_id``,
    else ``order_id``) when it records the fill.
    """

    fill_id: str = attrs.field(validator=_text)
    order_id: str = attrs.field(validator=_text)
    ticker: str = attrs.field(validator=_text)
    side: Side = attrs.field(converter=Side)
    action: Action = attrs.field(converter=Action)
    count: int = attrs.field(validator=_COUNT)
    price_cc: int = attrs.field(validator=_PRICE)
    fee_cc: int = attrs.field(validator=_NONNEG)
    is_taker: bool = attrs.field(validator=attrs.validators.instance_of(bool))
    ts: datetime = attrs.field(validator=_aware)
    client_order_id: str | None = None
    strategy: str | None = None


@attrs.frozen
class Settlement:
    """The exchange's settlement of one market (``GET /portfolio/settlements``), converted to cc.

    ``revenue_cc`` is what the exchange credited (its ``revenue`` is cents: multiply by 100).
    ``yes_value_cc`` is what one YES contract paid; required for ``scalar``, implied for yes/no
    (10 000 / 0) and ignored for ``void`` (positions are refunded at cost).
    """

    ticker: str = attrs.field(validator=_text)
    result: SettlementResult = attrs.field(converter=SettlementResult)
    revenue_cc: int = attrs.field(validator=_NONNEG)
    yes_count: int = attrs.field(validator=_NONNEG)
    no_count: int = attrs.field(validator=_NONNEG)
    settled_ts: datetime = attrs.field(validator=_aware)
    fee_cc: int = attrs.field(default=0, validator=_NONNEG)
    yes_value_cc: int | None = attrs.field(default=None, validator=attrs.validators.optional(_int(0, 10_000)))

    def __attrs_post_init__(self) -> None:
        if self.result is SettlementResult.SCALAR and self.yes_value_cc is None:
            raise ValueError(f"Settlement {self.ticker}: a scalar result needs yes_value_cc")

    @property
    def yes_payout_cc(self) -> int | None:
        """Per-contract payout of YES (NO pays the complement); ``None`` for a void market."""
        if self.result is SettlementResult.YES:
            return 10_000
        if self.result is SettlementResult.NO:
            return 0
        return self.yes_value_cc if self.result is SettlementResult.SCALAR else None


@attrs.frozen
class EquitySnapshot:
    ts: datetime = attrs.field(validator=_aware)
    cash_cc: int = attrs.field(validator=_int())
    equity_cc: int = attrs.field(validator=_int())
    peak_cc: int = attrs.field(validator=_int())


@attrs.frozen
class BreakerEvent:
    ts: datetime = attrs.field(validator=_aware)
    from_state: str = attrs.field(validator=_text)
    to_state: str = attrs.field(validator=_text)
    reason: str = attrs.field(validator=_text)


# ---- records read -----------------------------------------------------------------------------------


@attrs.frozen
class OrderRecord:
    """One row of ``orders``: the intent plus what the exchange has said since."""

    client_order_id: str
    order_id: str | None
    ts: datetime
    strategy: str
    signal_id: int | None
    ticker: str
    side: Side
    action: Action
    price_cc: int
    count: int
    tif: TimeInForce
    state: OrderState
    filled: int
    remaining: int
    fees_cc: int
    last_update: datetime
    external: bool
    dry_run: bool
    given_up: bool = False  # rejected by this daemon's give-up, not by the exchange (see OrderUpdate)


@attrs.frozen
class OrderEvent:
    client_order_id: str
    ts: datetime
    event: str
    detail: dict[str, Any]


@attrs.frozen
class Decision:
    """A journaled signal with the risk verdict on it (``approved`` None: none was journaled) and the
    order it became (``client_order_id`` and its ``ordered`` count, which a reduction makes smaller than
    the signal's; approved signals only)."""

    signal_id: int
    signal: Signal
    approved: bool | None
    reason_code: str | None
    detail: str | None
    client_order_id: str | None
    ordered: int | None


@attrs.frozen
class SettlementRecord:
    settlement: Settlement
    check: JournalCheck
    check_detail: str


@attrs.frozen
class Position:
    """A market's position derived from the journal's fills and settlement (average cost, :mod:`kalshid.core.pnl`)."""

    ticker: str
    yes_count: int  # negative only if more YES was sold than bought (should not happen on Kalshi)
    no_count: int
    cost_basis_cc: int  # open cost of what is still held (net of short proceeds)
    fees_cc: int
    realized_cc: int  # gross, before fees
    settled: bool
    updated: datetime


@attrs.frozen
class PnlRow:
    """Realized P&L for one group (a UTC day ``YYYY-MM-DD``, a strategy or a ticker)."""

    key: str
    realized_cc: int
    fees_cc: int
    net_cc: int
    fills: int
    contracts: int


@attrs.frozen
class Page(Generic[T]):
    """One page of a keyset-paginated list; pass ``next_cursor`` back for the next (``None`` = last)."""

    items: tuple[T, ...]
    next_cursor: str | None
