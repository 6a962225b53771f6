"""Kalshi REST reads: exchange status, markets, order books, a series' and an event's fee structure,
balance, orders, fills, positions, settlements, and the account's rate limits. Every read is retried
like any GET (:mod:`.transport`).

The account's lists (orders, fills, positions, settlements) leave out an item with a fractional count in
a market kalshid does not trade and keep it in :attr:`KalshiReads.fractional_elsewhere` instead; one in
a market it trades raises (:mod:`.wire.fractional`)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import datetime
from typing import Any, TypeVar

from kalshid.exchange.errors import ExchangeError, ProtocolError
from kalshid.exchange.kalshi.ratelimit import EndpointCosts, RateLimiter, RateLimits, limits_from_account
from kalshid.exchange.kalshi.transport import KalshiHttp
from kalshid.exchange.kalshi.wire import fees as wire_fees
from kalshid.exchange.kalshi.wire import fields, objects
from kalshid.exchange.kalshi.wire.fractional import FractionalElsewhere, parse_each
from kalshid.exchange.types import (
    Balance,
    EventFees,
    ExchangeStatus,
    Fill,
    Market,
    Order,
    OrderBook,
    Position,
    SeriesFees,
    Settlement,
)
from kalshid.logs import get_logger

log = get_logger(__name__)
T = TypeVar("T")
_HISTORY = ("fill", "settlement")  # set-aside items kept across reads; orders and positions are current state


class KalshiReads(KalshiHttp):
    """The Trade API's reads, typed."""

    # ------------------------------------------------------------------ market data

    async def get_exchange_status(self) -> ExchangeStatus:
        return objects.parse_exchange_status(await self._get("/exchange/status"))

    async def list_markets(self, *, series_ticker: str | None = None, status: str | None = None,
                           event_ticker: str | None = None,
                           tickers: Sequence[str] | None = None) -> list[Market]:
        params = {"series_ticker": series_ticker, "status": status, "event_ticker": event_ticker,
                  "tickers": ",".join(tickers) if tickers else None}
        return [objects.parse_market(m) for m in await self._paginate("/markets", "markets", params)]

    async def get_market(self, ticker: str) -> Market:
        body = await self._get(f"/markets/{ticker}")
        return objects.parse_market(fields.obj_of(body, "market", f"market {ticker}"))

    async def get_orderbook(self, ticker: str, *, depth: int = 0) -> OrderBook:
        body = await self._get(f"/markets/{ticker}/orderbook", {"depth": depth or None})
        return objects.parse_orderbook(ticker, body)

    async def get_series_fees(self, series_ticker: str) -> SeriesFees:
        """The series' fee structure (``GET /series/{series_ticker}``)."""
        body = await self._get(f"/series/{series_ticker}", template="/series/{series_ticker}")
        return wire_fees.parse_series_fees(body)

    async def get_event_fees(self, event_ticker: str) -> EventFees:
        """The event's fee override, if any (``GET /events/{event_ticker}``)."""
        body = await self._get(f"/events/{event_ticker}", template="/events/{event_ticker}")
        return wire_fees.parse_event_fees(body)

    # ------------------------------------------------------------------ portfolio

    async def get_balance(self) -> Balance:
        return objects.parse_balance(await self._get("/portfolio/balance"))

    async def list_orders(self, *, ticker: str | None = None, status: str | None = None,
                          min_ts: datetime | None = None) -> list[Order]:
        params = {"ticker": ticker, "status": status,
                  "min_ts": fields.unix_seconds(min_ts) if min_ts else None}
        return self._account_items(await self._paginate("/portfolio/orders", "orders", params),
                                   objects.parse_order, "order", ticker)

    async def get_order(self, order_id: str) -> Order:
        body = await self._get(f"/portfolio/orders/{order_id}", template="/portfolio/orders/{order_id}")
        return objects.parse_order(fields.obj_of(body, "order", f"order {order_id}"))

    async def find_order_by_client_id(self, client_order_id: str, *, ticker: str) -> Order | None:
        """The order with this ``client_order_id`` on ``ticker``, or None. Scans every page."""
        for raw in await self._paginate("/portfolio/orders", "orders", {"ticker": ticker}):
            if isinstance(raw, dict) and raw.get("client_order_id") == client_order_id:
                return objects.parse_order(raw)
        return None

    async def list_fills(self, *, ticker: str | None = None, since: datetime | None = None) -> list[Fill]:
        params = {"ticker": ticker, "min_ts": fields.unix_seconds(since) if since else None}
        return self._account_items(await self._paginate("/portfolio/fills", "fills", params),
                                   objects.parse_fill, "fill", ticker)

    async def list_positions(self, *, ticker: str | None = None) -> list[Position]:
        raw = await self._paginate("/portfolio/positions", "market_positions", {"ticker": ticker})
        return self._account_items(raw, objects.parse_position, "position", ticker)

    async def list_settlements(self, *, ticker: str | None = None,
                               since: datetime | None = None) -> list[Settlement]:
        params = {"ticker": ticker, "min_ts": fields.unix_seconds(since) if since else None}
        raw = await self._paginate("/portfolio/settlements", "settlements", params)
        return self._account_items(raw, objects.parse_settlement, "settlement", ticker)

    @property
    def fractional_elsewhere(self) -> list[FractionalElsewhere]:
        """The account's items with a fractional count in markets kalshid does not trade, left out of the
        lists: fills and settlements ever read, orders and positions as of the last read of them."""
        return sorted(self._set_aside().values(), key=lambda e: (e.kind, e.ticker, e.ident))

    def _set_aside(self) -> dict[tuple[str, str, str], FractionalElsewhere]:
        aside: dict[tuple[str, str, str], FractionalElsewhere] = self.__dict__.setdefault("_fractional_aside", {})
        return aside

    def _account_items(self, raw: list[Any], parse: Callable[[Any], T], kind: str, ticker: str | None) -> list[T]:
        """``raw`` parsed; fractional items outside the traded series set aside and logged once each."""
        items, aside = parse_each(raw, parse, kind)
        known = self._set_aside()
        if kind not in _HISTORY:
            for key in [k for k in known if k[0] == kind and ticker in (None, k[1])]:
                del known[key]
        for e in aside:
            key = (e.kind, e.ticker, e.ident)
            if key not in known:
                log.warning("kalshi_fractional_elsewhere_left_alone", kind=e.kind, market=e.ticker,
                            id=e.ident or None, detail=e.detail)
            known[key] = e
        return items

    async def _order_after(self, order_id: str) -> Order | None:
        """The order just after a change, or None if it can't be read yet (reads may lag writes)."""
        try:
            return await self.get_order(order_id)
        except ExchangeError as exc:
            log.info("kalshi_order_read_after_write_failed", order_id=order_id, error=str(exc))
            return None

    # ------------------------------------------------------------------ account

    async def load_rate_limits(self) -> RateLimits:
        """Read this key's buckets (``GET /account/limits``) and the endpoint costs
        (``/account/endpoint_costs``) and rate-limit by them from now on."""
        try:
            limits = limits_from_account(await self._get("/account/limits"), cost=self.limiter.limits.cost)
            costs = EndpointCosts.from_account(await self._get("/account/endpoint_costs"))
        except ValueError as exc:
            raise ProtocolError(str(exc)) from exc
        self.limiter = RateLimiter(limits, costs)
        log.info("kalshi_rate_limits", read_per_s=limits.read_per_s, read_capacity=limits.read_capacity,
                 write_per_s=limits.write_per_s, write_capacity=limits.write_capacity,
                 default_cost=costs.default)
        return limits
