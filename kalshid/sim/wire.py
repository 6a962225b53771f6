"""JSON shapes of the simulator, in one place: REST objects (openapi v3.13.0) and WS messages (asyncapi).

Numbers follow the 2026 formats (API-NOTES §3): ``*_dollars`` strings with 4 decimals, ``*_fp``
counts with 2, balances and settlement revenue in integer cents, WS ``market_position`` money in
centi-cents. WS messages also carry the legacy integer-cent fields the AsyncAPI still requires.
Timestamps are simulated time: RFC 3339 UTC strings (``…Z``) or Unix seconds where the spec says so.

An empty side of the book is reported as bid ``0.0000`` / ask ``1.0000`` on REST ``Market`` and as
``0`` / ``100`` cents on the WS ``ticker`` channel (the AsyncAPI bounds 1–99 cannot express "none").
"""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime
from typing import Any

from kalshid.core.markets import EASTERN, INDEX_ID
from kalshid.core.matching import OrderBook
from kalshid.core.units import ONE_DOLLAR_CC, format_count, format_dollars
from kalshid.sim.model import Fill, LifecycleEvent, Market, Order, Position, Settlement, Trade

JSON = dict[str, Any]
_NS = uuid.UUID("6f1c1c52-8f0e-4f43-9a43-5b8a9f3e2c11")

SERIES_TITLE = "SOL price up in next 15 mins?"


def market_id(ticker: str) -> str:
    """A stable UUID for a market (Kalshi's ``market_id``)."""
    return str(uuid.uuid5(_NS, ticker))


def user_uuid(name: str) -> str:
    """A stable UUID user id for a named simulated user."""
    return str(uuid.uuid5(_NS, "user:" + name))


def rfc3339(ts: float) -> str:
    dt = datetime.fromtimestamp(ts, UTC)
    text = dt.isoformat(timespec="microseconds" if dt.microsecond else "seconds")
    return text.replace("+00:00", "Z")


def cents(cc: int) -> int:
    """Centi-cents to whole cents, rounding down (balances never show money that isn't there)."""
    return cc // 100


# --- reference data ---------------------------------------------------------------------------


def series_json(series: str, fee_type: str) -> JSON:
    return {
        "ticker": series,
        "frequency": "fifteen_min",
        "title": SERIES_TITLE,
        "category": "Crypto",
        "tags": ["Solana"],
        "settlement_sources": [{"name": "CF Benchmarks", "url": "https://www.cfbenchmarks.com/"}],
        "contract_url": "",
        "contract_terms_url": "",
        "fee_type": fee_type,
        "fee_multiplier": 1,
        "additional_prohibitions": [],
        "product_metadata": {},
    }


def _rules(market: Market) -> tuple[str, str]:
    et = market.window.close_time.astimezone(EASTERN)
    when = f"{et:%I:%M %p} ET on {et:%b %d, %Y}"
    primary = (
        f"If the simple average of the sixty seconds of CF Benchmarks' {INDEX_ID} before {when} is at least "
        "the simple average of the sixty seconds before the market opened (the floor strike), "
        "the market resolves to Yes."
    )
    secondary = "Simulated market (kalshid). A winning contract pays $1.00."
    return primary, secondary


def market_json(market: Market, book: OrderBook, settlement_timer_seconds: int) -> JSON:
    yes, no = book.best_bid("yes"), book.best_bid("no")
    primary, secondary = _rules(market)
    w = market.window
    return {
        "ticker": market.ticker,
        "event_ticker": market.event_ticker,
        "market_type": "binary",
        "title": SERIES_TITLE,
        "subtitle": "",
        "yes_sub_title": "Up",
        "no_sub_title": "Down",
        "created_time": rfc3339(market.created_ts),
        "updated_time": rfc3339(market.updated_ts),
        "open_time": rfc3339(w.open_time.timestamp()),
        "close_time": rfc3339(w.close_time.timestamp()),
        "expected_expiration_time": rfc3339(w.close_time.timestamp() + 300),
        "expiration_time": rfc3339(w.close_time.timestamp() + 300),
        "latest_expiration_time": rfc3339(w.close_time.timestamp() + 86_400),
        "settlement_timer_seconds": settlement_timer_seconds,
        "status": market.status,
        "yes_bid_dollars": format_dollars(yes[0] if yes else 0),
        "yes_bid_size_fp": format_count(yes[1] if yes else 0),
        "yes_ask_dollars": format_dollars(ONE_DOLLAR_CC - no[0] if no else ONE_DOLLAR_CC),
        "yes_ask_size_fp": format_count(no[1] if no else 0),
        "no_bid_dollars": format_dollars(no[0] if no else 0),
        "no_ask_dollars": format_dollars(ONE_DOLLAR_CC - yes[0] if yes else ONE_DOLLAR_CC),
        "last_price_dollars": format_dollars(market.last_price_cc),
        "previous_yes_bid_dollars": "0.0000",
        "previous_yes_ask_dollars": "0.0000",
        "previous_price_dollars": "0.0000",
        "volume_fp": format_count(market.volume),
        "volume_24h_fp": format_count(market.volume),
        "open_interest_fp": format_count(market.open_interest),
        "notional_value_dollars": "1.0000",
        "liquidity_dollars": "0.0000",
        "result": market.result,
        "settlement_value_dollars": (
            None if not market.result else format_dollars(ONE_DOLLAR_CC if market.result == "yes" else 0)
        ),
        "settlement_ts": rfc3339(market.settled_ts) if market.settled_ts is not None else None,
        "expiration_value": str(market.expiration_value) if market.expiration_value is not None else "",
        "can_close_early": False,
        "fractional_trading_enabled": False,
        "strike_type": "greater_or_equal",
        "floor_strike": float(market.floor_strike) if market.floor_strike is not None else None,
        "rules_primary": primary,
        "rules_secondary": secondary,
        "price_level_structure": "linear_cent",
        "price_ranges": [{"start": "0.0100", "end": "0.9900", "step": "0.0100"}],
        "tick_size": 1,
    }


def event_json(market: Market, markets: list[JSON] | None) -> JSON:
    body: JSON = {
        "event_ticker": market.event_ticker,
        "series_ticker": market.event_ticker.split("-")[0],
        "title": SERIES_TITLE,
        "sub_title": "",
        "collateral_return_type": "",
        "mutually_exclusive": False,
        "strike_date": rfc3339(market.window.close_time.timestamp()),
        "strike_period": "fifteen_min",
        "available_on_brokers": True,
        "product_metadata": {},
        "category": "Crypto",
    }
    if markets is not None:
        body["markets"] = markets
    return body


def orderbook_levels(book: OrderBook, side: str, depth: int) -> list[list[str]]:
    return [[format_dollars(p), format_count(n)] for p, n in book.levels(side, depth)]  # type: ignore[arg-type]


# --- portfolio --------------------------------------------------------------------------------


def order_json(order: Order) -> JSON:
    yes_price = order.price_cc if order.side == "yes" else ONE_DOLLAR_CC - order.price_cc
    return {
        "order_id": order.order_id,
        "user_id": order.user_id,
        "client_order_id": order.client_order_id,
        "ticker": order.ticker,
        "side": order.side,
        "action": order.action,
        "type": order.order_type,
        "status": order.status,
        "yes_price_dollars": format_dollars(yes_price),
        "no_price_dollars": format_dollars(ONE_DOLLAR_CC - yes_price),
        "fill_count_fp": format_count(order.fill_count),
        "remaining_count_fp": format_count(order.remaining_count),
        "initial_count_fp": format_count(order.initial_count),
        "taker_fill_cost_dollars": format_dollars(order.taker_fill_cost_cc),
        "maker_fill_cost_dollars": format_dollars(order.maker_fill_cost_cc),
        "taker_fees_dollars": format_dollars(order.taker_fees_cc),
        "maker_fees_dollars": format_dollars(order.maker_fees_cc),
        "expiration_time": rfc3339(order.expiration_ts) if order.expiration_ts is not None else None,
        "created_time": rfc3339(order.created_ts),
        "last_update_time": rfc3339(order.updated_ts),
        "self_trade_prevention_type": order.self_trade_prevention_type,
        "order_group_id": None,
        "cancel_order_on_pause": order.cancel_order_on_pause,
        "subaccount_number": 0,
    }


def fill_json(fill: Fill) -> JSON:
    return {
        "fill_id": fill.fill_id,
        "trade_id": fill.trade_id,
        "order_id": fill.order_id,
        "client_order_id": fill.client_order_id,
        "ticker": fill.ticker,
        "market_ticker": fill.ticker,
        "side": fill.side,
        "action": fill.action,
        "count_fp": format_count(fill.count),
        "yes_price_dollars": format_dollars(fill.yes_price_cc),
        "no_price_dollars": format_dollars(ONE_DOLLAR_CC - fill.yes_price_cc),
        "is_taker": fill.is_taker,
        "fee_cost": format_dollars(fill.fee_cc),
        "created_time": rfc3339(fill.ts),
        "ts": int(fill.ts),
        "subaccount_number": 0,
    }


def position_json(pos: Position) -> JSON:
    return {
        "ticker": pos.ticker,
        "position_fp": format_count(pos.signed),
        "total_traded_dollars": format_dollars(pos.total_traded_cc),
        "market_exposure_dollars": format_dollars(pos.exposure_cc),
        "realized_pnl_dollars": format_dollars(pos.realized_pnl_cc),
        "fees_paid_dollars": format_dollars(pos.fees_paid_cc),
        "resting_orders_count": pos.resting_orders,
        "last_updated_ts": rfc3339(pos.updated_ts),
    }


def event_position_json(event_ticker: str, positions: list[Position]) -> JSON:
    return {
        "event_ticker": event_ticker,
        "total_cost_dollars": format_dollars(sum(p.exposure_cc for p in positions)),
        "total_cost_shares_fp": format_count(sum(p.yes + p.no for p in positions)),
        "event_exposure_dollars": format_dollars(sum(p.exposure_cc for p in positions)),
        "realized_pnl_dollars": format_dollars(sum(p.realized_pnl_cc for p in positions)),
        "fees_paid_dollars": format_dollars(sum(p.fees_paid_cc for p in positions)),
    }


def settlement_json(s: Settlement) -> JSON:
    return {
        "ticker": s.ticker,
        "event_ticker": s.event_ticker,
        "market_result": s.market_result,
        "yes_count_fp": format_count(s.yes_count),
        "yes_total_cost_dollars": format_dollars(s.yes_total_cost_cc),
        "no_count_fp": format_count(s.no_count),
        "no_total_cost_dollars": format_dollars(s.no_total_cost_cc),
        "revenue": cents(s.revenue_cc),
        "value": 100 if s.market_result == "yes" else 0,
        "fee_cost": format_dollars(s.fee_cost_cc),
        "settled_time": rfc3339(s.settled_ts),
    }


def trade_json(t: Trade) -> JSON:
    return {
        "trade_id": t.trade_id,
        "ticker": t.ticker,
        "count_fp": format_count(t.count),
        "yes_price_dollars": format_dollars(t.yes_price_cc),
        "no_price_dollars": format_dollars(ONE_DOLLAR_CC - t.yes_price_cc),
        "taker_side": t.taker_side,
        "created_time": rfc3339(t.ts),
    }


def error_text(code: str, message: str, details: str | None = None) -> str:
    return json.dumps(error_json(code, message, details))


def error_json(code: str, message: str, details: str | None = None) -> JSON:
    body: JSON = {"code": code, "message": message, "service": "kalshid-sim"}
    if details:
        body["details"] = details
    return {"error": body}


# --- WebSocket messages (the ``msg`` part; the hub adds type/sid/seq) ---------------------------


def ws_book_side(book: OrderBook, side: str) -> JSON:
    levels = book.levels(side)  # type: ignore[arg-type]
    if not levels:
        return {}
    return {
        side: [[p // 100, n] for p, n in levels],
        f"{side}_dollars": [[format_dollars(p), n] for p, n in levels],
        f"{side}_dollars_fp": [[format_dollars(p), format_count(n)] for p, n in levels],
    }


def ws_snapshot(ticker: str, book: OrderBook) -> JSON:
    return {
        "market_ticker": ticker,
        "market_id": market_id(ticker),
        **ws_book_side(book, "yes"),
        **ws_book_side(book, "no"),
    }


def ws_delta(
    ticker: str, side: str, price_cc: int, delta: int, ts: float, client_order_id: str | None
) -> JSON:
    msg: JSON = {
        "market_ticker": ticker,
        "market_id": market_id(ticker),
        "side": side,
        "price": price_cc // 100,
        "price_dollars": format_dollars(price_cc),
        "delta": delta,
        "delta_fp": format_count(delta),
        "ts": rfc3339(ts),
        "subaccount": 0,
    }
    if client_order_id:
        msg["client_order_id"] = client_order_id
    return msg


def ws_ticker(market: Market, yes_bid: int | None, yes_ask: int | None, ts: float) -> JSON:
    bid, ask = yes_bid or 0, yes_ask if yes_ask is not None else ONE_DOLLAR_CC
    return {
        "market_ticker": market.ticker,
        "market_id": market_id(market.ticker),
        "price": market.last_price_cc // 100,
        "yes_bid": bid // 100,
        "yes_ask": ask // 100,
        "price_dollars": format_dollars(market.last_price_cc),
        "yes_bid_dollars": format_dollars(bid),
        "yes_ask_dollars": format_dollars(ask),
        "volume": market.volume,
        "volume_fp": format_count(market.volume),
        "open_interest": market.open_interest,
        "open_interest_fp": format_count(market.open_interest),
        "dollar_volume": market.volume,
        "dollar_open_interest": market.open_interest,
        "ts": int(ts),
        "time": rfc3339(ts),
    }


def ws_trade(t: Trade) -> JSON:
    return {
        "trade_id": t.trade_id,
        "market_ticker": t.ticker,
        "yes_price": t.yes_price_cc // 100,
        "yes_price_dollars": format_dollars(t.yes_price_cc),
        "no_price": (ONE_DOLLAR_CC - t.yes_price_cc) // 100,
        "no_price_dollars": format_dollars(ONE_DOLLAR_CC - t.yes_price_cc),
        "count": t.count,
        "count_fp": format_count(t.count),
        "taker_side": t.taker_side,
        "ts": int(t.ts),
    }


def ws_fill(f: Fill) -> JSON:
    return {
        "trade_id": f.trade_id,
        "order_id": f.order_id,
        "market_ticker": f.ticker,
        "is_taker": f.is_taker,
        "side": f.side,
        "yes_price": f.yes_price_cc // 100,
        "yes_price_dollars": format_dollars(f.yes_price_cc),
        "count": f.count,
        "count_fp": format_count(f.count),
        "fee_cost": format_dollars(f.fee_cc),
        "action": f.action,
        "ts": int(f.ts),
        "client_order_id": f.client_order_id,
        "post_position": f.post_position,
        "post_position_fp": format_count(f.post_position),
        "purchased_side": f.purchased_side,
        "subaccount": 0,
    }


def ws_user_order(o: Order) -> JSON:
    full = order_json(o)
    msg = {
        k: full[k]
        for k in (
            "order_id",
            "user_id",
            "ticker",
            "status",
            "side",
            "yes_price_dollars",
            "fill_count_fp",
            "remaining_count_fp",
            "initial_count_fp",
            "taker_fill_cost_dollars",
            "maker_fill_cost_dollars",
            "client_order_id",
            "created_time",
            "last_update_time",
        )
    }
    msg["is_yes"] = o.side == "yes"
    msg["action"] = o.action
    msg["subaccount_number"] = 0
    if o.taker_fees_cc:
        msg["taker_fees_dollars"] = full["taker_fees_dollars"]
    if o.maker_fees_cc:
        msg["maker_fees_dollars"] = full["maker_fees_dollars"]
    if o.self_trade_prevention_type:
        msg["self_trade_prevention_type"] = o.self_trade_prevention_type
    if o.expiration_ts is not None:
        msg["expiration_time"] = full["expiration_time"]
    return msg


def ws_market_position(p: Position) -> JSON:
    """Money in centi-cents, as Kalshi's ``market_position`` channel sends it."""
    return {
        "user_id": p.user_id,
        "market_ticker": p.ticker,
        "position": p.signed,
        "position_fp": format_count(p.signed),
        "position_cost": p.exposure_cc,
        "realized_pnl": p.realized_pnl_cc,
        "fees_paid": p.fees_paid_cc,
        "position_fee_cost": p.fees_paid_cc,
        "volume": p.volume,
        "volume_fp": format_count(p.volume),
        "subaccount": 0,
    }


def ws_lifecycle(e: LifecycleEvent) -> JSON:
    m = e.market
    primary, secondary = _rules(m)
    msg: JSON = {
        "market_ticker": m.ticker,
        "event_type": e.event_type,
        "open_ts": int(m.window.open_time.timestamp()),
        "close_ts": int(m.window.close_time.timestamp()),
        "additional_metadata": {
            "name": m.ticker,
            "title": SERIES_TITLE,
            "yes_sub_title": "Up",
            "no_sub_title": "Down",
            "rules_primary": primary,
            "rules_secondary": secondary,
            "can_close_early": False,
            "event_ticker": m.event_ticker,
            "expected_expiration_ts": int(m.window.close_time.timestamp()) + 300,
            "strike_type": "greater_or_equal",
            **({"floor_strike": float(m.floor_strike)} if m.floor_strike is not None else {}),
        },
    }
    if e.event_type == "determined":
        msg.update(
            result=m.result,
            determination_ts=int(e.ts),
            settlement_value=format_dollars(ONE_DOLLAR_CC if m.result == "yes" else 0),
        )
    if e.event_type == "settled":
        msg["settled_ts"] = int(e.ts)
    return msg
