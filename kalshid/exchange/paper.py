"""Dry run (``DRY_RUN_MODE=true``): an :class:`~kalshid.exchange.base.Exchange` with real market data
and simulated fills. No order ever leaves the machine.

:class:`PaperExchange` wraps a real exchange (``KalshiRest``). Market-data calls (status, markets,
order books) go to it; every order and portfolio call is answered by an in-memory paper account with
Kalshi's semantics: statuses ``resting``/``canceled``/``executed``; IOC and FoK never rest;
``post_only`` is refused when marketable; a duplicate
``client_order_id`` returns the existing order when side and action match (what ``KalshiRest`` makes of
the exchange's 409) and raises :class:`Conflict` otherwise; a buy needs ``count × limit + taker fee``
of available cash (:class:`InsufficientBalance`), a sell needs contracts held and not already offered.
A market's YES and NO net into one position as on Kalshi: a fill first closes the opposite holding
(buying NO at q while holding YES sells that YES at $1 − q), then opens, by the rule the daemon and the
backtest book fills with (:func:`kalshid.core.netting.net_parts`); ``position`` is ``yes − no``.

Fill model (:mod:`kalshid.core.paperfills`), chosen so paper results do not flatter:

- Taker: the order walks the *visible* book of the real market (partial fills; fees accumulated per
  order exactly as the exchange does, :mod:`kalshid.core.fees`). Liquidity a paper order took stays
  consumed until the real book changes at that level. The book is the wrapped feed's
  (``MarketFeed.book``), else the last fresh :class:`BookUpdated` the stage saw, else a REST snapshot.
- Maker: a resting order never fills at the midpoint. It fills when a public trade goes *through* its
  price, or on a *touch* (a trade at its price) resolved at the next move of the opposite best bid:
  with ``p_fill_adverse`` = **0.96** if the market moved against it, ``p_fill_favourable`` = **0.84**
  if in its favour (measured on 120 live KXSOL15M maker orders), the average if the window ends
  first. Draws come from ``random.Random(seed)``. Makers pay no fee (``fee_type`` quadratic).
- A crossed virtual book (the real ask moving through a paper bid without a trade) does not fill:
  conservative, since on the real exchange the order might have been ahead of it or not.

Money is exact cc. The reported balance is available cash (cash − resting buys' reservations) in
whole cents rounded down, like the exchange's. Settlement pays $1 per winning contract when the stage
sees a ``determined``/``settled`` lifecycle event with a result, or when :meth:`settle_market` is
called. Nothing here raises :class:`OrderInFlight`: a paper order's outcome is always known.
"""

from __future__ import annotations

import random
import uuid
from collections import deque
from collections.abc import Callable, Sequence
from datetime import UTC, datetime

import attrs
import trio

from kalshid.core.fees import taker_fee_cc
from kalshid.core.netting import net_parts
from kalshid.core.paperfills import FillModelParams, RestingPaperOrder, book_key, taker_fills
from kalshid.core.portfolio import holding_after_trade
from kalshid.core.units import CC_PER_CENT, ONE_DOLLAR_CC
from kalshid.exchange.base import (
    Exchange,
    FeedEvent,
    FillReceived,
    MarketFeed,
    OrderReply,
    OrderUpdated,
    PositionUpdated,
    UnsentOrder,
)
from kalshid.exchange.errors import BadRequest, Conflict, InsufficientBalance, NotFound
from kalshid.exchange.kalshi.discovery import OPEN_STATUSES
from kalshid.exchange.paper_feed import (
    Ledger,
    PaperMarketEvents,
    PaperOrderRecord,
    best_bid_cc,
    level_size,
)
from kalshid.exchange.types import (
    Action,
    AmendRequest,
    Balance,
    CancelResult,
    ExchangeStatus,
    Fill,
    Market,
    Order,
    OrderBook,
    OrderChange,
    OrderRequest,
    Position,
    Settlement,
    Side,
    book_side_of,
)
from kalshid.logs import get_logger

log = get_logger(__name__)


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


def _bad(code: str, message: str) -> BadRequest:
    return BadRequest(message, status=400, code=code)


class PaperExchange(PaperMarketEvents):
    """The dry-run exchange (module docstring). Run :func:`~kalshid.exchange.paper_feed.paper_feed_task`
    over the real feed's events to get resting fills, settlement and fill/order events."""

    # fills net YES against NO as on Kalshi, so the journal splits paper fills the way it splits real ones
    nets_positions = True

    def __init__(self, market_data: Exchange, *, starting_balance_cc: int, feed: MarketFeed | None = None,
                 params: FillModelParams | None = None, seed: int = 0,
                 now: Callable[[], datetime] = utc_now) -> None:
        if isinstance(starting_balance_cc, bool) or not isinstance(starting_balance_cc, int) \
                or starting_balance_cc < 0:
            raise ValueError(f"starting_balance_cc must be a non-negative int, got {starting_balance_cc!r}")
        self._md = market_data
        self._feed = feed
        self.params = params or FillModelParams()
        self._rng = random.Random(seed)
        self._now = now
        self.cash_cc = starting_balance_cc
        self._orders: dict[str, PaperOrderRecord] = {}
        self._by_coid: dict[str, str] = {}
        self._holdings: dict[str, Holding] = {}
        self._fills: list[Fill] = []
        self._settlements: list[Settlement] = []
        self._markets: dict[str, Market] = {}
        self._ended: set[str] = set()
        self._books: dict[str, OrderBook] = {}
        self._ledger: dict[str, Ledger] = {}
        self._pending: deque[FeedEvent] = deque()
        self._wake = trio.Event()
        self._attached = False
        self._seq = 0

    # ------------------------------------------------------------------ market data (delegated)

    async def get_exchange_status(self) -> ExchangeStatus:
        return await self._md.get_exchange_status()

    async def list_markets(self, *, series_ticker: str | None = None, status: str | None = None,
                           event_ticker: str | None = None,
                           tickers: Sequence[str] | None = None) -> list[Market]:
        return await self._md.list_markets(series_ticker=series_ticker, status=status,
                                           event_ticker=event_ticker, tickers=tickers)

    async def get_market(self, ticker: str) -> Market:
        return await self._md.get_market(ticker)

    async def get_orderbook(self, ticker: str, *, depth: int = 0) -> OrderBook:
        return await self._md.get_orderbook(ticker, depth=depth)

    async def current_book(self, ticker: str) -> OrderBook:
        """The freshest trustworthy book: the feed's, the stage's last, else a REST snapshot."""
        book = self._feed.book(ticker) if self._feed is not None else None
        if book is None or book.stale:
            book = self._books.get(ticker)
        if book is None or book.stale:
            book = await self._md.get_orderbook(ticker)
        return book

    async def _market(self, ticker: str) -> Market:
        market = self._markets.get(ticker)
        if market is None or market.status not in OPEN_STATUSES:
            market = self._markets[ticker] = await self._md.get_market(ticker)
        return market

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

    # ------------------------------------------------------------------ orders

    async def submit(self, request: OrderRequest) -> OrderReply:
        """Nothing leaves the box: ``order()`` fills the request on paper (:meth:`create_order`)."""
        return UnsentOrder(self.create_order, request)

    async def create_order(self, request: OrderRequest) -> Order:
        """Fill ``request`` against the visible book now; rest the remainder unless IOC/FoK.
        Rejections are the exchange's typed 4xx errors; nothing is ever in flight."""
        if request.client_order_id in self._by_coid:
            return self._duplicate(request)
        market = await self._market(request.ticker)
        book = await self.current_book(request.ticker)
        # Everything below is synchronous: no other task can interleave with the decision.
        if request.client_order_id in self._by_coid:
            return self._duplicate(request)
        now = self._now()
        self._validate(request, market, now)
        buy = request.action == "buy"
        if request.post_only and self._marketable(request, book):
            raise _bad("post_only_cross", "post_only order would take liquidity")
        self.refresh_ledger(book)
        ledger = self._ledger.setdefault(request.ticker, {})
        fills = taker_fills(request.side, request.action, request.price_cc, request.count,
                            yes_bids=book.yes, no_bids=book.no,
                            consumed={k: taken for k, (_size, taken) in ledger.items()})
        fok = request.time_in_force == "fill_or_kill"
        filled = sum(f.count for f in fills)
        if fok and filled < request.count:
            fills = []
        self._seq += 1
        yes_price = request.price_cc if request.side == "yes" else ONE_DOLLAR_CC - request.price_cc
        rec = PaperOrderRecord(
            order=Order(order_id=str(uuid.uuid4()), client_order_id=request.client_order_id,
                        ticker=request.ticker, side=request.side, action=request.action, status="resting",
                        book_side=request.book_side,
                        yes_price_cc=yes_price, no_price_cc=ONE_DOLLAR_CC - yes_price, fill_count=0,
                        remaining_count=request.count, initial_count=request.count,
                        type="limit",
                        created_time=now, last_update_time=now,
                        expiration_time=(datetime.fromtimestamp(request.expiration_ts, UTC)
                                         if request.expiration_ts is not None else None)),
            action=request.action, price_cc=request.price_cc, seq=self._seq)
        self._orders[rec.order.order_id] = rec
        self._by_coid[request.client_order_id] = rec.order.order_id
        for f in fills:
            key = book_key(request.side, request.action, f.price_cc)
            size_then, taken = ledger.get(key, (level_size(book, *key), 0))
            ledger[key] = (size_then, taken + f.count)
            self._fill(rec, f.count, f.price_cc, f.fee_cc, is_taker=True)
        remaining = rec.order.remaining_count
        if remaining and (fok or request.time_in_force == "immediate_or_cancel"):
            rec.order = attrs.evolve(rec.order, status="canceled", remaining_count=0)
        elif remaining:
            bside = request.side if buy else request.side.other
            bprice = request.price_cc if buy else ONE_DOLLAR_CC - request.price_cc
            rec.resting = RestingPaperOrder(request.client_order_id, bside, bprice, remaining)
            self._touch_holding(request.ticker, now)
        self._queue(OrderUpdated(rec.order, trio.current_time()))
        log.info("paper_order", order_id=rec.order.order_id, client_order_id=request.client_order_id,
                 ticker=request.ticker, side=request.side, action=request.action, count=request.count,
                 price_cc=request.price_cc, status=rec.order.status, filled=rec.order.fill_count)
        return rec.order

    async def cancel_order(self, order_id: str, *, ticker: str) -> CancelResult:
        rec = self._rec(order_id)
        if rec.order.ticker != ticker:
            raise NotFound(f"order {order_id} is not on {ticker}", status=404, code="not_found")
        reduced = self._cancel_rec(rec) if rec.order.status == "resting" else 0
        return CancelResult(order_id=order_id, reduced_by=reduced, order=rec.order)

    async def cancel_all_orders(self) -> None:
        for rec in list(self._orders.values()):
            if rec.order.status == "resting":
                self._cancel_rec(rec)

    async def decrease_order(self, order_id: str, *, ticker: str, reduce_by: int | None = None,
                             reduce_to: int | None = None) -> OrderChange:
        if (reduce_by is None) == (reduce_to is None):
            raise ValueError("decrease: give exactly one of reduce_by / reduce_to")
        rec = self._modifiable(order_id, ticker)
        left = rec.order.remaining_count
        target = left - reduce_by if reduce_by is not None else reduce_to
        assert target is not None
        if not 0 <= target < left:
            raise _bad("invalid_parameter", f"cannot reduce {left} remaining contracts to {target}")
        self._resize(rec, target)
        return OrderChange(order_id, rec.order.client_order_id, rec.order.remaining_count, rec.order.fill_count,
                           self._now())

    async def amend_order(self, amend: AmendRequest) -> OrderChange:
        """Change a resting paper order's price and/or total size (filled + new remainder)."""
        req = amend.request
        rec = self._modifiable(amend.order_id, req.ticker)
        if (req.side, req.action) != (rec.order.side, rec.action):
            raise _bad("invalid_parameter", "amend cannot change the order's side")
        target = amend.total_count - rec.order.fill_count
        if target <= 0:
            raise _bad("invalid_parameter", f"amend count {amend.total_count} does not exceed the "
                                            f"{rec.order.fill_count} contracts filled")
        if req.price_cc != rec.price_cc:
            rec.price_cc = req.price_cc
            yes = req.yes_price_cc
            rec.order = attrs.evolve(rec.order, yes_price_cc=yes, no_price_cc=ONE_DOLLAR_CC - yes)
            assert rec.resting is not None
            buy = rec.action == "buy"
            rec.resting = attrs.evolve(rec.resting, price_cc=req.price_cc if buy else ONE_DOLLAR_CC - req.price_cc,
                                       pending_touch=0)
        self._resize(rec, target)
        return OrderChange(amend.order_id, rec.order.client_order_id, rec.order.remaining_count,
                           rec.order.fill_count, self._now())

    def _modifiable(self, order_id: str, ticker: str) -> PaperOrderRecord:
        rec = self._rec(order_id)
        if rec.order.ticker != ticker:
            raise NotFound(f"order {order_id} is not on {ticker}", status=404, code="not_found")
        if rec.order.status != "resting" or rec.resting is None:
            raise Conflict(f"order {order_id} is {rec.order.status}", status=409, code="order_not_resting")
        return rec

    def _resize(self, rec: PaperOrderRecord, remaining: int) -> None:
        if remaining == 0:
            self._cancel_rec(rec)
            return
        assert rec.resting is not None
        rec.resting = attrs.evolve(rec.resting, remaining=remaining,
                                   pending_touch=min(rec.resting.pending_touch, remaining))
        rec.order = attrs.evolve(rec.order, remaining_count=remaining,
                                 initial_count=rec.order.fill_count + remaining, last_update_time=self._now())
        self._queue(OrderUpdated(rec.order, trio.current_time()))

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

    def statistics(self) -> dict[str, int]:
        return {"orders": len(self._orders), "fills": len(self._fills),
                "settlements": len(self._settlements),
                "resting": sum(1 for r in self._orders.values() if r.order.status == "resting"),
                "cash_cc": self.cash_cc, "available_cc": self.available_cc,
                "pending_events": len(self._pending)}

    # ------------------------------------------------------------------ internals

    def _rec(self, order_id: str) -> PaperOrderRecord:
        rec = self._orders.get(order_id)
        if rec is None:
            raise NotFound(f"order {order_id!r} not found", status=404, code="order_not_found")
        return rec

    def _duplicate(self, request: OrderRequest) -> Order:
        rec = self._orders[self._by_coid[request.client_order_id]]
        o = rec.order
        if (o.ticker, o.side, o.action) != (request.ticker, request.side, request.action):
            raise Conflict(f"client_order_id {request.client_order_id} belongs to a different order "
                           f"({o.ticker} {o.side} {o.action} {o.order_id})", status=409,
                           code="order_already_exists")
        return o

    def _validate(self, req: OrderRequest, market: Market, now: datetime) -> None:
        if (market.status not in OPEN_STATUSES or req.ticker in self._ended
                or not market.open_time <= now < market.close_time):
            raise _bad("market_closed", f"market {req.ticker} is {market.status}, not open for trading")
        if not market.is_valid_price(req.price_cc):
            raise _bad("invalid_price", f"price {req.price_cc} cc is not on {req.ticker}'s tick grid")
        if req.expiration_ts is not None and req.expiration_ts <= now.timestamp():
            raise _bad("invalid_expiration", f"expiration_ts {req.expiration_ts} is not in the future")
        h = self._holdings.get(req.ticker, Holding())
        if req.reduce_only:
            if req.action == "sell":
                allowed = h.yes if req.side == "yes" else h.no
            else:
                allowed = max(0, (h.no - h.yes) if req.side == "yes" else (h.yes - h.no))
            if req.count > allowed:
                raise _bad("reduce_only_violation", f"reduce_only order for {req.count} could increase the "
                           f"position (at most {allowed} reduces it)")
        if req.action == "buy":
            needed = req.count * req.price_cc + taker_fee_cc(req.count, req.price_cc)
            if needed > self.available_cc:
                raise InsufficientBalance(f"order needs {needed} cc (cost plus worst-case fee) but only "
                                          f"{self.available_cc} cc is available", status=400,
                                          code="insufficient_balance")
        else:
            held = h.yes if req.side == "yes" else h.no
            offered = sum(r.order.remaining_count for r in self._orders.values()
                          if r.order.status == "resting" and r.action == "sell"
                          and r.order.ticker == req.ticker and r.order.side == req.side)
            if req.count > held - offered:
                raise _bad("insufficient_position", f"cannot sell {req.count} {req.side.upper()} contracts "
                           f"of {req.ticker}: {held - offered} held and not already offered")

    @staticmethod
    def _marketable(req: OrderRequest, book: OrderBook) -> bool:
        if req.action == "buy":
            opposite = best_bid_cc(book, req.side.other)
            return opposite > 0 and ONE_DOLLAR_CC - opposite <= req.price_cc
        return best_bid_cc(book, req.side) >= req.price_cc

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
