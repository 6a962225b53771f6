"""A stand-in for the real exchange a paper account reads: market data only."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

from kalshid.exchange.errors import NotFound
from kalshid.exchange.types import ExchangeStatus, Market, OrderBook

TICKER = "KXSOL15M-26JUL081900-00"
OPEN = datetime(2026, 7, 8, 22, 45, tzinfo=UTC)


class StrictMarketData:
    """Market data only: a settable book and market. Anything else is a test failure."""

    def __init__(self, book: OrderBook) -> None:
        self.book = book
        self.market = Market(ticker=TICKER, event_ticker=TICKER.rsplit("-", 1)[0], status="active",
                             open_time=OPEN, close_time=OPEN + timedelta(minutes=15))
        self.book_reads = 0

    async def get_exchange_status(self) -> ExchangeStatus:
        return ExchangeStatus(True, True)

    async def list_markets(self, *, series_ticker: str | None = None, status: str | None = None,
                           event_ticker: str | None = None,
                           tickers: Sequence[str] | None = None) -> list[Market]:
        return [self.market]

    async def get_market(self, ticker: str) -> Market:
        if ticker != TICKER:
            raise NotFound(f"market {ticker} not found", status=404)
        return self.market

    async def get_orderbook(self, ticker: str, *, depth: int = 0) -> OrderBook:
        self.book_reads += 1
        return self.book

    def __getattr__(self, name: str) -> Any:
        raise AssertionError(f"PaperExchange called {name} on the real exchange")
