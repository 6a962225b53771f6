"""Bench: time from exec of ``python -m kalshid run`` to its "kalshid ready" log line (docs/performance.md).

Run: ``.venv/bin/python bench/bench_startup.py [--runs 5]``. Prints figures; not a test.

Each run starts a fresh daemon with default settings (embedded simulator at speed 1, a new journal in
a temporary directory, JSON logs on stdout, API on a free port), reads its stdout until the
``kalshid ready`` line, then stops it with SIGTERM and checks it exits 0. The figure is wall time from
just before ``Popen`` to reading that line. The log timestamps split it into: interpreter + imports
(until "kalshid starting"), the embedded simulator and REST client ("exchange ready"), the first
market discovery (which waits for the first index print to learn the exchange clock), and the rest.

One more run under ``-X importtime`` checks that ``scipy.stats`` is never imported by ``kalshid run``
(up to "ready" and a moment after) and prints the costliest imports. Goal: ready in <= 1.5 s.
"""

from __future__ import annotations

import argparse
import json
import os
import queue
import random
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from datetime import datetime
from pathlib import Path
from typing import IO, Any

from _benchenv import isolated_env  # bench/ is sys.path[0]

GOAL_S = 1.5
STEP = {
    "kalshid starting": "interpreter, imports, config",
    "exchange ready": "journal, embedded sim incl. RSA-2048 key generation, REST client",
    "starting component markets": "feed: signed WS handshake, subscriptions",
    "markets": "wait for the first index print (exchange clock), market discovery",
    "kalshid ready": "reconcile, risk, strategy, API, control socket, watchdog",
}
READY = "kalshid ready"
MILESTONES = ("kalshid starting", "exchange ready", "starting component markets", "markets", READY)


def _env(tmp: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("KALSHID_", "KALSHI_"))}
    env.update(isolated_env(tmp, "s" * 40), PYTHONDONTWRITEBYTECODE="0")
    env.pop("NOTIFY_SOCKET", None)
    return env


def _pump(stream: IO[bytes], q: queue.Queue[tuple[float, bytes]]) -> None:
    for raw in iter(stream.readline, b""):
        q.put((time.monotonic(), raw))
    q.put((time.monotonic(), b""))


def _drain(stream: IO[bytes], sink: list[bytes]) -> None:
    for raw in iter(stream.readline, b""):
        sink.append(raw)


def one_run(extra_args: list[str], timeout_s: float = 30.0) -> tuple[float, dict[str, float], int, list[bytes]]:
    """Start the daemon, wait for ready, stop it. Returns (seconds to ready, milestone offsets, exit
    status, stderr lines). Raises RuntimeError if it never becomes ready."""
    with tempfile.TemporaryDirectory(prefix="kalshid-startup-") as tmp:
        wall0 = time.time()
        t0 = time.monotonic()
        proc = subprocess.Popen([sys.executable, *extra_args, "-m", "kalshid", "run"], cwd=tmp,
                                env=_env(Path(tmp)), stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        assert proc.stdout is not None and proc.stderr is not None
        lines: queue.Queue[tuple[float, bytes]] = queue.Queue()
        err: list[bytes] = []
        threading.Thread(target=_pump, args=(proc.stdout, lines), daemon=True).start()
        err_thread = threading.Thread(target=_drain, args=(proc.stderr, err), daemon=True)
        err_thread.start()
        marks: dict[str, float] = {}
        ready_at: float | None = None
        try:
            while ready_at is None:
                seen, raw = lines.get(timeout=max(0.1, t0 + timeout_s - time.monotonic()))
                if not raw:
                    raise RuntimeError(f"kalshid exited before ready (rc={proc.wait()}): "
                                       f"{b''.join(err[-20:]).decode(errors='replace')}")
                try:
                    rec: dict[str, Any] = json.loads(raw)
                except ValueError:
                    continue
                event = rec.get("event")
                if event == "starting component":
                    event = f"starting component {rec.get('component')}"
                if event in MILESTONES and event not in marks and isinstance(rec.get("timestamp"), str):
                    stamp = datetime.fromisoformat(rec["timestamp"].replace("Z", "+00:00")).timestamp()
                    marks[event] = stamp - wall0
                if event == READY:
                    ready_at = seen - t0
        except queue.Empty:
            proc.kill()
            raise RuntimeError(f"kalshid not ready after {timeout_s} s") from None
        finally:
            if proc.poll() is None:
                time.sleep(0.2)  # let imports that follow "ready" (first signal, first order) show up
                proc.send_signal(signal.SIGTERM)
        try:
            rc = proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
            rc = proc.wait()
        err_thread.join(timeout=5)
        return ready_at, marks, rc, err


def parse_importtime(stderr: list[bytes]) -> list[tuple[str, int, int, int]]:
    """``-X importtime`` lines as (module, self µs, cumulative µs, depth)."""
    out = []
    for raw in stderr:
        text = raw.decode(errors="replace").rstrip("\n")
        if not text.startswith("import time:") or "self [us]" in text:
            continue
        parts = text[len("import time:"):].split("|")
        if len(parts) != 3:
            continue
        self_us, cum_us, name = parts
        depth = (len(name) - len(name.lstrip(" ")) - 1) // 2
        out.append((name.strip(), int(self_us), int(cum_us), depth))
    return out


def main() -> int:
    ap = argparse.ArgumentParser(description="kalshid start-to-ready time")
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--seed", type=int, default=None, help="seed of the random pause before each run")
    args = ap.parse_args()

    print(f"Start to 'kalshid ready' of `python -m kalshid run` (embedded sim, defaults), {args.runs} runs; "
          f"goal <= {GOAL_S} s")
    times: list[float] = []
    all_marks: list[dict[str, float]] = []
    failures = 0
    rng = random.Random(args.seed)
    for i in range(args.runs):
        # The daemon waits for the simulator's first index print (one per simulated second); a
        # random pause keeps the runs from locking to any phase of the wall clock's seconds.
        time.sleep(rng.random())
        ready, marks, rc, _err = one_run([])
        times.append(ready)
        all_marks.append(marks)
        failures += rc != 0
        steps = "  ".join(f"{k}={v:.3f}" for k, v in marks.items())
        print(f"  run {i + 1}: ready in {ready:.3f} s (exit status after SIGTERM: {rc})   log offsets [s]: {steps}")
    p50 = statistics.median(times)
    worst = max(times)
    verdict = "MET" if worst <= GOAL_S else ("p50 MET, max NOT MET" if p50 <= GOAL_S else "NOT MET")
    print(f"start -> ready: p50 {p50:.3f} s, max {worst:.3f} s   [goal <= {GOAL_S} s: {verdict}]")
    print("  where the time goes (median of the runs, from exec):")
    prev = 0.0
    for m in MILESTONES:
        vals = [mk[m] for mk in all_marks if m in mk]
        if vals:
            at = statistics.median(vals)
            print(f"    {m!r:<30} at {at:6.3f} s  (+{at - prev:.3f} s: {STEP[m]})")
            prev = at

    ready, _marks, rc, err = one_run(["-X", "importtime"])
    imports = parse_importtime(err)
    names = {name for name, *_ in imports}
    scipy_mods = sorted(n for n in names if n == "scipy" or n.startswith("scipy."))
    stats = [n for n in scipy_mods if n == "scipy.stats" or n.startswith("scipy.stats.")]
    print(f"\n-X importtime run: ready in {ready:.3f} s (slower: import tracing), {len(imports)} modules imported")
    print(f"scipy.stats imported by `kalshid run`: {'YES' if stats else 'no'}   [goal: no]"
          + (f"   other scipy modules: {', '.join(scipy_mods[:6])}{' ...' if len(scipy_mods) > 6 else ''}"
             if scipy_mods else "   (no scipy module at all)"))
    per_pkg: dict[str, int] = {}
    for name, self_us, _cum, _depth in imports:
        top = name.split(".")[0]
        per_pkg[top] = per_pkg.get(top, 0) + self_us
    total_ms = sum(per_pkg.values()) / 1000
    print(f"top 10 packages by import time (sum of their modules' self time; all imports {total_ms:.0f} ms):")
    for top, us in sorted(per_pkg.items(), key=lambda kv: -kv[1])[:10]:
        print(f"    {top:<24} {us / 1000:7.1f} ms")
    print("top 10 single modules by self time:")
    for name, self_us, cum, _depth in sorted(imports, key=lambda r: -r[1])[:10]:
        print(f"    {name:<44} self {self_us / 1000:6.1f} ms  cumulative {cum / 1000:6.1f} ms")
    if failures or rc != 0:
        print(f"WARNING: {failures + (rc != 0)} run(s) did not exit 0 after SIGTERM")
    return 0


if __name__ == "__main__":
    sys.exit(main())
