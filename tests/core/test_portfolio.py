"""Portfolio arithmetic, to the centi-cent."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from kalshid.core.markets import market_ticker
from kalshid.core.portfolio import Fill, Portfolio, PortfolioError, holding_after_trade
from kalshid.core.vocab import Action, Side

CLOSE = datetime(2026, 7, 1, 12, 15, tzinfo=UTC)
T = market_ticker(CLOSE)
T2 = market_ticker(CLOSE + timedelta(minutes=15))
NOW = CLOSE - timedelta(minutes=5)


def fill(side: Side, action: Action, count: int, price: int, fee: int, ticker: str = T) -> Fill:
    return Fill(ticker, side, action, count, price, fee, NOW)


def test_buy_then_settle_winner() -> None:
    p = Portfolio(cash_cc=1_000_000).apply_fill(fill(Side.YES, Action.BUY, 10, 4_200, 1_700))
    assert p.cash_cc == 1_000_000 - 42_000 - 1_700
    pos = p.position(T)
    assert (pos.yes_count, pos.yes_cost_cc, pos.fees_cc) == (10, 42_000, 1_700)
    assert p.realized_pnl_cc == -1_700 and p.fees_paid_cc == 1_700
    assert p.worst_case_loss_cc() == 42_000
    s = p.settle(T, Side.YES)
    assert s.cash_cc == 1_000_000 - 43_700 + 100_000
    assert s.realized_pnl_cc == 100_000 - 42_000 - 1_700
    assert T not in s.positions and s.worst_case_loss_cc() == 0


def test_settle_loser_and_unknown_market() -> None:
    p = Portfolio(cash_cc=100_000).apply_fill(fill(Side.NO, Action.BUY, 3, 3_300, 100))
    s = p.settle(T, Side.YES)
    assert s.cash_cc == 100_000 - 9_900 - 100 and s.realized_pnl_cc == -9_900 - 100
    assert s.settle(T2, Side.NO) is s


def test_partial_sells_keep_exact_basis() -> None:
    p = Portfolio(cash_cc=100_000).apply_fill(fill(Side.YES, Action.BUY, 3, 3_333, 0))
    assert p.position(T).yes_cost_cc == 9_999
    p = p.apply_fill(fill(Side.YES, Action.SELL, 1, 4_000, 100))
    assert p.position(T).yes_cost_cc == 9_999 - 3_333  # 9 999 * 1 // 3
    assert p.realized_pnl_cc == 4_000 - 3_333 - 100
    p = p.apply_fill(fill(Side.YES, Action.SELL, 2, 3_000, 100))
    assert T not in p.positions
    assert p.realized_pnl_cc == (4_000 - 3_333 - 100) + (6_000 - 6_666 - 100)
    assert p.cash_cc == 100_000 - 9_999 + 3_900 + 5_900
    # Cash change equals realised P&L once everything is closed
    assert p.cash_cc - 100_000 == p.realized_pnl_cc


def test_hedged_position_worst_case_and_equity() -> None:
    p = Portfolio(cash_cc=200_000)
    p = p.apply_fill(fill(Side.YES, Action.BUY, 10, 5_000, 0))
    p = p.apply_fill(fill(Side.NO, Action.BUY, 4, 4_000, 0))
    # cost 66 000; YES pays 100 000, NO pays 40 000 -> worst case loses 26 000
    assert p.position(T).worst_case_loss_cc == 26_000
    p = p.apply_fill(fill(Side.NO, Action.BUY, 6, 4_000, 0))
    assert p.position(T).worst_case_loss_cc == 0  # 10/10 locks in $10 for $9
    assert p.equity_cc({T: 6_000}) == 110_000 + 10 * 6_000 + 10 * 4_000
    assert p.equity_cc() == 110_000 + 90_000  # unmarked: at cost


def test_exposure_by_window() -> None:
    p = Portfolio(cash_cc=1_000_000)
    p = p.apply_fill(fill(Side.YES, Action.BUY, 10, 5_000, 0))
    p = p.apply_fill(fill(Side.NO, Action.BUY, 5, 2_000, 0, ticker=T2))
    assert p.exposure_by_window() == {CLOSE: 50_000, CLOSE + timedelta(minutes=15): 10_000}
    assert p.open_tickers() == {T, T2}


def test_bad_fills_rejected() -> None:
    p = Portfolio(cash_cc=100_000).apply_fill(fill(Side.YES, Action.BUY, 2, 5_000, 0))
    with pytest.raises(PortfolioError, match="yes: selling 3 but only 2 held"):
        p.apply_fill(fill(Side.YES, Action.SELL, 3, 5_000, 0))
    with pytest.raises(PortfolioError, match="count"):
        fill(Side.YES, Action.BUY, 0, 5_000, 0)
    with pytest.raises(PortfolioError, match="fee"):
        fill(Side.YES, Action.BUY, 1, 5_000, -1)
    with pytest.raises(ValueError, match="price"):
        fill(Side.YES, Action.BUY, 1, 10_000, 0)


def test_holding_after_trade_is_average_cost_and_exact() -> None:
    held, basis, realized = holding_after_trade(0, 0, Action.BUY, 3, 4_100)
    assert (held, basis, realized) == (3, 12_300, 0)
    held, basis, realized = holding_after_trade(held, basis, "sell", 2, 5_000)  # paper passes "sell"
    assert (held, basis, realized) == (1, 4_100, 10_000 - 8_200)
    assert holding_after_trade(1, 4_101, Action.SELL, 1, 5_000) == (0, 0, 899)  # selling all: all basis
    with pytest.raises(PortfolioError, match="selling 2 but only 1 held"):
        holding_after_trade(1, 4_100, Action.SELL, 2, 5_000)
