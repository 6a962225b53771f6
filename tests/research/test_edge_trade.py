"""The edge study's trading rules count P&L per dollar staked as the backtest report does."""

from datetime import UTC, date, datetime

import pytest

from kalshid.core.fees import taker_fee_cc
from kalshid.core.vocab import Side
from kalshid.research.edge.data import LadderMarket, Quote
from kalshid.research.edge.trade import FEE_ORDER_SIZE, mean_reversion_rule, per_dollar, taker_fee, taker_rule
from kalshid.research.report import summarize
from kalshid.research.results import BacktestResult, TradeRecord

DAY = date(2026, 7, 1)


def _market(yes: bool, quotes: list[Quote]) -> LadderMarket:
    return LadderMarket("KXSOL15M-26JUL010815-15", "SOL", DAY, yes, {q.ml: q for q in quotes})


def _report_of_the_same_order(price_cc: int, result: Side) -> dict[str, object]:
    """The backtest report of FEE_ORDER_SIZE YES bought as one taker order at ``price_cc``."""
    t = TradeRecord(ts=datetime(2026, 7, 1, 12, tzinfo=UTC), ticker="M", strategy="s", side="yes", action="buy",
                    count=FEE_ORDER_SIZE, price_cc=price_cc, fee_cc=taker_fee_cc(FEE_ORDER_SIZE, price_cc),
                    is_taker=True, fair_prob=None, edge=None, minutes_left=None)
    t.settle(result)
    r = BacktestResult(settings=None, fill_model={})
    r.trades.append(t)
    return summarize(r)


@pytest.mark.parametrize("yes", [True, False])
def test_a_taker_trade_stakes_its_price_and_fee_as_the_backtest_report_counts_it(yes: bool) -> None:
    (trade,) = taker_rule([_market(yes, [Quote(10, 0.38, 0.39, 0.40, 0.40)])], lambda ml, mid: 0.9, 0.0)
    assert trade.side_yes and trade.price == pytest.approx(0.40)
    fee = taker_fee(0.40)
    assert fee == pytest.approx(0.0168)  # $1.68 on a 100-contract order at 40c, per contract
    assert trade.stake == pytest.approx(0.40 + fee)
    assert trade.pnl == pytest.approx((1.0 if yes else 0.0) - 0.40 - fee)
    report = _report_of_the_same_order(4000, Side.YES if yes else Side.NO)
    assert trade.stake * FEE_ORDER_SIZE == pytest.approx(report["staked_cc"] / 10_000)  # type: ignore[operator]
    assert per_dollar([trade]) == pytest.approx(report["pnl_per_dollar_staked"])


def test_every_taker_rule_stakes_price_and_fee() -> None:
    # five minutes of a mid at 49c or 53c, then the mid falls to 21c: the rule buys YES at the 22c ask
    quotes = [Quote(ml, 0.48 + 0.04 * (ml % 2), 0.6, 0.50 + 0.04 * (ml % 2), 0.4) for ml in range(14, 9, -1)]
    quotes.append(Quote(9, 0.20, 0.21, 0.22, 0.22))
    (trade,) = mean_reversion_rule([_market(True, quotes)], z0=1.0)
    assert trade.side_yes and trade.price == pytest.approx(0.22)
    assert trade.stake == pytest.approx(trade.price + taker_fee(trade.price))
