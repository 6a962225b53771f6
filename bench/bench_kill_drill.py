"""Kill drill: ``kill -9`` a live daemon N times at random instants, then hold the exchange against the
journal and the API.

An external ``kalshid sim --speed 20 --faults …`` (response latency, 5xx, lost responses, dropped
WebSockets) is the exchange; ``kalshid run`` trades on it with real (simulated) orders. Each cycle
starts the daemon on the same journal, waits until it is ready, then kills it with SIGKILL: a third of
the cycles at a random instant of the next 20 s, a third within 50 ms after a ``fill`` line, and every
third one right after an ``order sending`` line, i.e. inside an order's in-flight window (the
simulator's latency keeps that window open for longer than the kill takes). A kill counts as *in flight*
when the journal holds an intent that was not acknowledged at that moment. After the last cycle a final
daemon reconciles, its API is read, and it is stopped with SIGTERM; then everything is compared through
the ``Exchange`` seam (the REST client) and the journal:

* duplicates: a ``client_order_id`` used for more than one exchange order;
* lost fills: an exchange fill missing from the journal (and journal fills the exchange never made);
* mismatches: fills that differ, orders the journal cannot explain, settlements, positions (journal and
  API against the exchange) and cash (API against the exchange's balance).

Prints one line per cycle and the three totals; exits 1 unless they are 0 / 0 / 0. Wall time: about
fifteen seconds a cycle::

    .venv/bin/python bench/bench_kill_drill.py --cycles 20 --seed 7
"""

from __future__ import annotations

import argparse
import collections
import json
import random
import shutil
import sys
import tempfile
import time
import urllib.request
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests" / "trading"))  # the process helpers the kill -9 test uses

from procutil import Daemon, OutputTimeout, Simulator, keygen  # noqa: E402
from test_process_kill9 import Books, daemon_env, fill_differences, read_books  # noqa: E402

from kalshid.config import load_config  # noqa: E402
from kalshid.credentials import load_private_key  # noqa: E402
from kalshid.exchange.kalshi.auth import Signer  # noqa: E402
from kalshid.store import records  # noqa: E402

SPEED = 20
FAULTS = "latency_ms=20,http_5xx_rate=0.02,lost_response_rate=0.01,ws_drop_every=120"
START = datetime(2026, 7, 8, 22, 45, 30, tzinfo=UTC)
STARTUP_S = 60.0


def _api_get(base: str, token: str, path: str) -> Any:
    request = urllib.request.Request(base + path, headers={"Authorization": f"Bearer {token}"})
    with urllib.request.urlopen(request, timeout=10) as response:
        return json.loads(response.read())


def _copy_journal(path: str, into: Path) -> str:
    """A copy of the journal with its WAL, shared-memory and intent-log files (the copy's path)."""
    into.mkdir(exist_ok=True)
    source = Path(path)
    for suffix in ("", "-wal", "-shm", ".intents"):
        companion = source.with_name(source.name + suffix)
        target = into / companion.name
        target.unlink(missing_ok=True)
        if companion.exists():
            shutil.copy2(companion, target)
    return str(into / source.name)


def compare(books: Books, api_status: dict[str, Any], api_positions: list[dict[str, Any]]) -> dict[str, list[str]]:
    """Every disagreement found, by kind."""
    out: dict[str, list[str]] = {"duplicates": [], "lost_fills": [], "mismatches": []}
    cids = collections.Counter(o.client_order_id for o in books.orders)
    out["duplicates"] = [f"client_order_id {c} used {n} times" for c, n in cids.items() if n > 1]
    fills = fill_differences(books)  # a netted fill's two journal parts compared as the one exchange fill
    out["lost_fills"] = [d for d in fills if d.endswith("not in the journal")]
    bad = out["mismatches"]
    bad += [d for d in fills if not d.endswith("not in the journal")]
    by_cid = {r.client_order_id: r for r in books.journal_orders}
    for order in books.orders:
        rec = by_cid.get(order.client_order_id)
        if rec is None or rec.order_id != order.order_id or rec.filled != order.fill_count:
            bad.append(f"exchange order {order.order_id} not explained by the journal ({rec})")
    on_exchange = {o.client_order_id for o in books.orders}
    bad += [f"journal order {r.client_order_id} has no exchange order and is {r.state.value}"
            for r in books.journal_orders if r.order_id is None and (
                r.state is not records.OrderState.REJECTED or r.client_order_id in on_exchange)]
    bad += [f"intent {c} never resolved" for c in books.unacknowledged]
    if {r.settlement.ticker for r in books.journal_settlements} != {s.ticker for s in books.settlements}:
        bad.append("settlements differ")
    bad += [f"settlement check: {r.check_detail}" for r in books.journal_settlements
            if r.check is not records.JournalCheck.OK]
    if books.journal_positions != books.positions:
        bad.append(f"journal positions {books.journal_positions} != exchange {books.positions}")
    api_net = {p["ticker"]: p["yes_count"] - p["no_count"] for p in api_positions if p["yes_count"] != p["no_count"]}
    if api_net != books.positions:
        bad.append(f"API positions {api_net} != exchange {books.positions}")
    cash = int(Decimal(api_status["cash"]) * 10_000)
    if cash != books.balance_cc:
        bad.append(f"API cash {api_status['cash']} != exchange balance {books.balance_cc} cc")
    return out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--cycles", type=int, default=20)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--faults", default=FAULTS, help=f"the simulator's --faults (default {FAULTS})")
    args = parser.parse_args()
    rng = random.Random(args.seed)
    tmp = Path(tempfile.mkdtemp(prefix="kalshid-drill-"))
    key_id, private, public = keygen(tmp / "keys", tmp)
    signer = Signer(key_id, load_private_key(private))
    token = "drill-" + "x7Qp2" * 8
    sim = Simulator(tmp, ["--speed", str(SPEED), "--seed", str(args.seed), "--start", START.isoformat(),
                          "--key", f"{key_id}={public}", "--balance", "10000", "--faults", args.faults])
    procs: list[Any] = [sim]
    in_flight_kills = 0
    began = time.monotonic()
    try:
        env = {**daemon_env(tmp, sim.rest_url, key_id, private), "KALSHID_API__TOKEN": token}
        cfg = load_config(environ=env, cwd=tmp).config
        print(f"drill in {tmp}: {args.cycles} kill -9 cycles, simulator --speed {SPEED} --faults {args.faults}")
        for n in range(1, args.cycles + 1):
            daemon = Daemon(tmp, env, name=f"run #{n}")
            procs.append(daemon)
            i_ready, _ = daemon.wait_event("kalshid ready", timeout=STARTUP_S)
            how = "random"
            try:
                if n % 3 == 0:
                    daemon.wait_event("order sending", timeout=60, start=i_ready)
                    how = "on 'order sending'"
                elif n % 3 == 1:
                    daemon.wait_for(lambda _line: False, "nothing", timeout=rng.uniform(0.5, 20.0), start=i_ready)
                else:  # a random instant after the next fill: the fill's bookkeeping may be under way
                    i_fill, _ = daemon.wait_event("fill", timeout=60, start=i_ready)
                    how = "just after a fill"
                    daemon.wait_for(lambda _line: False, "nothing", timeout=rng.uniform(0.0, 0.05), start=i_fill)
            except OutputTimeout:
                pass  # the random instant came (or no order was sent in time): kill now
            daemon.kill()
            # read a copy: opening the journal itself would replay its intent log, which is the
            # restarted daemon's job
            snapshot = read_books(sim.rest_url, signer, _copy_journal(cfg.journal_path, tmp / "snapshot"),
                                  cfg.journal_mode)
            inside = bool(snapshot.unacknowledged)
            in_flight_kills += inside
            print(f"cycle {n:2d}: killed {how:20s} {'INSIDE an in-flight window' if inside else '':27s} "
                  f"orders {len(snapshot.orders):3d}  fills {len(snapshot.fills):3d}", flush=True)
        final = Daemon(tmp, env, name="final run")
        procs.append(final)
        final.wait_event("kalshid ready", timeout=STARTUP_S)
        _, listening = final.wait_event("control API listening", timeout=5)
        status = _api_get(listening["url"], token, "/api/status")
        positions = _api_get(listening["url"], token, "/api/positions")
        final.proc.send_signal(15)
        final.wait_event("kalshid stopped", timeout=30)
        final.proc.wait(timeout=10)
        books = read_books(sim.rest_url, signer, cfg.journal_path, cfg.journal_mode)
        found = compare(books, status, positions)
        print(f"exchange: {len(books.orders)} orders, {len(books.fills)} fills, {len(books.settlements)} "
              f"settlements; {in_flight_kills} of {args.cycles} kills inside an in-flight window; "
              f"{time.monotonic() - began:.0f} s")
        for kind, items in found.items():
            for item in items[:10]:
                print(f"  {kind}: {item}")
        print(f"duplicates {len(found['duplicates'])} / lost fills {len(found['lost_fills'])} / "
              f"mismatches {len(found['mismatches'])}")
        return 0 if not any(found.values()) and in_flight_kills >= 3 else 1
    finally:
        for proc in reversed(procs):
            proc.stop()


if __name__ == "__main__":
    sys.exit(main())
