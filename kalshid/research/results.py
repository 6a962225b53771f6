"""What a replay produces: trades, signals, the equity path, forecasts for calibration, counters.

Money is integer cc. A :class:`TradeRecord` is one fill; its ``pnl_cc`` (payout − cost − fee) is known
once its market settles (``None`` for a market the data never settles). :class:`Forecast` is the last
evaluation in each whole minute left of a market: the book's YES mid and each strategy's modelled
P(YES), with the market's result attached by :meth:`BacktestResult.labelled_forecasts`.
"""

from __future__ import annotations

from collections import Counter
from datetime import datetime
from typing import Any

import attrs

from kalshid.core.portfolio import Portfolio
from kalshid.core.signals import Signal
from kalshid.core.units import ONE_DOLLAR_CC
from kalshid.core.vocab import Side


@attrs.define
class TradeRecord:
    ts: datetime
    ticker: str
    strategy: str
    side: str
    action: str
    count: int
    price_cc: int
    fee_cc: int
    is_taker: bool
    fair_prob: float | None
    edge: float | None
    minutes_left: float | None
    result: str | None = None
    pnl_cc: int | None = None

    @property
    def cost_cc(self) -> int:
        """Cash the fill consumed (a buy) or released (a sale, negative), fee included."""
        sign = 1 if self.action == "buy" else -1
        return sign * self.count * self.price_cc + self.fee_cc

    @property
    def staked_cc(self) -> int:
        """The fill's stake: the all-in cash a buy paid (price and fee); a sale stakes nothing."""
        return self.count * self.price_cc + self.fee_cc if self.action == "buy" else 0

    def settle(self, result: Side) -> None:
        self.result = result.value
        sign = 1 if self.action == "buy" else -1
        payout = self.count * ONE_DOLLAR_CC if result.value == self.side else 0
        self.pnl_cc = sign * payout - self.cost_cc


@attrs.frozen
class SignalRecord:
    ts: datetime
    strategy: str
    ticker: str
    side: str
    price_cc: int
    count: int
    fair_prob: float
    edge: float
    verdict: str
    approved_count: int
    minutes_left: float | None

    @classmethod
    def of(cls, s: Signal, verdict: str, approved_count: int, minutes_left: float | None) -> SignalRecord:
        return cls(s.created_at, s.strategy, s.ticker, s.side._value_, s.price_cc, s.count, s.fair_prob, s.edge,
                   verdict, approved_count, minutes_left)


@attrs.frozen
class EquityPoint:
    ts: datetime
    cash_cc: int
    equity_cc: int


@attrs.frozen
class Forecast:
    ticker: str
    minutes_left: int
    mid: float | None
    fair_yes: dict[str, float]


@attrs.define
class BacktestResult:
    settings: Any
    fill_model: dict[str, object]
    trades: list[TradeRecord] = attrs.field(factory=list)
    signals: list[SignalRecord] = attrs.field(factory=list)
    equity: list[EquityPoint] = attrs.field(factory=list)
    forecasts: list[Forecast] = attrs.field(factory=list)
    results: dict[str, Side] = attrs.field(factory=dict)
    counters: Counter[str] = attrs.field(factory=Counter)
    breaker_events: list[str] = attrs.field(factory=list)
    unsettled: list[str] = attrs.field(factory=list)
    final_portfolio: Portfolio | None = None
    events: int = 0
    source: dict[str, object] = attrs.field(factory=dict)
    period: tuple[datetime | None, datetime | None] = (None, None)

    @property
    def pnl_cc(self) -> int:
        """Realised P&L net of fees over settled trades (cc)."""
        return sum(t.pnl_cc for t in self.trades if t.pnl_cc is not None)

    @property
    def fees_cc(self) -> int:
        return sum(t.fee_cc for t in self.trades)

    def labelled_forecasts(self) -> list[tuple[Forecast, bool]]:
        """Forecasts of settled markets with the outcome (True = YES)."""
        return [(f, self.results[f.ticker] is Side.YES) for f in self.forecasts if f.ticker in self.results]
