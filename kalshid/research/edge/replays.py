"""The daemon's own loop on the shared data: ``kalshid backtest`` runs behind the study's last section.

Each run is :func:`kalshid.research.run_backtest` with :meth:`BacktestSettings.from_config` of the
built-in configuration (risk defaults on), optionally with other strategies enabled, and its
report (``summary.json``, ``trades.csv``, equity and reliability charts, HTML) written under
``docs/research/<name>/``. The equivalent command is printed with each row.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal

import attrs

from kalshid.config import load_config


@dataclass(frozen=True)
class Run:
    name: str
    command: str
    underlying: Literal["perp", "none"]
    strategies: tuple[str, ...]
    start: datetime | None = None
    end: datetime | None = None


RUNS = (
    Run("defaults-perp", "kalshid backtest --out DIR", "perp", ("kelly_volatility",)),
    Run("mean-reversion-test", "ENABLED_STRATEGIES=mean_reversion kalshid backtest --underlying none "
        "--from 2026-07-01 --to 2026-07-15 --out DIR", "none", ("mean_reversion",),
        datetime(2026, 7, 1, tzinfo=UTC), datetime(2026, 7, 15, tzinfo=UTC)),
)


def _num(v: float | None) -> str:
    return f"{v:+.3f}" if v is not None else "–"


def _ci(v: Sequence[float] | None) -> str:
    return f"[{v[0]:+.3f}, {v[1]:+.3f}]" if v else "–"


def backtests(data: Path, out_dir: Path) -> tuple[list[list[str]], list[tuple[str, str]]]:
    """Table rows and (name, chart path relative to ``out_dir``) pairs; each run's report goes to
    ``out_dir/<run name>/``."""
    from kalshid.research import BacktestSettings, SharedDataSource, run_backtest
    from kalshid.research.report import summarize, write_report

    cfg = load_config(environ={}, cwd=out_dir).config
    rows: list[list[str]] = []
    charts: list[tuple[str, str]] = []
    for run in RUNS:
        settings = attrs.evolve(BacktestSettings.from_config(cfg), enabled_strategies=run.strategies)
        result = run_backtest(SharedDataSource(data, underlying=run.underlying), settings,
                              start=run.start, end=run.end)
        s: dict[str, Any] = summarize(result)
        target = out_dir / run.name
        write_report(result, target)
        for png in sorted(target.glob("*.png")):
            charts.append((f"{run.name}: {png.stem}", f"{run.name}/{png.name}"))
        rows.append([f"`{run.command}`", str(s["markets_settled"]), str(s["trades"]), str(s["contracts"]),
                     s["pnl"], s["fees"], _num(s["pnl_per_dollar_staked"]),
                     _ci(s["pnl_per_dollar_staked_ci95_markets"]), _ci(s["pnl_per_dollar_staked_ci95_days"]),
                     str(s["bootstrap"]["days"])])
    return rows, charts
