"""The walk-forward sweep: slicing, parameter spaces, resumable storage, out-of-sample-only results."""

import itertools
import os
import signal
from datetime import UTC, datetime
from pathlib import Path

import optuna
import pytest
from dask.distributed import Client
from structlog.testing import capture_logs

from kalshid.core.portfolio import window_close
from kalshid.research import sweep
from kalshid.research.settings import BacktestSettings
from kalshid.research.sources.shared import default_data_dir
from kalshid.research.sweep import (
    MAX_BATCH,
    Finished,
    ParamSpace,
    Searcher,
    SourceSpec,
    batch_size,
    call_seed,
    merge,
    next_call_size,
    open_storage,
    search,
    slices,
    walk_forward,
)
from kalshid.research.sweep_scope import StudyScopeMismatch, check_scope, fold_scope

START, END = datetime(2026, 6, 1, tzinfo=UTC), datetime(2026, 6, 2, 12, tzinfo=UTC)


def test_slices_are_consecutive_and_cover_the_period() -> None:
    s = slices(START, END, 2)
    assert len(s) == 3 and s[0][0] == START and s[-1][1] == END
    assert all(a[1] == b[0] for a, b in itertools.pairwise(s))
    split = datetime(2026, 6, 1, 20, tzinfo=UTC)
    assert slices(START, END, 5, split) == [(START, split), (split, END)]
    with pytest.raises(ValueError, match="split"):
        slices(START, END, 1, END)


def test_param_space_parsing() -> None:
    assert ParamSpace.parse("kelly_volatility.min_edge=0.01:0.2") == ParamSpace("kelly_volatility.min_edge", 0.01, 0.2)
    p = ParamSpace.parse("risk.entry_cutoff_seconds=0:600")
    assert p.integer and (p.low, p.high) == (0, 600)
    assert ParamSpace.parse("kelly_volatility.kelly_fraction=0.01:1:log").log
    assert ParamSpace.parse("kelly_volatility.warmup_seconds=10,30,60").choices == (10, 30, 60)
    with pytest.raises(ValueError):
        ParamSpace.parse("kelly_volatility.min_edge=0.2:0.1")


@pytest.mark.parametrize(("kind", "batch"), [("journal", None), ("sqlite", None), ("journal", 2)])
def test_walk_forward_resumes_and_reports_out_of_sample_only(tmp_path: Path, kind: str, batch: int | None) -> None:
    data = default_data_dir()
    if not (data / "kalshi").is_dir():
        pytest.fail(f"shared data not found at {data}")
    spec = SourceSpec("shared", str(data))
    space = [ParamSpace("kelly_volatility.min_edge", 0.0, 0.2)]
    storage = str(tmp_path / "study.journal") if kind == "journal" else f"sqlite:///{tmp_path / 'study.sqlite3'}"
    periods = slices(START, END, 1)
    with Client(processes=False, n_workers=1, threads_per_worker=1, dashboard_address=None) as client:
        first = walk_forward(client, storage, "t", spec, BacktestSettings(), space, periods, 3, "pnl", 1, batch=batch)
        again = walk_forward(client, storage, "t", spec, BacktestSettings(), space, periods, 5, "pnl", 1, batch=batch)
    study = optuna.load_study(study_name="t-fold0", storage=open_storage(storage))
    trials = study.trials
    assert all(t.state.is_finished() for t in trials)  # a trial reaches the storage once, finished
    assert len(trials) == 5  # 3 kept, 2 more asked
    assert sorted(t.number for t in trials) == list(range(5))
    assert again[0].best_params == study.best_trial.params
    assert first[0].trials == 3 and again[0].trials == 5
    fold = again[0]
    test_start, test_end = fold.test
    assert fold.out_of_sample.trades
    # only markets closing in the test slice are in the reported result
    assert all(test_start <= window_close(t.ticker) < test_end for t in fold.out_of_sample.trades)
    merged = merge([fold.out_of_sample])
    assert merged.pnl_cc == fold.out_of_sample.pnl_cc


def test_a_stored_study_of_another_training_slice_is_refused_not_resumed(tmp_path: Path) -> None:
    # a sweep trained on June 1 18:00 → June 2 12:00, then one asked to train on June 1 00:00 → 18:00 and
    # test on what the first one trained on: resuming would choose its parameters on the test slice
    spec = SourceSpec("shared", str(default_data_dir()))
    space = [ParamSpace("kelly_volatility.min_edge", 0.0, 0.2)]
    storage = str(tmp_path / "study.journal")
    late = slices(datetime(2026, 6, 1, 18, tzinfo=UTC), datetime(2026, 6, 2, 12, tzinfo=UTC), 1)
    early = slices(START, datetime(2026, 6, 2, 12, tzinfo=UTC), 1, datetime(2026, 6, 1, 18, tzinfo=UTC))
    with Client(processes=False, n_workers=1, threads_per_worker=1, dashboard_address=None) as client:
        walk_forward(client, storage, "t", spec, BacktestSettings(), space, late, 2, "pnl", 1)
        with pytest.raises(StudyScopeMismatch, match=r"'t-fold0'.*train"):
            walk_forward(client, storage, "t", spec, BacktestSettings(), space, early, 2, "pnl", 1)
        with pytest.raises(StudyScopeMismatch, match="objective"):
            walk_forward(client, storage, "t", spec, BacktestSettings(), space, late, 2, "pnl_per_dollar", 1)
    study = optuna.load_study(study_name="t-fold0", storage=open_storage(storage))
    assert len(study.trials) == 2  # nothing was run or stored by the refused searches


def test_a_stored_study_without_a_scope_is_refused_once_it_holds_trials(tmp_path: Path) -> None:
    storage = open_storage(str(tmp_path / "s.journal"))
    scope = fold_scope(SourceSpec("shared", None), BacktestSettings(), [ParamSpace("x", 0.0, 1.0)], (START, END), "pnl")
    fresh = optuna.create_study(storage=storage, study_name="fresh")
    check_scope(fresh, scope)
    check_scope(optuna.load_study(study_name="fresh", storage=storage), scope)  # the same search resumes
    old = optuna.create_study(storage=storage, study_name="old")
    old.optimize(lambda t: t.suggest_float("x", 0, 1), n_trials=1)
    with pytest.raises(StudyScopeMismatch, match="without a record"):
        check_scope(old, scope)


def test_a_sweep_names_its_data_by_absolute_path(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from argparse import Namespace

    from kalshid.research.cli_sweep import spec_from

    monkeypatch.chdir(tmp_path)
    shared = spec_from(Namespace(source="shared", data=Path("data"), depth=100, underlying="perp"))
    recorded = spec_from(Namespace(source="recorded", recordings=Path("rec")))
    assert (shared.path, recorded.path) == (str(tmp_path / "data"), str(tmp_path / "rec"))


def test_open_storage_takes_urls_as_they_are_and_paths_as_journal_files(tmp_path: Path) -> None:
    assert open_storage("sqlite:///x.sqlite3") == "sqlite:///x.sqlite3"
    journal = open_storage(str(tmp_path / "s.journal"))
    assert isinstance(journal, optuna.storages.JournalStorage)
    optuna.create_study(storage=journal, study_name="s").optimize(lambda t: t.suggest_float("x", 0, 1), n_trials=2)
    reopened = optuna.load_study(study_name="s", storage=open_storage(str(tmp_path / "s.journal")))
    assert len(reopened.trials) == 2


def test_sweep_runs_against_a_given_scheduler() -> None:
    from dask.distributed import LocalCluster

    from kalshid.research.cli_sweep import open_client

    with LocalCluster(n_workers=1, processes=False, dashboard_address=None) as cluster:
        client, own = open_client(cluster.scheduler_address, workers=7)
        try:
            assert own is None  # no local cluster was started for it
            assert client.submit(sum, [1, 2, 3]).result() == 6
        finally:
            client.close()


def test_trials_per_call_grow_with_the_trials_per_worker_up_to_the_cap() -> None:
    assert batch_size(6, 1) == 1 and batch_size(64, 8) == 1  # fewer than 8 calls per worker otherwise
    assert batch_size(16, 1) == 2 and batch_size(64, 2) == 4 and batch_size(10_000, 2) == MAX_BATCH


def test_the_last_calls_are_short_so_the_workers_finish_together() -> None:
    sizes, remaining = [], 64
    while remaining:
        sizes.append(next_call_size(remaining, 2, 4))
        remaining -= sizes[-1]
    assert sum(sizes) == 64 and max(sizes) == 4 and sizes == sorted(sizes, reverse=True)
    assert sizes[-4:] == [2, 2, 2, 1]  # the last calls hold two trials; one only when one is left
    assert next_call_size(3, 2, 4) == 2 and next_call_size(1, 2, 4) == 1 and next_call_size(1000, 2, 4) == 4
    assert next_call_size(5, 2, 1) == 1  # never above the cap


@pytest.mark.parametrize("batch", [None, 4])
def test_a_refused_parameter_fails_its_trial_only_and_the_storage_keeps_the_failure(
        tmp_path: Path, batch: int | None) -> None:
    data = default_data_dir()
    if not (data / "kalshi").is_dir():
        pytest.fail(f"shared data not found at {data}")
    spec = SourceSpec("shared", str(data))
    space = [ParamSpace("kelly_volatility.min_edge", choices=(-0.1, 0.05))]  # the strategy refuses -0.1
    storage = str(tmp_path / "study.journal")
    periods = slices(START, END, 1)
    with Client(processes=False, n_workers=1, threads_per_worker=1, dashboard_address=None) as client:
        walk_forward(client, storage, "t", spec, BacktestSettings(), space, periods, 6, "pnl", 1, seed=0, batch=batch)
    study = optuna.load_study(study_name="t-fold0", storage=open_storage(storage))
    states = {t.state for t in study.trials}
    assert len(study.trials) == 6 and states == {optuna.trial.TrialState.FAIL, optuna.trial.TrialState.COMPLETE}
    if batch is not None:  # the first task held a refused and an accepted trial: only the refused one failed
        assert {t.state for t in study.trials[:batch]} == states
    for t in study.trials:
        refused = t.params["kelly_volatility.min_edge"] < 0
        assert (t.state is optuna.trial.TrialState.FAIL) == refused
        assert ("min_edge" in str(t.user_attrs.get("error"))) == refused


def test_a_space_s_distribution_is_the_one_its_suggestion_draws_from() -> None:
    study = optuna.create_study()
    trial = study.ask()
    for p in (ParamSpace("a", 0.0, 0.2), ParamSpace("b", 300.0, 14_400.0, log=True),
              ParamSpace("c", 0, 600, integer=True), ParamSpace("d", choices=(10, 30, 60))):
        p.suggest(trial)
        assert trial.distributions[p.name] == p.distribution()


def _shared_spec() -> SourceSpec:
    data = default_data_dir()
    if not (data / "kalshi").is_dir():
        pytest.fail(f"shared data not found at {data}")
    return SourceSpec("shared", str(data))


def test_a_searcher_adds_what_it_is_sent_and_asks_reproducibly() -> None:
    space = (ParamSpace("kelly_volatility.min_edge", 0.0, 0.2),)
    dists = {"kelly_volatility.min_edge": space[0].distribution()}
    history: list[Finished] = [(f"stored:{i}", {"kelly_volatility.min_edge": i / 100}, dists, float(i % 7))
                               for i in range(12)]
    history.append(("stored:12", {"kelly_volatility.min_edge": 0.19}, dists, None))
    spec = _shared_spec()
    asked = []
    for calls in ((history,), (history[:5], history[5:])):  # the same history in one call, or over two
        searcher = Searcher(spec, BacktestSettings(), space, 3, START, END, "pnl")
        for news in calls[:-1]:
            assert searcher.run(news, 0, 0) == []
        results = searcher.run(calls[-1], 5, 1)
        states = [t.state for t in searcher.study.trials]
        assert len(states) == 14 and states[12] is optuna.trial.TrialState.FAIL  # the failed trial kept as failed
        assert sorted(t.params["kelly_volatility.min_edge"] for t in searcher.study.trials[:13]) == sorted(
            p["kelly_volatility.min_edge"] for _, p, _, _ in history)
        asked.append(results[0][0])
    assert asked[0] == asked[1]  # the same history and seed ask the same parameters
    assert call_seed(3, 5) != call_seed(3, 6) and call_seed(None, 5) is None


def test_a_searcher_tells_its_own_trials_once() -> None:
    spec = _shared_spec()
    space = (ParamSpace("kelly_volatility.min_edge", 0.0, 0.2),)
    dists = {p.name: p.distribution() for p in space}
    searcher = Searcher(spec, BacktestSettings(), space, 1, START, END, "pnl")
    results = searcher.run((), 0, 3)
    assert [t.params for t in searcher.study.trials] == [p for p, _ in results]  # told as each finished
    assert all(isinstance(v, float) for _, v in results)
    assert searcher.own == {"0:0", "0:1", "0:2"}
    # the driver sends them back with another worker's trial: the replica does not hold them twice
    news: list[Finished] = [(f"0:{i}", p, dists, v if isinstance(v, float) else None)
                            for i, (p, v) in enumerate(results)]
    news.append(("1:0", {"kelly_volatility.min_edge": 0.1}, dists, 1.0))
    searcher.run(news, 2, 0)
    assert len(searcher.study.trials) == 4 and not searcher.own


def test_a_failed_call_stops_the_search_and_keeps_the_finished_trials(tmp_path: Path,
                                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    spec = _shared_spec()
    space = [ParamSpace("kelly_volatility.min_edge", 0.0, 0.2)]
    storage = str(tmp_path / "s.journal")
    study = optuna.create_study(storage=open_storage(storage), direction="maximize")

    def broken(*_args: object) -> float | str:
        raise RuntimeError("the backtest broke")

    with Client(processes=False, n_workers=1, threads_per_worker=1, dashboard_address=None) as client:
        search(client, study, spec, BacktestSettings(), space, (START, END), 2, "pnl", 1, batch=1)
        monkeypatch.setattr(sweep, "trial_outcome", broken)  # the worker runs in this process
        with pytest.raises(RuntimeError, match="the backtest broke"):
            search(client, study, spec, BacktestSettings(), space, (START, END), 5, "pnl", 1, batch=1)
    kept = optuna.load_study(study_name=study.study_name, storage=open_storage(storage)).trials
    assert len(kept) == 2 and all(t.state is optuna.trial.TrialState.COMPLETE for t in kept)


def test_a_lost_worker_s_trials_go_to_the_other_worker(tmp_path: Path) -> None:
    from dask.distributed import LocalCluster

    spec = _shared_spec()
    space = [ParamSpace("kelly_volatility.min_edge", 0.0, 0.2)]
    study = optuna.create_study(storage=open_storage(str(tmp_path / "s.journal")), direction="maximize")
    killed: list[str] = []
    with LocalCluster(n_workers=2, threads_per_worker=1, processes=True, host="127.0.0.1",
                      dashboard_address=None) as cluster, Client(cluster) as client:
        pids = client.run(os.getpid)

        def kill_one() -> None:  # after the first finished trial: one worker process dies at once
            if not killed:
                victim = sorted(pids)[1]
                killed.append(victim)
                os.kill(pids[victim], signal.SIGKILL)

        with capture_logs() as logs:
            found = search(client, study, spec, BacktestSettings(), space, (START, END), 12, "pnl", 2,
                           on_trial=kill_one, batch=2)
    assert killed
    lost = [e for e in logs if e["event"].startswith("sweep worker lost")]
    assert [e["worker"] for e in lost] == killed and lost[0]["trials"] > 0  # its calls were given back
    trials = optuna.load_study(study_name=study.study_name, storage=open_storage(str(tmp_path / "s.journal"))).trials
    assert len(trials) == 12 and all(t.state is optuna.trial.TrialState.COMPLETE for t in trials)
    assert len(found.trials) == 12


def test_a_search_that_loses_every_worker_fails_and_keeps_what_finished(tmp_path: Path) -> None:
    from dask.distributed import LocalCluster

    spec = _shared_spec()
    space = [ParamSpace("kelly_volatility.min_edge", 0.0, 0.2)]
    storage = str(tmp_path / "s.journal")
    study = optuna.create_study(storage=open_storage(storage), direction="maximize")
    with LocalCluster(n_workers=1, threads_per_worker=1, processes=True, host="127.0.0.1",
                      dashboard_address=None) as cluster, Client(cluster) as client:
        pids = list(client.run(os.getpid).values())

        def kill_all() -> None:  # after the first finished trial: the only worker process dies
            while pids:
                os.kill(pids.pop(), signal.SIGKILL)

        with pytest.raises(RuntimeError, match="every worker of the search was lost"):
            search(client, study, spec, BacktestSettings(), space, (START, END), 12, "pnl", 1, batch=2,
                   on_trial=kill_all)
    kept = optuna.load_study(study_name=study.study_name, storage=open_storage(storage)).trials
    assert 1 <= len(kept) < 12 and all(t.state is optuna.trial.TrialState.COMPLETE for t in kept)


def test_a_seeded_search_on_one_worker_is_reproducible(tmp_path: Path) -> None:
    data = default_data_dir()
    if not (data / "kalshi").is_dir():
        pytest.fail(f"shared data not found at {data}")
    spec = SourceSpec("shared", str(data))
    space = [ParamSpace("kelly_volatility.min_edge", 0.0, 0.2)]
    periods = slices(START, END, 1)
    seen = []
    for run in ("a", "b"):
        storage = str(tmp_path / f"{run}.journal")
        with Client(processes=False, n_workers=1, threads_per_worker=1, dashboard_address=None) as client:
            walk_forward(client, storage, "t", spec, BacktestSettings(), space, periods, 14, "pnl", 1, seed=7,
                         batch=2)
        study = optuna.load_study(study_name="t-fold0", storage=open_storage(storage))
        seen.append([t.params["kelly_volatility.min_edge"] for t in study.trials])
    assert len(seen[0]) == 14 and len(set(seen[0])) == 14  # every trial asked anew
    assert seen[0] == seen[1]
