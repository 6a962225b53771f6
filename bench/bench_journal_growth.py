"""Journal growth from refused decisions: bytes per refusal (a signal with a `kelly_volatility` reason
and its verdict, as the risk stage journals them), the file's growth per day at one refusal a second,
and what the retention step costs. Prints figures; not a test.

Run: ``.venv/bin/python bench/bench_journal_growth.py [--refusals N]``
"""

from __future__ import annotations

import argparse
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import trio

from kalshid.store import open_journal
from kalshid.store.journalcalls import PRUNE_STEP
from kalshid.store.records import RiskVerdict, Signal

REASON = ("fair_yes=0.1449 no_ask=7200cc fee=212700cc edge=0.1210 sigma=3.801e-05/sqrt(s) tau=837s "
          "closing=0/60 own model_yes=0.1362 recalibrated")  # a reason as kelly_volatility writes it
T0 = datetime(2026, 12, 5, tzinfo=UTC)


async def size(path: Path) -> int:
    return (await trio.Path(path).stat()).st_size


async def measure(path: Path, n: int) -> None:
    async with open_journal(path, "sim", inline=True) as journal:
        start = await size(path)
        for i in range(n):
            ts = T0 + timedelta(seconds=i)
            signal = Signal(ts=ts, strategy="kelly_volatility", ticker="KXSOL15M-26DEC042145-45", side="no",
                            action="buy", price_cc=7200, count=3228, fair_prob=0.85, edge=0.121, confidence=1.0,
                            reason=REASON)
            verdict = RiskVerdict(signal_id=1, ts=ts, approved=False, reason_code="max_daily_loss",
                                  detail="day's loss measure $500.0100 > $500.0000")
            await journal.record_rejection(signal, verdict)
        grown = await size(path) - start
        print(f"{n} refusals: {grown / n:.0f} bytes each; at one a second {grown / n * 86_400 / 1e6:.1f} MB a day")
        t = time.perf_counter()
        deleted = await journal.prune_refusals(T0 + timedelta(seconds=n))
        took = time.perf_counter() - t
        print(f"retention: {deleted} deleted in {took:.2f} s ({took / max(1, deleted) * PRUNE_STEP * 1e3:.2f} ms "
              f"per step of {PRUNE_STEP} rows: the longest an order's intent waits behind it)")
        before = await size(path)
        await journal.record_rejection(signal, verdict)
        print(f"after the deletion the file stays {before / 1e6:.1f} MB and reuses its pages "
              f"(one more refusal: {await size(path) - before} bytes more)")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--refusals", type=int, default=20_000, help="refusals to journal (default 20 000)")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        trio.run(measure, Path(tmp) / "journal.sqlite3", args.refusals)


if __name__ == "__main__":
    main()
