"""Conversions between the exchange's types, the journal's records and the pure core's types.

One place, so the three vocabularies (``kalshid.exchange.types``, ``kalshid.store.records``,
``kalshid.core``) meet exactly once. Times the exchange did not give are replaced by the caller's
exchange-time estimate, never by the local wall clock.
"""

from __future__ import annotations

from datetime import datetime

from kalshid.core import portfolio as core_portfolio
from kalshid.core.book import OrderBook
from kalshid.core.signals import BookTop
from kalshid.core.vocab import Action, Side
from kalshid.exchange.types import Fill, Order, Settlement
from kalshid.store import records
from kalshid.store.orderstate import state_from_exchange


def order_update(order: Order, *, ts: datetime, source: str, detail: str = "") -> records.OrderUpdate:
    """The journal update for an order as the exchange reports it."""
    state = state_from_exchange(order.status, order.fill_count)
    return records.OrderUpdate(state=state, ts=order.last_update_time or ts, filled=order.fill_count,
                               remaining=order.remaining_count, fees_cc=order.fees_cc,
                               client_order_id=order.client_order_id or None, order_id=order.order_id,
                               source=source, detail=detail)


def journal_fill(fill: Fill, *, ts: datetime, strategy: str | None) -> records.Fill:
    return records.Fill(fill_id=fill.fill_id, order_id=fill.order_id, ticker=fill.ticker, side=fill.side,
                        action=fill.action, count=fill.count, price_cc=fill.price_cc, fee_cc=fill.fee_cc,
                        is_taker=fill.is_taker, ts=fill.ts or ts, client_order_id=fill.client_order_id,
                        strategy=strategy)


def core_fill(fill: Fill, *, ts: datetime) -> core_portfolio.Fill:
    return core_portfolio.Fill(ticker=fill.ticker, side=Side(fill.side), action=Action(fill.action),
                               count=fill.count, price_cc=fill.price_cc, fee_cc=fill.fee_cc, ts=fill.ts or ts)


def journal_settlement(s: Settlement, *, ts: datetime) -> records.Settlement:
    result = s.market_result if s.market_result in ("yes", "no", "scalar", "void") else "void"
    return records.Settlement(ticker=s.ticker, result=records.SettlementResult(result),
                              revenue_cc=s.revenue_cc, yes_count=s.yes_count, no_count=s.no_count,
                              settled_ts=s.settled_time or ts, fee_cc=s.fee_cc,
                              yes_value_cc=s.value_cc if s.value_cc is not None and 0 <= s.value_cc <= 10_000
                              else None)


def external_order(order: Order, *, ts: datetime) -> records.ExternalOrder:
    state = state_from_exchange(order.status, order.fill_count)
    return records.ExternalOrder(order_id=order.order_id, ts=order.created_time or ts, ticker=order.ticker,
                                 side=order.side, action=order.action or "buy", price_cc=order.price_cc,
                                 count=max(1, order.initial_count), state=state, filled=order.fill_count,
                                 remaining=order.remaining_count, fees_cc=order.fees_cc,
                                 client_order_id=order.client_order_id or None)


def book_top(book: OrderBook, *, updated_at: datetime) -> BookTop:
    """The best bids of a full book, as strategies see them."""
    yes = book.best_yes_bid
    no = book.best_no_bid
    return BookTop(ticker=book.ticker, yes_bid_cc=yes[0] if yes else None, yes_bid_size=yes[1] if yes else 0,
                   no_bid_cc=no[0] if no else None, no_bid_size=no[1] if no else 0,
                   updated_at=book.exchange_ts or updated_at)
