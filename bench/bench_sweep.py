"""Sweep scaling: the same trials on 1 and on 2 local Dask workers. Prints figures; not a test.
Goal: 64 trials on 2 workers at least 1.7× faster than on 1.

Run: ``.venv/bin/python bench/bench_sweep.py [--trials 64] [--data DIR]``

Each trial is one backtest of the shared data (perpetual as index) with a random
``kelly_volatility.min_edge``, a few trials to a searcher call exactly as ``kalshid sweep`` does
(``--batch`` to change how many; one call waiting per worker beyond the running one, ``--ahead`` to
change it; the study in a journal file as ``kalshid sweep``'s default, ``--storage sqlite`` for an
SQLite database); workers load the data and import Optuna once each before the clock starts. On a machine shared with
other work the ratio is lower than the cores allow. The CPU time per trial of the driver and of the
workers is printed beside the wall time: on a 2-core machine every CPU second the driver spends per
trial (writing the study, the Dask client and scheduler) is taken from the two
workers.
"""

from __future__ import annotations

import argparse
import importlib
import statistics
import tempfile
import time
from pathlib import Path

import optuna
from dask.distributed import Client, LocalCluster

from kalshid.research.settings import BacktestSettings
from kalshid.research.sources.shared import default_data_dir
from kalshid.research.sweep import ParamSpace, SourceSpec, batch_size, open_storage, search, trial_value


def one(workers: int, trials: int, spec: SourceSpec, ahead: int | None, storage: str,
        batch: int | None, rounds: int) -> list[tuple[float, float, float]]:
    """``rounds`` searches of ``trials`` trials on a new cluster of ``workers`` workers, each into a new
    study (sampler seed = the round): ``(wall, driver CPU, workers' CPU)`` seconds for each."""
    cluster = LocalCluster(n_workers=workers, threads_per_worker=1, processes=True, host="127.0.0.1",
                           dashboard_address=None)
    settings = BacktestSettings()
    out = []
    with Client(cluster) as client, tempfile.TemporaryDirectory() as tmp:
        # warm every worker: load the data and import everything a trial needs (Optuna too: about 0.1 s a
        # process, paid once per worker in a sweep, not once per fold)
        client.gather([client.submit(trial_value, spec, settings, {}, None, None, "pnl", pure=False, workers=[w])
                       for w in client.scheduler_info()["workers"]])
        client.run(importlib.import_module, "optuna")
        optuna.logging.set_verbosity(optuna.logging.WARNING)
        for r in range(rounds):
            where = (f"sqlite:///{Path(tmp) / f's{r}.sqlite3'}" if storage == "sqlite"
                     else str(Path(tmp) / f"s{r}.journal"))
            study = optuna.create_study(storage=open_storage(where), direction="maximize")
            w0 = sum(client.run(time.process_time).values())
            t0, c0 = time.perf_counter(), time.process_time()
            search(client, study, spec, settings, [ParamSpace("kelly_volatility.min_edge", 0.0, 0.2)],
                   (None, None), trials, "pnl", workers, ahead=ahead, batch=batch, seed=r)
            wall, cpu = time.perf_counter() - t0, time.process_time() - c0
            out.append((wall, cpu, sum(client.run(time.process_time).values()) - w0))
    cluster.close()
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    ap.add_argument("--trials", type=int, default=64)
    ap.add_argument("--data", type=Path, default=None)
    ap.add_argument("--ahead", type=int, default=None,
                    help="calls waiting on each worker beyond the running one (default 1)")
    ap.add_argument("--storage", choices=("journal", "sqlite"), default="journal",
                    help="where the study lives (default journal, as kalshid sweep)")
    ap.add_argument("--batch", type=int, default=None,
                    help="trials per searcher call (default: kalshid.research.sweep.batch_size for the workers)")
    ap.add_argument("--rounds", type=int, default=5,
                    help="searches per worker count, with sampler seeds 0, 1, …; the medians are compared "
                         "(default 5)")
    args = ap.parse_args()
    spec = SourceSpec("shared", str(args.data or default_data_dir()))
    runs = {w: one(w, args.trials, spec, args.ahead, args.storage, args.batch, args.rounds) for w in (1, 2)}
    medians = {}
    for w, rounds in runs.items():
        wall, cpu, worker_cpu = (statistics.median(x[i] for x in rounds) for i in range(3))
        medians[w] = wall
        per_call = f"{args.batch}" if args.batch else f"up to {batch_size(args.trials, w)}"
        print(f"{args.trials} trials on {w} worker(s), {per_call} per call, median of {len(rounds)}: "
              f"{wall:5.2f} s wall ({args.trials / wall:5.1f} trials/s; rounds "
              f"{' '.join(f'{x[0]:.2f}' for x in rounds)}), CPU per trial: driver {cpu / args.trials * 1e3:.1f} ms, "
              f"workers {worker_cpu / args.trials * 1e3:.1f} ms")
    each = " ".join(f"{a[0] / b[0]:.2f}" for a, b in zip(runs[1], runs[2], strict=True))
    print(f"speed-up 2 vs 1 workers: {medians[1] / medians[2]:.2f}x (goal >= 1.7x; round by round, the same "
          f"seeds: {each})")


if __name__ == "__main__":
    main()
