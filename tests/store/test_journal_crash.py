"""kill -9 at an arbitrary instant: every intent and fill reported as journaled is there afterwards."""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
from pathlib import Path

import trio

from kalshid.store import open_journal
from kalshid.store.records import Fill, OrderState

CHILD = Path(__file__).with_name("journal_crash_child.py")
REPO = Path(__file__).resolve().parents[2]
KILL_AFTER_INTENTS = 25


async def _run_and_kill(db: Path) -> tuple[list[str], list[str]]:
    """Start the writer, SIGKILL it right after its 25th record_intent returned; what it reported."""
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    proc = await trio.lowlevel.open_process(
        [sys.executable, str(CHILD), str(db)], stdout=subprocess.PIPE, env=env)
    assert proc.stdout is not None
    buf = b""
    try:
        with trio.fail_after(20):
            while buf.count(b"intent ") < KILL_AFTER_INTENTS:
                chunk = await proc.stdout.receive_some()
                assert chunk, f"writer exited early (rc={await proc.wait()})"
                buf += chunk
            proc.send_signal(signal.SIGKILL)
            # keep what it printed between our last read and the kill: it was journaled too
            while chunk := await proc.stdout.receive_some():
                buf += chunk
            assert await proc.wait() == -signal.SIGKILL
    finally:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()
    lines = [ln.split() for ln in buf.decode().splitlines() if ln.count(" ") == 1]
    return [v for k, v in lines if k == "intent"], [v for k, v in lines if k == "fill"]


async def test_kill_9_loses_no_reported_intent_and_never_double_counts(tmp_path: Path) -> None:
    db = tmp_path / "journal-dry.sqlite3"
    intents, fills = await _run_and_kill(db)
    assert len(intents) >= KILL_AFTER_INTENTS
    with sqlite3.connect(db) as raw:  # the WAL is replayed; the file is consistent
        assert raw.execute("PRAGMA integrity_check").fetchone() == ("ok",)
    async with open_journal(db, "dry") as journal:
        orders = (await journal.list_orders(limit=1000)).items
        journaled = sorted(o.client_order_id for o in orders)
        assert set(intents) <= set(journaled)
        assert journaled == [f"c{i:06d}" for i in range(len(journaled))]  # no holes
        # nothing was acknowledged: every journaled intent needs resolving after the restart
        unresolved = await journal.unacknowledged_intents()
        assert [o.client_order_id for o in unresolved] == journaled
        assert {o.state for o in unresolved} <= {OrderState.PENDING, OrderState.IN_FLIGHT}
        # reconciliation replays the exchange's fills: the ones already journaled are not counted again
        stored = {f.fill_id for f in (await journal.list_fills(limit=1000)).items}
        assert set(fills) <= stored
        first = await journal.get_order_by_client_id("c000000")
        assert first is not None
        replay = len(journaled) + 1
        new = 0
        for i in range(replay):
            new += await journal.record_fill(Fill(
                fill_id=f"f{i:06d}", order_id=f"o{i:06d}", client_order_id=f"c{i:06d}", ticker=first.ticker,
                side="yes", action="buy", count=1, price_cc=4200, fee_cc=20, is_taker=True, ts=first.ts))
        assert new == replay - len(stored)
        assert (await journal.table_counts())["fills"] == replay
        pos = await journal.positions()
        assert [(p.yes_count, p.fees_cc) for p in pos] == [(replay, 20 * replay)]
