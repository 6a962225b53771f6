"""Dry run (``DRY_RUN_MODE=true``): an :class:`~kalshid.exchange.base.Exchange` with real market data
and simulated fills. No order ever leaves the machine.

:class:`PaperExchange` wraps a real exchange (``KalshiRest``). Market-data calls (status, markets,
order books) go to it; every order and portfolio call is answered by an in-memory paper account with
Kalshi's semantics: statuses ``resting``/``canceled``/``executed``; IOC and FoK never rest;
``post_only`` is refused when marketable (our own resting orders count); an order that would meet one of
our own resting orders follows its ``self_trade_prevention``: ``taker_at_cross`` fills what the book
offers at better prices and cancels the rest (the book's size at our own price queues behind our order),
``maker`` cancels our resting orders it meets and goes on; a duplicate
``client_order_id`` returns the existing order when side and action match (what ``KalshiRest`` makes of
the exchange's 409) and raises :class:`Conflict` otherwise; a buy needs ``count × limit + taker fee``
of available cash (:class:`InsufficientBalance`), a sell needs contracts held and not already offered;
a ``reduce_only`` order is capped at placement at what reduces the net position, the rest cancelled.
A market's YES and NO net into one position as on Kalshi: a fill first closes the opposite holding
(buying NO at q while holding YES sells that YES at $1 − q), then opens, by the rule the daemon and the
backtest book fills with (:func:`kalshid.core.netting.net_parts`); ``position`` is ``yes − no``.

Fill model (:mod:`kalshid.core.paperfills`), chosen so paper results do not flatter:

- Taker: the order walks the *visible* book of the real market (partial fills; fees accumulated per
  order exactly as the exchange does, :mod:`kalshid.core.fees`). Liquidity a paper order took stays
  consumed while the real book still shows it: a level offers its size less what paper orders took
  there, consumption shrinking with the level and forgotten when it empties
  (:meth:`~kalshid.exchange.paper_feed.PaperMarketEvents.refresh_ledger`). The book is the wrapped feed's
  (``MarketFeed.book``), else the last fresh :class:`BookUpdated` the stage saw, else a REST snapshot.
- Maker: a resting order never fills at the midpoint. It fills, at its own price, only when a public
  trade goes *through* its price (it would have been taken first); a trade *at* its price (a touch)
  does not fill it, since the real orders there may have been ahead of it. Makers pay no fee
  (``fee_type`` quadratic).
- A crossed virtual book (the real ask moving through a paper bid without a trade) does not fill:
  conservative, since on the real exchange the order might have been ahead of it or not.

Money is exact cc. The reported balance is available cash (cash − resting buys' reservations) in
whole cents rounded down, like the exchange's. Settlement pays $1 per winning contract when the stage
sees a ``determined``/``settled`` lifecycle event with a result, when the daemon reads settlements
(:meth:`list_settlements`) after a traded market's close and the exchange gives its result (the feed
may have missed the event), or when :meth:`settle_market` is called. Nothing here raises
:class:`OrderInFlight`: a paper order's outcome is always known.

This module is the order entry (checks, taker fills, resting, cancel/decrease/amend) and the delegated
market data; the account it books into is :mod:`kalshid.exchange.paper_account`, the market events
:mod:`kalshid.exchange.paper_feed`.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Sequence
from datetime import UTC, datetime

import attrs
import trio

from kalshid.core.fees import taker_fee_cc
from kalshid.core.netting import reduce_only_cap
from kalshid.core.paperfills import PaperFill, RestingPaperOrder, book_key, taker_fills
from kalshid.core.units import ONE_DOLLAR_CC
from kalshid.exchange.base import Exchange, MarketFeed, OrderReply, OrderUpdated, UnsentOrder
from kalshid.exchange.errors import BadRequest, Conflict, ExchangeError, InsufficientBalance, NotFound
from kalshid.exchange.kalshi.discovery import OPEN_STATUSES
from kalshid.exchange.paper_account import Holding, PaperAccount, utc_now
from kalshid.exchange.paper_feed import PaperOrderRecord
from kalshid.exchange.types import (
    AmendRequest,
    CancelResult,
    EventFees,
    ExchangeStatus,
    Market,
    Order,
    OrderBook,
    OrderChange,
    OrderRequest,
    SeriesFees,
    Settlement,
)
from kalshid.logs import get_logger

log = get_logger(__name__)

__all__ = ["Holding", "PaperExchange", "utc_now"]


def _bad(code: str, message: str) -> BadRequest:
    return BadRequest(message, status=400, code=code)


class PaperExchange(PaperAccount):
    """The dry-run exchange (module docstring). Run :func:`~kalshid.exchange.paper_feed.paper_feed_task`
    over the real feed's events to get resting fills, settlement and fill/order events."""

    # fills net YES against NO as on Kalshi, so the journal splits paper fills the way it splits real ones
    nets_positions = True

    def __init__(self, market_data: Exchange, *, starting_balance_cc: int, feed: MarketFeed | None = None,
                 now: Callable[[], datetime] = utc_now) -> None:
        super().__init__(starting_balance_cc=starting_balance_cc, now=now)
        self._md = market_data
        self._feed = feed
        self._markets: dict[str, Market] = {}

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

    async def get_series_fees(self, series_ticker: str) -> SeriesFees:
        return await self._md.get_series_fees(series_ticker)

    async def get_event_fees(self, event_ticker: str) -> EventFees:
        return await self._md.get_event_fees(event_ticker)

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

    def close_moved(self, ticker: str, close_time: datetime) -> None:
        super().close_moved(ticker, close_time)
        self._markets.pop(ticker, None)  # the next order reads the market (and its close) afresh

    async def list_settlements(self, *, ticker: str | None = None,
                               since: datetime | None = None) -> list[Settlement]:
        await self.settle_ended_markets()
        return await super().list_settlements(ticker=ticker, since=since)

    async def settle_ended_markets(self) -> None:
        """Settle every traded market whose window has closed and whose result the exchange has
        published, whether or not the feed brought its lifecycle event (a reconnect can miss it): Kalshi
        settles it regardless, so the paper account does too when the daemon next reads settlements."""
        settled = {s.ticker for s in self._settlements}
        for ticker, h in list(self._holdings.items()):
            if ticker in settled or not (h.yes or h.no or h.volume):
                continue
            known = self._markets.get(ticker)
            if known is not None and self._now() < known.close_time:
                continue
            try:
                market = self._markets[ticker] = await self._md.get_market(ticker)
            except ExchangeError as exc:  # one unreadable market holds up no other's settlement
                log.warning("paper_settlement_market_unreadable", ticker=ticker,
                            error=f"{type(exc).__name__}: {exc}")
                continue
            if market.result in ("yes", "no"):
                self.settle_market(ticker, market.result)
            elif market.result:
                log.error("paper_settlement_unsupported", ticker=ticker, result=market.result)

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
        count = self._validate(request, market, now)
        buy = request.action == "buy"
        take_side, threshold = book_key(request.side, request.action, request.price_cc)
        own = [r for r in self._resting(request.ticker) if r.resting is not None
               and r.resting.side == take_side and r.resting.price_cc >= threshold]
        if request.post_only and (own or self._marketable(request, book)):
            raise _bad("post_only_cross", "post_only order would take liquidity")
        self.refresh_ledger(book)
        ledger = self._ledger.setdefault(request.ticker, {})
        yes_bids, no_bids = book.yes, book.no
        stop_at = None  # taker_at_cross: the walk ends at our own best resting bid it would meet
        if own and request.self_trade_prevention == "taker_at_cross":
            stop_at = max(r.resting.price_cc for r in own if r.resting is not None)
            # the book's liquidity at our own price counts as queued behind our order there
            if take_side == "yes":
                yes_bids = tuple(lv for lv in yes_bids if lv[0] > stop_at)
            else:
                no_bids = tuple(lv for lv in no_bids if lv[0] > stop_at)
        fills = taker_fills(request.side, request.action, request.price_cc, count,
                            yes_bids=yes_bids, no_bids=no_bids,
                            consumed=ledger)
        fok = request.time_in_force == "fill_or_kill"
        filled = sum(f.count for f in fills)
        if fok and filled < count:
            fills = []
        stopped = stop_at is not None and filled < count
        if own and count and stop_at is None and not (fok and filled < count):
            self._cancel_own_makers(request, own, fills, complete=filled == count)
        self._seq += 1
        yes_price = request.price_cc if request.side == "yes" else ONE_DOLLAR_CC - request.price_cc
        rec = PaperOrderRecord(
            order=Order(order_id=str(uuid.uuid4()), client_order_id=request.client_order_id,
                        ticker=request.ticker, side=request.side, action=request.action, status="resting",
                        book_side=request.book_side,
                        yes_price_cc=yes_price, no_price_cc=ONE_DOLLAR_CC - yes_price, fill_count=0,
                        remaining_count=count, initial_count=request.count,
                        type="limit",
                        created_time=now, last_update_time=now,
                        expiration_time=(datetime.fromtimestamp(request.expiration_ts, UTC)
                                         if request.expiration_ts is not None else None)),
            action=request.action, price_cc=request.price_cc, seq=self._seq, close_time=market.close_time)
        self._orders[rec.order.order_id] = rec
        self._by_coid[request.client_order_id] = rec.order.order_id
        for f in fills:
            key = book_key(request.side, request.action, f.price_cc)
            ledger[key] = ledger.get(key, 0) + f.count
            self._fill(rec, f.count, f.price_cc, f.fee_cc, is_taker=True)
        remaining = rec.order.remaining_count
        if count == 0:  # reduce-only with nothing to reduce: capped to nothing, cancelled at placement
            rec.order = attrs.evolve(rec.order, status="canceled")
        elif remaining and (fok or stopped or request.time_in_force == "immediate_or_cancel"):
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

    def _cancel_own_makers(self, request: OrderRequest, own: list[PaperOrderRecord], fills: list[PaperFill],
                           *, complete: bool) -> None:
        """Self-trade prevention ``maker``: cancel our own resting orders the walk meets (those at or
        better than the last level it takes from, all of them when it does not fill), as Kalshi does."""
        last = book_key(request.side, request.action, fills[-1].price_cc)[1] if fills and complete else 0
        for rec in own:
            if rec.resting is not None and rec.resting.price_cc >= last:
                self._cancel_rec(rec)

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
            rec.resting = attrs.evolve(rec.resting, price_cc=req.price_cc if buy else ONE_DOLLAR_CC - req.price_cc)
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
        rec.resting = attrs.evolve(rec.resting, remaining=remaining)
        rec.order = attrs.evolve(rec.order, remaining_count=remaining,
                                 initial_count=rec.order.fill_count + remaining, last_update_time=self._now())
        self._queue(OrderUpdated(rec.order, trio.current_time()))

    # ------------------------------------------------------------------ order checks

    def _duplicate(self, request: OrderRequest) -> Order:
        rec = self._orders[self._by_coid[request.client_order_id]]
        o = rec.order
        if (o.ticker, o.side, o.action) != (request.ticker, request.side, request.action):
            raise Conflict(f"client_order_id {request.client_order_id} belongs to a different order "
                           f"({o.ticker} {o.side} {o.action} {o.order_id})", status=409,
                           code="order_already_exists")
        return o

    def _validate(self, req: OrderRequest, market: Market, now: datetime) -> int:
        """Refuse what Kalshi refuses; returns the count the order may trade (a reduce-only order's
        count capped at what reduces the position)."""
        if (market.status not in OPEN_STATUSES or req.ticker in self._ended
                or not market.open_time <= now < market.close_time):
            raise _bad("market_closed", f"market {req.ticker} is {market.status}, not open for trading")
        if not market.is_valid_price(req.price_cc):
            raise _bad("invalid_price", f"price {req.price_cc} cc is not on {req.ticker}'s tick grid")
        if req.expiration_ts is not None and req.expiration_ts <= now.timestamp():
            raise _bad("invalid_expiration", f"expiration_ts {req.expiration_ts} is not in the future")
        h = self._holdings.get(req.ticker, Holding())
        count = min(req.count, reduce_only_cap(req.side, req.action, h.yes, h.no)) if req.reduce_only else req.count
        if req.action == "buy":
            needed = count * req.price_cc + taker_fee_cc(count, req.price_cc)
            if needed > self.available_cc:
                raise InsufficientBalance(f"order needs {needed} cc (cost plus worst-case fee) but only "
                                          f"{self.available_cc} cc is available", status=400,
                                          code="insufficient_balance")
        else:
            held = h.yes if req.side == "yes" else h.no
            offered = sum(r.order.remaining_count for r in self._orders.values()
                          if r.order.status == "resting" and r.action == "sell"
                          and r.order.ticker == req.ticker and r.order.side == req.side)
            if count > held - offered:
                raise _bad("insufficient_position", f"cannot sell {count} {req.side.upper()} contracts "
                           f"of {req.ticker}: {held - offered} held and not already offered")
        return count

    @staticmethod
    def _marketable(req: OrderRequest, book: OrderBook) -> bool:
        """Whether ``req`` would take liquidity on Kalshi: against the whole book, fractional levels
        included (they are not takeable by kalshid, but Kalshi would match them all the same)."""
        take_side, threshold = book_key(req.side, req.action, req.price_cc)
        return any(price >= threshold for price, _size in book.exact(take_side))
