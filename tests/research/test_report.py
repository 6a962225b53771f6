"""The backtest report's statistics, checked against hand calculations and independent resampling."""

import random
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from kalshid.core.vocab import Side
from kalshid.research import plots
from kalshid.research.calibration import MID, calibration_table
from kalshid.research.report import MIN_DAYS, bootstrap_ratio, max_drawdown, summarize
from kalshid.research.results import BacktestResult, EquityPoint, Forecast, TradeRecord
from kalshid.research.sweep import objective_of

DAY0 = datetime(2026, 6, 1, 12, 0, tzinfo=UTC)


def _trade(ts: datetime, ticker: str, side: str, action: str, count: int, price_cc: int, fee_cc: int,
           result: Side) -> TradeRecord:
    t = TradeRecord(ts=ts, ticker=ticker, strategy="s", side=side, action=action, count=count, price_cc=price_cc,
                    fee_cc=fee_cc, is_taker=True, fair_prob=None, edge=None, minutes_left=None)
    t.settle(result)
    return t


def _one_market_a_day(days: int) -> BacktestResult:
    """One market a day: 10 YES at 40c (fee 17c), alternately won and lost."""
    r = BacktestResult(settings=None, fill_model={})
    for d in range(days):
        result = Side.YES if d % 2 == 0 else Side.NO
        r.trades.append(_trade(DAY0 + timedelta(days=d), f"M{d}", "yes", "buy", 10, 4000, 1700, result))
    return r


def test_summary_figures_match_a_hand_calculation() -> None:
    r = BacktestResult(settings=None, fill_model={})
    r.trades += [
        # A: 10 YES at 40c (fee 17c), then 4 of them sold at 55c (fee 7c); YES wins
        _trade(DAY0, "A", "yes", "buy", 10, 4000, 1700, Side.YES),
        _trade(DAY0 + timedelta(minutes=1), "A", "yes", "sell", 4, 5500, 700, Side.YES),
        # B: 20 NO at 30c (fee 30c); YES wins, so NO loses
        _trade(DAY0 + timedelta(minutes=20), "B", "no", "buy", 20, 3000, 3000, Side.YES),
    ]
    r.equity = [EquityPoint(DAY0, 0, v) for v in (1_000_000, 1_200_000, 900_000, 1_300_000, 1_040_000)]
    s = summarize(r)
    # A buy: +10·$1 − $4 − $0.17 = $5.83; A sell: $2.20 − $0.07 − $4 = −$1.87; B: −$6 − $0.30 = −$6.30
    assert [t.pnl_cc for t in r.trades] == [58_300, -18_700, -63_000]
    assert s["pnl_cc"] == -23_400 and s["pnl"] == "-2.3400"
    assert s["fees_cc"] == 5_400
    assert s["staked_cc"] == 41_700 + 63_000  # the buys' cash out, fees included; a sale stakes nothing
    assert s["turnover"] == "12.6000"  # |4.17| + |−2.13| + |6.30|
    # per settled position: A made $5.83 − $1.87 = $3.96 over its two fills, B lost
    assert (s["positions_won"], s["positions_settled"], s["hit_rate"]) == (1, 2, 0.5)
    assert s["pnl_per_dollar_staked"] == pytest.approx(-23_400 / 104_700)
    assert (s["max_drawdown_cc"], s["max_drawdown_fraction"]) == (300_000, pytest.approx(0.25))
    assert s["contracts"] == 34 and s["markets_traded"] == 2


def test_the_sweep_s_objective_per_dollar_is_the_report_s() -> None:
    r = _one_market_a_day(3)
    r.trades.append(_trade(DAY0, "M0", "yes", "sell", 4, 5500, 700, Side.YES))
    assert objective_of(r, "pnl_per_dollar") == summarize(r)["pnl_per_dollar_staked"]
    assert summarize(r)["staked_cc"] == 3 * (10 * 4000 + 1700)


def test_hit_rate_counts_settled_positions_that_made_money_after_fees_not_fills() -> None:
    r = BacktestResult(settings=None, fill_model={})
    r.trades += [
        # A: three small winning fills of one position
        *(_trade(DAY0 + timedelta(seconds=i), "A", "yes", "buy", 1, 4000, 100, Side.YES) for i in range(3)),
        # B: one losing fill
        _trade(DAY0 + timedelta(minutes=20), "B", "no", "buy", 20, 3000, 3000, Side.YES),
        # C: 1 YES at 99c won, but the 1c fee takes the whole cent it made: no money made
        _trade(DAY0 + timedelta(minutes=40), "C", "yes", "buy", 1, 9900, 100, Side.YES),
    ]
    r.trades[-1].strategy = "other"
    assert r.trades[-1].pnl_cc == 0
    s = summarize(r)
    assert (s["positions_won"], s["positions_settled"]) == (1, 3)
    assert s["hit_rate"] == pytest.approx(1 / 3)  # counted per fill it would be 3 of 5
    assert s["per_strategy"]["s"]["hit_rate"] == 0.5 and s["per_strategy"]["other"]["hit_rate"] == 0.0
    assert (s["per_strategy"]["s"]["positions_won"], s["per_strategy"]["s"]["positions_settled"]) == (1, 2)


def test_max_drawdown_is_the_largest_fall_from_a_running_peak() -> None:
    assert max_drawdown([100, 50, 200, 120, 260, 250]) == pytest.approx((80, 0.4))
    assert max_drawdown([100, 110, 120]) == (0, 0.0)
    assert max_drawdown([]) == (0, 0.0)


def test_the_bootstrap_resamples_groups_with_percentile_bounds() -> None:
    rng = random.Random(3)
    pnl = [rng.randint(-40_000, 40_000) for _ in range(30)]
    staked = [rng.randint(10_000, 60_000) for _ in range(30)]
    assert bootstrap_ratio(pnl, staked) == bootstrap_ratio(pnl, staked)  # seeded: the same interval every time
    lo, hi = bootstrap_ratio(pnl, staked, draws=50_000) or (0.0, 0.0)
    # an independent resampling of the 30 groups (another generator)
    ratios = []
    for _ in range(20_000):
        pick = [rng.randrange(30) for _ in range(30)]
        ratios.append(sum(pnl[i] for i in pick) / sum(staked[i] for i in pick))
    ratios.sort()
    assert lo == pytest.approx(ratios[500], abs=0.01)
    assert hi == pytest.approx(ratios[19_499], abs=0.01)
    assert bootstrap_ratio([5], [10]) is None  # one group: nothing to resample


def test_the_interval_over_days_needs_enough_days() -> None:
    few = summarize(_one_market_a_day(2))
    # two days: a resample is one of three sums, and its "interval" is the two days' own ratios
    assert few["pnl_per_dollar_staked_ci95_days"] is None
    assert few["pnl_per_dollar_staked_ci95_markets"] is not None  # the markets are still resampled
    assert (few["bootstrap"]["days"], few["bootstrap"]["min_days"]) == (2, MIN_DAYS)
    enough = summarize(_one_market_a_day(MIN_DAYS))
    lo, hi = enough["pnl_per_dollar_staked_ci95_days"]
    assert lo < enough["pnl_per_dollar_staked"] < hi


def _labelled_result() -> BacktestResult:
    """Ten markets priced by the model at 1 minute left; the mid is missing on the last six."""
    r = BacktestResult(settings=None, fill_model={})
    for i in range(10):
        ticker = f"M{i}"
        r.results[ticker] = Side.YES if i % 2 else Side.NO
        r.forecasts.append(Forecast(ticker, 1, 0.3 + 0.04 * i if i < 4 else None, {"model": 0.1 + 0.08 * i}))
    return r


def test_the_reliability_diagram_compares_forecasters_on_the_markets_the_scores_use(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    r = _labelled_result()
    scores = {(s.forecaster, s.minutes_left): s.n for s in calibration_table(r.labelled_forecasts())}
    assert scores == {("model", 1): 4, (MID, 1): 4}
    drawn: list[Any] = []
    real = plots._pyplot()

    class Capture:
        def __getattr__(self, name: str) -> Any:
            return getattr(real, name)

        def close(self, fig: Any) -> None:
            drawn.append(fig)

    monkeypatch.setattr(plots, "_pyplot", Capture)
    plots.reliability_chart(r, tmp_path / "reliability.png")
    (fig,) = drawn
    one_minute = next(ax for ax in fig.axes if ax.get_title() == "1 min left")
    labels = sorted(line.get_label() for line in one_minute.get_lines() if not line.get_label().startswith("_"))
    assert labels == ["market mid (n=4)", "model (n=4)"]
    xs = {line.get_label(): list(line.get_xdata()) for line in one_minute.get_lines()}
    assert max(xs["model (n=4)"]) < 0.4  # the model's points are those of the four markets with a mid
    real.close(fig)
