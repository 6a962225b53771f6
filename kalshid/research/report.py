"""Backtest reports: ``trades.csv``, ``summary.json``, charts and a one-page HTML.

:func:`summarize` turns a :class:`~kalshid.research.results.BacktestResult` into plain JSON-able data:
P&L net of fees, fees, hit rate, turnover, max drawdown, P&L per dollar staked with 95 % bootstrap
intervals resampling **markets** and **days** (the UTC date of each market's trades), the fill model and
source as stated by them, counters, and the calibration table by minutes left. Money is reported in
cc (exact integers) and as dollar strings. Bootstrap draws use a fixed seed: reports repeat exactly.

**Stake** is the all-in cash a buy paid, price and fee: ``count × price + fee`` (a sale stakes nothing;
its proceeds and fee are in the P&L). **Hit rate** is per settled position, not per fill: the share of
the markets traded and settled whose position, over all its fills, made money net of every fee
(``positions_won / positions_settled``). Per strategy, a position is the strategy's fills in one market.

The interval over days needs at least :data:`MIN_DAYS` days with settled trades, else it is ``None``
(shown as "–"): resampling two or three days gives only a handful of distinct values (with two, the
percentile bounds are simply the two days' own ratios), which is no 95 % interval. Within a day the
markets share one price path, so the interval over markets may be too narrow.

:func:`write_report` writes the files; charts need matplotlib and are drawn by :mod:`.plots` (loaded
only here, never by the daemon).
"""

from __future__ import annotations

import csv
import json
from collections import defaultdict
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import attrs
import numpy as np

from kalshid.core.units import format_dollars
from kalshid.research.calibration import calibration_table
from kalshid.research.results import BacktestResult, TradeRecord

BOOTSTRAP_DRAWS = 2000
BOOTSTRAP_SEED = 20261203
MIN_DAYS = 5
"""Fewest days with settled trades for a bootstrap interval over days (below it the interval is ``None``)."""

TRADE_COLUMNS = ("ts", "ticker", "strategy", "side", "action", "count", "price_cc", "fee_cc", "is_taker",
                 "fair_prob", "edge", "minutes_left", "result", "pnl_cc")


def bootstrap_ratio(pnl: Sequence[int], staked: Sequence[int], *, draws: int = BOOTSTRAP_DRAWS,
                    seed: int = BOOTSTRAP_SEED) -> tuple[float, float] | None:
    """95 % percentile interval of ``Σ pnl / Σ staked`` resampling the groups with replacement."""
    if len(pnl) < 2:
        return None
    p, s = np.asarray(pnl, dtype=float), np.asarray(staked, dtype=float)
    rng = np.random.default_rng(seed)
    idx = rng.integers(0, len(p), size=(draws, len(p)))
    tot_s = s[idx].sum(axis=1)
    ratios = np.where(tot_s > 0, p[idx].sum(axis=1) / np.where(tot_s > 0, tot_s, 1.0), 0.0)
    lo, hi = np.percentile(ratios, [2.5, 97.5])
    return float(lo), float(hi)


def max_drawdown(equity: Sequence[int]) -> tuple[int, float]:
    """Largest peak-to-trough fall (cc) and that fall as a fraction of its peak."""
    peak, worst, worst_frac = None, 0, 0.0
    for e in equity:
        peak = e if peak is None or e > peak else peak
        if peak - e > worst:
            worst, worst_frac = peak - e, (peak - e) / peak if peak > 0 else 0.0
    return worst, worst_frac


def _groups(trades: Sequence[TradeRecord], key: str) -> tuple[list[int], list[int]]:
    pnl: dict[str, int] = defaultdict(int)
    staked: dict[str, int] = defaultdict(int)
    for t in trades:
        if t.pnl_cc is None:
            continue
        g = t.ticker if key == "market" else t.ts.date().isoformat()
        pnl[g] += t.pnl_cc
        staked[g] += t.staked_cc
    keys = sorted(pnl)
    return [pnl[k] for k in keys], [staked[k] for k in keys]


def positions(trades: Sequence[TradeRecord]) -> dict[str, int]:
    """Net P&L (cc, fees included) of each settled market's position over all its fills, by ticker."""
    out: dict[str, int] = defaultdict(int)
    for t in trades:
        if t.pnl_cc is not None:
            out[t.ticker] += t.pnl_cc
    return dict(out)


def hit_rate(trades: Sequence[TradeRecord]) -> tuple[int, int, float | None]:
    """``(positions won, positions settled, won / settled)``: a position is won when its net P&L after
    every fee is above zero (``None`` without a settled position)."""
    pnl = positions(trades)
    won = sum(1 for v in pnl.values() if v > 0)
    return won, len(pnl), won / len(pnl) if pnl else None


def summarize(result: BacktestResult) -> dict[str, Any]:
    settled = [t for t in result.trades if t.pnl_cc is not None]
    pnl = sum(t.pnl_cc for t in settled if t.pnl_cc is not None)
    fees = sum(t.fee_cc for t in result.trades)
    staked = sum(t.staked_cc for t in settled)
    dd_cc, dd_frac = max_drawdown([p.equity_cc for p in result.equity])
    by_market = _groups(settled, "market")
    by_day = _groups(settled, "day")
    ci_market = bootstrap_ratio(*by_market)
    ci_day = bootstrap_ratio(*by_day) if len(by_day[0]) >= MIN_DAYS else None
    per_strategy: dict[str, dict[str, Any]] = {}
    for name in sorted({t.strategy for t in settled}):
        mine = [t for t in settled if t.strategy == name]
        s_pnl = sum(t.pnl_cc for t in mine if t.pnl_cc is not None)
        s_staked = sum(t.staked_cc for t in mine)
        s_won, s_positions, s_hit = hit_rate(mine)
        per_strategy[name] = {"trades": len(mine), "positions_settled": s_positions, "positions_won": s_won,
                              "hit_rate": s_hit, "pnl_cc": s_pnl, "staked_cc": s_staked,
                              "pnl_per_dollar_staked": s_pnl / s_staked if s_staked else None}
    won, settled_positions, hit = hit_rate(settled)
    start, end = result.period
    settings = result.settings
    return {
        "period": {"from": start.isoformat() if start else None, "to": end.isoformat() if end else None},
        "source": result.source,
        "fill_model": result.fill_model,
        "settings": _settings_dict(settings),
        "events": result.events,
        "markets_settled": len(result.results),
        "markets_traded": len({t.ticker for t in result.trades}),
        "trades": len(result.trades),
        "contracts": sum(t.count for t in result.trades),
        "pnl_cc": pnl, "pnl": format_dollars(pnl),
        "fees_cc": fees, "fees": format_dollars(fees),
        "staked_cc": staked, "turnover": format_dollars(sum(abs(t.cost_cc) for t in result.trades)),
        "positions_settled": settled_positions, "positions_won": won, "hit_rate": hit,
        "pnl_per_dollar_staked": pnl / staked if staked else None,
        "pnl_per_dollar_staked_ci95_markets": ci_market,
        "pnl_per_dollar_staked_ci95_days": ci_day,
        "bootstrap": {"draws": BOOTSTRAP_DRAWS, "seed": BOOTSTRAP_SEED, "markets": len(by_market[0]),
                      "days": len(by_day[0]), "min_days": MIN_DAYS},
        "max_drawdown_cc": dd_cc, "max_drawdown": format_dollars(dd_cc), "max_drawdown_fraction": dd_frac,
        "final_cash_cc": result.final_portfolio.cash_cc if result.final_portfolio else None,
        "unsettled_markets": result.unsettled,
        "per_strategy": per_strategy,
        "counters": dict(sorted(result.counters.items())),
        "breaker_events": result.breaker_events,
        "calibration": [s.as_dict() for s in calibration_table(result.labelled_forecasts())],
    }


def _settings_dict(settings: Any) -> dict[str, Any]:
    if not attrs.has(type(settings)):
        return {}
    raw = attrs.asdict(settings, recurse=True)
    out: dict[str, Any] = json.loads(json.dumps(raw, default=str))
    return out


def write_trades_csv(result: BacktestResult, path: Path) -> None:
    with path.open("w", newline="") as f:
        w = csv.writer(f)
        w.writerow(TRADE_COLUMNS)
        for t in result.trades:
            row = attrs.asdict(t)
            row["ts"] = t.ts.isoformat()
            w.writerow(["" if row[c] is None else row[c] for c in TRADE_COLUMNS])


def write_report(result: BacktestResult, out: Path, *, charts: bool = True) -> dict[str, Any]:
    """Write ``trades.csv``, ``signals.csv``, ``summary.json`` and (with ``charts``) PNGs and
    ``report.html`` into ``out``; returns the summary."""
    out.mkdir(parents=True, exist_ok=True)
    summary = summarize(result)
    write_trades_csv(result, out / "trades.csv")
    with (out / "signals.csv").open("w", newline="") as f:
        w = csv.writer(f)
        cols = [a.name for a in attrs.fields(type(result.signals[0]))] if result.signals else ["ts"]
        w.writerow(cols)
        for s in result.signals:
            row = attrs.asdict(s)
            w.writerow([row[c].isoformat() if c == "ts" else ("" if row[c] is None else row[c]) for c in cols])
    (out / "summary.json").write_text(json.dumps(summary, indent=2, sort_keys=False) + "\n")
    if charts:
        from kalshid.research import html, plots

        images = plots.draw_all(result, out)
        (out / "report.html").write_text(html.render(summary, images))
    return summary
