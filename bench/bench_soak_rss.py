"""Bench: the daemon's memory over a simulated day (goal: peak RSS <= 150 MB, no growth;
docs/performance.md).

Run: ``.venv/bin/python bench/bench_soak_rss.py [--hours 6] [--no-baseline]``. Prints figures; not a test.
A simulated hour takes ~19 s of wall time, so 24 hours take ~7.5 minutes plus ~0.5 for the baseline;
the default is 6 hours, and the hourly growth rate is extrapolated to 24 hours.

The whole daemon and its embedded simulator run in this process under Trio's
``MockClock(autojump_threshold=0)`` (as ``tests/trading/test_pipeline_e2e.py`` does), with the journal
inline (``virtual_clock=True``: SQLite on the Trio thread, since worker threads do not advance a
mock clock), JSON logs to a file, both strategies trading with the e2e test's settings. Every
simulated hour it samples this process's current RSS (``VmRSS``), its high-water mark (``VmHWM`` and
``getrusage(RUSAGE_SELF).ru_maxrss``), and a few counters that would show where memory goes.

Caveats: the simulator's state (its last 5 000 public trades, the orders, fills and settlements of
the last ``--sim-history`` settled markets, the index history) lives in the same process, so the
figure is an upper bound on the daemon's own RSS; the daemon's journal is a SQLite file (its page
cache is the OS's; SQLite's own cache, ~2 MB, is in the figure). Growth is judged on hours after the
first (the first includes imports, start-up and the first windows' caches). Where glibc is the C
library each sample also splits its heap into live and free bytes (``mallinfo2``): free bytes that
stay resident are fragmentation, which the daemon's ten-minute ``malloc_trim`` (``kalshid.daemon.tuning``)
hands back.
"""

from __future__ import annotations

import argparse
import gc
import json
import logging
import resource
import subprocess
import sys
import tempfile
import time
import tracemalloc
from datetime import datetime
from pathlib import Path
from typing import Any

import trio
import trio.testing
from _benchenv import isolated_env  # bench/ is sys.path[0]

from kalshid import logs
from kalshid.config import load_config
from kalshid.daemon.supervisor import Runtime, Supervisor
from kalshid.daemon.tuning import run_tuned
from kalshid.trading import app
from kalshid.trading.wiring import TradingDaemon

GOAL_MB = 150.0
GROWTH_FLAG_MB = 5.0  # a rise above this between the early and the late hours is flagged
HOUR_S = 3600
SEED, START = "11", "2026-07-08T22:44:00+00:00"
# settled markets whose history the simulator keeps here (the embedded default is 192, two days): with 8
# (two hours) the exchange's records stop growing after hour 2, so what still grows is the daemon's
SIM_HISTORY = 8


def proc_status_mb() -> tuple[float, float]:
    """(VmRSS, VmHWM) of this process in MB, from ``/proc/self/status``."""
    found: dict[str, float] = {}
    with open("/proc/self/status") as f:
        for line in f:
            key, _, rest = line.partition(":")
            if key in ("VmRSS", "VmHWM"):
                found[key] = int(rest.split()[0]) / 1024  # kB
    return found["VmRSS"], found["VmHWM"]


def c_heap_mb() -> tuple[float, float] | None:
    """(live, free) bytes of glibc's heap in MB (``mallinfo2``), or None without glibc."""
    import ctypes

    class MallInfo2(ctypes.Structure):
        _fields_ = [(n, ctypes.c_size_t) for n in ("arena", "ordblks", "smblks", "hblks", "hblkhd", "usmblks",
                                                    "fsmblks", "uordblks", "fordblks", "keepcost")]

    fn = getattr(ctypes.CDLL(None), "mallinfo2", None)
    if fn is None:
        return None
    fn.restype = MallInfo2
    info = fn()
    return (info.uordblks + info.hblkhd) / 2**20, info.fordblks / 2**20


def maxrss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # kB on Linux


def env_for(tmp: Path, sim_history: int) -> dict[str, str]:
    return {
        "KALSHID_SIM__SEED": SEED,
        "KALSHID_SIM__START": START,
        "KALSHID_SIM__HISTORY_MARKETS": str(sim_history),
        **isolated_env(tmp, "t" * 40),
        "MAX_DAILY_LOSS": "100000",
        "DEFAULT_BANKROLL": "10000",
        "KALSHID_RISK__BREAKER_DAILY_LOSS_FRACTION": "0.9",
        "KALSHID_RISK__BREAKER_DRAWDOWN_FRACTION": "0.9",
        "KALSHID_STRATEGIES__KELLY_VOLATILITY__KELLY_FRACTION": "0.02",
        "KALSHID_STRATEGIES__MEAN_REVERSION__KELLY_FRACTION": "0.02",
    }


def trace_report(first: Any, last: Any, top: int = 25) -> None:
    """Where the Python heap grew between two tracemalloc snapshots, by allocating line."""
    print(f"\ntracemalloc: growth from hour 2 to the last hour, top {top} lines (size, count):")
    for stat in last.compare_to(first, "lineno")[:top]:
        frame = stat.traceback[0]
        print(f"  {stat.size_diff / 1024:9.1f} KiB  {stat.count_diff:+7d}  {frame.filename}:{frame.lineno}")


async def soak(hours: int, tmp: Path, sim_history: int, trace: bool = False) -> tuple[list[dict[str, Any]], int]:
    log_file = (tmp / "daemon.log").open("w")
    logs.configure_logging(level="info", fmt="json", file="off", stream=log_file)
    loaded = load_config(environ=env_for(tmp, sim_history), cwd=tmp)
    runtime = Runtime(loaded, None)
    daemon = TradingDaemon(runtime, virtual_clock=True)
    supervisor = Supervisor(runtime, app.components(daemon))
    samples: list[dict[str, Any]] = []
    status: list[int] = []
    wall0 = time.monotonic()

    def sample(hour: int) -> None:
        rss, hwm = proc_status_mb()
        counters = daemon.p.snapshots.counters()
        venue = daemon.p.sim_handle.venue if daemon.p.sim_handle is not None else None
        row = {
            "hour": hour, "wall_s": time.monotonic() - wall0, "rss": rss, "hwm": hwm, "maxrss": maxrss_mb(),
            "orders": counters.get("orders", 0), "signals": counters.get("signals", 0),
            "objects": len(gc.get_objects()),  # not the frozen start-up ones: what trading allocated
            "sim_orders": len(venue.exchange.orders) if venue else 0,
            "journal_mb": sum(p.stat().st_size for p in (tmp / "var").glob("*")) / 2**20,
            "c_heap": c_heap_mb(),
        }
        samples.append(row)
        print(f"  h{hour:>3}  wall {row['wall_s']:6.1f} s  RSS {rss:6.1f} MB  peak {hwm:6.1f} MB  "
              f"orders {row['orders']:5d}  signals {row['signals']:6d}  gc objects {row['objects']:8d}  "
              f"sim orders {row['sim_orders']:6d}  journal {row['journal_mb']:5.1f} MB"
              + (f"  C heap live {row['c_heap'][0]:5.1f} free {row['c_heap'][1]:5.1f} MB" if row["c_heap"] else ""),
              flush=True)

    async def run() -> None:
        status.append(await run_tuned(supervisor))  # as `kalshid run` does

    async with trio.open_nursery() as nursery:
        nursery.start_soon(run)
        await supervisor.wait_ready()
        sample(0)
        first: Any = None
        for hour in range(1, hours + 1):
            await trio.sleep(HOUR_S)
            sample(hour)
            if trace and hour == 1:
                tracemalloc.start(1)
            elif trace and hour == 2:
                first = tracemalloc.take_snapshot()
        if first is not None:
            trace_report(first, tracemalloc.take_snapshot())
            tracemalloc.stop()
        supervisor.request_stop("soak finished")
    logs.shutdown_logging()  # the writer thread drains its queue into the file before it is closed
    log_file.close()
    return samples, status[0] if status else -1


async def soak_sim_only(hours: int, sim_history: int) -> list[dict[str, Any]]:
    """The embedded simulator alone (same seed, start, history and defaults as the daemon's, no
    client): the baseline that separates the simulator's memory from the daemon's. It has no trader,
    so the trader's orders and fills the simulator keeps count in the daemon's share."""
    from kalshid.sim.server import SimSettings, serve_simulator

    settings = SimSettings(seed=int(SEED), start=datetime.fromisoformat(START).timestamp(), max_skew_s=None,
                           history_markets=sim_history)
    samples: list[dict[str, Any]] = []
    async with trio.open_nursery() as nursery:
        handle = await nursery.start(serve_simulator, settings)
        for hour in range(hours + 1):
            if hour:
                await trio.sleep(HOUR_S)
            rss, hwm = proc_status_mb()
            samples.append({"hour": hour, "rss": rss, "hwm": hwm, "sim_orders": len(handle.venue.exchange.orders)})
        handle.stop()
    return samples


def baseline(hours: int, sim_history: int) -> list[dict[str, Any]]:
    """Run :func:`soak_sim_only` in a fresh interpreter (so nothing of this process's heap counts)."""
    out = subprocess.run([sys.executable, __file__, "--sim-only", "--hours", str(hours),
                          "--sim-history", str(sim_history)],
                         capture_output=True, text=True, check=True, timeout=3600)
    return json.loads(out.stdout.strip().splitlines()[-1])  # type: ignore[no-any-return]


def main() -> int:
    ap = argparse.ArgumentParser(description="kalshid RSS over a simulated day (MockClock)")
    ap.add_argument("--hours", type=int, default=6,
                    help="simulated hours (default 6, ~2 min with the baseline; 24 take ~8 min)")
    ap.add_argument("--no-baseline", action="store_true", help="skip the simulator-alone baseline run")
    ap.add_argument("--sim-history", type=int, default=SIM_HISTORY, metavar="N",
                    help=f"settled markets whose orders, fills and settlements the simulator keeps (default "
                         f"{SIM_HISTORY}, so its records are flat after hour 2; the embedded default is 192)")
    ap.add_argument("--sim-only", action="store_true", help=argparse.SUPPRESS)
    ap.add_argument("--trace", action="store_true",
                    help="tracemalloc from hour 1: print where the heap grew from hour 2 to the end (slower)")
    args = ap.parse_args()
    if args.sim_only:
        logging.disable(logging.WARNING)
        rows = trio.run(soak_sim_only, args.hours, args.sim_history, clock=trio.testing.MockClock(autojump_threshold=0))
        print(json.dumps(rows))
        return 0
    print(f"Soak: daemon + embedded simulator, MockClock, {args.hours} simulated hours; "
          f"goal: peak RSS <= {GOAL_MB:g} MB, no growth")
    t0 = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="kalshid-soak-") as tmp:
        samples, status = trio.run(soak, args.hours, Path(tmp), args.sim_history, args.trace,
                                   clock=trio.testing.MockClock(autojump_threshold=0))
    wall = time.monotonic() - t0
    per_hour = wall / max(1, args.hours)
    print(f"\nwall time {wall:.0f} s for {args.hours} simulated hours "
          f"({per_hour:.1f} s per simulated hour; 24 h take ~{per_hour * 24 / 60:.1f} min)")
    peak = max(maxrss_mb(), *(s["hwm"] for s in samples))
    print(f"peak RSS, daemon + simulator (VmHWM / ru_maxrss): {peak:.1f} MB   [goal <= {GOAL_MB:g} MB: "
          f"{'MET' if peak <= GOAL_MB else 'NOT MET'}]")
    total = [s["rss"] for s in samples]
    report_growth("RSS, daemon + simulator", total, args.hours)
    objs = [s["objects"] for s in samples]
    print(f"gc-tracked objects: hour 1 {objs[min(1, len(objs) - 1)]} -> hour {args.hours} {objs[-1]}")
    if not args.no_baseline:
        t1 = time.monotonic()
        base = baseline(args.hours, args.sim_history)
        sim_rss = [b["rss"] for b in base]
        print(f"\nbaseline: the simulator alone, same seed and hours, fresh process ({time.monotonic() - t1:.0f} s):")
        print("  hour   total RSS   sim alone   difference (the daemon's share, approx.)")
        for s_row, b_row in zip(samples, base, strict=True):
            diff = s_row["rss"] - b_row["rss"]
            print(f"  {s_row['hour']:>4}  {s_row['rss']:8.1f}  {b_row['rss']:9.1f}   {diff:8.1f} MB")
        report_growth("RSS, simulator alone", sim_rss, args.hours)
        daemon_share = [t - b for t, b in zip(total, sim_rss, strict=True)]
        report_growth("RSS, daemon's share (total - sim alone)", daemon_share, args.hours)
        print(f"  the daemon's share at the end: {daemon_share[-1]:.1f} MB [goal <= {GOAL_MB:g} MB for the daemon: "
              f"{'MET' if max(daemon_share) <= GOAL_MB else 'NOT MET'}]")
    print(f"daemon exit status: {status}")
    return 0 if status == 0 else 1


def report_growth(what: str, series: list[float], hours: int) -> None:
    """Print the mean of the early hours against the last ones (hour 0, start-up, is left out),
    the rate per hour, and the value that rate reaches at 24 h."""
    late = series[1:]
    if len(late) < 4:
        print(f"{what}: too few hourly samples to judge growth (use --hours >= 4)")
        return
    k = max(1, len(late) // 4)
    early_mb, last_mb = sum(late[:k]) / k, sum(late[-k:]) / k
    rate = (last_mb - early_mb) / (len(late) - k)
    grew = last_mb - early_mb > GROWTH_FLAG_MB
    at24 = series[-1] + rate * max(0, 24 - hours)
    print(f"{what}: hours 1-{k} mean {early_mb:.1f} MB -> last {k} h mean {last_mb:.1f} MB "
          f"({last_mb - early_mb:+.1f} MB, {rate:+.2f} MB/h{f'; at 24 h ~{at24:.0f} MB' if hours < 24 else ''})"
          f"   [goal: no growth: {'GROWTH FLAGGED' if grew else 'no growth flagged'} "
          f"(flag above +{GROWTH_FLAG_MB:g} MB)]")


if __name__ == "__main__":
    sys.exit(main())
