"""The paper account behind :class:`~kalshid.exchange.paper.PaperExchange`: cash, holdings, orders, fills
and settlements, and the portfolio reads of the :class:`~kalshid.exchange.base.Exchange` interface.

:class:`PaperAccount` books what the order entry (:mod:`kalshid.exchange.paper`) and the market events
(:mod:`kalshid.exchange.paper_feed`) decide: a fill moves cash and contracts, netted as on Kalshi (a fill
first closes the opposite holding, :func:`kalshid.core.netting.net_parts`); a settlement pays $1 per
winning contract and closes the holding. Every change queues the events the real feed would send
(:class:`FillReceived`, :class:`OrderUpdated`, :class:`PositionUpdated`). Money is exact cc; the balance
reported is available cash (cash − resting buys' reservations) in whole cents rounded down. A dry run
that restarts rebuilds its account from the journal's fills and settlements (:meth:`PaperAccount.restore`,
called by :mod:`kalshid.trading.paperrestore`). Synchronous: no method awaits between reading and changing
the account.
"""

from __future__ import annotations

import uuid
from abc import abstractmethod
from collections import deque
from collections.abc import Callable, Sequence
from datetime import UTC, datetime

import attrs
import trio

from kalshid.core.netting import net_parts
from kalshid.core.portfolio import holding_after_trade
from kalshid.core.units import CC_PER_CENT, ONE_DOLLAR_CC
from kalshid.exchange.base import FeedEvent, FillReceived, OrderUpdated, PositionUpdated
from kalshid.exchange.errors import NotFound
from kalshid.exchange.paper_feed import Ledger, PaperMarketEvents, PaperOrderRecord, best_bid_cc
from kalshid.exchange.types import (
    Action,
    Balance,
    Fill,
    Order,
    OrderBook,
    Position,
    Settlement,
    Side,
    book_side_of,
)
from kalshid.logs import get_logger

log = get_logger("kalshid.exchange.paper")  # one logger for the whole dry run (order entry included)


def utc_now() -> datetime:
    return datetime.now(UTC)


@attrs.define
class Holding:
    """Paper contracts in one market (at most one of YES and NO is non-zero: fills net);
    ``*_cost_cc`` is the basis still held."""

    yes: int = 0
    no: int = 0
    yes_cost_cc: int = 0
    no_cost_cc: int = 0
    realized_pnl_cc: int = 0
    fees_paid_cc: int = 0
    total_traded_cc: int = 0
    volume: int = 0
    updated: datetime | None = None


def _floor_cents(cc: int) -> int:
    return cc - cc % CC_PER_CENT


class PaperAccount(PaperMarketEvents):
    """The paper account's state and bookkeeping (module docstring); the order entry and the market
    data are :class:`~kalshid.exchange.paper.PaperExchange`'s."""

    def __init__(self, *, starting_balance_cc: int, now: Callable[[], datetime]) -> None:
        if isinstance(starting_balance_cc, bool) or not isinstance(starting_balance_cc, int) \
                or starting_balance_cc < 0:
            raise ValueError(f"starting_balance_cc must be a non-negative int, got {starting_balance_cc!r}")
        self._now = now
        self.cash_cc = starting_balance_cc
        self._orders: dict[str, PaperOrderRecord] = {}
        self._by_coid: dict[str, str] = {}
        self._holdings: dict[str, Holding] = {}
        self._fills: list[Fill] = []
        self._settlements: list[Settlement] = []
        self._ended: set[str] = set()
        self._books: dict[str, OrderBook] = {}
        self._ledger: dict[str, Ledger] = {}
        self._pending: deque[FeedEvent] = deque()
        self._wake = trio.Event()
        self._attached = False
        self._seq = 0

    @abstractmethod
    async def current_book(self, ticker: str) -> OrderBook:
        """The freshest trustworthy book of ``ticker`` (values the holdings in :meth:`get_balance`)."""

    # ------------------------------------------------------------------ portfolio

    async def get_balance(self) -> Balance:
        value = 0
        for ticker, h in list(self._holdings.items()):
            if h.yes or h.no:
                book = await self.current_book(ticker)
                value += h.yes * best_bid_cc(book, Side.YES) + h.no * best_bid_cc(book, Side.NO)
        return Balance(balance_cc=_floor_cents(self.available_cc), portfolio_value_cc=_floor_cents(value),
                       updated_ts=self._now())

    @property
    def available_cc(self) -> int:
        """Cash minus what resting buys reserve (remaining × limit; makers pay no fee)."""
        return self.cash_cc - sum(r.order.remaining_count * r.price_cc for r in self._orders.values()
                                  if r.order.status == "resting" and r.action == "buy")

    async def list_orders(self, *, ticker: str | None = None, status: str | None = None,
                          min_ts: datetime | None = None) -> list[Order]:
        recs = sorted(self._orders.values(), key=lambda r: r.seq, reverse=True)
        return [r.order for r in recs if (ticker is None or r.order.ticker == ticker)
                and (status is None or r.order.status == status)
                and (min_ts is None or (r.order.created_time is not None and r.order.created_time >= min_ts))]

    async def get_order(self, order_id: str) -> Order:
        return self._rec(order_id).order

    async def find_order_by_client_id(self, client_order_id: str, *, ticker: str) -> Order | None:
        oid = self._by_coid.get(client_order_id)
        rec = self._orders.get(oid) if oid else None
        return rec.order if rec is not None and rec.order.ticker == ticker else None

    async def resolve_in_flight(self, client_order_id: str, *, ticker: str) -> Order | None:
        """Paper orders are never in flight; this is a plain lookup (None: never created)."""
        return await self.find_order_by_client_id(client_order_id, ticker=ticker)

    async def list_fills(self, *, ticker: str | None = None, since: datetime | None = None) -> list[Fill]:
        return [f for f in reversed(self._fills) if (ticker is None or f.ticker == ticker)
                and (since is None or (f.ts is not None and f.ts >= since))]

    async def list_positions(self, *, ticker: str | None = None) -> list[Position]:
        oldest = datetime.min.replace(tzinfo=UTC)
        items = sorted(self._holdings.items(), key=lambda kv: kv[1].updated or oldest, reverse=True)
        return [self._position(t, h) for t, h in items if ticker is None or t == ticker]

    async def list_settlements(self, *, ticker: str | None = None,
                               since: datetime | None = None) -> list[Settlement]:
        return [s for s in reversed(self._settlements) if (ticker is None or s.ticker == ticker)
                and (since is None or (s.settled_time is not None and s.settled_time >= since))]

    def holding(self, ticker: str) -> Holding:
        """YES and NO contracts held separately (a copy)."""
        return attrs.evolve(self._holdings.get(ticker, Holding()))

    def settle_market(self, ticker: str, result: str) -> Settlement | None:
        """Pay $1 per winning contract of ``ticker`` (``result`` ``yes``/``no``) and close the holding.
        Idempotent: a market settles once; returns None if already settled or never traded."""
        if result not in ("yes", "no"):
            raise ValueError(f"result must be 'yes' or 'no', got {result!r}")
        self.end_window(ticker)
        if any(s.ticker == ticker for s in self._settlements):
            return None
        h = self._holdings.get(ticker)
        if h is None or (h.yes == 0 and h.no == 0 and h.volume == 0):
            return None
        now = self._now()
        revenue = (h.yes if result == "yes" else h.no) * ONE_DOLLAR_CC
        event_ticker = ticker.rsplit("-", 1)[0]
        record = Settlement(ticker=ticker, event_ticker=event_ticker, market_result=result, yes_count=h.yes,
                            no_count=h.no, yes_total_cost_cc=h.yes_cost_cc, no_total_cost_cc=h.no_cost_cc,
                            revenue_cc=revenue, fee_cc=h.fees_paid_cc, settled_time=now,
                            value_cc=ONE_DOLLAR_CC if result == "yes" else 0)
        self.cash_cc += revenue
        h.realized_pnl_cc += revenue - h.yes_cost_cc - h.no_cost_cc
        h.yes = h.no = h.yes_cost_cc = h.no_cost_cc = 0
        h.updated = now
        self._settlements.append(record)
        self._queue(self._position_event(ticker, h))
        log.info("paper_settlement", ticker=ticker, result=result, revenue_cc=revenue)
        return record

    def restore(self, fills: Sequence[Fill], settlements: Sequence[Settlement]) -> None:
        """Rebuild an unused account from a dry run's history: ``fills`` as the journal booked them
        (already netted into closing and opening parts, so each is applied as it is) and the
        ``settlements`` paid since. Cash moves by every fill's cash flow and fee and every settlement's
        revenue; holdings, fill and settlement lists become what a continuous run would hold. Events
        are applied in time order, a settlement after the fills of its time; no feed event is queued
        (the journal has them all). Raises :class:`ValueError` on an account already used."""
        if self._fills or self._settlements or self._orders:
            raise ValueError("restore needs an unused paper account")
        events: list[tuple[datetime, int, Fill | Settlement]] = [(f.ts or datetime.min.replace(tzinfo=UTC), 0, f)
                                                                 for f in fills]
        events += [(s.settled_time or datetime.min.replace(tzinfo=UTC), 1, s) for s in settlements]
        for when, _kind, item in sorted(events, key=lambda e: (e[0], e[1])):  # stable: ties keep booking order
            if isinstance(item, Fill):
                self._restore_fill(item, when)
            else:
                self._restore_settlement(item, when)

    def _restore_fill(self, f: Fill, when: datetime) -> None:
        h = self._touch_holding(f.ticker, when)
        yes = f.side == "yes"
        held, cost = (h.yes, h.yes_cost_cc) if yes else (h.no, h.no_cost_cc)
        held, cost, realized = holding_after_trade(held, cost, Action(f.action), f.count, f.price_cc)
        if yes:
            h.yes, h.yes_cost_cc = held, cost
        else:
            h.no, h.no_cost_cc = held, cost
        notional = f.count * f.price_cc
        self.cash_cc += (-notional if f.action == "buy" else notional) - f.fee_cc
        h.realized_pnl_cc += realized - f.fee_cc
        h.fees_paid_cc += f.fee_cc
        h.total_traded_cc += notional
        h.volume += f.count
        self._fills.append(f)

    def _restore_settlement(self, s: Settlement, when: datetime) -> None:
        h = self._touch_holding(s.ticker, when)
        self.cash_cc += s.revenue_cc
        s = attrs.evolve(s, yes_total_cost_cc=h.yes_cost_cc, no_total_cost_cc=h.no_cost_cc)
        h.realized_pnl_cc += s.revenue_cc - h.yes_cost_cc - h.no_cost_cc
        h.yes = h.no = h.yes_cost_cc = h.no_cost_cc = 0
        self._ended.add(s.ticker)
        self._settlements.append(s)

    def statistics(self) -> dict[str, int]:
        return {"orders": len(self._orders), "fills": len(self._fills),
                "settlements": len(self._settlements),
                "resting": sum(1 for r in self._orders.values() if r.order.status == "resting"),
                "cash_cc": self.cash_cc, "available_cc": self.available_cc,
                "pending_events": len(self._pending)}

    # ------------------------------------------------------------------ bookkeeping

    def _rec(self, order_id: str) -> PaperOrderRecord:
        rec = self._orders.get(order_id)
        if rec is None:
            raise NotFound(f"order {order_id!r} not found", status=404, code="order_not_found")
        return rec

    def _touch_holding(self, ticker: str, now: datetime) -> Holding:
        h = self._holdings.setdefault(ticker, Holding())
        h.updated = now
        return h

    def _fill(self, rec: PaperOrderRecord, n: int, price_cc: int, fee_cc: int, *, is_taker: bool) -> None:
        """Move cash and contracts for one fill of ``rec`` (netted: the opposite holding closes
        first) and queue its events."""
        o, now = rec.order, self._now()
        h = self._touch_holding(o.ticker, now)
        notional = n * price_cc
        for part in net_parts(Side(o.side), Action(rec.action), n, price_cc, 0, h.yes, h.no):
            part_notional = part.count * part.price_cc
            yes = part.side is Side.YES
            held, cost = (h.yes, h.yes_cost_cc) if yes else (h.no, h.no_cost_cc)
            held, cost, realized = holding_after_trade(held, cost, part.action, part.count, part.price_cc)
            h.realized_pnl_cc += realized  # average cost
            self.cash_cc += -part_notional if part.action is Action.BUY else part_notional
            if yes:
                h.yes, h.yes_cost_cc = held, cost
            else:
                h.no, h.no_cost_cc = held, cost
        self.cash_cc -= fee_cc
        h.realized_pnl_cc -= fee_cc
        h.fees_paid_cc += fee_cc
        h.total_traded_cc += notional
        h.volume += n
        remaining = o.remaining_count - n
        rec.order = attrs.evolve(
            o, fill_count=o.fill_count + n, remaining_count=remaining,
            status="executed" if remaining == 0 else o.status, last_update_time=now,
            taker_fill_cost_cc=o.taker_fill_cost_cc + (notional if is_taker else 0),
            maker_fill_cost_cc=o.maker_fill_cost_cc + (0 if is_taker else notional),
            taker_fees_cc=o.taker_fees_cc + (fee_cc if is_taker else 0),
            maker_fees_cc=o.maker_fees_cc + (0 if is_taker else fee_cc))
        if remaining == 0:
            rec.resting = None
        yes_price = price_cc if o.side == "yes" else ONE_DOLLAR_CC - price_cc
        fill = Fill(fill_id=str(uuid.uuid4()), order_id=o.order_id, ticker=o.ticker, side=o.side,
                    action=rec.action, count=n, yes_price_cc=yes_price, no_price_cc=ONE_DOLLAR_CC - yes_price,
                    is_taker=is_taker, fee_cc=fee_cc, ts=now, client_order_id=o.client_order_id,
                    book_side=book_side_of(o.side, rec.action),
                    post_position=h.yes - h.no,
                    purchased_side=o.side if rec.action == "buy" else ("no" if o.side == "yes" else "yes"))
        self._fills.append(fill)
        t = trio.current_time()
        self._queue(FillReceived(fill, t), self._position_event(o.ticker, h))
        log.info("paper_fill", order_id=o.order_id, fill_id=fill.fill_id, ticker=o.ticker, count=n,
                 price_cc=price_cc, fee_cc=fee_cc, is_taker=is_taker)

    def _maker_fill(self, rec: PaperOrderRecord, count: int) -> None:
        self._fill(rec, count, rec.price_cc, 0, is_taker=False)
        self._queue(OrderUpdated(rec.order, trio.current_time()))

    def _cancel_rec(self, rec: PaperOrderRecord) -> int:
        reduced = rec.order.remaining_count
        now = self._now()
        rec.order = attrs.evolve(rec.order, status="canceled", remaining_count=0, last_update_time=now)
        rec.resting = None
        self._touch_holding(rec.order.ticker, now)
        self._queue(OrderUpdated(rec.order, trio.current_time()))
        return reduced

    def _position(self, ticker: str, h: Holding) -> Position:
        resting = sum(1 for r in self._orders.values()
                      if r.order.ticker == ticker and r.order.status == "resting")
        return Position(ticker=ticker, position=h.yes - h.no, total_traded_cc=h.total_traded_cc,
                        market_exposure_cc=h.yes_cost_cc + h.no_cost_cc, realized_pnl_cc=h.realized_pnl_cc,
                        fees_paid_cc=h.fees_paid_cc, resting_orders_count=resting, last_updated=h.updated)

    def _position_event(self, ticker: str, h: Holding) -> PositionUpdated:
        return PositionUpdated(ticker=ticker, position=h.yes - h.no,
                               position_cost_cc=h.yes_cost_cc + h.no_cost_cc,
                               realized_pnl_cc=h.realized_pnl_cc, fees_paid_cc=h.fees_paid_cc,
                               volume=h.volume, local_time=trio.current_time())
