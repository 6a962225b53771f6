"""Kalshi WebSocket commands, and payloads (``msg`` objects) → typed values (the current AsyncAPI:
``_dollars`` / ``_fp`` strings, ``book_side``, ``ts_ms``). Fills and orders are :mod:`.objects`.

Same rules as :mod:`.fields`: numbers as strings or JSON numbers, unknown fields
ignored, deprecated fields never read; a malformed payload raises
:class:`~kalshid.exchange.errors.ProtocolError` naming the field. The hot path (orderbook deltas)
is :func:`parse_delta`.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from datetime import datetime
from decimal import Decimal
from typing import Any

import attrs

from kalshid.core import wire as w
from kalshid.core.book import Level
from kalshid.exchange.base import (
    FeedEvent,
    FillReceived,
    IndexPrinted,
    MarketLifecycle,
    OrderUpdated,
    PositionUpdated,
    TickerUpdated,
    TradePrinted,
)
from kalshid.exchange.errors import ProtocolError
from kalshid.exchange.kalshi.wire.fees import parse_event_fee_update
from kalshid.exchange.kalshi.wire.fields import (
    Obj,
    counts,
    field,
    integer,
    money,
    one_of,
    opt,
    public_counts,
    string,
)
from kalshid.exchange.kalshi.wire.objects import book_sides, parse_fill, parse_order
from kalshid.exchange.types import BOOK_SIDES, ORDER_STATUSES, IndexPrint
from kalshid.logs import get_logger

log = get_logger(__name__)


@attrs.frozen
class Command:
    """A command to send: ``{"id": id, "cmd": cmd, "params": params}``. Ids are unique per session."""

    id: int
    cmd: str
    params: dict[str, Any] = attrs.field(hash=False)

    def encode(self) -> str:
        """The frame's text."""
        return json.dumps({"id": self.id, "cmd": self.cmd, "params": self.params}, separators=(",", ":"))


def _no_price(price_cc: int, side: str, yes_priced: bool) -> int:
    """A level's own-side bid price: with ``use_yes_price`` the NO side comes as YES prices (1 − p)."""
    return 10_000 - price_cc if yes_priced and side == "no" else price_cc


def parse_snapshot(m: Obj, *, yes_priced: bool = False) -> tuple[str, tuple[Level, ...], tuple[Level, ...],
                                                                 datetime | None]:
    """``orderbook_snapshot`` → (ticker, yes bids, no bids, exchange ts if sent), sizes in hundredths of a
    contract (fractional ones exact). ``yes_priced``: the
    subscription asked ``use_yes_price`` (NO levels in YES prices; turned back into NO bids here)."""
    ticker = field(m, "market_ticker", "orderbook_snapshot", string)
    yes, no = book_sides(m, f"orderbook_snapshot {ticker}", "_dollars_fp")
    if yes_priced:
        no = tuple((10_000 - p, n) for p, n in no)
    return ticker, yes, no, opt(m, "ts_ms", f"orderbook_snapshot {ticker}", w.timestamp)


def parse_delta(m: Obj, *, yes_priced: bool = False) -> tuple[str, str, int, int, datetime | None]:
    """``orderbook_delta`` → (ticker, side, price_cc of that side's bid, signed delta in hundredths of a
    contract, exchange ts). A delta finer than 0.01 contract is a :class:`ProtocolError`."""
    try:
        ticker = m["market_ticker"]
        side = m["side"]
        price = w.dollars_cc(m["price_dollars"], "orderbook_delta.price_dollars")
        delta = w.count_centi(m["delta_fp"], "orderbook_delta.delta_fp")
        ts_ms = m.get("ts_ms")
        exchange_ts = w.timestamp(ts_ms, "orderbook_delta.ts_ms") if ts_ms else None
    except KeyError as exc:
        raise ProtocolError(f"orderbook_delta: missing field {exc.args[0]!r}") from None
    except w.WireValueError as exc:
        raise ProtocolError(str(exc)) from exc
    if side not in ("yes", "no") or not isinstance(ticker, str):
        raise ProtocolError(f"orderbook_delta: bad side {side!r} or market_ticker {ticker!r}")
    return ticker, side, _no_price(price, side, yes_priced), delta, exchange_ts


def parse_ticker(m: Obj, local_time: float) -> TickerUpdated:
    """``ticker``: counts (volume, open interest, quote sizes) in whole contracts, rounded down."""
    ctx = "ticker"
    return TickerUpdated(
        ticker=field(m, "market_ticker", ctx, string),
        price_cc=money(m, "price_dollars", None, ctx, required=False),
        yes_bid_cc=money(m, "yes_bid_dollars", None, ctx, required=False),
        yes_ask_cc=money(m, "yes_ask_dollars", None, ctx, required=False),
        volume=public_counts(m, "volume_fp", ctx, required=False),
        open_interest=public_counts(m, "open_interest_fp", ctx, required=False),
        ts=opt(m, "ts_ms", ctx, w.timestamp) or opt(m, "ts", ctx, w.timestamp),
        local_time=local_time,
        yes_bid_size=public_counts(m, "yes_bid_size_fp", ctx, required=False),
        yes_ask_size=public_counts(m, "yes_ask_size_fp", ctx, required=False),
    )


def parse_trade(m: Obj, local_time: float) -> TradePrinted:
    """``trade``: the taker's direction is ``taker_book_side`` (``bid`` took YES, ``ask`` took NO). The
    count is in whole contracts, rounded down (a trade of 0.50 prints 0: nothing a whole order could
    have taken)."""
    ctx = f"trade {m.get('trade_id', '?')}"
    yes = money(m, "yes_price_dollars", None, ctx)
    no = money(m, "no_price_dollars", None, ctx, required=False)
    n = public_counts(m, "count_fp", ctx)
    assert yes is not None and n is not None
    taker_book = field(m, "taker_book_side", ctx, one_of(BOOK_SIDES))
    return TradePrinted(
        ticker=field(m, "market_ticker", ctx, string), trade_id=field(m, "trade_id", ctx, string),
        count=n, yes_price_cc=yes, no_price_cc=10_000 - yes if no is None else no,
        taker_side="yes" if taker_book == "bid" else "no",
        ts=opt(m, "ts_ms", ctx, w.timestamp) or opt(m, "ts", ctx, w.timestamp), local_time=local_time,
    )


def parse_market_position(m: Obj, local_time: float) -> PositionUpdated:
    """``market_position``: count strings and dollar strings."""
    ctx = f"market_position {m.get('market_ticker', '?')}"
    pos = counts(m, "position_fp", None, ctx)
    assert pos is not None
    return PositionUpdated(
        ticker=field(m, "market_ticker", ctx, string), position=pos,
        position_cost_cc=money(m, "position_cost_dollars", None, ctx, required=False),
        realized_pnl_cc=money(m, "realized_pnl_dollars", None, ctx, required=False),
        fees_paid_cc=money(m, "fees_paid_dollars", None, ctx, required=False),
        volume=counts(m, "volume_fp", None, ctx, required=False), local_time=local_time,
    )


def parse_lifecycle(m: Obj, local_time: float) -> MarketLifecycle:
    """``market_lifecycle_v2``. The strike comes in ``additional_metadata`` on ``created`` and at the top
    level of the message on ``metadata_updated`` (the strike published or changed)."""
    ctx = f"market_lifecycle_v2 {m.get('market_ticker', '?')}"
    floor = opt(m, "floor_strike", ctx, w.decimal)
    meta = m.get("additional_metadata")
    if floor is None and isinstance(meta, Mapping):
        floor = opt(meta, "floor_strike", ctx + ".additional_metadata", w.decimal)
    return MarketLifecycle(
        ticker=field(m, "market_ticker", ctx, string), event_type=field(m, "event_type", ctx, string),
        local_time=local_time,
        open_ts=opt(m, "open_ts", ctx, w.timestamp), close_ts=opt(m, "close_ts", ctx, w.timestamp),
        result=opt(m, "result", ctx, string),
        settlement_value_cc=money(m, "settlement_value", None, ctx, required=False),
        determination_ts=opt(m, "determination_ts", ctx, w.timestamp),
        settled_ts=opt(m, "settled_ts", ctx, w.timestamp),
        is_deactivated=m.get("is_deactivated") if isinstance(m.get("is_deactivated"), bool) else None,
        floor_strike=floor,
    )


def _frame(v: Any) -> Mapping[str, Any] | None:
    """A CF Benchmarks frame, sent as an object or as a JSON string."""
    if isinstance(v, str):
        try:
            v = json.loads(v, parse_float=Decimal)
        except ValueError:
            return None
    return v if isinstance(v, Mapping) else None


def _avg(m: Obj, key: str, ctx: str) -> tuple[Decimal | None, int | None]:
    """A ``cfbenchmarksAvgData`` object (``value``, ``window_size``, …) → (value, window size)."""
    v = m.get(key)
    if v is None:
        return None, None
    if not isinstance(v, Mapping):
        raise ProtocolError(f"{ctx}.{key}: expected an object, got {v!r}")
    return field(v, "value", f"{ctx}.{key}", w.decimal), opt(v, "window_size", f"{ctx}.{key}", integer)


def parse_index(m: Obj, local_time: float) -> IndexPrint:
    """``cfbenchmarks_value`` / ``_5hz``. The value is ``value_usd`` (5 Hz) or the raw CF frame's
    ``value`` in ``data`` (a JSON string); the time the frame's ``time``, else ``source_ts_ms``, else
    ``received_at``. ``avg_60s_data`` is the trailing 60-second average; in the last minute before a
    quarter hour ``last_60s_windowed_average_15min`` is the closing average the window settles on."""
    index_id = field(m, "index_id", "cfbenchmarks_value", string)
    ctx = f"cfbenchmarks_value {index_id}"
    data = _frame(m.get("data"))
    value: Decimal | None = None
    for src, key in ((m, "value_usd"), (data, "value")):
        if src is not None and src.get(key) not in (None, ""):
            value = field(src, key, ctx, w.decimal)
            break
    if value is None:
        raise ProtocolError(f"{ctx}: no index value (looked at 'value_usd', 'data.value')")
    ts: datetime | None = None
    for src, key in ((data, "time"), (m, "source_ts_ms"), (m, "received_at")):
        if src is not None and src.get(key) not in (None, ""):
            ts = field(src, key, ctx, w.timestamp)
            break
    avg, _ = _avg(m, "avg_60s_data", ctx)
    close_avg, close_window = _avg(m, "last_60s_windowed_average_15min", ctx)
    return IndexPrint(index_id=index_id, value=value, exchange_ts=ts, local_time=local_time,
                      avg_60s=avg, close_avg_60s=close_avg, close_avg_window=close_window)


def event_of(typ: object, body: Obj, now: float) -> FeedEvent | None:
    """The feed event a data message of type ``typ`` carries (received at ``now``), or None for a type
    the feed does not handle or an order update whose status is ``unknown`` (the REST read or the
    next update says). Raises :class:`ProtocolError` naming the field when the payload is malformed."""
    if typ == "fill":
        return FillReceived(parse_fill(body), now)
    if typ == "user_order":
        if body.get("status") not in ORDER_STATUSES:
            log.info("kalshi_ws_order_status_unknown", order_id=body.get("order_id"), status=body.get("status"))
            return None
        return OrderUpdated(parse_order(body), now)
    if typ == "market_position":
        return parse_market_position(body, now)
    if typ in ("cfbenchmarks_value", "cfbenchmarks_value_5hz"):
        return IndexPrinted(parse_index(body, now), now)
    if typ == "ticker":
        return parse_ticker(body, now)
    if typ == "trade":
        return parse_trade(body, now)
    if typ == "market_lifecycle_v2":
        return parse_lifecycle(body, now)
    if typ == "event_fee_update":
        return parse_event_fee_update(body, now)
    log.debug("kalshi_ws_unhandled", type=typ)
    return None
