"""Sweep scaling: the same trials on 1 and on 2 local Dask workers. Prints figures; not a test.
Goal: 64 trials on 2 workers at least 1.7× faster than on 1.

Run: ``.venv/bin/python bench/bench_sweep.py [--trials 64] [--data DIR]``

Each trial is one backtest of the shared data (perpetual as index) with a random
``kelly_volatility.min_edge``, a few trials to a searcher call exactly as ``kalshid sweep`` does
(``--batch`` to change how many; one call waiting per worker beyond the running one, ``--ahead`` to
change it; the study in a journal file as ``kalshid sweep``'s default, ``--storage sqlite`` for an
SQLite database); workers load the data once each before the clock starts. On a machine shared with
other work the ratio is lower than the cores allow. The CPU time per trial of the driver and of the
workers is printed beside the wall time: on a 2-core machine every CPU second the driver spends per
trial (writing the study, the Dask client and scheduler) is taken from the two
workers.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import optuna
from dask.distributed import Client, LocalCluster

from kalshid.research.settings import BacktestSettings
from kalshid.research.sources.shared import default_data_dir
from kalshid.research.sweep import ParamSpace, SourceSpec, batch_size, open_storage, search, trial_value


def one(workers: int, trials: int, spec: SourceSpec, ahead: int | None, storage: str,
        batch: int | None) -> tuple[float, float, float]:
    cluster = LocalCluster(n_workers=workers, threads_per_worker=1, processes=True, host="127.0.0.1",
                           dashboard_address=None)
    settings = BacktestSettings()
    with Client(cluster) as client, tempfile.TemporaryDirectory() as tmp:
        # warm every worker: load the data and import everything once
        client.gather([client.submit(trial_value, spec, settings, {}, None, None, "pnl", pure=False, workers=[w])
                       for w in client.scheduler_info()["workers"]])
        optuna.logging.set_verbosity(optuna.logging.WARNING)
        where = f"sqlite:///{Path(tmp) / 's.sqlite3'}" if storage == "sqlite" else str(Path(tmp) / "s.journal")
        study = optuna.create_study(storage=open_storage(where), direction="maximize")
        w0 = sum(client.run(time.process_time).values())
        t0, c0 = time.perf_counter(), time.process_time()
        search(client, study, spec, settings, [ParamSpace("kelly_volatility.min_edge", 0.0, 0.2)],
               (None, None), trials, "pnl", workers, ahead=ahead, batch=batch, seed=1)
        wall, cpu = time.perf_counter() - t0, time.process_time() - c0
        worker_cpu = sum(client.run(time.process_time).values()) - w0
    cluster.close()
    return wall, cpu, worker_cpu


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
    args = ap.parse_args()
    spec = SourceSpec("shared", str(args.data or default_data_dir()))
    runs = {w: one(w, args.trials, spec, args.ahead, args.storage, args.batch) for w in (1, 2)}
    for w, (wall, cpu, worker_cpu) in runs.items():
        per_task = f"{args.batch}" if args.batch else f"up to {batch_size(args.trials, w)}"
        print(f"{args.trials} trials on {w} worker(s), {per_task} per call: {wall:7.2f} s wall  "
              f"({args.trials / wall:5.2f} trials/s), CPU per trial: driver {cpu / args.trials * 1e3:.0f} ms, "
              f"workers {worker_cpu / args.trials * 1e3:.0f} ms")
    print(f"speed-up 2 vs 1 workers: {runs[1][0] / runs[2][0]:.2f}x (goal >= 1.7x)")


if __name__ == "__main__":
    main()
