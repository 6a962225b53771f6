"""Kalshi JSON objects → domain types (Trade API v3.31: ``*_dollars`` / ``*_fp`` strings,
``outcome_side``/``book_side``): exchange status, markets, order books, orders, fills, positions,
settlements, balance — as REST answers and, for orders and fills, as WebSocket messages too.

Field rules in :mod:`.fields`; order-entry bodies and answers in :mod:`.orders`. The deprecated
``side``/``action`` are never read.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from kalshid.core import wire as w
from kalshid.core.book import Level, OrderBook
from kalshid.exchange.errors import ProtocolError
from kalshid.exchange.kalshi.wire.fields import (
    Obj,
    boolean,
    counts,
    field,
    integer,
    money,
    one_of,
    opt,
    public_counts,
    string,
)
from kalshid.exchange.types import (
    BOOK_SIDES,
    ORDER_STATUSES,
    Balance,
    ExchangeStatus,
    Fill,
    Market,
    Order,
    Position,
    PriceRange,
    Settlement,
    intent_of,
)


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
    """A ``Market``: volume and open interest (other traders' counts) in whole contracts, rounded down."""
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
        yes_bid_cc=money(d, "yes_bid_dollars", None, ctx, required=False),
        yes_ask_cc=money(d, "yes_ask_dollars", None, ctx, required=False),
        no_bid_cc=money(d, "no_bid_dollars", None, ctx, required=False),
        no_ask_cc=money(d, "no_ask_dollars", None, ctx, required=False),
        last_price_cc=money(d, "last_price_dollars", None, ctx, required=False),
        volume=public_counts(d, "volume_fp", ctx, required=False),
        open_interest=public_counts(d, "open_interest_fp", ctx, required=False),
        result=str(d.get("result") or ""),
        settlement_value_cc=money(d, "settlement_value_dollars", None, ctx, required=False),
        expiration_value=str(d.get("expiration_value") or ""),
        strike_type=opt(d, "strike_type", ctx, string),
        price_level_structure=str(d.get("price_level_structure") or ""),
        price_ranges=_price_ranges(ranges, ctx),
        can_close_early=bool(d.get("can_close_early", False)),
        exchange_index=opt(d, "exchange_index", ctx, integer) or 0,
    )


def levels(v: object, where: str) -> tuple[Level, ...]:
    """``[["0.4200", "2.50"], ...]`` (dollar price, fixed-point count) → ((price_cc, hundredths), ...):
    other traders' sizes, fractional ones included, exactly (:func:`kalshid.core.wire.count_centi`)."""
    if v is None:
        return ()
    if not isinstance(v, list):
        raise ProtocolError(f"{where}: expected a list of [price, count] levels, got {v!r}")
    out: list[Level] = []
    for i, lvl in enumerate(v):
        if not isinstance(lvl, list | tuple) or len(lvl) != 2:
            raise ProtocolError(f"{where}[{i}]: expected [price, count], got {lvl!r}")
        try:
            out.append((w.dollars_cc(lvl[0], f"{where}[{i}].price"),
                        w.count_centi(lvl[1], f"{where}[{i}].count")))
        except w.WireValueError as exc:
            raise ProtocolError(str(exc)) from exc
    return tuple(out)


def book_sides(d: Obj, where: str, suffix: str) -> tuple[tuple[Level, ...], tuple[Level, ...]]:
    """(yes, no) bid levels in hundredths under ``yes<suffix>`` / ``no<suffix>`` (an absent key is an
    empty side)."""
    return (levels(d.get(f"yes{suffix}"), f"{where}.yes{suffix}"),
            levels(d.get(f"no{suffix}"), f"{where}.no{suffix}"))


def parse_orderbook(ticker: str, body: Obj) -> OrderBook:
    """``GET /markets/{t}/orderbook``: ``{"orderbook_fp": {"yes_dollars": [...], "no_dollars": [...]}}``,
    fractional sizes held exactly (:meth:`OrderBook.from_exact`)."""
    inner = body.get("orderbook_fp")
    if not isinstance(inner, Mapping):
        raise ProtocolError(f"orderbook {ticker}: expected an 'orderbook_fp' object")
    yes, no = book_sides(inner, f"orderbook {ticker}", "_dollars")
    try:
        return OrderBook.from_exact(ticker, _merged(yes), _merged(no))
    except ValueError as exc:
        raise ProtocolError(f"orderbook {ticker}: {exc}") from exc


def _merged(levels_: tuple[Level, ...]) -> list[Level]:
    """One level per price (sizes summed); a negative size is refused, zero sizes dropped."""
    out: dict[int, int] = {}
    for price, size in levels_:
        if size < 0:
            raise ValueError(f"level at {price} cc has a negative size")
        out[price] = out.get(price, 0) + size
    return [(p, n) for p, n in out.items() if n]


def _yes_no_prices(d: Obj, ctx: str) -> tuple[int, int]:
    yes = money(d, "yes_price_dollars", None, ctx, required=False)
    no = money(d, "no_price_dollars", None, ctx, required=False)
    if yes is None and no is None:
        raise ProtocolError(f"{ctx}: missing field 'yes_price_dollars'")
    if yes is None:
        assert no is not None
        yes = 10_000 - no
    return yes, 10_000 - yes if no is None else no


def parse_order(d: Obj) -> Order:
    """An ``Order`` (REST) or WS ``user_order``: direction from ``book_side`` (the deprecated
    ``side``/``action`` are never read), so ``side``/``action`` are :func:`intent_of` it."""
    ctx = f"order {d.get('order_id', '?')}"
    book_side = field(d, "book_side", ctx, one_of(BOOK_SIDES))
    side, action = intent_of(book_side)
    yes, no = _yes_no_prices(d, ctx)
    fill = counts(d, "fill_count_fp", None, ctx)
    remaining = counts(d, "remaining_count_fp", None, ctx)
    assert fill is not None and remaining is not None
    initial = counts(d, "initial_count_fp", None, ctx, required=False)
    return Order(
        order_id=field(d, "order_id", ctx, string),
        client_order_id=str(d.get("client_order_id") or ""),
        ticker=field(d, "ticker", ctx, string),
        side=side, action=action, book_side=book_side,
        status=field(d, "status", ctx, one_of(ORDER_STATUSES)),
        yes_price_cc=yes, no_price_cc=no,
        fill_count=fill, remaining_count=remaining,
        initial_count=initial if initial is not None else fill + remaining,
        taker_fill_cost_cc=money(d, "taker_fill_cost_dollars", None, ctx, required=False) or 0,
        maker_fill_cost_cc=money(d, "maker_fill_cost_dollars", None, ctx, required=False) or 0,
        taker_fees_cc=money(d, "taker_fees_dollars", None, ctx, required=False) or 0,
        maker_fees_cc=money(d, "maker_fees_dollars", None, ctx, required=False) or 0,
        type=str(d.get("type") or "limit"),
        created_time=opt(d, "created_time", ctx, w.timestamp) or opt(d, "created_ts_ms", ctx, w.timestamp),
        last_update_time=opt(d, "last_update_time", ctx, w.timestamp)
        or opt(d, "last_updated_ts_ms", ctx, w.timestamp),
        expiration_time=opt(d, "expiration_time", ctx, w.timestamp)
        or opt(d, "expiration_ts_ms", ctx, w.timestamp),
    )


def parse_fill(d: Obj) -> Fill:
    """A fill from ``GET /portfolio/fills`` or the WS ``fill`` channel (which says ``market_ticker``
    and ``trade_id`` and may omit ``no_price_dollars``). Direction from ``book_side`` only: join it
    with its order by ``order_id`` for the intent (:meth:`Fill.with_intent`)."""
    ctx = f"fill {d.get('fill_id') or d.get('trade_id') or '?'}"
    # Keyed by trade_id when present: REST fills carry both ids (equal on Kalshi), the WS fill channel
    # only trade_id — one key for both sources is what makes a fill seen twice count once.
    fill_id = d.get("trade_id") or d.get("fill_id")
    if not isinstance(fill_id, str) or not fill_id:
        raise ProtocolError(f"{ctx}: missing field 'fill_id' (or 'trade_id')")
    ticker = d.get("ticker") or d.get("market_ticker")
    if not isinstance(ticker, str) or not ticker:
        raise ProtocolError(f"{ctx}: missing field 'ticker' (or 'market_ticker')")
    book_side = field(d, "book_side", ctx, one_of(BOOK_SIDES))
    side, action = intent_of(book_side)
    yes, no = _yes_no_prices(d, ctx)
    n = counts(d, "count_fp", None, ctx)
    assert n is not None
    ts = (opt(d, "ts_ms", ctx, w.timestamp) or opt(d, "created_time", ctx, w.timestamp)
          or opt(d, "ts", ctx, w.timestamp))
    return Fill(
        fill_id=fill_id, order_id=field(d, "order_id", ctx, string), ticker=ticker,
        side=side, action=action, book_side=book_side,
        count=n, yes_price_cc=yes, no_price_cc=no,
        is_taker=field(d, "is_taker", ctx, boolean),
        fee_cc=money(d, "fee_cost", None, ctx, required=False) or 0,
        ts=ts, client_order_id=opt(d, "client_order_id", ctx, string),
        post_position=counts(d, "post_position_fp", None, ctx, required=False),
    )


def parse_position(d: Obj) -> Position:
    ctx = f"position {d.get('ticker', '?')}"
    pos = counts(d, "position_fp", None, ctx)
    assert pos is not None
    return Position(
        ticker=field(d, "ticker", ctx, string), position=pos,
        total_traded_cc=money(d, "total_traded_dollars", None, ctx, required=False) or 0,
        market_exposure_cc=money(d, "market_exposure_dollars", None, ctx, required=False) or 0,
        realized_pnl_cc=money(d, "realized_pnl_dollars", None, ctx, required=False) or 0,
        fees_paid_cc=money(d, "fees_paid_dollars", None, ctx, required=False) or 0,
        last_updated=opt(d, "last_updated_ts", ctx, w.timestamp),
    )


def parse_settlement(d: Obj) -> Settlement:
    """A ``Settlement``: counts and costs in fixed point, ``revenue``/``value`` in integer cents."""
    ctx = f"settlement {d.get('ticker', '?')}"
    yes_n = counts(d, "yes_count_fp", None, ctx)
    no_n = counts(d, "no_count_fp", None, ctx)
    assert yes_n is not None and no_n is not None
    revenue = field(d, "revenue", ctx, w.cents_cc)
    return Settlement(
        ticker=field(d, "ticker", ctx, string), event_ticker=str(d.get("event_ticker") or ""),
        market_result=field(d, "market_result", ctx, string),
        yes_count=yes_n, no_count=no_n,
        yes_total_cost_cc=money(d, "yes_total_cost_dollars", None, ctx, required=False) or 0,
        no_total_cost_cc=money(d, "no_total_cost_dollars", None, ctx, required=False) or 0,
        revenue_cc=revenue, fee_cc=money(d, "fee_cost", None, ctx, required=False) or 0,
        settled_time=opt(d, "settled_time", ctx, w.timestamp), value_cc=opt(d, "value", ctx, w.cents_cc),
    )


def parse_balance(d: Obj) -> Balance:
    """``GET /portfolio/balance``: ``balance_dollars`` (all shards); ``portfolio_value`` is cents."""
    ctx = "balance"
    bal = money(d, "balance_dollars", None, ctx)
    assert bal is not None
    return Balance(
        balance_cc=bal,
        portfolio_value_cc=opt(d, "portfolio_value", ctx, w.cents_cc),
        updated_ts=opt(d, "updated_ts", ctx, w.timestamp),
    )
