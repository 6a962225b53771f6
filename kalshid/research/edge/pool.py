"""``kalshid backtest --fit-pool`` / ``--score-pool``: the pooled fair value, fitted and judged on replays.

A backtest records, at each whole minute left of every market, ``kelly_volatility``'s model P(YES)
and the book mid (:class:`~kalshid.research.results.Forecast`). ``--fit-pool FILE`` fits
:func:`kalshid.core.pooling.fit_logit_pool` on the settled markets of the run's period (the
*training* period) and writes FILE: the ``pool_*`` parameters of ``kelly_volatility`` and what they
were fitted on. ``--score-pool FILE`` loads such a file and scores the model, the mid and the pooled
value on the run's period (the *test* period) by minutes left (14, 10, 7, 5, 3, 1 and all six pooled),
with 95 % intervals from a bootstrap over days (over markets when the period has fewer than five
days), into ``pool_scores.md`` / ``pool_scores.json`` /
``pool_scores.png`` in ``--out`` (or on stdout).

Both replay ``kelly_volatility`` priced by the model alone (its ``pool_*`` set to the identity for the
run, the default recalibration included): the fitted pool replaces all five parameters.
"""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import attrs
import numpy as np

from kalshid.core.pooling import IDENTITY, LogitPool, PoolError, PoolSample, fit_logit_pool
from kalshid.core.portfolio import window_close
from kalshid.research.edge.stats import METRICS, DayBootstrap
from kalshid.research.report import MIN_DAYS
from kalshid.research.results import BacktestResult

STRATEGY = "kelly_volatility"
HORIZONS = (14, 10, 7, 5, 3, 1)
FORMAT = "kalshid.pool/1"
BOOTSTRAP_REPS = 1000
BOOTSTRAP_SEED = 22
POOL_SPLIT = datetime(2026, 6, 2, tzinfo=UTC)
"""``--study pool``: train on the perpetual's markets closing before this, test on those after."""


class PoolFileError(ValueError):
    """A pool parameter file is missing, unreadable, or not what ``--fit-pool`` writes."""


@attrs.frozen
class Sample:
    day: date
    ticker: str
    sample: PoolSample


def samples(result: BacktestResult) -> list[Sample]:
    """Settled markets' forecasts with both the model and the mid, 1–14 minutes left."""
    out = []
    for f, y in result.labelled_forecasts():
        model = f.fair_yes.get(STRATEGY)
        if model is None or f.mid is None or not 1 <= f.minutes_left <= 14:
            continue
        day = window_close(f.ticker).date()
        out.append(Sample(day, f.ticker, PoolSample(f.minutes_left, model, f.mid, y)))
    return out


def unpooled(settings: Any, overrides: Sequence[tuple[str, object]] = ()) -> Any:
    """The settings for a ``--fit-pool``/``--score-pool`` replay: kelly_volatility priced by the model
    alone, since the fitted pool replaces all five ``pool_*`` parameters (the default recalibration
    included). A ``--param kelly_volatility.pool_*`` override contradicts that and is refused."""
    given = sorted(k for k, _ in overrides if k.startswith(f"{STRATEGY}.pool_"))
    if given:
        raise ValueError(f"--fit-pool/--score-pool replay the model alone and fit or apply every pool_* "
                         f"parameter; leave out --set {', '.join(given)}")
    return settings.with_params({f"{STRATEGY}.{k}": v for k, v in IDENTITY.as_params().items()})


def fit(result: BacktestResult, out: Path) -> dict[str, Any]:
    got = samples(result)
    if not got:
        raise ValueError("no settled market with both a model price and a book mid in this period: "
                         "nothing to fit the pool on (use --underlying perp or a recording with the index)")
    pool = fit_logit_pool([s.sample for s in got])
    start, end = result.period
    doc = {
        "format": FORMAT,
        "strategy": STRATEGY,
        "params": pool.as_params(),
        "fitted_on": {"from": start.isoformat() if start else None, "to": end.isoformat() if end else None,
                      "markets": len({s.ticker for s in got}), "samples": len(got),
                      "days": sorted({s.day.isoformat() for s in got}), "source": result.source},
    }
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(doc, indent=2, default=str) + "\n")
    return doc


def load(path: Path) -> LogitPool:
    """The pool in a file written by ``--fit-pool``; :class:`PoolFileError` names what is wrong."""
    try:
        doc = json.loads(path.read_text())
    except FileNotFoundError:
        raise PoolFileError(f"{path}: no such pool file") from None
    except (OSError, json.JSONDecodeError) as exc:
        raise PoolFileError(f"{path}: not readable JSON ({exc})") from None
    if not isinstance(doc, dict) or doc.get("format") != FORMAT or not isinstance(doc.get("params"), dict):
        raise PoolFileError(f"{path}: not a pool file (expected format {FORMAT!r} with 'params')")
    params = doc["params"]
    expected = set(IDENTITY.as_params())
    if set(params) != expected:
        raise PoolFileError(f"{path}: params must be exactly {', '.join(sorted(expected))}; "
                            f"got {', '.join(sorted(params))}")
    try:
        return LogitPool(**{k.removeprefix("pool_"): v for k, v in params.items()})
    except PoolError as exc:
        raise PoolFileError(f"{path}: {exc}") from None


def score_rows(got: Sequence[Sample], pool: LogitPool, reps: int = BOOTSTRAP_REPS) -> list[dict[str, Any]]:
    """Brier / log loss / ECE with 95 % by-day intervals for model, mid and pool, per horizon and pooled."""
    rows: list[dict[str, Any]] = []
    groups: list[tuple[str, list[Sample]]] = [(str(h), [s for s in got if s.sample.minutes_left == h])
                                              for h in HORIZONS]
    groups.append(("all six", [s for s in got if s.sample.minutes_left in HORIZONS]))
    for label, group in groups:
        if not group:
            continue
        y = np.array([1.0 if s.sample.outcome else 0.0 for s in group])
        boot = DayBootstrap(_clusters(got, group), reps, BOOTSTRAP_SEED)
        forecasts = {
            "model": [s.sample.model for s in group],
            "mid": [s.sample.mid for s in group],
            "pooled": [pool(s.sample.model, s.sample.mid, s.sample.minutes_left) for s in group],
        }
        for name, values in forecasts.items():
            p = np.array(values)
            row: dict[str, Any] = {"minutes_left": label, "forecast": name, "n": len(group),
                                   "days": len({s.day for s in group})}
            for metric, fn in METRICS.items():
                row[metric] = list(boot.metric(p, y, fn))
            rows.append(row)
    return rows


def clustered_by_day(got: Sequence[Sample]) -> bool:
    """Intervals resample days when there are at least :data:`MIN_DAYS` of them, else markets."""
    return len({s.day for s in got}) >= MIN_DAYS


def _clusters(got: Sequence[Sample], group: Sequence[Sample]) -> list[date]:
    if clustered_by_day(got):
        return [s.day for s in group]
    index = {t: i for i, t in enumerate(sorted({s.ticker for s in got}))}
    return [date.fromordinal(1 + index[s.ticker]) for s in group]  # one label per market


def _ci(v: Sequence[float]) -> str:
    return "–" if any(math.isnan(x) for x in v) else f"{v[0]:.4f} [{v[1]:.4f}, {v[2]:.4f}]"


def markdown(rows: Sequence[dict[str, Any]], pool: LogitPool, by_day: bool) -> str:
    w = pool.as_params()
    lines = ["| minutes left | forecast | n | days | Brier | log loss | ECE |", "|---|---|---|---|---|---|---|"]
    lines += [f"| {r['minutes_left']} | {r['forecast']} | {r['n']} | {r['days']} | {_ci(r['brier'])} | "
              f"{_ci(r['log_loss'])} | {_ci(r['ece'])} |" for r in rows]
    head = ("Pool: logit p = {pool_bias:.3f} + w_model·logit(model) + w_mid·logit(mid), w_model "
            "{pool_model_at_close:.3f} (close) → {pool_model_at_open:.3f} (15 min), w_mid {pool_mid_at_close:.3f} → "
            "{pool_mid_at_open:.3f}. 95 % intervals: bootstrap over {over}.").format(
                **w, over="days" if by_day else f"markets (fewer than {MIN_DAYS} days)")
    return head + "\n\n" + "\n".join(lines) + "\n"


def score(result: BacktestResult, pool_file: Path, out: Path | None) -> str:
    pool = load(pool_file)
    got = samples(result)
    if not got:
        raise ValueError("no settled market with both a model price and a book mid in this period: "
                         "nothing to score")
    rows = score_rows(got, pool)
    text = markdown(rows, pool, clustered_by_day(got))
    if out is not None:
        out.mkdir(parents=True, exist_ok=True)
        (out / "pool_scores.md").write_text(text)
        scores_plot(rows, out / "pool_scores.png")
        (out / "pool_scores.json").write_text(json.dumps(
            {"pool": pool.as_params(), "pool_file": pool_file.name, "rows": rows,
             "bootstrap": {"over": "days" if clustered_by_day(got) else "markets", "reps": BOOTSTRAP_REPS,
                           "seed": BOOTSTRAP_SEED}}, indent=2) + "\n")
    return text


def study_pool(data: Path, out: Path, rep: Any) -> dict[str, Any]:
    """``--study pool``: the built-in configuration replayed on the SOL perpetual's markets (the only
    shared markets with both an index path and a book), the pool fitted before :data:`POOL_SPLIT` and
    scored after it. Equivalent to the two commands written into the section."""
    from kalshid.config import load_config
    from kalshid.research import BacktestSettings, SharedDataSource, run_backtest

    settings = attrs.evolve(BacktestSettings.from_config(load_config(environ={}, cwd=out).config),
                            enabled_strategies=(STRATEGY,))
    settings = unpooled(settings)
    params = out / "pool-params.json"
    train = run_backtest(SharedDataSource(data, underlying="perp"), settings, end=POOL_SPLIT)
    doc = fit(train, params)
    test = run_backtest(SharedDataSource(data, underlying="perp"), settings, start=POOL_SPLIT)
    got = samples(test)
    pool = load(params)
    rows = score_rows(got, pool)
    day = POOL_SPLIT.date().isoformat()
    rep("## Pooled fair value through the replay (SOL perpetual markets, June 1 → June 2)")
    rep()
    rep(f"    kalshid backtest --to {day} --fit-pool {params.name}")
    rep(f"    kalshid backtest --from {day} --score-pool {params.name} --out DIR")
    rep()
    rep(f"Fitted on {doc['fitted_on']['markets']} markets ({doc['fitted_on']['samples']} model/mid samples, "
        f"{', '.join(doc['fitted_on']['days'])}); scored on {len({s.ticker for s in got})} later markets.")
    rep()
    for line in markdown(rows, pool, clustered_by_day(got)).splitlines():
        rep(line)
    scores_plot(rows, out / "pool.png")
    rep()
    rep("![model, mid and pool by minutes left](pool.png)")
    return {"pool": pool.as_params(), "fitted_on": doc["fitted_on"], "rows": rows}


def scores_plot(rows: Sequence[dict[str, Any]], path: Path) -> None:
    """Brier and log loss by minutes left for model, mid and pool, with their 95 % intervals."""
    from kalshid.research.plots import _pyplot

    plt = _pyplot()
    fig, axes = plt.subplots(1, 2, figsize=(10, 4))
    for ax, metric in zip(axes, ("brier", "log_loss"), strict=True):
        for k, name in enumerate(("model", "mid", "pooled")):
            pts = [(int(r["minutes_left"]), r[metric]) for r in rows
                   if r["forecast"] == name and r["minutes_left"].isdigit()]
            if not pts:
                continue
            xs = [m + (k - 1) * 0.2 for m, _ in pts]
            ys = [v[0] for _, v in pts]
            err = [[v[0] - v[1] for _, v in pts], [v[2] - v[0] for _, v in pts]]
            ax.errorbar(xs, ys, yerr=err, fmt="o", capsize=3, label=name)
        ax.set_xlabel("minutes left")
        ax.set_title(metric.replace("_", " "))
        ax.invert_xaxis()
    axes[0].legend()
    fig.suptitle("Model, mid and pool on the test period (95 % intervals)")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
