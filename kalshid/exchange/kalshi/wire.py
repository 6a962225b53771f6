"""Kalshi REST JSON ↔ domain types, in one place (API-NOTES §3, §4; openapi v3.13).

Tolerant of what Kalshi has sent over time: the current ``*_dollars`` / ``*_fp`` strings, legacy
integer cents and counts, numbers as strings or as JSON numbers. Strict about what we need: a missing
or malformed required field raises :class:`ProtocolError` naming the object and the field.

Decode JSON with :func:`loads` (fractions become ``Decimal``, never float).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from datetime import datetime
from decimal import Decimal
from typing import Any, TypeVar

from kalshid.core import wire as w
from kalshid.core.book import Level, OrderBook
from kalshid.core.units import CC_PER_CENT, format_count
from kalshid.exchange.errors import ProtocolError
from kalshid.exchange.types import (
    ACTIONS,
    ORDER_STATUSES,
    SIDES,
    Balance,
    CancelResult,
    ExchangeStatus,
    Fill,
    Market,
    Order,
    OrderRequest,
    Position,
    PriceRange,
    Settlement,
)

T = TypeVar("T")
Obj = Mapping[str, Any]


_DECODER = json.JSONDecoder(parse_float=Decimal)  # built once: json.loads(..., parse_float=) builds one per call


def loads(data: bytes | str) -> Any:
    """Decode JSON exactly: non-integral numbers become ``Decimal``."""
    try:
        return _DECODER.decode(data.decode() if isinstance(data, bytes) else data)
    except ValueError as exc:
        raise ProtocolError(f"response is not JSON: {exc}") from exc


def field(obj: Obj, key: str, ctx: str, conv: Callable[[object, str], T]) -> T:
    """``conv(obj[key])``, or :class:`ProtocolError` naming ``ctx.key``."""
    if key not in obj or obj[key] is None:
        raise ProtocolError(f"{ctx}: missing field {key!r}")
    try:
        return conv(obj[key], f"{ctx}.{key}")
    except (w.WireValueError, ValueError, TypeError) as exc:
        raise ProtocolError(str(exc)) from exc


def opt(obj: Obj, key: str, ctx: str, conv: Callable[[object, str], T]) -> T | None:
    """Like :func:`field` but None when the key is absent, null or an empty string."""
    v = obj.get(key)
    if v is None or v == "":
        return None
    return field(obj, key, ctx, conv)


def _new_or_legacy(obj: Obj, key: str, convert: Callable[[object, str], int], legacy_key: str | None,
                   legacy_convert: Callable[[object, str], int], ctx: str, required: bool) -> int | None:
    """The 2026 field if present, else its legacy integer twin; missing both is an error if required."""
    if obj.get(key) not in (None, ""):
        return field(obj, key, ctx, convert)
    if legacy_key is not None and obj.get(legacy_key) not in (None, ""):
        return field(obj, legacy_key, ctx, legacy_convert)
    if required:
        alt = f" (or {legacy_key!r})" if legacy_key else ""
        raise ProtocolError(f"{ctx}: missing field {key!r}{alt}")
    return None


def money(obj: Obj, dollars_key: str, cents_key: str | None, ctx: str, *,
          required: bool = True) -> int | None:
    """A money/price field in cc: the ``*_dollars`` string, else the legacy integer-cents field."""
    return _new_or_legacy(obj, dollars_key, w.dollars_cc, cents_key, w.cents_cc, ctx, required)


def counts(obj: Obj, fp_key: str, legacy_key: str | None, ctx: str, *, required: bool = True) -> int | None:
    """A count field: the ``*_fp`` string, else the legacy integer."""
    return _new_or_legacy(obj, fp_key, w.count, legacy_key, w.count, ctx, required)


def string(v: object, where: str) -> str:
    if not isinstance(v, str):
        raise w.WireValueError(f"{where}: expected a string, got {v!r}")
    return v


def boolean(v: object, where: str) -> bool:
    if not isinstance(v, bool):
        raise w.WireValueError(f"{where}: expected a boolean, got {v!r}")
    return v


def one_of(choices: tuple[str, ...]) -> Callable[[object, str], Any]:
    def conv(v: object, where: str) -> str:
        if v not in choices:
            raise w.WireValueError(f"{where}: expected one of {choices}, got {v!r}")
        return str(v)
    return conv


def integer(v: object, where: str) -> int:
    if isinstance(v, bool) or not isinstance(v, int | str):
        raise w.WireValueError(f"{where}: expected an integer, got {v!r}")
    try:
        return int(v)
    except ValueError as exc:
        raise w.WireValueError(f"{where}: expected an integer, got {v!r}") from exc


def obj_of(body: Any, key: str, ctx: str) -> Obj:
    """``body[key]`` as an object, or :class:`ProtocolError`."""
    if not isinstance(body, Mapping) or not isinstance(body.get(key), Mapping):
        raise ProtocolError(f"{ctx}: expected an object under {key!r}")
    return body[key]  # type: ignore[no-any-return]


# ------------------------------------------------------------------ parsers


def parse_exchange_status(d: Obj) -> ExchangeStatus:
    ctx = "exchange_status"
    return ExchangeStatus(
        exchange_active=field(d, "exchange_active", ctx, boolean),
        trading_active=field(d, "trading_active", ctx, boolean),
        estimated_resume_time=opt(d, "exchange_estimated_resume_time", ctx, w.timestamp),
    )


def _price_range(v: object, where: str) -> PriceRange:
    if not isinstance(v, Mapping):
        raise w.WireValueError(f"{where}: expected an object, got {v!r}")
    r = PriceRange(start_cc=field(v, "start", where, w.dollars_cc),
                   end_cc=field(v, "end", where, w.dollars_cc),
                   step_cc=field(v, "step", where, w.dollars_cc))
    if r.step_cc <= 0 or r.end_cc < r.start_cc:
        raise w.WireValueError(f"{where}: inconsistent price range {v!r}")
    return r


def _price_ranges(ranges: list[Any], ctx: str) -> tuple[PriceRange, ...]:
    try:
        return tuple(_price_range(r, f"{ctx}.price_ranges[{i}]") for i, r in enumerate(ranges))
    except w.WireValueError as exc:
        raise ProtocolError(str(exc)) from exc


def parse_market(d: Obj) -> Market:
    ctx = f"market {d.get('ticker', '?')}"
    ranges = d.get("price_ranges") or []
    if not isinstance(ranges, list):
        raise ProtocolError(f"{ctx}: price_ranges is not a list")
    return Market(
        ticker=field(d, "ticker", ctx, string),
        event_ticker=field(d, "event_ticker", ctx, string),
        status=field(d, "status", ctx, string),
        open_time=field(d, "open_time", ctx, w.timestamp),
        close_time=field(d, "close_time", ctx, w.timestamp),
        floor_strike=opt(d, "floor_strike", ctx, w.decimal),
        yes_bid_cc=money(d, "yes_bid_dollars", "yes_bid", ctx, required=False),
        yes_ask_cc=money(d, "yes_ask_dollars", "yes_ask", ctx, required=False),
        no_bid_cc=money(d, "no_bid_dollars", "no_bid", ctx, required=False),
        no_ask_cc=money(d, "no_ask_dollars", "no_ask", ctx, required=False),
        last_price_cc=money(d, "last_price_dollars", "last_price", ctx, required=False),
        volume=counts(d, "volume_fp", "volume", ctx, required=False),
        open_interest=counts(d, "open_interest_fp", "open_interest", ctx, required=False),
        result=str(d.get("result") or ""),
        settlement_value_cc=money(d, "settlement_value_dollars", "settlement_value", ctx, required=False),
        expiration_value=str(d.get("expiration_value") or ""),
        strike_type=opt(d, "strike_type", ctx, string),
        price_level_structure=str(d.get("price_level_structure") or ""),
        price_ranges=_price_ranges(ranges, ctx),
        fractional_trading_enabled=bool(d.get("fractional_trading_enabled", False)),
        can_close_early=bool(d.get("can_close_early", False)),
    )


def levels(v: object, where: str, *, cents: bool) -> tuple[Level, ...]:
    """``[[price, count], ...]`` → ((price_cc, count), ...). ``cents`` for the legacy int arrays."""
    if v is None:
        return ()
    if not isinstance(v, list):
        raise ProtocolError(f"{where}: expected a list of [price, count] levels, got {v!r}")
    price = w.cents_cc if cents else w.dollars_cc
    out: list[Level] = []
    for i, lvl in enumerate(v):
        if not isinstance(lvl, list | tuple) or len(lvl) != 2:
            raise ProtocolError(f"{where}[{i}]: expected [price, count], got {lvl!r}")
        try:
            out.append((price(lvl[0], f"{where}[{i}].price"), w.count(lvl[1], f"{where}[{i}].count")))
        except w.WireValueError as exc:
            raise ProtocolError(str(exc)) from exc
    return tuple(out)


def book_sides(d: Obj, where: str) -> tuple[tuple[Level, ...], tuple[Level, ...]]:
    """(yes, no) bid levels from any of the shapes Kalshi has used, newest first."""
    result = []
    for side in ("yes", "no"):
        for key, cents in ((f"{side}_dollars_fp", False), (f"{side}_dollars", False), (side, True)):
            if key in d:
                result.append(levels(d[key], f"{where}.{key}", cents=cents))
                break
        else:
            result.append(())
    return result[0], result[1]


def parse_orderbook(ticker: str, body: Obj) -> OrderBook:
    """``GET /markets/{t}/orderbook``: ``orderbook_fp`` (new) or ``orderbook`` (legacy)."""
    inner = body.get("orderbook_fp")
    if not isinstance(inner, Mapping):
        inner = body.get("orderbook")
    if not isinstance(inner, Mapping):
        raise ProtocolError(f"orderbook {ticker}: expected 'orderbook_fp' or 'orderbook' object")
    yes, no = book_sides(inner, f"orderbook {ticker}")
    return OrderBook(ticker=ticker, yes=tuple(sorted(yes)), no=tuple(sorted(no)))


def parse_order(d: Obj, *, require_action: bool = True) -> Order:
    """An Order from REST (``action`` required) or a WS ``user_order`` (``require_action=False``)."""
    ctx = f"order {d.get('order_id', '?')}"
    side = field(d, "side", ctx, one_of(SIDES))
    yes = money(d, "yes_price_dollars", "yes_price", ctx, required=False)
    no = money(d, "no_price_dollars", "no_price", ctx, required=False)
    if yes is None and no is None:
        raise ProtocolError(f"{ctx}: missing field 'yes_price_dollars' (and 'no_price_dollars')")
    yes = 10_000 - no if yes is None and no is not None else yes
    no = 10_000 - yes if no is None and yes is not None else no
    assert yes is not None and no is not None
    fill = counts(d, "fill_count_fp", "fill_count", ctx)
    remaining = counts(d, "remaining_count_fp", "remaining_count", ctx)
    assert fill is not None and remaining is not None
    initial = counts(d, "initial_count_fp", "initial_count", ctx, required=False)
    return Order(
        order_id=field(d, "order_id", ctx, string),
        client_order_id=str(d.get("client_order_id") or ""),
        ticker=field(d, "ticker", ctx, string),
        side=side,
        action=opt(d, "action", ctx, one_of(ACTIONS)) if not require_action else field(
            d, "action", ctx, one_of(ACTIONS)),
        status=field(d, "status", ctx, one_of(ORDER_STATUSES)),
        yes_price_cc=yes, no_price_cc=no,
        fill_count=fill, remaining_count=remaining,
        initial_count=initial if initial is not None else fill + remaining,
        taker_fill_cost_cc=money(d, "taker_fill_cost_dollars", "taker_fill_cost", ctx, required=False) or 0,
        maker_fill_cost_cc=money(d, "maker_fill_cost_dollars", "maker_fill_cost", ctx, required=False) or 0,
        taker_fees_cc=money(d, "taker_fees_dollars", "taker_fees", ctx, required=False) or 0,
        maker_fees_cc=money(d, "maker_fees_dollars", "maker_fees", ctx, required=False) or 0,
        type=str(d.get("type") or "limit"),
        created_time=opt(d, "created_time", ctx, w.timestamp),
        last_update_time=opt(d, "last_update_time", ctx, w.timestamp),
        expiration_time=opt(d, "expiration_time", ctx, w.timestamp),
    )


def parse_cancel(body: Obj) -> CancelResult:
    order = parse_order(obj_of(body, "order", "cancel response"))
    reduced = counts(body, "reduced_by_fp", "reduced_by", "cancel response", required=False)
    return CancelResult(order=order, reduced_by=reduced or 0)


def parse_fill(d: Obj) -> Fill:
    """A fill from ``GET /portfolio/fills`` or the WS ``fill`` channel (which says ``market_ticker``,
    ``trade_id`` and may omit ``no_price*``)."""
    ctx = f"fill {d.get('fill_id') or d.get('trade_id') or '?'}"
    # Keyed by trade_id when present: REST fills carry both ids (equal on Kalshi, "legacy duplicates"),
    # the WS fill channel only trade_id — one key for both sources is what makes a fill seen twice count once.
    fill_id = d.get("trade_id") or d.get("fill_id")
    if not isinstance(fill_id, str) or not fill_id:
        raise ProtocolError(f"{ctx}: missing field 'fill_id' (or 'trade_id')")
    ticker = d.get("ticker") or d.get("market_ticker")
    if not isinstance(ticker, str) or not ticker:
        raise ProtocolError(f"{ctx}: missing field 'ticker' (or 'market_ticker')")
    yes = money(d, "yes_price_dollars", "yes_price", ctx, required=False)
    no = money(d, "no_price_dollars", "no_price", ctx, required=False)
    if yes is None and no is None:
        raise ProtocolError(f"{ctx}: missing field 'yes_price_dollars'")
    yes = 10_000 - no if yes is None and no is not None else yes
    no = 10_000 - yes if no is None and yes is not None else no
    assert yes is not None and no is not None
    n = counts(d, "count_fp", "count", ctx)
    assert n is not None
    ts = opt(d, "ts", ctx, w.timestamp) or opt(d, "created_time", ctx, w.timestamp)
    return Fill(
        fill_id=fill_id, order_id=field(d, "order_id", ctx, string), ticker=ticker,
        side=field(d, "side", ctx, one_of(SIDES)), action=field(d, "action", ctx, one_of(ACTIONS)),
        count=n, yes_price_cc=yes, no_price_cc=no,
        is_taker=field(d, "is_taker", ctx, boolean),
        fee_cc=money(d, "fee_cost", None, ctx, required=False) or 0,
        ts=ts, client_order_id=opt(d, "client_order_id", ctx, string),
        post_position=counts(d, "post_position_fp", "post_position", ctx, required=False),
        purchased_side=opt(d, "purchased_side", ctx, one_of(SIDES)),
    )


def parse_position(d: Obj) -> Position:
    ctx = f"position {d.get('ticker', '?')}"
    pos = counts(d, "position_fp", "position", ctx)
    assert pos is not None
    return Position(
        ticker=field(d, "ticker", ctx, string), position=pos,
        total_traded_cc=money(d, "total_traded_dollars", "total_traded", ctx, required=False) or 0,
        market_exposure_cc=money(d, "market_exposure_dollars", "market_exposure", ctx, required=False) or 0,
        realized_pnl_cc=money(d, "realized_pnl_dollars", "realized_pnl", ctx, required=False) or 0,
        fees_paid_cc=money(d, "fees_paid_dollars", "fees_paid", ctx, required=False) or 0,
        resting_orders_count=opt(d, "resting_orders_count", ctx, integer) or 0,
        last_updated=opt(d, "last_updated_ts", ctx, w.timestamp),
    )


def parse_settlement(d: Obj) -> Settlement:
    ctx = f"settlement {d.get('ticker', '?')}"
    yes_n = counts(d, "yes_count_fp", "yes_count", ctx)
    no_n = counts(d, "no_count_fp", "no_count", ctx)
    assert yes_n is not None and no_n is not None
    revenue = field(d, "revenue", ctx, w.cents_cc)
    return Settlement(
        ticker=field(d, "ticker", ctx, string), event_ticker=str(d.get("event_ticker") or ""),
        market_result=field(d, "market_result", ctx, string),
        yes_count=yes_n, no_count=no_n,
        yes_total_cost_cc=money(d, "yes_total_cost_dollars", "yes_total_cost", ctx, required=False) or 0,
        no_total_cost_cc=money(d, "no_total_cost_dollars", "no_total_cost", ctx, required=False) or 0,
        revenue_cc=revenue, fee_cc=money(d, "fee_cost", None, ctx, required=False) or 0,
        settled_time=opt(d, "settled_time", ctx, w.timestamp), value_cc=opt(d, "value", ctx, w.cents_cc),
    )


def parse_balance(d: Obj) -> Balance:
    ctx = "balance"
    bal = money(d, "balance_dollars", "balance", ctx)
    assert bal is not None
    return Balance(
        balance_cc=bal,
        portfolio_value_cc=money(d, "portfolio_value_dollars", "portfolio_value", ctx, required=False),
        updated_ts=opt(d, "updated_ts", ctx, w.timestamp),
    )


def encode_order_request(req: OrderRequest) -> dict[str, Any]:
    """The ``POST /portfolio/orders`` body. Whole-cent prices go as integer cents (accepted by every
    API version and avoids the reported dollars-priced-sell trap, API-NOTES §4.9); sub-cent prices as
    ``*_price_dollars``. Optional fields are omitted rather than sent as null."""
    body: dict[str, Any] = {"ticker": req.ticker, "side": req.side, "action": req.action,
                            "count": req.count, "client_order_id": req.client_order_id}
    if req.price_cc % CC_PER_CENT == 0:
        body[f"{req.side}_price"] = req.price_cc // CC_PER_CENT
    else:
        whole, frac = divmod(req.price_cc, 10_000)
        body[f"{req.side}_price_dollars"] = f"{whole}.{frac:04d}"
    if req.time_in_force is not None:
        body["time_in_force"] = req.time_in_force
    if req.post_only:
        body["post_only"] = True
    if req.reduce_only:
        body["reduce_only"] = True
    if req.buy_max_cost_cc is not None:
        body["buy_max_cost"] = req.buy_max_cost_cc // CC_PER_CENT
    if req.expiration_ts is not None:
        body["expiration_ts"] = req.expiration_ts
    if req.cancel_order_on_pause is not None:
        body["cancel_order_on_pause"] = req.cancel_order_on_pause
    return body


def encode_decrease(reduce_by: int) -> dict[str, Any]:
    # Exactly one of reduce_by / reduce_by_fp / reduce_to / reduce_to_fp may be sent (§4.12).
    return {"reduce_by_fp": format_count(reduce_by)}


def unix_seconds(t: datetime) -> int:
    """A Unix-seconds query parameter (``min_ts``) from an aware datetime, rounded down."""
    if t.tzinfo is None:
        raise ValueError("naive datetime: pass timezone-aware times")
    return int(t.timestamp() // 1)
