"""WebSocket message bodies (the ``msg`` part; the hub adds ``type``/``sid``/``seq``), per Kalshi's
current AsyncAPI.

Prices are dollar strings, counts ``*_fp`` strings; no integer-cent fields. The deprecated fields the
AsyncAPI still *requires* (``side``, ``action``, ``purchased_side``, ``is_yes``, ``ts``, ``time``,
``created_time``, ``taker_side``) are sent beside their replacements (``outcome_side``/``book_side``,
``ts_ms``). Order book levels are bids per side; with ``use_yes_price`` the NO side is reported in
YES-leg pricing (a NO bid at q appears at $1 − q), so one price scale covers both sides.
"""

from __future__ import annotations

import json
from decimal import ROUND_HALF_EVEN, Decimal
from typing import Any

from kalshid.core.matching import MatchingBook
from kalshid.core.units import ONE_DOLLAR_CC, format_dollars
from kalshid.core.vocab import Side
from kalshid.sim.counts import CONTRACT, format_count
from kalshid.sim.model import Fill, LifecycleEvent, Market, Order, Position, Trade
from kalshid.sim.wire import (
    EXCHANGE_INDEX,
    SERIES_TITLE,
    STRIKE_TYPE,
    book_side,
    market_id,
    market_rules,
    order_json,
    outcome_side,
    rfc3339,
)

JSON = dict[str, Any]
ALL_INDICES = "all"  # cfbenchmarks_value index_ids: every index the channel has


def tracks_index(index_ids: set[str], index_id: str) -> bool:
    """Whether a ``cfbenchmarks_value`` subscription with ``index_ids`` receives ``index_id``'s prints."""
    return index_id in index_ids or ALL_INDICES in index_ids

_AVG_TICK = Decimal("0.00000001")


def ms(ts: float) -> int:
    return round(ts * 1000)


def level_price(side: str, price_cc: int, use_yes_price: bool) -> int:
    """A level's reported price: its own bid price, or for NO with ``use_yes_price`` the YES-leg price."""
    return ONE_DOLLAR_CC - price_cc if use_yes_price and side == "no" else price_cc


def snapshot(ticker: str, book: MatchingBook, use_yes_price: bool) -> JSON:
    msg: JSON = {"market_ticker": ticker, "market_id": market_id(ticker)}
    for side in Side:
        levels = sorted((level_price(side, p, use_yes_price), n) for p, n in book.levels(side))
        if levels:
            msg[f"{side}_dollars_fp"] = [[format_dollars(p), format_count(n)] for p, n in levels]
    return msg


def delta(
    ticker: str,
    side: str,
    price_cc: int,
    count_delta: int,
    ts: float,
    client_order_id: str | None,
    use_yes_price: bool,
) -> JSON:
    msg: JSON = {
        "market_ticker": ticker,
        "market_id": market_id(ticker),
        "price_dollars": format_dollars(level_price(side, price_cc, use_yes_price)),
        "delta_fp": format_count(count_delta),
        "side": side,
        "ts_ms": ms(ts),
    }
    if client_order_id:
        msg["client_order_id"] = client_order_id
    return msg


def ticker(market: Market, yes_bid: int | None, yes_ask: int | None, bid_size: int, ask_size: int, ts: float) -> JSON:
    return {
        "market_ticker": market.ticker,
        "market_id": market_id(market.ticker),
        "price_dollars": format_dollars(market.last_price_cc),
        "yes_bid_dollars": format_dollars(yes_bid or 0),
        "yes_ask_dollars": format_dollars(yes_ask if yes_ask is not None else ONE_DOLLAR_CC),
        "yes_bid_size_fp": format_count(bid_size),
        "yes_ask_size_fp": format_count(ask_size),
        "last_trade_size_fp": format_count(market.last_trade_size),
        "volume_fp": format_count(market.volume),
        "open_interest_fp": format_count(market.open_interest),
        "dollar_volume": market.traded_notional_cc // ONE_DOLLAR_CC,
        "dollar_open_interest": market.open_interest // CONTRACT,  # a YES/NO pair is $1 of notional
        "ts": int(ts),
        "ts_ms": ms(ts),
        "time": rfc3339(ts),
    }


def trade(t: Trade) -> JSON:
    return {
        "trade_id": t.trade_id,
        "market_ticker": t.ticker,
        "yes_price_dollars": format_dollars(t.yes_price_cc),
        "no_price_dollars": format_dollars(ONE_DOLLAR_CC - t.yes_price_cc),
        "count_fp": format_count(t.count),
        "taker_side": t.taker_side,
        "taker_outcome_side": t.taker_side,
        "taker_book_side": "bid" if t.taker_side == "yes" else "ask",
        "is_block_trade": False,
        "ts": int(t.ts),
        "ts_ms": ms(t.ts),
    }


def fill(f: Fill) -> JSON:
    msg: JSON = {
        "trade_id": f.trade_id,
        "order_id": f.order_id,
        "market_ticker": f.ticker,
        "exchange_index": EXCHANGE_INDEX,
        "is_taker": f.is_taker,
        "side": f.side,
        "action": f.action,
        "purchased_side": f.purchased_side,
        "outcome_side": outcome_side(f.side, f.action),
        "book_side": book_side(f.side, f.action),
        "yes_price_dollars": format_dollars(f.yes_price_cc),
        "count_fp": format_count(f.count),
        "fee_cost": format_dollars(f.fee_cc),
        "post_position_fp": format_count(f.post_position),
        "ts": int(f.ts),
        "ts_ms": ms(f.ts),
    }
    if f.client_order_id:
        msg["client_order_id"] = f.client_order_id
    return msg


_ORDER_FIELDS = (
    "order_id",
    "user_id",
    "ticker",
    "exchange_index",
    "status",
    "outcome_side",
    "book_side",
    "yes_price_dollars",
    "fill_count_fp",
    "remaining_count_fp",
    "initial_count_fp",
    "taker_fill_cost_dollars",
    "maker_fill_cost_dollars",
    "taker_fees_dollars",
    "maker_fees_dollars",
    "client_order_id",
    "created_time",
    "last_update_time",
)


def user_order(o: Order) -> JSON:
    full = order_json(o)
    msg = {k: full[k] for k in _ORDER_FIELDS}
    msg["side"] = o.side
    msg["is_yes"] = outcome_side(o.side, o.action) == "yes"
    msg["created_ts_ms"] = ms(o.created_ts)
    msg["last_updated_ts_ms"] = ms(o.updated_ts)
    msg["subaccount_number"] = 0
    if o.self_trade_prevention_type:
        msg["self_trade_prevention_type"] = o.self_trade_prevention_type
    if o.expiration_ts is not None:
        msg["expiration_time"] = full["expiration_time"]
        msg["expiration_ts_ms"] = o.expiration_ts * 1000
    return msg


def market_position(p: Position) -> JSON:
    return {
        "user_id": p.user_id,
        "market_ticker": p.ticker,
        "position_fp": format_count(p.signed),
        "position_cost_dollars": format_dollars(p.exposure_cc),
        "realized_pnl_dollars": format_dollars(p.realized_pnl_cc),
        "fees_paid_dollars": format_dollars(p.fees_paid_cc),
        "position_fee_cost_dollars": format_dollars(p.fees_paid_cc),
        "volume_fp": format_count(p.volume),
    }


def lifecycle(e: LifecycleEvent) -> JSON:
    """A ``market_lifecycle_v2`` message as Kalshi's AsyncAPI shapes it: the times, the shard, the price
    structure and ``additional_metadata`` only on ``created``; the strike at the top level of
    ``metadata_updated``; the result on ``determined``; the settlement time on ``settled``."""
    m = e.market
    msg: JSON = {"market_ticker": m.ticker, "event_type": e.event_type}
    if e.event_type == "created":
        primary, secondary = market_rules(m)
        msg.update(
            exchange_index=EXCHANGE_INDEX,
            open_ts=int(m.window.open_time.timestamp()),
            close_ts=int(m.window.close_time.timestamp()),
            additional_metadata={
                "name": m.ticker,
                "title": SERIES_TITLE,
                "yes_sub_title": "Up",
                "no_sub_title": "Down",
                "rules_primary": primary,
                "rules_secondary": secondary,
                "can_close_early": False,
                "event_ticker": m.event_ticker,
                "expected_expiration_ts": int(m.window.close_time.timestamp()) + 300,
                "strike_type": STRIKE_TYPE,
                **({"floor_strike": float(m.floor_strike)} if m.floor_strike is not None else {}),
            },
            price_level_structure="linear_cent",
            price_ranges=[{"start": "0.0100", "end": "0.9900", "step": "0.0100"}],
        )
    if e.event_type == "metadata_updated" and m.floor_strike is not None:
        msg.update(strike_type=STRIKE_TYPE, floor_strike=float(m.floor_strike))
    if e.event_type == "determined":
        msg.update(
            result=m.result,
            determination_ts=int(e.ts),
            settlement_value=format_dollars(ONE_DOLLAR_CC if m.result == "yes" else 0),
        )
    if e.event_type == "settled":
        msg["settled_ts"] = int(e.ts)
    return msg


def _avg(values: list[Decimal]) -> str:
    return str((sum(values, Decimal(0)) / len(values)).quantize(_AVG_TICK, rounding=ROUND_HALF_EVEN))


def avg_data(values: list[Decimal], start_ms: int, end_ms_exclusive: int) -> JSON:
    return {
        "value": _avg(values),
        "window_size": len(values),
        "window_start_ts_ms": start_ms,
        "window_end_ts_exclusive": end_ms_exclusive,
    }


def cfbenchmarks_value(index_id: str, ts: int, prints: dict[int, Decimal]) -> JSON:
    """The ``cfbenchmarks_value`` body for the tick at second ``ts``; ``prints`` holds ``ts−60 … ts``.

    ``data``: the raw frame as a JSON string (``{"type", "id", "time", "value"}``, time in ms).
    ``avg_60s_data``: the prior ticks ``[ts−60 s, ts)``. ``last_60s_windowed_average_15min`` (only for
    ticks in ``(close−60 s, close]`` of a quarter hour): the ticks ``close−59 … ts``, so
    ``window_size`` reaches 60 on the close tick itself.
    """
    value = prints[ts]
    frame = {"type": "value", "id": index_id, "time": ts * 1000, "value": str(value)}
    trailing = [prints[t] for t in range(ts - 60, ts)]
    msg: JSON = {
        "index_id": index_id,
        "received_at": ts * 1000,
        "data": json.dumps(frame, separators=(",", ":")),
        "avg_60s_data": avg_data(trailing, (ts - 60) * 1000, ts * 1000),
    }
    close = ts if ts % 900 == 0 else ts - ts % 900 + 900
    if close - ts < 60:
        window = [prints[t] for t in range(close - 59, ts + 1)]
        msg["last_60s_windowed_average_15min"] = avg_data(window, (close - 60) * 1000, ts * 1000 + 1)
    return msg
