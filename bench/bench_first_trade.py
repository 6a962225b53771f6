"""Bench: how soon a fresh ``kalshid run`` trades the embedded simulator (goal: within a minute;
docs/performance.md).

Run: ``.venv/bin/python bench/bench_first_trade.py [--seeds 100]`` (about a minute). Prints figures; not a test.

For each seed the whole daemon, on its embedded defaults (both strategies, default risk limits, the
simulator's clock started 30 s into a quarter-hour as ``kalshid run`` does), runs under Trio's
``MockClock`` until its first order is sent; the figure is the simulated time from ``kalshid ready``
to that order. The seed picks the simulator's index path (a start point in 14 days of real SOL
candles), its makers and takers; each seed also starts at a different time of day. ``kalshid run``
picks a random seed, so the spread over seeds is what a user sees. Add ~0.8 s of start-up
(``bench_startup.py``) for the time from the command.

What sets the figure: the volatility estimate's warm-up (``warmup_seconds``, 30 s of one-a-second
prints), then the market: the daemon orders only once an ask is ``min_edge`` (3 c) below its fair
value net of the taker fee.
"""

from __future__ import annotations

import argparse
import io
import statistics
import sys
import tempfile
from datetime import UTC, datetime
from pathlib import Path

import trio
import trio.testing
from _benchenv import isolated_env  # bench/ is sys.path[0]

from kalshid import logs
from kalshid.config import load_config
from kalshid.daemon.supervisor import Runtime, Supervisor
from kalshid.trading import app
from kalshid.trading.venue import embedded_start
from kalshid.trading.wiring import TradingDaemon

GOAL_S = 60.0
GIVE_UP_S = 900.0  # a whole window without an order
WALL0 = 1_790_000_000.0  # 2026-09-21; seed k starts k × 7 919 s later (a different time of day each)


async def first_order_after_ready(seed: int, tmp: Path) -> float | None:
    start = embedded_start(WALL0 + seed * 7_919.0)
    env = {"KALSHID_SIM__SEED": str(seed), "KALSHID_SIM__START": datetime.fromtimestamp(start, UTC).isoformat(),
           **isolated_env(tmp, "t" * 40)}
    runtime = Runtime(load_config(environ=env, cwd=tmp), None)
    daemon = TradingDaemon(runtime, virtual_clock=True)  # worker threads would not advance a mock clock
    supervisor = Supervisor(runtime, app.components(daemon))
    found: list[float] = []
    async with trio.open_nursery() as nursery:
        nursery.start_soon(supervisor.run)
        await supervisor.wait_ready()
        ready = trio.current_time()
        with trio.move_on_after(GIVE_UP_S):
            while not daemon.p.snapshots.counters().get("orders", 0):  # noqa: ASYNC110 - a counter, no event to wait on
                await trio.sleep(0.25)
            found.append(trio.current_time() - ready)
        supervisor.request_stop("bench done")
    return found[0] if found else None


def main() -> int:
    ap = argparse.ArgumentParser(description="kalshid: time from ready to the first order, over seeds")
    ap.add_argument("--seeds", type=int, default=100, help="seeds 0..N-1 (default 100, ~1 min)")
    args = ap.parse_args()
    logs.configure_logging(level="error", fmt="json", file="off", stream=io.StringIO())
    print(f"First order after 'kalshid ready', embedded defaults, MockClock, seeds 0..{args.seeds - 1}; "
          f"goal: within {GOAL_S:g} s")
    times: list[float] = []
    none = 0
    for seed in range(args.seeds):
        with tempfile.TemporaryDirectory(prefix="kalshid-first-") as tmp:
            t = trio.run(first_order_after_ready, seed, Path(tmp), clock=trio.testing.MockClock(autojump_threshold=0))
        print(f"  seed {seed:3d}: " + (f"{t:5.1f} s" if t is not None else f"no order in {GIVE_UP_S:g} s"), flush=True)
        if t is None:
            none += 1
        else:
            times.append(t)
    within = sum(t <= GOAL_S for t in times)
    if times:
        q = statistics.quantiles(times, n=10, method="inclusive") if len(times) > 1 else [times[0]] * 9
        print(f"\nfirst order: min {min(times):.1f} s, median {statistics.median(times):.1f} s, "
              f"p90 {q[8]:.1f} s, max {max(times):.1f} s; seeds with no order in {GIVE_UP_S:g} s: {none}")
    print(f"within {GOAL_S:g} s of ready: {within} of {args.seeds} seeds "
          f"[{'MET for every seed' if within == args.seeds else 'NOT MET for every seed'}]")
    return 0


if __name__ == "__main__":
    sys.exit(main())
