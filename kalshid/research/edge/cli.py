"""The edge study's flags on ``kalshid backtest``: ``--study``, ``--fit-pool``, ``--score-pool``.

``kalshid backtest --study NAME --out DIR`` runs one part of the study of ``docs/research.md`` on the
shared data (``--data``) and writes ``DIR/NAME.md`` (its tables) and ``DIR/NAME.json`` (the same tables
as data); ``--study all`` runs every part and also writes ``DIR/verdict.md``/``.json``. The parts:

- ``vol``: volatility memory and the σ floor, and the fair value's calibration by minutes left (SOL
  1-minute candles, train 2021-10 → 2024-02, test 2024-10-01 → 11-04);
- ``mid``: the market's own mid by minutes left (Kalshi ladder paths, train to 2026-06-30, test
  2026-07-01 → 07-14);
- ``overlap``: model against mid on the same markets (the SOL perpetual's 35 hours, June 1–2);
- ``rules``: taker, maker and mean-reversion rules fitted on train, judged once on test;
- ``replays``: the daemon's own loop, ``kalshid backtest`` with the built-in configuration, with charts;
- ``pool``: the pooled fair value through the replay, as ``--fit-pool`` on the markets closing before
  :data:`kalshid.research.edge.pool.POOL_SPLIT` and ``--score-pool`` on those after (``pool-params.json``).

Deterministic (fixed bootstrap seeds). Heavy imports happen only when a study runs.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from typing import Any

STUDIES = ("vol", "mid", "overlap", "rules", "replays", "pool")


def add_edge_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--study", choices=(*STUDIES, "all"), default=None,
                   help="run a part of the edge study on the shared data instead of a replay and write its "
                        "tables (NAME.md, NAME.json) into --out (docs/research.md)")
    p.add_argument("--reps", type=int, default=1000, metavar="N", help="--study: bootstrap resamples")
    p.add_argument("--fit-pool", metavar="FILE", type=Path, default=None,
                   help="fit kelly_volatility's pool of model and mid on this run's markets (the training "
                        "period) and write its pool_* parameters to FILE (JSON)")
    p.add_argument("--score-pool", metavar="FILE", type=Path, default=None,
                   help="score model, mid and the pool in FILE on this run's markets (the test period) by "
                        "minutes left; writes pool_scores.md/.json/.png into --out (else prints the table)")


def wants_study(args: argparse.Namespace) -> bool:
    return getattr(args, "study", None) is not None


def check_run(args: argparse.Namespace, settings: Any) -> Any:
    """Before a replay: the settings to replay with (the pool flags price with the model alone)."""
    if args.fit_pool is not None or args.score_pool is not None:
        from kalshid.research.edge.pool import load, unpooled

        settings = unpooled(settings, getattr(args, "overrides", None) or ())
        if args.score_pool is not None:
            load(args.score_pool)  # a bad file fails now, not after the replay
    return settings


def after_run(args: argparse.Namespace, result: Any) -> None:
    """After a replay: fit or score the pool on its forecasts."""
    from kalshid.research.edge import pool

    if args.fit_pool is not None:
        doc = pool.fit(result, args.fit_pool)
        print(f"pool fitted on {doc['fitted_on']['markets']} markets ({doc['fitted_on']['samples']} samples): "
              f"{json.dumps(doc['params'])} -> {args.fit_pool}")
    if args.score_pool is not None:
        print(pool.score(result, args.score_pool, args.out), end="")


def run_study(args: argparse.Namespace) -> int:
    from kalshid.research.edge import study
    from kalshid.research.edge.data import read_ladders
    from kalshid.research.edge.replays import backtests
    from kalshid.research.sources.shared import default_data_dir

    if args.out is None:
        print("kalshid backtest: --study needs --out DIR", file=sys.stderr)
        return 2
    if args.source != "shared" or args.fit_pool is not None or args.score_pool is not None:
        print("kalshid backtest: --study runs on the shared data (--data) and fits its own pool; "
              "leave out --source recorded, --fit-pool and --score-pool", file=sys.stderr)
        return 2
    data: Path = args.data or default_data_dir()
    if not data.is_dir():
        print(f"kalshid backtest: no shared data at {data} (--data DIR)", file=sys.stderr)
        return 2
    out: Path = args.out
    out.mkdir(parents=True, exist_ok=True)
    names = STUDIES if args.study == "all" else (args.study,)
    reps = args.reps
    verdicts: list[tuple[str, tuple[float, float, float]]] = []
    for name in names:
        started = time.monotonic()
        rep = study.Report()
        extra: dict[str, Any] | None = None
        if name == "vol":
            extra = study.vol_and_model(data, rep, reps)
        elif name in ("mid", "rules"):
            rep("## 3. The market's own mid by minutes left (Kalshi ladder paths, test 2026-07-01 → 07-14)"
                if name == "mid" else "## 5. Trading rules, out of sample")
            rep()
            if name == "mid":
                rep("`recalibrated mid` = σ(a + b·logit mid) fitted per horizon on train. Intervals: bootstrap "
                    "over test days.")
                rep()
            markets = read_ladders(data)
            sol = [m for m in markets if m.coin == "SOL"]
            recal_sol = study.market_mid(sol, "KXSOL15M", rep if name == "mid" else study.Report(), reps)
            recal_all = study.market_mid(markets, "all six coins", rep if name == "mid" else study.Report(), reps)
            if name == "rules":
                verdicts += study.trading(sol, "KXSOL15M", recal_sol, rep, reps)
                verdicts += study.trading(markets, "all six coins", recal_all, rep, reps)
        elif name == "overlap":
            kelly = study.model_vs_mid(data, rep, reps)
            if kelly is not None:
                verdicts.append(("KXSOL15M June 1-2: kelly_volatility default entry rule (not fitted)", kelly))
        elif name == "pool":
            from kalshid.research.edge.pool import study_pool

            extra = study_pool(data, out, rep)
        else:
            rep("## 6. The daemon's own loop: `kalshid backtest`")
            rep()
            rows, charts = backtests(data, out)
            rep.table(["command", "markets", "trades", "contracts", "P&L ($)", "fees ($)", "P&L / $ staked",
                       "95 % CI (markets)", "95 % CI (days)", "days"], rows)
            for title, rel in charts:
                rep(f"![{title}]({rel})")
                rep()
        _write(out, name, rep, extra)
        print(f"{name}: {out / (name + '.md')} in {time.monotonic() - started:.0f} s", file=sys.stderr)
    if args.study == "all":
        rep = study.Report()
        for n, (est, lo, hi) in verdicts:
            rep(f"- {n}: test P&L per dollar staked {est:+.3f} [{lo:+.3f}, {hi:+.3f}]")
        shown = [n for n, v in verdicts if v[1] > 0]
        rep()
        rep("Rules whose 95 % interval lies above zero: " + "; ".join(shown) + "." if shown else
            "**No rule shows an out-of-sample edge with a 95 % interval above zero.**")
        _write(out, "verdict", rep, extra={"verdicts": [{"rule": n, "pnl_per_dollar": list(v)} for n, v in verdicts]})
    return 0


def _write(out: Path, name: str, rep: Any, extra: dict[str, Any] | None = None) -> None:
    (out / f"{name}.md").write_text("\n".join(rep.lines).rstrip() + "\n")
    (out / f"{name}.json").write_text(json.dumps({"study": name, "tables": rep.tables, **(extra or {})},
                                                 indent=2, default=str) + "\n")
