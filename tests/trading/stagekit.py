"""What the single-stage tests share: a pipeline around a journal, the market they follow, its times."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import attrs

from kalshid.core.breaker import Breaker
from kalshid.core.markets import market_ticker
from kalshid.core.portfolio import Portfolio
from kalshid.core.risk import DayLedger
from kalshid.core.strategies.registry import StrategyRegistry
from kalshid.core.tracker import MarketInfo
from kalshid.store import Journal
from kalshid.trading.messages import FollowMarkets, Pipeline, TradingState

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
