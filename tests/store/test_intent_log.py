"""The intent log (kalshid.store.intentlog) and how the journal uses it: a decision survives SQLite
losing its un-fsynced commits, replays exactly once, and the log is compacted off the hot path."""

from __future__ import annotations

import os
import shutil
import threading
from pathlib import Path

import pytest
import trio
import trio.testing
from storefakes import T0, intent, signal

from kalshid.store import DuplicateIntentError, open_journal, sql_write
from kalshid.store import db as db_mod
from kalshid.store.db import PriorityLock, intent_log_path
from kalshid.store.intentlog import HEADER, MAGIC, IntentLog, IntentLogDamaged, IntentLogError, IntentLogFull
from kalshid.store.records import OrderState, RiskVerdict
from kalshid.store.sqlbase import connect

VERDICT = RiskVerdict(signal_id=1, ts=T0, approved=True, reason_code="ok", detail="within limits")


# ---- the file ------------------------------------------------------------------------------------------

def test_records_survive_reopening_and_the_file_never_changes_size(tmp_path: Path) -> None:
    log = IntentLog(tmp_path / "x.intents", size=8192)
    assert os.path.getsize(tmp_path / "x.intents") == 8192
    log.append({"n": 1})
    log.append({"n": 2, "text": "é"})
    log.close()
    again = IntentLog(tmp_path / "x.intents", size=8192)
    assert again.records() == [{"n": 1}, {"n": 2, "text": "é"}]
    assert os.path.getsize(tmp_path / "x.intents") == 8192
    again.append({"n": 3})  # continues after the last record, not over it
    again.close()
    assert [r["n"] for r in IntentLog(tmp_path / "x.intents", size=8192).records()] == [1, 2, 3]


def test_a_torn_or_corrupt_record_ends_the_log(tmp_path: Path) -> None:
    path = tmp_path / "x.intents"
    log = IntentLog(path, size=8192)
    log.append({"n": 1})
    end_of_first = log.used
    log.append({"n": 2})
    log.close()
    with open(path, "r+b") as f:  # flip one byte of the second record's payload: its CRC fails
        f.seek(end_of_first + HEADER.size + 2)
        b = f.read(1)
        f.seek(-1, os.SEEK_CUR)
        f.write(bytes([b[0] ^ 0xFF]))
    reopened = IntentLog(path, size=8192)
    assert reopened.records() == [{"n": 1}]
    assert reopened.used == end_of_first  # the next append overwrites the torn record
    reopened.close()
    with open(path, "r+b") as f:  # a header whose length runs past the end of the file
        f.seek(0)
        f.write(HEADER.pack(MAGIC, 1 << 30, 0))
    assert IntentLog(path, size=8192).records() == []


def test_reset_zeroes_what_was_used(tmp_path: Path) -> None:
    path = tmp_path / "x.intents"
    log = IntentLog(path, size=8192)
    log.append({"n": 1})
    assert log.seal()
    log.append({"n": 2})
    log.reset()
    assert log.used == 0 and log.inactive_used == 0
    log.close()
    assert path.read_bytes() == bytes(8192)
    assert IntentLog(path, size=8192).records() == []


def test_sealing_switches_regions_and_zeroing_clears_only_the_sealed_one(tmp_path: Path) -> None:
    path = tmp_path / "x.intents"
    log = IntentLog(path, size=8192)
    log.append({"n": 1})
    log.append({"n": 2})
    assert log.seal()
    assert (log.used, log.inactive_used > 0) == (0, True)
    log.append({"n": 3})  # the other region
    assert not log.seal()  # the sealed region is not zeroed yet: no switch back into it
    assert [r["n"] for r in IntentLog(path, size=8192).records()] == [1, 2, 3]  # both regions are read
    log.zero_inactive()
    assert log.inactive_used == 0 and log.used > 0
    assert [r["n"] for r in IntentLog(path, size=8192).records()] == [3]
    assert log.seal()  # back to the first region, which starts empty
    log.append({"n": 4})
    log.close()
    reopened = IntentLog(path, size=8192)
    assert sorted(r["n"] for r in reopened.records()) == [3, 4]


def test_a_full_log_refuses_without_writing_and_bad_sizes_are_refused(tmp_path: Path) -> None:
    log = IntentLog(tmp_path / "x.intents", size=8192)
    big = {"pad": "x" * 1500}
    log.append(big)
    log.append(big)
    used = log.used
    with pytest.raises(IntentLogFull, match="full"):
        log.append(big)
    assert log.used == used
    with pytest.raises(IntentLogError, match="larger than a region"):
        log.append({"pad": "x" * 5000})
    with pytest.raises(IntentLogError, match="multiple of 8192"):
        IntentLog(tmp_path / "y.intents", size=4096)


def test_a_log_cut_short_or_of_a_size_never_made_is_refused_with_what_to_do(tmp_path: Path) -> None:
    path = tmp_path / "x.intents"
    log = IntentLog(path, size=16384)
    log.append({"n": 1})
    log.close()
    with open(path, "r+b") as f:  # a copy that stopped halfway: the first region and part of the second
        f.truncate(10_000)
    with pytest.raises(IntentLogDamaged, match=r"is damaged \(10000 bytes, not 16384: cut short\): .*Restore it"):
        IntentLog(path, size=16384)
    assert os.path.getsize(path) == 10_000  # refused as found, not zero-filled over
    with open(path, "ab") as f:
        f.write(bytes(16384))  # 26384 bytes: larger, and no multiple of 8192
    with pytest.raises(IntentLogDamaged, match="26384 bytes, not a multiple of 8192"):
        IntentLog(path, size=16384)


def test_an_interrupted_creation_is_completed_not_refused(tmp_path: Path) -> None:
    path = tmp_path / "x.intents"
    path.write_bytes(bytes(5000))  # the zero-filling of a new log, cut off by a crash
    log = IntentLog(path, size=16384)
    assert os.path.getsize(path) == 16384 and log.records() == []
    log.close()


@pytest.mark.parametrize("region", [0, 1])
def test_a_region_that_starts_with_neither_a_record_nor_zeros_is_refused(tmp_path: Path, region: int) -> None:
    path = tmp_path / "x.intents"
    IntentLog(path, size=16384).close()
    with open(path, "r+b") as f:
        f.seek(region * 8192)
        f.write(b"<html>not a log")
    with pytest.raises(IntentLogDamaged, match=f"region {region + 1} starts with neither a record nor zeros"):
        IntentLog(path, size=16384)


def test_a_crash_while_zeroing_leaves_a_log_that_opens(tmp_path: Path) -> None:
    path = tmp_path / "x.intents"
    log = IntentLog(path, size=16384)
    for n in range(5):
        log.append({"n": n, "pad": "x" * 100})
    log.close()
    with open(path, "r+b") as f:  # the zeroing reached the second record, then the process died
        f.write(bytes(200))
    assert IntentLog(path, size=16384).records() == []


# ---- the journal's use of it ---------------------------------------------------------------------------

def copy_database(src: Path, dst: Path, *, replace: bool = False) -> Path:
    """Copy the journal's SQLite files (``j.sqlite3``, ``-wal``, ``-shm``) from ``src`` to ``dst``;
    ``replace`` deletes those in ``dst`` first."""
    dst.mkdir(exist_ok=True)
    if replace:
        for f in dst.glob("j.sqlite3*"):
            if not f.name.endswith(".intents"):
                f.unlink()
    for f in src.glob("j.sqlite3*"):
        if not f.name.endswith(".intents"):
            shutil.copy(f, dst / f.name)
    return dst

async def test_a_decision_goes_to_the_log_at_once_and_to_sqlite_without_fsync_with_the_next_call(
        tmp_path: Path) -> None:
    path = tmp_path / "j.sqlite3"
    async with open_journal(path, "live") as journal:
        statements: list[str] = []
        journal._conn.set_trace_callback(lambda stmt: statements.append(stmt.strip().upper()))
        with trio.CancelScope() as scope:
            scope.cancel()  # no checkpoint: the caller sends the order in the same step
            await journal.record_decision(signal(), VERDICT, intent("c-1"))
        assert statements == []  # nothing in SQLite yet, no thread, no lock
        [rec] = IntentLog(intent_log_path(path)).records()
        assert rec["intent"]["client_order_id"] == "c-1" and rec["dry_run"] is False
        order = await journal.get_order_by_client_id("c-1")  # any later call writes it first
        journal._conn.set_trace_callback(None)
        assert not any("SYNCHRONOUS" in s and "FULL" in s for s in statements)  # the fsync is the log's
        assert order is not None and order.state is OrderState.IN_FLIGHT and order.signal_id is not None
        with pytest.raises(DuplicateIntentError):  # refused before it could be sent a second time
            await journal.record_decision(signal(), VERDICT, intent("c-1"))
        await journal.record_decision(signal(), VERDICT, intent("c-2"))
    # a clean close writes what is pending, makes SQLite durable and empties the log
    assert IntentLog(intent_log_path(path)).records() == []
    async with open_journal(path, "live") as journal:
        assert {o.client_order_id for o in await journal.unacknowledged_intents()} == {"c-1", "c-2"}


class SyncSpy:
    """Stands in for ``os.fdatasync``: records which thread called it, and can hold a call mid-way."""

    def __init__(self, real: object, *, hold: bool = False) -> None:
        self.real = real
        self.threads: list[int] = []
        self.entered = threading.Event()
        self.release = threading.Event()
        if not hold:
            self.release.set()

    def __call__(self, fd: int) -> None:
        self.threads.append(threading.get_ident())
        self.entered.set()
        self.release.wait(10)
        self.real(fd)  # type: ignore[operator]


async def test_the_intent_is_fdatasynced_off_the_loop_after_the_send_in_batches(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    spy = SyncSpy(os.fdatasync, hold=True)
    async with open_journal(tmp_path / "j.sqlite3", "live") as journal:
        await trio.testing.wait_all_tasks_blocked()  # the syncer waits for work
        monkeypatch.setattr(os, "fdatasync", spy)
        await journal.record_decision(signal(), VERDICT, intent("c-1"))
        assert spy.threads == []  # returned with the record written, not synced: the order goes now
        assert journal.statistics().intents_unsynced == 1
        # the sync starts in a worker thread; two more decisions come while it is held on the disk
        await trio.to_thread.run_sync(spy.entered.wait, 10)
        assert spy.threads[0] != threading.get_ident()
        await journal.record_decision(signal(), VERDICT, intent("c-2"))
        await journal.record_decision(signal(), VERDICT, intent("c-3"))
        assert len(spy.threads) == 1
        with trio.fail_after(10):
            async with trio.open_nursery() as nursery:
                nursery.start_soon(journal.intents_durable)  # c-3 too: needs the next sync
                await trio.testing.wait_all_tasks_blocked()
                spy.release.set()
        assert len(spy.threads) == 2  # one sync covered both later decisions
        stats = journal.statistics()
        assert stats.intents_unsynced == 0 and stats.intent_syncs == 2
        monkeypatch.undo()


async def test_fsync_before_send_syncs_on_the_loop_before_the_decision_returns(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    spy = SyncSpy(os.fdatasync)
    async with open_journal(tmp_path / "j.sqlite3", "live", fsync_before_send=True) as journal:
        monkeypatch.setattr(os, "fdatasync", spy)
        await journal.record_decision(signal(), VERDICT, intent("c-1"))
        assert spy.threads == [threading.get_ident()]
        await journal.intents_durable()  # nothing to wait for
        await trio.testing.wait_all_tasks_blocked()
        assert spy.threads == [threading.get_ident()] and journal.statistics().intent_syncs == 0
        monkeypatch.undo()


async def test_a_failed_fdatasync_stops_the_journal_loudly(tmp_path: Path, monkeypatch: pytest.MonkeyPatch
                                                          ) -> None:
    real = os.fdatasync
    failed: list[int] = []

    def broken(fd: int) -> None:  # fails once (the syncer's call); the close's compaction then syncs
        if not failed:
            failed.append(fd)
            raise OSError(5, "Input/output error")
        real(fd)

    with pytest.RaisesGroup(pytest.RaisesExc(OSError, match="Input/output error"), flatten_subgroups=True):
        async with open_journal(tmp_path / "j.sqlite3", "live") as journal:
            monkeypatch.setattr(os, "fdatasync", broken)
            await journal.record_decision(signal(), VERDICT, intent("c-1"))
            await trio.sleep_forever()  # cancelled by the syncer's failure
    monkeypatch.undo()
    assert failed


async def test_decisions_sqlite_lost_come_back_from_the_log_once(tmp_path: Path) -> None:
    path = tmp_path / "j.sqlite3"
    async with open_journal(path, "live"):
        pass
    before = copy_database(tmp_path, tmp_path / "before")  # as an fsync left it, before the decisions
    async with open_journal(path, "live") as journal:
        await journal.record_decision(signal(), VERDICT, intent("c-1"))
        await journal.record_decision(signal(reason="second"), VERDICT, intent("c-2", price_cc=4300))
        saved_log = intent_log_path(path).read_bytes()
    # power cut: SQLite's un-fsynced commits are gone, the fsynced log is not
    copy_database(before, tmp_path, replace=True)
    intent_log_path(path).write_bytes(saved_log)
    async with open_journal(path, "live") as journal:
        orders = {o.client_order_id: o for o in await journal.unacknowledged_intents()}
        assert set(orders) == {"c-1", "c-2"}
        assert orders["c-2"].price_cc == 4300 and orders["c-2"].state is OrderState.IN_FLIGHT
        assert (await journal.table_counts())["signals"] == 2
    # the replay emptied the log; opening again changes nothing
    intent_log_path(path).write_bytes(saved_log)  # even a log that was not emptied replays nothing twice
    async with open_journal(path, "live") as journal:
        assert len(await journal.unacknowledged_intents()) == 2
        assert (await journal.table_counts())["signals"] == 2


async def test_an_unreadable_record_stops_the_open_with_its_number(tmp_path: Path) -> None:
    path = tmp_path / "j.sqlite3"
    async with open_journal(path, "live"):
        pass
    log = IntentLog(intent_log_path(path))
    log.append(sql_write.decision_record(signal(), VERDICT, intent("c-1"), False))
    log.append({"kind": "decision", "dry_run": False, "signal": {}, "verdict": {}, "intent": {}})
    log.close()
    with pytest.raises(ValueError, match="intent log record 2: cannot be read back"):
        async with open_journal(path, "live"):
            pass


async def test_the_log_is_compacted_by_a_bookkeeping_call(tmp_path: Path, monkeypatch: pytest.MonkeyPatch
                                                          ) -> None:
    monkeypatch.setattr(db_mod, "COMPACT_AT_BYTES", 1)
    path = tmp_path / "j.sqlite3"
    async with open_journal(path, "live") as journal:
        await journal.record_decision(signal(), VERDICT, intent("c-1"))
        assert journal._intents.used > 0  # the hot path never compacts
        await journal.latest_equity()
        assert journal._intents.used == 0 and journal._intents.inactive_used == 0
        assert IntentLog(intent_log_path(path)).records() == []
        assert await journal.get_meta(sql_write.INTENT_LOG_SYNCS_KEY) is not None
        assert await journal.get_order_by_client_id("c-1") is not None


async def test_decisions_logged_while_a_region_is_compacted_stay_in_the_log(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A decision appended while the worker thread compacts the sealed region lands in the other
    region and is neither zeroed nor lost: it is written to SQLite by the call after."""
    monkeypatch.setattr(db_mod, "COMPACT_AT_BYTES", 1)
    path = tmp_path / "j.sqlite3"
    async with open_journal(path, "live") as journal:
        await journal.record_decision(signal(), VERDICT, intent("c-1"))
        in_thread = trio.Event()
        release = threading.Event()
        real_sync = sql_write.sync_durable

        def slow_sync(conn: object) -> None:
            trio.from_thread.run_sync(in_thread.set)
            release.wait(10)
            real_sync(conn)  # type: ignore[arg-type]

        monkeypatch.setattr(sql_write, "sync_durable", slow_sync)
        async with trio.open_nursery() as nursery:
            nursery.start_soon(journal.latest_equity)  # compacts: seals the region holding c-1
            await in_thread.wait()
            await journal.record_decision(signal(), VERDICT, intent("c-2"))  # during the compaction
            release.set()
        [rec] = IntentLog(intent_log_path(path)).records()  # c-1's region was zeroed, c-2's kept
        assert rec["intent"]["client_order_id"] == "c-2"
        monkeypatch.setattr(sql_write, "sync_durable", real_sync)
        assert await journal.get_order_by_client_id("c-2") is not None


async def test_a_full_log_makes_the_decision_durable_through_sqlite(tmp_path: Path) -> None:
    path = tmp_path / "j.sqlite3"
    async with open_journal(path, "live") as journal:
        journal._intents.close()
        journal._intents = IntentLog(tmp_path / "tiny.intents", size=8192)
        journal._intents.append({"pad": "x" * 3900})
        syncs = await journal.get_meta(sql_write.INTENT_LOG_SYNCS_KEY)
        await journal.record_decision(signal(), VERDICT, intent("c-1"))
        assert journal._intents.used == 0 and journal._intents.inactive_used == 0  # compacted instead
        assert await journal.get_meta(sql_write.INTENT_LOG_SYNCS_KEY) != syncs
        assert await journal.get_order_by_client_id("c-1") is not None


def test_the_journal_replay_skips_what_sqlite_has(tmp_path: Path) -> None:
    conn = connect(tmp_path / "j.sqlite3", "live")
    try:
        sql_write.insert_decision(conn, signal(), VERDICT, intent("c-1"), False)
        rec = sql_write.decision_record(signal(), VERDICT, intent("c-1"), False)
        assert sql_write.replay_decisions(conn, [rec]) == []
        rec2 = sql_write.decision_record(signal(), VERDICT, intent("c-2"), False)
        assert sql_write.replay_decisions(conn, [rec, rec2]) == ["c-2"]
        assert conn.execute("SELECT COUNT(*) FROM orders").fetchone()[0] == 2
    finally:
        conn.close()


# ---- the lock ------------------------------------------------------------------------------------------

async def test_urgent_waiters_go_before_queued_ordinary_ones() -> None:
    lock = PriorityLock()
    order: list[str] = []

    async def take(name: str, urgent: bool) -> None:
        await lock.acquire(urgent=urgent)
        order.append(name)
        await trio.lowlevel.checkpoint()
        lock.release()

    await lock.acquire()
    async with trio.open_nursery() as nursery:
        for name, urgent in [("n1", False), ("n2", False), ("u1", True), ("n3", False), ("u2", True)]:
            nursery.start_soon(take, name, urgent)
            await trio.testing.wait_all_tasks_blocked()
        assert lock.waiting == 5
        lock.release()
    assert order == ["u1", "u2", "n1", "n2", "n3"]
    assert not lock.locked


async def test_a_waiter_cancelled_in_the_queue_never_holds_the_lock() -> None:
    lock = PriorityLock()
    got: list[str] = []
    scopes: dict[str, trio.CancelScope] = {}

    async def take(name: str) -> None:
        with trio.CancelScope() as scope:
            scopes[name] = scope
            await lock.acquire(urgent=True)
            got.append(name)
            lock.release()

    await lock.acquire()
    async with trio.open_nursery() as nursery:
        nursery.start_soon(take, "first")
        await trio.testing.wait_all_tasks_blocked()
        nursery.start_soon(take, "second")
        await trio.testing.wait_all_tasks_blocked()
        scopes["first"].cancel()
        await trio.testing.wait_all_tasks_blocked()
        assert lock.waiting == 1
        lock.release()
    assert got == ["second"] and not lock.locked
    with pytest.raises(RuntimeError, match="not held"):
        lock.release()
