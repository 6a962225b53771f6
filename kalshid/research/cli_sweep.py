"""``kalshid sweep``: walk-forward parameter search (Optuna) with each trial a backtest on Dask.

    kalshid sweep --from 2026-06-01 --to 2026-06-02T12:00 --folds 2 --trials 64 --out reports/sweep
    kalshid sweep ... --scheduler tcp://10.0.0.5:8786        # the same sweep on a Dask cluster

Writes ``sweep.json`` (per fold: the periods, the parameters chosen in-sample, their in-sample and
out-of-sample objective) and an out-of-sample-only backtest report (all test slices, chained) in
``--out``. The Optuna study lives in ``--storage`` (default the journal file ``OUT/study.journal``, or
an Optuna storage URL such as ``sqlite:///PATH``), so re-running the same command resumes a stopped
sweep.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from kalshid.research.cli_backtest import add_source_arguments, build, parse_date, progress_bar


def add_arguments(p: argparse.ArgumentParser) -> None:
    from kalshid.research.sweep import DEFAULT_SPACE, OBJECTIVES

    p.description = ("Walk-forward parameter search: Optuna proposes parameters, each trial is a backtest run on a "
                     "Dask worker; only out-of-sample results of the parameters chosen in-sample are reported.")
    add_source_arguments(p)
    p.add_argument("--from", dest="start", type=parse_date, required=True, metavar="DATE")
    p.add_argument("--to", dest="end", type=parse_date, required=True, metavar="DATE")
    p.add_argument("--folds", type=int, default=1,
                   help="walk-forward folds: the period is cut into FOLDS+1 slices (default 1)")
    p.add_argument("--split", type=parse_date, default=None, metavar="DATE",
                   help="one fold: train on [from, split), test on [split, to)")
    p.add_argument("--trials", type=int, default=64, help="finished trials per fold (default 64)")
    p.add_argument("--param", dest="space", action="append", default=[], metavar="NAME=LO:HI",
                   help="a searched parameter (repeatable): NAME=LO:HI, NAME=LO:HI:log or NAME=a,b,c; default: "
                        + ", ".join(s.name for s in DEFAULT_SPACE))
    p.add_argument("--objective", choices=OBJECTIVES, default="pnl",
                   help="in-sample objective: net P&L in dollars, or P&L per dollar staked (default pnl)")
    p.add_argument("--workers", type=int, default=2, help="local Dask workers (default 2; one thread each)")
    p.add_argument("--batch", type=int, default=None, metavar="K",
                   help="trials per call to a worker's searcher (default: up to 4, so that each worker gets at "
                        "least 8 calls)")
    p.add_argument("--scheduler", metavar="tcp://HOST:8786", default=None,
                   help="use this Dask scheduler instead of a local cluster (its workers with one thread each)")
    p.add_argument("--storage", default=None,
                   help="Optuna storage: a URL (sqlite:///PATH, postgresql://...) or a journal file path "
                        "(default OUT/study.journal)")
    p.add_argument("--study", default="kalshid-sweep", help="study name (default kalshid-sweep)")
    p.add_argument("--sampler-seed", dest="sampler_seed", type=int, default=0, help="Optuna sampler seed (default 0)")
    p.add_argument("--out", type=Path, required=True, metavar="DIR", help="report directory")
    p.add_argument("--no-charts", action="store_true")


def _fail(msg: str) -> int:
    print(f"kalshid sweep: {msg}", file=sys.stderr)
    return 2


def open_client(scheduler: str | None, workers: int) -> tuple[Any, Any]:
    """A Dask client on ``scheduler``, or on a new loopback LocalCluster of ``workers`` processes."""
    from dask.distributed import Client, LocalCluster

    if scheduler:
        return Client(scheduler), None  # type: ignore[no-untyped-call]
    cluster = LocalCluster(n_workers=workers, threads_per_worker=1, processes=True,  # type: ignore[no-untyped-call]
                           host="127.0.0.1", dashboard_address=None)
    return Client(cluster), cluster  # type: ignore[no-untyped-call]


def spec_from(args: argparse.Namespace) -> Any:
    from kalshid.research.sweep import SourceSpec

    # absolute paths: the workers read them, and a study records them (the same data named from another
    # directory is the same search)
    if args.source == "recorded":
        return SourceSpec("recorded", str(args.recordings.resolve()) if args.recordings else None)
    return SourceSpec("shared", str(args.data.resolve()) if args.data else None,
                      (("assumed_depth", args.depth), ("underlying", args.underlying)))


def run(args: argparse.Namespace) -> int:
    from kalshid.research.report import write_report
    from kalshid.research.sources.base import SourceError, check_period
    from kalshid.research.sweep import DEFAULT_SPACE, ParamSpace, check_space, merge, slices, walk_forward
    from kalshid.research.sweep_scope import StudyScopeMismatch

    try:
        source, settings = build(args)
        space = [ParamSpace.parse(s) for s in args.space] or list(DEFAULT_SPACE)
        check_space(settings, space)  # a name or value the parameter refuses fails now, not in every trial
        periods = slices(args.start, args.end, args.folds, args.split)
        for i, (lo, hi) in enumerate(periods):  # a slice with no market would train or test on nothing
            try:
                check_period(source, lo, hi)
            except SourceError as exc:
                raise ValueError(f"slice {i + 1} of {len(periods)} ({lo:%Y-%m-%d %H:%M} to {hi:%Y-%m-%d %H:%M}): "
                                 f"{exc}") from None
        if args.batch is not None and args.batch < 1:
            raise ValueError(f"--batch must be >= 1, got {args.batch}")
        if args.trials < 1:
            raise ValueError(f"--trials must be >= 1, got {args.trials}")
        if args.scheduler is None and args.workers < 1:  # a local cluster of no worker would wait for ever
            raise ValueError(f"--workers must be >= 1, got {args.workers}")
    except ValueError as exc:
        return _fail(str(exc))
    args.out.mkdir(parents=True, exist_ok=True)
    storage = args.storage or str((args.out / "study.journal").resolve())
    client, cluster = open_client(args.scheduler, args.workers)
    parallel = max(1, len(client.scheduler_info().get("workers", {})) or args.workers)
    try:
        with progress_bar(not args.no_progress, "sweep", " trials") as bar:
            folds = walk_forward(client, storage, args.study, spec_from(args), settings, space, periods,
                                 args.trials, args.objective, parallel, args.sampler_seed,
                                 on_trial=lambda: bar.update(1), batch=args.batch)
    except StudyScopeMismatch as exc:
        return _fail(str(exc))
    finally:
        client.close()
        if cluster is not None:
            cluster.close()
    oos = merge([f.out_of_sample for f in folds])
    summary = write_report(oos, args.out / "out_of_sample", charts=not args.no_charts)
    report = {"objective": args.objective, "trials_per_fold": args.trials, "storage": storage,
              "study": args.study, "space": [s.name for s in space],
              "folds": [{"train": [f.train[0].isoformat(), f.train[1].isoformat()],
                         "test": [f.test[0].isoformat(), f.test[1].isoformat()],
                         "chosen_params": f.best_params, "in_sample_objective": f.in_sample_objective,
                         "out_of_sample_objective": f.out_of_sample_objective, "trials": f.trials}
                        for f in folds],
              "out_of_sample": {k: summary[k] for k in ("pnl", "pnl_cc", "fees", "trades", "positions_settled",
                                                        "positions_won", "hit_rate",
                                                        "pnl_per_dollar_staked", "pnl_per_dollar_staked_ci95_markets",
                                                        "pnl_per_dollar_staked_ci95_days", "max_drawdown")}}
    (args.out / "sweep.json").write_text(json.dumps(report, indent=2) + "\n")
    for i, f in enumerate(folds):
        print(f"fold {i}: train {f.train[0]:%Y-%m-%d %H:%M} → {f.train[1]:%Y-%m-%d %H:%M}  "
              f"test → {f.test[1]:%Y-%m-%d %H:%M}  chosen {f.best_params}  "
              f"out-of-sample {args.objective} {f.out_of_sample_objective:+.4f}")
    print(f"out-of-sample only: P&L ${summary['pnl']} over {summary['trades']} fills; report {args.out}")
    return 0
