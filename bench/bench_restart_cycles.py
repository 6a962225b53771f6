"""Restart cycles: ``kalshid run`` → first order → Ctrl-C, N times in one directory, each must trade.

What ``make run`` does, repeated: the same working directory (so the same ``var/`` journal) every
time, the embedded simulator with its defaults, SIGINT once an order has been acknowledged. A cycle
fails when the daemon exits before trading, or places no order within ``--limit`` seconds. Prints one
line per cycle and a summary; exits 1 if any cycle failed. Wall-clock run time: about a minute per
cycle (the strategy's volatility warm-up, then the market).

    .venv/bin/python bench/bench_restart_cycles.py --cycles 10
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

KALSHID = Path(sys.executable).with_name("kalshid")


def one_cycle(workdir: Path, limit_s: float, port: int) -> tuple[bool, float, str]:
    """(traded, seconds to the first acknowledged order, last log event)."""
    env = {**os.environ, "KALSHID_LOG__FORMAT": "json", "KALSHID_LOG__FILE": "off",
           "KALSHID_API__PORT": str(port), "KALSHID_CONTROL__SOCKET_PATH": str(workdir / "var" / "kalshid.sock")}
    started = time.monotonic()
    proc = subprocess.Popen([str(KALSHID), "run"], cwd=workdir, env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True)
    assert proc.stdout is not None
    traded, last, when = False, "", 0.0
    try:
        for line in proc.stdout:
            try:
                event = json.loads(line).get("event", "")
            except json.JSONDecodeError:
                event = line.strip()
            last = event or last
            if event == "order acknowledged":
                traded, when = True, time.monotonic() - started
                break
            if time.monotonic() - started > limit_s:
                break
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGINT)
        try:
            proc.wait(timeout=60)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
    return traded, when, last


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--cycles", type=int, default=10)
    parser.add_argument("--limit", type=float, default=300.0, help="seconds a cycle may take to place an order")
    parser.add_argument("--port", type=int, default=18700, help="API port (the daemon's default 8000 may be taken)")
    parser.add_argument("--dir", type=Path, default=None, help="working directory (default: a fresh temporary one)")
    args = parser.parse_args()
    workdir = args.dir or Path(tempfile.mkdtemp(prefix="kalshid-cycles-"))
    print(f"restart cycles in {workdir}")
    ok = 0
    for i in range(1, args.cycles + 1):
        traded, when, last = one_cycle(workdir, args.limit, args.port)
        ok += traded
        print(f"cycle {i:2d}: {'traded' if traded else 'NO TRADE'}"
              + (f" after {when:.0f} s" if traded else f" (last event: {last!r})"), flush=True)
    print(f"{ok}/{args.cycles} cycles traded")
    return 0 if ok == args.cycles else 1


if __name__ == "__main__":
    sys.exit(main())
