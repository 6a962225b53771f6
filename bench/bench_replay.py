"""Replay speed: events per second through the tracker, the daemon's strategies, risk and the fill
model, on one core; and the time to backtest every SOL market in the shared data. Prints figures; not
a test. Goals: ≥ 200 000 events/s; every SOL market in under 10 s.

Run: ``.venv/bin/python bench/bench_replay.py [--data DIR] [--hours H] [--recordings DIR]
[--strategies configured|each|all|NAME[,NAME]]``

Which strategies: by default the ones the embedded configuration enables (``trading.enabled_strategies``:
what ``kalshid run`` and ``kalshid backtest`` run without a configuration file), with its parameters and
limits (``BacktestSettings.from_config``); ``each`` replays every stream once per strategy, that strategy
alone; ``all`` with every strategy kalshid has enabled together. A replay's cost per event is the loop's
plus each enabled strategy's, plus risk's per proposal, so several strategies together replay at about
the sum of their costs (docs/performance.md, "Replay speed").

Instructions per event, independent of the machine's load: ``PYTHONHASHSEED=0 valgrind --tool=callgrind
.venv/bin/python bench/bench_replay.py --repeat 1 --hours 0.5 --synthetic-only --books KIND
[--no-strategies]`` minus the same with ``--build-only`` (building the stream), divided by the events printed.

Figures are events per CPU second of this process (``time.process_time``), the median of ``--repeat``
replays of each stream with their range, beside wall seconds, so a busy machine shows up as the
difference. Streams:

1. **synthetic recordings**: what ``kalshid record`` writes for 15-minute SOL markets: one index print a
   second, book updates of the current market with three levels of depth a side (5 a second, a tenth
   of them a change at the touch, the rest a change below it) and a trade every 2 seconds, each market
   settled; the touch either as the simulator's makers quote it around the index's fair value
   (``books=makers``, a market that follows the index) or a random walk blind to the index
   (``books=random``, a stress case: ``kelly_volatility`` signals on almost every evaluation), see
   :mod:`kalshid.research.synthetic`. The strategies are evaluated as in the daemon
   (``kalshid.core.decision``, "When to evaluate"): on every index print and every change of the
   current market's top of book.
2. **a recording** of kalshid's own (``--recordings DIR``, e.g. the ``var/recordings`` of a ``kalshid run``
   against its simulator; ``KALSHID_SIM__SPEED=8 KALSHID_SIM__SEED=7 kalshid run`` records two simulated
   hours in fifteen minutes), loaded before the clock starts and evaluated after every triggering event,
   as ``kalshid backtest --source recorded`` does.
3. **shared data, every SOL ladder market** (``underlying=none``, one book a minute per market).
4. **shared data with the SOL perpetual as index** (``underlying=perp``).
"""

from __future__ import annotations

import argparse
import functools
import statistics
import time
from pathlib import Path

import attrs

from kalshid.config.schema import Config
from kalshid.core.strategies.registry import STRATEGY_CLASSES
from kalshid.research import BacktestSettings, SharedDataSource, run_backtest
from kalshid.research.engine import Replay
from kalshid.research.events import Event
from kalshid.research.results import BacktestResult
from kalshid.research.sources.recorded import RecordedSource
from kalshid.research.synthetic import synthetic_recording


def timed(label: str, fn: object, repeat: int = 1) -> None:
    """Run ``fn`` ``repeat`` times; print the median events/s of CPU time (and the range over the runs
    when there are several)."""
    rates, walls = [], []
    for _ in range(repeat):
        w0, c0 = time.perf_counter(), time.process_time()
        n, extra = fn()  # type: ignore[operator]
        wall, cpu = time.perf_counter() - w0, time.process_time() - c0
        rates.append(n / cpu)
        walls.append(wall)
    spread = f" [{min(rates):.0f}–{max(rates):.0f} over {repeat} runs]" if repeat > 1 else ""
    print(f"{label:78s} {n:9d} events  {statistics.median(rates):10.0f} events/s{spread} "
          f"(CPU {n / statistics.median(rates):6.2f} s, wall {statistics.median(walls):6.2f} s)  {extra}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--data", type=Path, default=None, help="shared data directory (default: beside the repo)")
    ap.add_argument("--hours", type=float, default=2.0, help="hours of synthetic recording (default 2)")
    ap.add_argument("--synthetic-only", action="store_true", help="skip the shared data")
    ap.add_argument("--recordings", type=Path, default=None, metavar="DIR",
                    help="also replay kalshid's own recordings in DIR (record.dir of a `kalshid run` or "
                         "`kalshid record`), loaded before the clock starts, evaluated per event as "
                         "`kalshid backtest --source recorded` does")
    ap.add_argument("--books", default="makers,random", metavar="KIND[,KIND]",
                    help="the synthetic streams: makers (the touch follows the index as the simulator's makers "
                         "quote it), random (a stress case: the touch blind to the index); default both; "
                         "'' for none")
    ap.add_argument("--no-strategies", action="store_true", help="enable no strategy (the loop alone)")
    ap.add_argument("--strategies", default="configured", metavar="configured|each|all|NAME[,NAME]",
                    help="the strategies to enable: configured (default: the embedded configuration's, what "
                         "kalshid run and kalshid backtest run), each (every stream once per strategy, alone), "
                         "all (every strategy kalshid has, together), or a list of names")
    ap.add_argument("--repeat", type=int, default=5, metavar="N",
                    help="replays of each stream; the median is printed, with the range (default 5; 1 under "
                         "callgrind)")
    ap.add_argument("--build-only", action="store_true",
                    help="build the synthetic stream and stop (the baseline to subtract under callgrind)")
    args = ap.parse_args()

    kinds = [k.strip() for k in args.books.split(",") if k.strip()]
    if args.build_only:
        for books in kinds:
            print(f"{len(synthetic_recording(args.hours, books=books))} events built ({books})")  # type: ignore[arg-type]
        return
    configured = BacktestSettings.from_config(Config())  # the embedded configuration: strategies, parameters, limits
    if args.no_strategies:
        sets: list[tuple[str, ...]] = [()]
    elif args.strategies == "configured":
        sets = [configured.enabled_strategies]
    elif args.strategies == "each":
        sets = [(name,) for name in STRATEGY_CLASSES]
    elif args.strategies == "all":
        sets = [tuple(STRATEGY_CLASSES)]
    else:
        sets = [tuple(n.strip() for n in args.strategies.split(",") if n.strip())]
    try:
        settings_by_set = {names: attrs.evolve(configured, enabled_strategies=names) for names in sets}
    except ValueError as exc:
        raise SystemExit(f"--strategies: {exc}") from None

    def label(stream: str, names: tuple[str, ...]) -> str:
        return f"{stream} [{'+'.join(names) or 'no strategy'}]"

    def summary(result: BacktestResult) -> str:
        signals = sum(v for k, v in result.counters.items() if k.startswith("signals_"))
        refused = sum(v for k, v in result.counters.items() if k.startswith("rejected_"))
        return (f"{result.counters['evaluations']} evaluations, {signals} signals, "
                f"{result.counters['signals_proposed']} proposed ({refused} refused by risk), "
                f"{len(result.trades)} fills")

    def run_synthetic(settings: BacktestSettings, events: list[Event]) -> tuple[int, str]:
        return len(events), summary(Replay(settings).run(iter(events)))

    for books in kinds:  # one stream in memory while it is timed: another one's objects would slow the collector
        events = synthetic_recording(args.hours, books=books)  # type: ignore[arg-type]
        for names, settings in settings_by_set.items():
            timed(label(f"synthetic recording, {args.hours:g} h, books={books}", names),
                  functools.partial(run_synthetic, settings, events), args.repeat)
        del events
    if args.recordings is not None:
        source = RecordedSource(args.recordings)
        recorded = list(source.events())
        if not recorded:
            raise SystemExit(f"no recorded events under {args.recordings}")

        results, exempt = source.results(), source.index_gate_exempt()

        def run_recorded(settings: BacktestSettings) -> tuple[int, str]:
            replay = Replay(attrs.evolve(settings, evaluation="event"), results=results,
                            index_gate_exempt=exempt)
            return len(recorded), summary(replay.run(iter(recorded)))

        span = (recorded[-1].ts - recorded[0].ts).total_seconds() / 3600
        for names, settings in settings_by_set.items():
            timed(label(f"recording, {span:.2f} h of exchange time", names),
                  functools.partial(run_recorded, settings), args.repeat)
        del recorded
    if args.synthetic_only:
        return

    def all_sol(settings: BacktestSettings, underlying: str) -> tuple[int, str]:
        w0 = time.perf_counter()
        src = SharedDataSource(args.data, underlying=underlying)  # type: ignore[arg-type]
        loaded = time.perf_counter() - w0
        result = run_backtest(src, settings)
        total = time.perf_counter() - w0
        return result.events, (f"{len(result.results)} markets, load {loaded:.2f} s, "
                               f"load + backtest {total:.2f} s wall")

    for names, settings in settings_by_set.items():
        timed(label("shared data, every SOL ladder market (underlying=none)", names),
              functools.partial(all_sol, settings, "none"))
        timed(label("shared data, perpetual as index (underlying=perp)", names),
              functools.partial(all_sol, settings, "perp"))


if __name__ == "__main__":
    main()
