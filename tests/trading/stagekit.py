"""What the single-stage tests share: a pipeline around a journal, the market it follows and its times,
feed events at a second of that window, and a strategy that records what it saw."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import attrs
import trio

from kalshid.core.book import OrderBook
from kalshid.core.breaker import Breaker
from kalshid.core.markets import INDEX_ID, market_ticker
from kalshid.core.portfolio import Portfolio
from kalshid.core.risk import DayLedger, RiskEngine, RiskLimits
from kalshid.core.signals import BookTop, IndexPrint, MarketView, Signal
from kalshid.core.strategies.base import BaseStrategy, PriceHistory
from kalshid.core.strategies.registry import StrategyRegistry
from kalshid.core.tracker import MarketInfo
from kalshid.core.vocab import Action, Side
from kalshid.exchange import base
from kalshid.exchange.types import IndexPrint as ExIndexPrint
from kalshid.exchange.types import Settlement
from kalshid.store import Journal
from kalshid.trading.messages import FollowMarkets, Pipeline, Proposal, TradingState
from kalshid.trading.risk import RiskStage

CLOSE = datetime(2026, 7, 8, 23, 0, tzinfo=UTC)
NOW = CLOSE - timedelta(minutes=10)
TICKER = market_ticker(CLOSE)


def pipeline(journal: Journal, cash_cc: int = 10_000_000) -> Pipeline:
    state = TradingState(mode="sim", portfolio=Portfolio(cash_cc), ledger=DayLedger(NOW.date(), 0),
                         breaker=Breaker.start(NOW, cash_cc))
    p = Pipeline(state=state, registry=StrategyRegistry([]), journal=journal)
    # the exchange time risk dates fills and breaker events by: the strategy stage's, as published
    p.snapshots.strategy = attrs.evolve(p.snapshots.strategy, data_time=NOW)
    return p


def follow_ticker(p: Pipeline) -> None:
    """The markets room's message: follow :data:`TICKER`'s window, the current market."""
    p.state.follow = FollowMarkets((MarketInfo(TICKER, CLOSE - timedelta(minutes=15), CLOSE, 150.0),), TICKER)


def strategy_pipeline(journal: Journal, *strategies: BaseStrategy) -> Pipeline:
    """:func:`pipeline` with ``strategies`` enabled, ready, following :data:`TICKER`."""
    p = pipeline(journal)
    p.registry = StrategyRegistry(list(strategies))
    p.state.ready = True
    follow_ticker(p)
    return p


@attrs.define
class StageChannels:
    """A strategy stage's channels, 64 deep: feed events in (``md``), proposals and closing-window
    work out; :meth:`stage_ends` are the ends ``StrategyStage.run`` takes."""

    md: trio.MemorySendChannel[base.FeedEvent]
    md_recv: trio.MemoryReceiveChannel[base.FeedEvent]
    proposals_send: trio.MemorySendChannel[object]
    proposals: trio.MemoryReceiveChannel[object]
    closing_send: trio.MemorySendChannel[object]
    closing: trio.MemoryReceiveChannel[object]

    @classmethod
    def open(cls) -> StageChannels:
        md, md_recv = trio.open_memory_channel[base.FeedEvent](64)
        proposals_send, proposals = trio.open_memory_channel[object](64)
        closing_send, closing = trio.open_memory_channel[object](64)
        return cls(md, md_recv, proposals_send, proposals, closing_send, closing)

    def stage_ends(self) -> tuple[trio.MemoryReceiveChannel[base.FeedEvent], trio.MemorySendChannel[object],
                                  trio.MemorySendChannel[object]]:
        return self.md_recv, self.proposals_send, self.closing_send


@attrs.frozen
class RecordingParams:
    pass


class RecordingStrategy(BaseStrategy):
    """Never trades; records what each evaluation saw (``calls``) and the market view it was given."""

    name = "recording"
    params_class = RecordingParams

    def __init__(self, params: Any = None) -> None:
        super().__init__(params)
        self.calls: list[tuple[datetime, float | None, tuple[float, ...], BookTop | None]] = []
        self.views: list[MarketView] = []

    def analyze(self, market: MarketView, current_price: IndexPrint | None, price_history: PriceHistory,
                orderbook: BookTop | None) -> Signal | None:
        self.calls.append((market.now, current_price.price if current_price else None,
                           tuple(p.price for p in price_history.index), orderbook))
        self.views.append(market)
        return None

    def _adopt_state(self, old: RecordingStrategy) -> None:
        self.calls, self.views = old.calls, old.views

    def statistics(self) -> dict[str, object]:
        return {"calls": len(self.calls)}


def index_event(second: int, price: str) -> base.IndexPrinted:
    ts = NOW + timedelta(seconds=second)
    return base.IndexPrinted(ExIndexPrint(INDEX_ID, Decimal(price), ts, float(second)), float(second))


def book_event(second: int, yes_bid: int, *, local: float | None = None) -> base.BookUpdated:
    book = OrderBook(TICKER, ((yes_bid, 10),), ((9_000 - yes_bid, 10),), exchange_ts=NOW + timedelta(seconds=second))
    return base.BookUpdated(book, float(second) if local is None else local)


def proposal(strategy: str, count: int = 10, price_cc: int = 5000) -> Proposal:
    """A buy of ``count`` YES at ``price_cc`` in :data:`TICKER`, as the strategy stage hands it to risk."""
    signal = Signal(strategy=strategy, ticker=TICKER, side=Side.YES, action=Action.BUY, price_cc=price_cc,
                    count=count, fair_prob=0.6, edge=0.05, confidence=1.0, reason="test", created_at=NOW)
    return Proposal(signal, 0.1, 0.1, trio.current_time())


def risk_stage(p: Pipeline, *, max_daily_loss_cc: int = 10_000_000) -> RiskStage:
    """The risk stage over ``p``, its limits out of the way (but the day's loss, if given)."""
    return RiskStage(p, RiskEngine(RiskLimits(max_position_size_cc=10_000_000, max_concurrent_positions=10,
                                              max_daily_loss_cc=max_daily_loss_cc,
                                              max_window_exposure_cc=10_000_000)))


def yes_settlement(ticker: str, result: str, yes_count: int, cost_cc: int, at: datetime | None) -> Settlement:
    """The exchange's settlement of ``yes_count`` YES bought for ``cost_cc``, the market settled ``result``."""
    return Settlement(ticker=ticker, event_ticker="", market_result=result, yes_count=yes_count, no_count=0,
                      yes_total_cost_cc=cost_cc, no_total_cost_cc=0,
                      revenue_cc=yes_count * 10_000 if result == "yes" else 0, fee_cc=0, settled_time=at)
