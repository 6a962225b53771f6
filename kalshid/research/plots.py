"""Report charts (matplotlib, Agg backend, imported only when a report is written).

- ``equity.png``: equity (marked at the book mid) and drawdown over time.
- ``reliability.png``: one panel per minutes-left checkpoint; each strategy's modelled P(YES) and the
  market's own mid, mean forecast against observed frequency, with the diagonal, on the markets every
  forecaster priced there (the scores' population).
- ``scores.png``: Brier, log loss and ECE by minutes left for each model and the mid.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from kalshid.research.calibration import (
    MID,
    MINUTES_LEFT,
    calibration_table,
    common_forecasts,
    forecast_pairs,
    forecasters,
    reliability,
)
from kalshid.research.results import BacktestResult


def _pyplot() -> Any:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def equity_chart(result: BacktestResult, path: Path) -> None:
    plt = _pyplot()
    fig, (ax1, ax2) = plt.subplots(2, 1, figsize=(9, 5.5), sharex=True, height_ratios=(3, 1))
    if result.equity:
        ts = [p.ts for p in result.equity]
        eq = [p.equity_cc / 10_000 for p in result.equity]
        peak, dd = float("-inf"), []
        for e in eq:
            peak = max(peak, e)
            dd.append(e - peak)
        ax1.plot(ts, eq, lw=1.2, color="tab:blue", drawstyle="steps-post")
        ax2.fill_between(ts, dd, 0, step="post", color="tab:red", alpha=0.5)
    else:
        ax1.text(0.5, 0.5, "no trades", ha="center", va="center", transform=ax1.transAxes)
    ax1.set_ylabel("equity ($)")
    ax2.set_ylabel("drawdown ($)")
    ax1.set_title("Equity and drawdown (marked at the book mid)")
    fig.autofmt_xdate()
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def reliability_chart(result: BacktestResult, path: Path) -> None:
    plt = _pyplot()
    labelled = result.labelled_forecasts()
    names = forecasters(labelled)
    labelled = common_forecasts(labelled)
    fig, axes = plt.subplots(2, 3, figsize=(11, 7), sharex=True, sharey=True)
    for ax, ml in zip(axes.flat, MINUTES_LEFT, strict=True):
        ax.plot([0, 1], [0, 1], color="grey", lw=0.8, ls="--")
        for name in names:
            pairs = forecast_pairs(labelled, name, ml)
            if not pairs:
                continue
            pts = reliability(pairs)
            ax.plot([p[0] for p in pts], [p[1] for p in pts], marker="o", ms=3,
                    label=f"{'market mid' if name == MID else name} (n={len(pairs)})",
                    ls=":" if name == MID else "-")
        ax.set_title(f"{ml} min left")
        _legend(ax, fontsize=7, loc="upper left")
    for ax in axes[-1]:
        ax.set_xlabel("forecast P(YES)")
    for ax in axes[:, 0]:
        ax.set_ylabel("observed frequency")
    fig.suptitle("Reliability by minutes left: model vs the market's own mid")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def scores_chart(result: BacktestResult, path: Path) -> None:
    """Brier, log loss and ECE by minutes left, one line per forecaster (model(s) and the mid)."""
    plt = _pyplot()
    rows = calibration_table(result.labelled_forecasts())
    fig, axes = plt.subplots(1, 3, figsize=(12, 3.6))
    for ax, metric in zip(axes, ("brier", "log_loss", "ece"), strict=True):
        for name in sorted({r.forecaster for r in rows}):
            mine = sorted((r for r in rows if r.forecaster == name), key=lambda r: -r.minutes_left)
            ax.plot([r.minutes_left for r in mine], [getattr(r, metric) for r in mine], marker="o",
                    ls=":" if name == MID else "-", label="market mid" if name == MID else name)
        ax.set_title(metric.replace("_", " "))
        ax.set_xlabel("minutes left")
        ax.invert_xaxis()
        _legend(ax, fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def _legend(ax: Any, **kw: Any) -> None:
    """The panel's legend, or, when no forecast reached it (no market settled with that many minutes
    left), a note saying so instead of an empty legend box."""
    if ax.get_legend_handles_labels()[0]:
        ax.legend(**kw)
    else:
        ax.text(0.5, 0.5, "no settled market", ha="center", va="center", transform=ax.transAxes, fontsize=8,
                color="grey")


def draw_all(result: BacktestResult, out: Path) -> list[str]:
    """Write every chart into ``out``; returns the file names."""
    equity_chart(result, out / "equity.png")
    reliability_chart(result, out / "reliability.png")
    scores_chart(result, out / "scores.png")
    return ["equity.png", "reliability.png", "scores.png"]
