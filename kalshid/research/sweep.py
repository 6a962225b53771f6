"""Parameter search with walk-forward evaluation: Optuna proposes, Dask runs the backtests.

**Walk-forward.** The period ``[start, end)`` is cut into ``folds + 1`` consecutive slices of equal
length (or two slices at an explicit ``split``). Fold *i* searches on slice *i* (in-sample) and judges
the best parameters found there on slice *i + 1* (out-of-sample), which the search never saw. The
report shows only those out-of-sample results; in-sample objectives are kept for reference.

**Trials.** Each trial is one backtest (:func:`evaluate`) on a worker of a Dask distributed client: a
``LocalCluster`` on this machine by default, or any scheduler (``tcp://HOST:8786``) so the same sweep
runs on many machines. Workers load the source once per process (:func:`_source`) from a plain,
picklable :class:`SourceSpec`.

**Sampling on the workers.** Each worker keeps a :class:`Searcher` (a Dask actor) for the search,
which a call asks for a few trials at a time (:func:`batch_size`): it asks the sampler (Optuna's TPE)
for their parameters on its own in-memory replica of the study's finished trials, which each call
brings up to date, runs them and tells it each as it finishes (:func:`search`). The driver only
records results. Asking costs about half a millisecond of CPU a trial: in the driver it would be paid
one trial after another, capping how many workers a sweep can keep busy, and on a small machine
taken from the workers' cores. An actor call costs the driver about a quarter of a Dask task's.

**Storage.** The driver is the only writer of the Optuna study (one study per fold, in an append-only
Optuna journal file by default, or any Optuna storage URL), so a stopped sweep resumes: finished
trials count towards ``trials`` — only those of the same search (:mod:`.sweep_scope`: the same training
slice, source, objective, space and settings; a study of another search is refused); trials left
running by a killed driver are marked failed and asked again. Each trial is written to the storage
once, when it finishes: asking and telling through a database costs several commits per trial,
which on a short trial kept the workers waiting for the driver (:func:`search`).
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Callable, Mapping, Sequence
from datetime import datetime
from pathlib import Path
from typing import Any

import attrs

from kalshid.logs import get_logger
from kalshid.research.backtest import run_backtest
from kalshid.research.results import BacktestResult, EquityPoint
from kalshid.research.settings import BacktestSettings
from kalshid.research.sweep_scope import check_scope, fold_scope


@attrs.frozen
class SourceSpec:
    """How a worker builds the source: ``kind`` is ``shared`` or ``recorded``; ``options`` its kwargs."""

    kind: str
    path: str | None
    options: tuple[tuple[str, object], ...] = ()

    def build(self) -> Any:
        opts: dict[str, Any] = dict(self.options)
        if self.kind == "recorded":
            from kalshid.research.sources.recorded import RecordedSource

            if self.path is None:
                raise ValueError("a recorded source needs a path")
            return RecordedSource(Path(self.path), **opts)
        from kalshid.research.sources.shared import SharedDataSource

        return SharedDataSource(Path(self.path) if self.path else None, **opts)


@attrs.frozen
class ParamSpace:
    """One searched parameter: floats/ints in ``[low, high]`` (``log`` scale optional) or ``choices``."""

    name: str
    low: float | None = None
    high: float | None = None
    integer: bool = False
    log: bool = False
    choices: tuple[object, ...] = ()

    @classmethod
    def parse(cls, text: str) -> ParamSpace:
        """``NAME=LO:HI`` (ints if both are ints; ``:log`` suffix for a log scale) or ``NAME=a,b,c``."""
        name, sep, rng = text.partition("=")
        if not sep or not name or not rng:
            raise ValueError(f"expected NAME=LO:HI or NAME=a,b,c, got {text!r}")
        if ":" in rng:
            parts = rng.split(":")
            log = parts[-1] == "log"
            lo_s, hi_s = parts[0], parts[1]
            integer = all(p.lstrip("-").isdigit() for p in (lo_s, hi_s))
            lo, hi = float(lo_s), float(hi_s)
            if not lo < hi:
                raise ValueError(f"{name}: low must be below high, got {rng!r}")
            return cls(name.strip(), lo, hi, integer, log)
        import json

        return cls(name.strip(), choices=tuple(json.loads(c) if c[:1].isdigit() or c[:1] == "-" else c
                                               for c in rng.split(",")))

    def distribution(self) -> Any:
        """The Optuna distribution :meth:`suggest` draws from."""
        from optuna.distributions import CategoricalDistribution, FloatDistribution, IntDistribution

        if self.choices:
            return CategoricalDistribution(list(self.choices))  # type: ignore[arg-type]
        assert self.low is not None and self.high is not None
        if self.integer:
            return IntDistribution(int(self.low), int(self.high), log=self.log)
        return FloatDistribution(self.low, self.high, log=self.log)

    def ends(self) -> tuple[object, ...]:
        """The choices, or both ends of the range as the distribution draws them (ints if ``integer``)."""
        if self.choices:
            return self.choices
        assert self.low is not None and self.high is not None
        kind = int if self.integer else float
        return kind(self.low), kind(self.high)

    def suggest(self, trial: Any) -> object:
        if self.choices:
            return trial.suggest_categorical(self.name, list(self.choices))
        assert self.low is not None and self.high is not None
        if self.integer:
            return trial.suggest_int(self.name, int(self.low), int(self.high), log=self.log)
        return trial.suggest_float(self.name, self.low, self.high, log=self.log)


def check_space(settings: BacktestSettings, space: Sequence[ParamSpace]) -> None:
    """Refuse a space with a value its parameter refuses (an unknown name, a bound out of range, a float
    range over a whole-number parameter such as ``mean_reversion.lookback_window``), naming the
    parameter and the value, before any trial: every trial drawing it would fail."""
    for s in space:
        for value in s.ends():
            try:
                settings.with_params({s.name: value})
            except (TypeError, ValueError) as exc:
                raise ValueError(f"--param {s.name}: {exc}") from None


DEFAULT_SPACE = (
    ParamSpace("kelly_volatility.min_edge", 0.0, 0.2),
    ParamSpace("kelly_volatility.kelly_fraction", 0.05, 1.0),
    ParamSpace("kelly_volatility.vol_half_life_seconds", 300.0, 14_400.0, log=True),
    ParamSpace("risk.entry_cutoff_seconds", 0, 600, integer=True),
)

OBJECTIVES = ("pnl", "pnl_per_dollar")

_SOURCES: dict[SourceSpec, Any] = {}


def _source(spec: SourceSpec) -> Any:
    """The source for ``spec``, loaded once per worker process."""
    if spec not in _SOURCES:
        _SOURCES[spec] = spec.build()
    return _SOURCES[spec]


def objective_of(result: BacktestResult, objective: str) -> float:
    staked = sum(t.staked_cc for t in result.trades if t.pnl_cc is not None)
    if objective == "pnl_per_dollar":
        return result.pnl_cc / staked if staked else 0.0
    return result.pnl_cc / 10_000  # dollars


def evaluate(spec: SourceSpec, settings: BacktestSettings, overrides: Mapping[str, object],
             start: datetime | None, end: datetime | None, objective: str) -> tuple[float, BacktestResult]:
    """One trial: a backtest with ``overrides`` on ``[start, end)``; ``(objective value, result)``."""
    result = run_backtest(_source(spec), settings.with_params(overrides), start=start, end=end)
    return objective_of(result, objective), result


def trial_value(spec: SourceSpec, settings: BacktestSettings, overrides: Mapping[str, object],
                start: datetime | None, end: datetime | None, objective: str) -> float:
    """:func:`evaluate`'s objective value alone (what a search trial sends back)."""
    return evaluate(spec, settings, overrides, start, end, objective)[0]


def trial_outcome(spec: SourceSpec, settings: BacktestSettings, overrides: Mapping[str, object],
                  start: datetime | None, end: datetime | None, objective: str) -> float | str:
    """:func:`trial_value`, or, for parameters the strategy refuses (``ValueError``), the refusal's
    message: that trial fails alone and the search goes on."""
    try:
        return trial_value(spec, settings, overrides, start, end, objective)
    except ValueError as exc:
        return str(exc)


# A finished trial as the driver tells it to the searchers: a key naming the trial (which call ran it,
# or its number in the storage), its parameters and their distributions, and the objective value (None:
# the trial failed). Plain data: cheap to pickle into every call.
Finished = tuple[str, Mapping[str, object], Mapping[str, Any], float | None]


def trial_key(call: int, index: int) -> str:
    return f"{call}:{index}"


class Searcher:
    """One worker's part of a search, kept on the worker as a Dask actor (:func:`search`): an in-memory
    replica of the study's finished trials, brought up to date by each call, which samples, runs and
    tells the call's trials one after another, so each is sampled knowing the ones before it."""

    def __init__(self, spec: SourceSpec, settings: BacktestSettings, space: Sequence[ParamSpace], seed: int | None,
                 start: datetime | None, end: datetime | None, objective: str, direction: Any = "maximize") -> None:
        import optuna

        optuna.logging.set_verbosity(optuna.logging.WARNING)
        self.spec, self.settings, self.space, self.seed = spec, settings, tuple(space), seed
        self.start, self.end, self.objective = start, end, objective
        self.study = optuna.create_study(direction=direction)
        self.own: set[str] = set()  # keys of trials run here that the driver has not sent back yet

    def run(self, finished: Sequence[Finished], call: int, count: int) -> list[tuple[dict[str, object], float | str]]:
        """Add ``finished`` (the trials finished since this searcher's previous call, in the driver's
        order; those it ran itself it holds already), then sample, run and tell ``count`` trials with
        TPE seeded by :func:`call_seed` for ``call``. Returns each trial's parameters with its value
        (or, for parameters the strategy refuses, the reason)."""
        import optuna

        study = self.study
        for key, params, distributions, value in finished:
            if key in self.own:
                self.own.discard(key)
                continue
            state = optuna.trial.TrialState.COMPLETE if value is not None else optuna.trial.TrialState.FAIL
            study.add_trial(optuna.trial.create_trial(params=dict(params), distributions=dict(distributions),
                                                      value=value, state=state))
        study.sampler = optuna.samplers.TPESampler(seed=call_seed(self.seed, call))
        out: list[tuple[dict[str, object], float | str]] = []
        for index in range(count):
            trial = study.ask()
            params = {p.name: p.suggest(trial) for p in self.space}
            told = _objective_told(trial_outcome(self.spec, self.settings, params, self.start, self.end,
                                                 self.objective))
            if isinstance(told, str):
                study.tell(trial, state=optuna.trial.TrialState.FAIL)
            else:
                study.tell(trial, told)
            self.own.add(trial_key(call, index))
            out.append((params, told))
        return out


def call_seed(seed: int | None, call: int) -> int | None:
    """The sampler seed of a search's ``call``-th call: distinct per call, reproducible from ``seed``."""
    return None if seed is None else (seed * 1_000_003 + call) % 2**32


def _objective_told(value: float | str) -> float | str:
    """A trial's value as the study keeps it: a refusal as it is, a non-finite objective as -inf."""
    return value if isinstance(value, str) or math.isfinite(value) else float("-inf")


MAX_BATCH = 4


def batch_size(trials: int, parallel: int) -> int:
    """Trials per :class:`Searcher` call for ``trials`` on ``parallel`` workers: enough that the cost of a
    call is shared by several trials, few enough that every worker gets at least eight calls (so the
    sampler sees the other workers' results while it searches) and at most :data:`MAX_BATCH`."""
    return max(1, min(MAX_BATCH, trials // (8 * max(1, parallel))))


def next_call_size(remaining: int, parallel: int, cap: int) -> int:
    """Trials in the next call when ``remaining`` trials are still to submit: at most ``cap``, and no
    more than a quarter of each worker's share of what remains, so the last calls are short and the
    workers finish together (a last call of ``cap`` trials would leave the others idle meanwhile); but
    at least two while two remain, since a call costs the driver and its worker a few milliseconds, a
    sixth of a one-trial call on the shared data."""
    return max(min(2, remaining, cap), min(cap, remaining, -(-remaining // (4 * max(1, parallel)))))


def slices(start: datetime, end: datetime, folds: int, split: datetime | None = None
           ) -> list[tuple[datetime, datetime]]:
    """``folds + 1`` consecutive periods covering ``[start, end)`` (two, cut at ``split``, if given)."""
    if not start < end:
        raise ValueError(f"empty period: --from {start.isoformat()} is not before --to {end.isoformat()}")
    if split is not None:
        if not start < split < end:
            raise ValueError("--split must lie strictly inside --from/--to")
        return [(start, split), (split, end)]
    if folds < 1:
        raise ValueError(f"folds must be >= 1, got {folds}")
    step = (end - start) / (folds + 1)
    cuts = [start + step * i for i in range(folds + 2)]
    return list(itertools.pairwise(cuts))


@attrs.frozen
class FoldResult:
    train: tuple[datetime, datetime]
    test: tuple[datetime, datetime]
    best_params: dict[str, object]
    in_sample_objective: float
    trials: int
    out_of_sample_objective: float
    out_of_sample: BacktestResult


def open_storage(storage: str) -> Any:
    """The Optuna storage ``storage`` names: a URL (``sqlite:///…``, ``postgresql://…``) is passed to
    Optuna as it is; anything else is the path of a journal file (created when missing)."""
    if "://" in storage:
        return storage
    from optuna.storages import JournalStorage
    from optuna.storages.journal import JournalFileBackend

    return JournalStorage(JournalFileBackend(storage))


def _stale_trials_failed(study: Any) -> None:
    import optuna

    for t in study.get_trials(deepcopy=False, states=(optuna.trial.TrialState.RUNNING,)):
        study.tell(t.number, state=optuna.trial.TrialState.FAIL)


log = get_logger("kalshid.sweep")
_LOST = ("Unable to contact Actor's worker", "Worker holding Actor was lost")


def _worker_lost(exc: BaseException) -> bool:
    """Whether an actor call failed because its worker is gone (Dask's own errors for it), not because
    the call itself raised."""
    return isinstance(exc, OSError | RuntimeError) and any(text in str(exc) for text in _LOST)


def search(client: Any, study: Any, spec: SourceSpec, settings: BacktestSettings, space: Sequence[ParamSpace],
           period: tuple[datetime | None, datetime | None], trials: int, objective: str, parallel: int,
           on_trial: Callable[[], None] | None = None, ahead: int | None = None, batch: int | None = None,
           seed: int | None = None) -> Any:
    """Run trials until ``study`` holds ``trials`` finished ones, on ``parallel`` of ``client``'s workers.

    Each worker hosts a :class:`Searcher` (a Dask actor) that samples and runs its own trials: each
    call asks it for ``batch`` trials (by default :func:`batch_size`, smaller towards the end:
    :func:`next_call_size`) and brings it the trials finished elsewhere since its previous call. TPE's
    seed for each call is derived from ``seed`` (:func:`call_seed`). A finished trial is added to
    ``study`` once, so the storage sees one write per trial instead of the ask / suggest / tell commits
    of every trial. Returns an in-memory study holding every finished trial of ``study``.

    An actor call goes from the driver straight to its worker: the scheduler's cost of a task (2 to 4
    ms of the driver's CPU, against 16 ms for a backtest of the shared data, and taken from the workers'
    cores on a small machine) is not paid per call. ``ahead`` calls (default 1) wait on each searcher beyond the running
    one, so a searcher that finishes starts its next call at once instead of idling through the
    driver's round trip; the price is that a trial's parameters are chosen without the results of the
    trials still running, as with any parallel search. When a worker is lost, the trials of its calls
    go to the other searchers (a worker that joins later is used by the next search). A call that
    raises stops the search with its error once the other running calls have returned, as does the
    loss of every worker; every trial finished before is in ``study``, so the same search started
    again resumes."""
    import optuna

    _stale_trials_failed(study)
    finished = study.get_trials(deepcopy=False, states=(optuna.trial.TrialState.COMPLETE,
                                                        optuna.trial.TrialState.FAIL,
                                                        optuna.trial.TrialState.PRUNED))
    found = optuna.create_study(direction=study.direction)
    found.add_trials(finished)
    history: list[Finished] = [(f"stored:{t.number}", t.params, t.distributions,
                                t.value if t.state is optuna.trial.TrialState.COMPLETE else None) for t in finished]
    done = sum(1 for t in finished if t.state is optuna.trial.TrialState.COMPLETE)
    remaining = max(0, trials - done)
    if remaining == 0:
        return found
    per_call = batch_size(remaining, parallel) if batch is None else batch
    if per_call < 1:
        raise ValueError(f"batch must be >= 1, got {per_call}")
    waiting = 1 if ahead is None else max(0, ahead)
    distributions = {p.name: p.distribution() for p in space}

    workers = list(client.scheduler_info().get("workers", {}))
    if not workers:
        client.wait_for_workers(1)
        workers = list(client.scheduler_info().get("workers", {}))
    made = [client.submit(Searcher, spec, settings, tuple(space), seed, period[0], period[1], objective,
                          study.direction, actor=True, workers=[w], allow_other_workers=True, pure=False)
            for w in workers[:max(1, parallel)]]
    try:
        return _drive_searchers(study, found, [f.result() for f in made], workers, history, distributions,
                                remaining, per_call, batch is not None, parallel, waiting, on_trial)
    finally:
        for f in made:  # the actors go with them
            f.release()


def _drive_searchers(study: Any, found: Any, searchers: list[Any], workers: list[str], history: list[Finished],
                     distributions: dict[str, Any], remaining: int, per_call: int, fixed_batch: bool,
                     parallel: int, waiting: int, on_trial: Callable[[], None] | None) -> Any:
    """:func:`search`'s calls: a thread per searcher keeps its calls going; this thread records results."""
    import queue
    import threading

    import optuna

    cond = threading.Condition()
    calls = itertools.count()
    sent = [0] * len(searchers)  # how much of ``history`` each searcher has been sent
    in_flight = 0  # calls submitted and not returned, on every searcher
    stopping = False
    outcomes: queue.Queue[tuple[int, list[tuple[dict[str, object], float | str]] | BaseException | None]] = (
        queue.Queue())

    def next_call(slot: int, wait: bool) -> tuple[int, int, tuple[Finished, ...]] | None:
        """The next call for searcher ``slot``, or None when no trial is left to give; with ``wait``,
        first wait for trials a lost searcher gives back while calls are still out."""
        nonlocal remaining, in_flight
        with cond:
            while not stopping and remaining <= 0 and wait and in_flight > 0:
                cond.wait()
            if stopping or remaining <= 0:
                return None
            count = min(per_call, remaining) if fixed_batch else next_call_size(remaining, parallel, per_call)
            remaining -= count
            in_flight += 1
            news, sent[slot] = tuple(history[sent[slot]:]), len(history)
            return next(calls), count, news

    def returned(calls_back: int, trials_back: int) -> None:
        nonlocal remaining, in_flight
        with cond:
            in_flight -= calls_back
            remaining += trials_back
            cond.notify_all()

    def drive(slot: int) -> None:
        """Keep one call running and ``waiting`` more submitted on searcher ``slot``; hand each call's
        results to the driver's thread, then ``None`` when done. If the searcher's worker is lost, the
        trials of its calls go back to the others."""
        submitted: list[tuple[int, int, Any]] = []
        try:
            while True:
                try:
                    while len(submitted) <= waiting and (job := next_call(slot, wait=not submitted)) is not None:
                        call, count, news = job
                        submitted.append((call, count, None))  # counted as given to this searcher first
                        submitted[-1] = (call, count, searchers[slot].run(news, call, count))
                    if not submitted:
                        break
                    call, count, future = submitted[0]
                    results = future.result()
                except BaseException as exc:
                    if not _worker_lost(exc):
                        raise
                    lost = sum(c for _, c, _ in submitted)
                    returned(len(submitted), lost)
                    log.warning("sweep worker lost; its unfinished trials go to the others", worker=workers[slot],
                                trials=lost, error=str(exc))
                    return
                submitted.pop(0)
                outcomes.put((call, results))
                returned(1, 0)
        except BaseException as exc:  # handed to the driver's thread, which raises it
            outcomes.put((-1, exc))
        finally:
            outcomes.put((-1, None))

    threads = [threading.Thread(target=drive, args=(slot,), name=f"kalshid-search-{slot}", daemon=True)
               for slot in range(len(searchers))]
    for t in threads:
        t.start()
    error: BaseException | None = None
    running = len(threads)
    try:
        while running:
            call, outcome = outcomes.get()
            if outcome is None:
                running -= 1
                continue
            if isinstance(outcome, BaseException):
                with cond:
                    stopping = True
                    cond.notify_all()
                error = error or outcome
                continue
            with cond:
                history.extend((trial_key(call, i), params, distributions,
                                None if isinstance(value, str) else value)
                               for i, (params, value) in enumerate(outcome))
            for params, value in outcome:
                if isinstance(value, str):  # a parameter combination the strategy refuses fails its trial only
                    frozen = optuna.trial.create_trial(params=params, distributions=distributions,
                                                       state=optuna.trial.TrialState.FAIL,
                                                       user_attrs={"error": value})
                else:
                    frozen = optuna.trial.create_trial(params=params, distributions=distributions, value=value)
                found.add_trial(frozen)
                study.add_trial(frozen)
                if on_trial is not None:
                    on_trial()
    finally:
        with cond:
            stopping = True
            cond.notify_all()
    # here every thread has ended; on an exception above (an interrupt, a storage error) they are left
    # to end with their running call, which is not waited for
    if error is not None:
        raise error
    if remaining > 0:
        raise RuntimeError(f"every worker of the search was lost with {remaining} trials not run; the "
                           f"{len(found.trials)} finished are stored, so the same search resumes")
    return found


def walk_forward(client: Any, storage: Any, study_name: str, spec: SourceSpec, settings: BacktestSettings,
                 space: Sequence[ParamSpace], periods: Sequence[tuple[datetime, datetime]], trials: int,
                 objective: str, parallel: int, seed: int = 0,
                 on_trial: Callable[[], None] | None = None, batch: int | None = None) -> list[FoldResult]:
    """Search each in-sample slice, judge its best parameters on the next slice (see module docstring).

    ``storage``: an Optuna storage object, or a string for :func:`open_storage`; ``batch``: trials per
    searcher call (:func:`search`). A fold's stored study of another search raises
    :class:`~kalshid.research.sweep_scope.StudyScopeMismatch` before any trial runs."""
    import optuna

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    if isinstance(storage, str):
        storage = open_storage(storage)
    folds = list(itertools.pairwise(periods))
    studies = []
    for i, (train, _) in enumerate(folds):  # every fold's study checked before any trial runs
        study = optuna.create_study(storage=storage, study_name=f"{study_name}-fold{i}", direction="maximize",
                                    load_if_exists=True)
        check_scope(study, fold_scope(spec, settings, space, train, objective))
        studies.append(study)
    out = []
    for i, ((train, test), study) in enumerate(zip(folds, studies, strict=True)):
        best = search(client, study, spec, settings, space, train, trials, objective, parallel, on_trial,
                      batch=batch, seed=seed + i).best_trial
        value, oos = client.submit(evaluate, spec, settings, best.params, test[0], test[1], objective,
                                   pure=False).result()
        out.append(FoldResult(train, test, dict(best.params), float(best.value or 0.0),
                              len(study.get_trials(deepcopy=False)), value, oos))
    return out


def merge(results: Sequence[BacktestResult]) -> BacktestResult:
    """One result from consecutive out-of-sample results: trades and forecasts concatenated, the
    equity path chained (each fold starts where the previous one ended)."""
    if not results:
        raise ValueError("nothing to merge")
    first = results[0]
    merged = BacktestResult(settings=first.settings, fill_model=first.fill_model, source=first.source,
                            period=(first.period[0], results[-1].period[1]))
    start_equity = next((r.equity[0].equity_cc for r in results if r.equity), 0)
    offset = 0
    for r in results:
        merged.trades += r.trades
        merged.signals += r.signals
        merged.forecasts += r.forecasts
        merged.results.update(r.results)
        merged.counters.update(r.counters)
        merged.breaker_events += r.breaker_events
        merged.unsettled += r.unsettled
        merged.events += r.events
        base = r.equity[0].equity_cc if r.equity else 0
        for p in r.equity:
            merged.equity.append(EquityPoint(p.ts, p.cash_cc, start_equity + offset + p.equity_cc - base))
        if r.equity:
            offset += r.equity[-1].equity_cc - base
    merged.final_portfolio = results[-1].final_portfolio
    return merged
