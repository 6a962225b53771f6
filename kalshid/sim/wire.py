"""JSON shapes of the simulator's REST objects, in one place (Kalshi OpenAPI v3.31.0).

Numbers: ``*_dollars`` strings with 4 decimals, ``*_fp`` counts with 2 (the engine's hundredths of a
contract, :mod:`kalshid.sim.counts`), balances and settlement
``revenue``/``value`` in integer cents. Direction is ``outcome_side`` (yes|no) and ``book_side``
(bid|ask); the deprecated ``side``/``action``/``taker_side`` are not sent on REST objects. Every
object that carries ``exchange_index`` says shard 0, the only one simulated. REST fills carry no
``client_order_id`` (join them to orders by ``order_id``). Timestamps are simulated time: RFC 3339
UTC strings (``…Z``) or Unix seconds/milliseconds where the spec says so. An empty side of the book
is reported as bid ``0.0000`` / ask ``1.0000``. WS message bodies live in :mod:`kalshid.sim.wsmsg`.
"""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from kalshid.core.markets import EASTERN, INDEX_ID
from kalshid.core.matching import MatchingBook
from kalshid.core.units import ONE_DOLLAR_CC, format_dollars
from kalshid.core.vocab import Action, Side
from kalshid.sim.counts import format_count
from kalshid.sim.model import Fill, Market, Order, Position, Settlement, Trade

STRIKE_TYPE = "greater_or_equal"  # a market pays YES iff its closing average is at least its floor strike

JSON = dict[str, Any]
_NS = uuid.UUID("6f1c1c52-8f0e-4f43-9a43-5b8a9f3e2c11")

SERIES_TITLE = "SOL price up in next 15 mins?"
EXCHANGE_INDEX = 0  # the one simulated shard


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


def json_number(d: Decimal) -> int | float:
    """A fee multiplier as the JSON number the spec types it as (a ``double``): an integer when whole,
    else the float whose shortest representation is the decimal's digits (``1.25`` stays ``1.25``)."""
    return int(d) if d == d.to_integral_value() else float(d)


def series_json(series: str, fee_type: str, fee_multiplier: Decimal = Decimal(1)) -> JSON:
    return {
        "ticker": series,
        "frequency": "fifteen_min",
        "title": SERIES_TITLE,
        "category": "Crypto",
        "categories": ["Crypto"],
        "tags": ["Solana"],
        "settlement_sources": [{"name": "CF Benchmarks", "url": "https://www.cfbenchmarks.com/"}],
        "contract_url": "",
        "contract_terms_url": "",
        "fee_type": fee_type,
        "fee_multiplier": json_number(fee_multiplier),
        "additional_prohibitions": [],
        "product_metadata": {},
        "exchange_index": EXCHANGE_INDEX,
    }


def market_rules(market: Market) -> tuple[str, str]:
    et = market.window.close_time.astimezone(EASTERN)
    when = f"{et:%I:%M %p} ET on {et:%b %d, %Y}"
    primary = (
        f"If the simple average of the sixty seconds of CF Benchmarks' {INDEX_ID} before {when} is at least "
        "the simple average of the sixty seconds before the market opened (the floor strike), "
        "the market resolves to Yes."
    )
    secondary = "Simulated market (kalshid). A winning contract pays $1.00."
    return primary, secondary


def market_json(market: Market, book: MatchingBook, settlement_timer_seconds: int) -> JSON:
    yes, no = book.best_bid(Side.YES), book.best_bid(Side.NO)
    primary, secondary = market_rules(market)
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
        "result": market.result,
        "settlement_value_dollars": (
            None if not market.result else format_dollars(ONE_DOLLAR_CC if market.result == "yes" else 0)
        ),
        "settlement_ts": rfc3339(market.settled_ts) if market.settled_ts is not None else None,
        "expiration_value": str(market.expiration_value) if market.expiration_value is not None else "",
        "can_close_early": False,
        "strike_type": STRIKE_TYPE,
        "floor_strike": float(market.floor_strike) if market.floor_strike is not None else None,
        "rules_primary": primary,
        "rules_secondary": secondary,
        "price_level_structure": "linear_cent",
        "price_ranges": [{"start": "0.0100", "end": "0.9900", "step": "0.0100"}],
        "settlement_bounds_type": "default",
        "exchange_index": EXCHANGE_INDEX,
    }


def event_json(market: Market, markets: list[JSON] | None, *, fee_type_override: str | None = None,
               fee_multiplier_override: Decimal | None = None) -> JSON:
    body: JSON = {
        "event_ticker": market.event_ticker,
        "series_ticker": market.event_ticker.split("-")[0],
        "title": SERIES_TITLE,
        "sub_title": "",
        "collateral_return_type": "",
        "mutually_exclusive": False,
        "strike_date": rfc3339(market.window.close_time.timestamp()),
        "strike_period": "fifteen_min",
        "product_metadata": {},
        "settlement_sources": [{"name": "CF Benchmarks", "url": "https://www.cfbenchmarks.com/"}],
        "exchange_index": EXCHANGE_INDEX,
        # null: no override, the series' fee structure applies
        "fee_type_override": fee_type_override,
        "fee_multiplier_override": None if fee_multiplier_override is None else json_number(fee_multiplier_override),
    }
    if markets is not None:
        body["markets"] = markets
    return body


def orderbook_levels(book: MatchingBook, side: str, depth: int) -> list[list[str]]:
    return [[format_dollars(p), format_count(n)] for p, n in book.levels(side, depth)]  # type: ignore[arg-type]


# --- portfolio --------------------------------------------------------------------------------


def outcome_side(side: Side, action: Action) -> Side:
    """The outcome an order or fill positions its owner for: buy-yes and sell-no are ``yes``."""
    return side if action == "buy" else Side(side).other


def book_side(side: Side, action: Action) -> str:
    """``bid`` (outcome YES) or ``ask`` (outcome NO) on the one YES-quoted book."""
    return "bid" if outcome_side(side, action) == "yes" else "ask"


def order_yes_price(order: Order) -> int:
    return order.price_cc if order.side == "yes" else ONE_DOLLAR_CC - order.price_cc


def order_json(order: Order) -> JSON:
    yes_price = order_yes_price(order)
    body: JSON = {
        "order_id": order.order_id,
        "user_id": order.user_id,
        "client_order_id": order.client_order_id,
        "ticker": order.ticker,
        "outcome_side": outcome_side(order.side, order.action),
        "book_side": book_side(order.side, order.action),
        "type": "limit",
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
        "cancel_order_on_pause": order.cancel_order_on_pause,
        "subaccount_number": 0,
        "exchange_index": EXCHANGE_INDEX,
    }
    if order.self_trade_prevention_type is not None:
        body["self_trade_prevention_type"] = order.self_trade_prevention_type
    return body


def fill_json(fill: Fill) -> JSON:
    return {
        "fill_id": fill.fill_id,
        "trade_id": fill.trade_id,
        "order_id": fill.order_id,
        "ticker": fill.ticker,
        "market_ticker": fill.ticker,
        "outcome_side": outcome_side(fill.side, fill.action),
        "book_side": book_side(fill.side, fill.action),
        "count_fp": format_count(fill.count),
        "yes_price_dollars": format_dollars(fill.yes_price_cc),
        "no_price_dollars": format_dollars(ONE_DOLLAR_CC - fill.yes_price_cc),
        "is_taker": fill.is_taker,
        "fee_cost": format_dollars(fill.fee_cc),
        "created_time": rfc3339(fill.ts),
        "ts": int(fill.ts),
        "subaccount_number": 0,
        "exchange_index": EXCHANGE_INDEX,
    }


def position_json(pos: Position) -> JSON:
    return {
        "ticker": pos.ticker,
        "exchange_index": EXCHANGE_INDEX,
        "position_fp": format_count(pos.signed),
        "total_traded_dollars": format_dollars(pos.total_traded_cc),
        "market_exposure_dollars": format_dollars(pos.exposure_cc),
        "realized_pnl_dollars": format_dollars(pos.realized_pnl_cc),
        "fees_paid_dollars": format_dollars(pos.fees_paid_cc),
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
        "exchange_index": EXCHANGE_INDEX,
    }


def trade_json(t: Trade) -> JSON:
    return {
        "trade_id": t.trade_id,
        "ticker": t.ticker,
        "count_fp": format_count(t.count),
        "yes_price_dollars": format_dollars(t.yes_price_cc),
        "no_price_dollars": format_dollars(ONE_DOLLAR_CC - t.yes_price_cc),
        "taker_outcome_side": t.taker_side,
        "taker_book_side": "bid" if t.taker_side == "yes" else "ask",
        "is_block_trade": False,
        "created_time": rfc3339(t.ts),
    }


def error_text(code: str, message: str, details: str | None = None) -> str:
    return json.dumps(error_json(code, message, details))


def error_json(code: str, message: str, details: str | None = None) -> JSON:
    """Kalshi's error envelope: ``{"error": ErrorResponse}`` with ``code``, ``message``, ``details``."""
    body: JSON = {"code": code, "message": message}
    if details:
        body["details"] = details
    return {"error": body}


def balance_json(available_cc: int, portfolio_value_cc: int, now: float) -> JSON:
    """``GetBalanceResponse``: integer cents plus the dollar string, broken down per shard."""
    dollars = format_dollars(available_cc - available_cc % 100)
    return {
        "balance": cents(available_cc),
        "balance_dollars": dollars,
        "portfolio_value": cents(portfolio_value_cc),
        "updated_ts": int(now),
        "balance_breakdown": [{"exchange_index": EXCHANGE_INDEX, "balance": dollars}],
    }


def exchange_status_json(trading: bool) -> JSON:
    return {
        "exchange_active": True,
        "trading_active": trading,
        "intra_exchange_transfers_active": False,
        "exchange_index_statuses": [
            {
                "exchange_index": EXCHANGE_INDEX,
                "description": "event contracts",
                "exchange_active": True,
                "trading_active": trading,
                "intra_exchange_transfers_active": False,
            }
        ],
    }


