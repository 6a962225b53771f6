"""Kalshi WebSocket payloads (``msg`` objects) → typed values (API-NOTES §5.5, §5.7; asyncapi 2.0.0).

Same tolerance rules as :mod:`kalshid.exchange.kalshi.wire`: new fixed-point strings first, legacy
integers as fallback, numbers as strings or JSON numbers; a malformed payload raises
:class:`~kalshid.exchange.errors.ProtocolError` naming the field. The hot path (orderbook deltas)
is :func:`parse_delta`.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from datetime import datetime
from decimal import Decimal
from typing import Any

from kalshid.core import wire as w
from kalshid.core.book import Level
from kalshid.exchange.base import MarketLifecycle, PositionUpdated, TickerUpdated, TradePrinted
from kalshid.exchange.errors import ProtocolError
from kalshid.exchange.kalshi.wire import Obj, book_sides, counts, field, money, opt, string
from kalshid.exchange.types import IndexPrint


def parse_snapshot(m: Obj) -> tuple[str, tuple[Level, ...], tuple[Level, ...], datetime | None]:
    """``orderbook_snapshot`` → (ticker, yes bids, no bids, exchange ts if sent)."""
    ticker = field(m, "market_ticker", "orderbook_snapshot", string)
    yes, no = book_sides(m, f"orderbook_snapshot {ticker}")
    return ticker, yes, no, opt(m, "ts", f"orderbook_snapshot {ticker}", w.timestamp)


def parse_delta(m: Obj) -> tuple[str, str, int, int, datetime | None]:
    """``orderbook_delta`` → (ticker, side, price_cc, signed delta, exchange ts if sent)."""
    try:
        ticker = m["market_ticker"]
        side = m["side"]
        pd = m.get("price_dollars")
        price = w.dollars_cc(pd, "orderbook_delta.price_dollars") if pd is not None \
            else w.cents_cc(m["price"], "orderbook_delta.price")
        dfp = m.get("delta_fp")
        delta = w.count(dfp, "orderbook_delta.delta_fp") if dfp is not None \
            else w.count(m["delta"], "orderbook_delta.delta")
        ts = m.get("ts")
        exchange_ts = w.timestamp(ts, "orderbook_delta.ts") if ts else None
    except KeyError as exc:
        raise ProtocolError(f"orderbook_delta: missing field {exc.args[0]!r}") from None
    except w.WireValueError as exc:
        raise ProtocolError(str(exc)) from exc
    if side not in ("yes", "no") or not isinstance(ticker, str):
        raise ProtocolError(f"orderbook_delta: bad side {side!r} or market_ticker {ticker!r}")
    return ticker, side, price, delta, exchange_ts


def parse_ticker(m: Obj, local_time: float) -> TickerUpdated:
    ctx = "ticker"
    return TickerUpdated(
        ticker=field(m, "market_ticker", ctx, string),
        price_cc=money(m, "price_dollars", "price", ctx, required=False),
        yes_bid_cc=money(m, "yes_bid_dollars", "yes_bid", ctx, required=False),
        yes_ask_cc=money(m, "yes_ask_dollars", "yes_ask", ctx, required=False),
        volume=counts(m, "volume_fp", "volume", ctx, required=False),
        open_interest=counts(m, "open_interest_fp", "open_interest", ctx, required=False),
        ts=opt(m, "ts", ctx, w.timestamp) or opt(m, "time", ctx, w.timestamp),
        local_time=local_time,
    )


def parse_trade(m: Obj, local_time: float) -> TradePrinted:
    ctx = f"trade {m.get('trade_id', '?')}"
    yes = money(m, "yes_price_dollars", "yes_price", ctx)
    no = money(m, "no_price_dollars", "no_price", ctx, required=False)
    n = counts(m, "count_fp", "count", ctx)
    assert yes is not None and n is not None
    return TradePrinted(
        ticker=field(m, "market_ticker", ctx, string), trade_id=field(m, "trade_id", ctx, string),
        count=n, yes_price_cc=yes, no_price_cc=10_000 - yes if no is None else no,
        taker_side=field(m, "taker_side", ctx, string),
        ts=opt(m, "ts", ctx, w.timestamp) or opt(m, "created_time", ctx, w.timestamp), local_time=local_time,
    )


def parse_market_position(m: Obj, local_time: float) -> PositionUpdated:
    """``market_position``: its money fields are centi-cents already (API-NOTES §5.5)."""
    ctx = f"market_position {m.get('market_ticker', '?')}"
    pos = counts(m, "position_fp", "position", ctx)
    assert pos is not None

    def cc(key: str) -> int | None:
        return opt(m, key, ctx, _int_cc)

    return PositionUpdated(
        ticker=field(m, "market_ticker", ctx, string), position=pos,
        position_cost_cc=cc("position_cost"), realized_pnl_cc=cc("realized_pnl"),
        fees_paid_cc=cc("fees_paid"),
        volume=counts(m, "volume_fp", "volume", ctx, required=False), local_time=local_time,
    )


def _int_cc(v: object, where: str) -> int:
    d = w.decimal(v, where)
    if d != d.to_integral_value():
        raise w.WireValueError(f"{where}: expected whole centi-cents, got {v!r}")
    return int(d)


def parse_lifecycle(m: Obj, local_time: float) -> MarketLifecycle:
    ctx = f"market_lifecycle_v2 {m.get('market_ticker', '?')}"
    meta = m.get("additional_metadata")
    floor = None
    if isinstance(meta, Mapping):
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


def parse_index(m: Obj, local_time: float) -> IndexPrint:
    """``cfbenchmarks_value`` / ``_5hz``. The value is taken from ``value`` / ``value_usd``, else from
    the raw CF frame in ``data``; the time from the frame's ``time``, else ``source_ts_ms``, else
    ``received_at`` (all UNCONFIRMED shapes, API-NOTES §5.7: be tolerant, but never invent a value)."""
    index_id = field(m, "index_id", "cfbenchmarks_value", string)
    ctx = f"cfbenchmarks_value {index_id}"
    data = _frame(m.get("data"))
    value: Decimal | None = None
    for src, key in ((m, "value"), (m, "value_usd"), (data, "value")):
        if src is not None and src.get(key) not in (None, ""):
            value = field(src, key, ctx, w.decimal)
            break
    if value is None:
        raise ProtocolError(f"{ctx}: no index value (looked at 'value', 'value_usd', 'data.value')")
    ts: datetime | None = None
    for src, key in ((data, "time"), (m, "source_ts_ms"), (m, "received_at")):
        if src is not None and src.get(key) not in (None, ""):
            ts = field(src, key, ctx, w.timestamp)
            break
    # avg_60s_data's shape is UNCONFIRMED: an object (or JSON string of one) with "value", or a bare
    # number. It is optional for us, so an unrecognised shape yields None rather than an error.
    raw_avg = m.get("avg_60s_data")
    avg = _frame(raw_avg)
    avg_value: Decimal | None = None
    if avg is not None:
        if avg.get("value") not in (None, ""):
            avg_value = field(avg, "value", ctx + ".avg_60s_data", w.decimal)
    elif raw_avg not in (None, ""):
        try:
            avg_value = w.decimal(raw_avg, ctx + ".avg_60s_data")
        except w.WireValueError:
            avg_value = None
    return IndexPrint(index_id=index_id, value=value, exchange_ts=ts, local_time=local_time,
                      avg_60s=avg_value)
