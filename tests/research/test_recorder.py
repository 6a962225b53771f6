"""The recorder: domain events round-trip into replay events; crash safety; retention; never blocks."""

import os
import signal
import subprocess
import sys
import threading
import time
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from kalshid.core.book import OrderBook
from kalshid.core.portfolio import window_close
from kalshid.exchange.base import BookUpdated, FillReceived, IndexPrinted, MarketLifecycle, TradePrinted
from kalshid.exchange.types import Fill, IndexPrint
from kalshid.research.events import BookTick, IndexTick, MarketListed, RecordedFill, Settled, TradePrint
from kalshid.research.recorder import Recorder
from kalshid.research.recording import MarketListing, encode, hour_of, parquet_files, partition
from kalshid.research.sources.recorded import RecordedSource

TICKER = "KXSOL15M-26JUN010815-15"
CLOSE = window_close(TICKER)
OPEN = CLOSE - timedelta(minutes=15)


def session_messages() -> list[object]:
    """One market's messages as the daemon hands them to the recorder, from its listing to its settlement."""
    t = OPEN + timedelta(minutes=1)
    book = OrderBook(TICKER, yes=((3900, 5), (4000, 20)), no=((5800, 7), (5900, 30)), exchange_ts=t, local_time=1.0)
    fill = Fill("f1", "o1", TICKER, "yes", "buy", 3, 4100, 5900, True, 200, t + timedelta(seconds=1), "c1")  # type: ignore[arg-type]
    return [
        MarketListing(TICKER, OPEN, CLOSE, Decimal("150.25")),
        IndexPrinted(IndexPrint("SOLUSD_RTI", Decimal("150.5"), t, 1.0), 1.0),
        BookUpdated(book, 1.0),
        TradePrinted(TICKER, "t1", 4, 4100, 5900, "yes", t + timedelta(seconds=1), 2.0),
        FillReceived(fill, 2.0),
        IndexPrinted(IndexPrint("SOLUSD_RTI", Decimal("150.7"), CLOSE, 3.0), 3.0),
        MarketLifecycle(TICKER, "determined", 3.0, result="yes"),
    ]


def test_recorded_events_replay_as_the_engine_s_events(tmp_path: Path) -> None:
    with Recorder(tmp_path, flush_seconds=0.01) as rec:
        for e in session_messages():
            rec.offer(e)
    assert rec.statistics()["written_rows"] == 7 and rec.dropped == 0
    files = parquet_files(tmp_path)
    assert files and all("series=" in str(f) and "/hour=" in str(f) for f in files)
    row = pq.read_table(files[0]).to_pylist()[0]
    assert row["recv_ts"] is not None and row["payload"].startswith("{")
    events = list(RecordedSource(tmp_path).events())
    kinds = [type(e) for e in events]
    assert kinds == [MarketListed, IndexTick, BookTick, TradePrint, RecordedFill, IndexTick, Settled]
    listed, index, book = events[0], events[1], events[2]
    assert isinstance(listed, MarketListed) and listed.floor_strike == 150.25 and listed.close_time == CLOSE
    assert isinstance(index, IndexTick) and index.price == 150.5
    assert isinstance(book, BookTick)
    assert book.yes_bids == ((4000, 20), (3900, 5)) and book.no_bids == ((5900, 30), (5800, 7))
    assert book.top.yes_ask_cc == 4100
    fill = events[4]
    assert isinstance(fill, RecordedFill) and (fill.side.value, fill.count, fill.price_cc, fill.fee_cc) == (
        "yes", 3, 4100, 200)
    assert RecordedSource(tmp_path).results() == {TICKER: events[-1].result}  # type: ignore[union-attr]


def test_a_killed_recorder_leaves_every_finished_file_readable(tmp_path: Path) -> None:
    child = Path(__file__).with_name("recorder_child.py")
    proc = subprocess.Popen([sys.executable, str(child), str(tmp_path)], stdout=subprocess.PIPE, text=True)
    assert proc.stdout is not None
    flushed = 0
    try:
        for line in proc.stdout:
            flushed = int(line.split()[1])
            if flushed >= 200:
                break
    finally:
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait()
    assert flushed >= 200
    files = parquet_files(tmp_path)
    rows = [r for f in files for r in pq.read_table(f).to_pylist()]  # every finished file reads whole
    assert len(rows) >= flushed
    seqs = sorted(r["seq"] for r in rows)
    assert seqs == list(range(1, len(seqs) + 1))  # nothing finished is missing or torn
    # a restarted recorder removes the killed writer's unfinished temp file and goes on
    Recorder(tmp_path).start().close()
    assert not list(tmp_path.rglob("*.tmp"))


def test_retention_deletes_old_hours_only(tmp_path: Path) -> None:
    now = datetime(2026, 6, 20, 12, tzinfo=UTC)
    old = tmp_path / "series=KXSOL15M/date=2026-06-01/hour=03"
    new = tmp_path / "series=KXSOL15M/date=2026-06-19/hour=03"
    for d in (old, new):
        d.mkdir(parents=True)
        (d / "part-1.parquet").write_bytes(b"x")
    assert Recorder(tmp_path, retention_days=14).apply_retention(now) == 1
    assert not old.exists() and not old.parent.exists() and new.exists()


def test_offer_never_waits_when_the_writer_is_behind(tmp_path: Path) -> None:
    rec = Recorder(tmp_path, queue_size=10)  # not started: nothing drains the queue
    event = session_messages()[1]
    offering = threading.Thread(target=lambda: [rec.offer(event) for _ in range(100)])
    offering.start()
    offering.join(timeout=10)
    assert not offering.is_alive(), "offer() blocked on a full queue"
    assert rec.offered == 100 and rec.dropped == 90


def test_a_finished_hour_is_compacted_into_one_file_and_reads_the_same(tmp_path: Path) -> None:
    with Recorder(tmp_path, flush_seconds=0.01) as rec:
        for e in session_messages():
            rec.offer(e)
            time.sleep(0.03)  # several chunks
    folders = {f.parent for f in parquet_files(tmp_path)}
    before = list(RecordedSource(tmp_path).events())
    assert any(len(list(d.glob("part-*.parquet"))) > 1 for d in folders)
    for folder in folders:
        rec.compact(folder)
        assert len(list(folder.glob("*.parquet"))) == 1
    assert list(RecordedSource(tmp_path).events()) == before
    # a compaction cut short after its rename (chunks still there) reads the same: rows are not doubled
    folder = next(iter(folders))
    merged = next(folder.glob("hour-*.parquet"))
    (folder / "part-0-0-1.parquet").write_bytes(merged.read_bytes())
    assert list(RecordedSource(tmp_path).events()) == before


def test_an_hour_an_earlier_run_left_in_chunks_is_compacted_by_the_next_run(tmp_path: Path) -> None:
    now = datetime.now(UTC)
    earlier = now - timedelta(hours=3)  # an hour that is over, as a run that stopped inside it left it
    rec = Recorder(tmp_path)
    for i, e in enumerate(session_messages()):  # one chunk per event, written as the writer thread does
        recv = earlier + timedelta(seconds=i)
        row = encode(e, i + 1, recv)
        rec._flush({partition(tmp_path, row["series"], recv): [row]})
    folders = sorted({f.parent for f in parquet_files(tmp_path)})
    assert folders and all(hour_of(f) == earlier.replace(minute=0, second=0, microsecond=0) for f in folders)
    for folder in folders:  # left in chunks (this run's end-of-hour compaction never came)
        assert len(list(folder.glob("part-*.parquet"))) > 1
    before = list(RecordedSource(tmp_path).events())
    nxt = Recorder(tmp_path, flush_seconds=3600)
    assert nxt.uncompacted_hours(now) == folders
    for _ in folders:  # one hour per flush: each run's stop flushes once
        Recorder(tmp_path, flush_seconds=3600).start().close()
    for folder in folders:
        assert [f.name.startswith("hour-") for f in folder.glob("*.parquet")] == [True]
    assert nxt.uncompacted_hours(now) == []
    assert list(RecordedSource(tmp_path).events()) == before


def test_a_malformed_recording_row_names_the_file_and_row(tmp_path: Path) -> None:
    import pyarrow as pa

    from kalshid.research.recording import arrow_schema
    from kalshid.research.sources.base import SourceError

    folder = tmp_path / "series=KXSOL15M/date=2026-06-01/hour=12"
    folder.mkdir(parents=True)
    payload = '{"print": {"index_id": "SOLUSD_RTI", "exchange_ts": "2026-06-01T12:00:00+00:00"}}'  # no value
    row = {"seq": 7, "kind": "IndexPrinted", "series": "KXSOL15M", "ticker": None, "exchange_ts": None,
           "recv_ts": datetime(2026, 6, 1, 12, tzinfo=UTC), "local_time": 1.0, "payload": payload}
    pq.write_table(pa.Table.from_pylist([row], schema=arrow_schema()), folder / "part-1.parquet")
    with pytest.raises(SourceError, match=r"part-1\.parquet: row seq 7 \(IndexPrinted\) is malformed"):
        RecordedSource(tmp_path)
    # a value the index cannot have is refused as the events are built, naming the row, not met mid-replay
    bad = {**row, "payload": payload.replace('"exchange_ts"', '"value": -1.5, "exchange_ts"')}
    pq.write_table(pa.Table.from_pylist([bad], schema=arrow_schema()), folder / "part-1.parquet")
    with pytest.raises(SourceError, match=r"row seq 7 \(IndexPrinted\) is malformed: ValueError: index price "
                                          r"must be finite and > 0, got -1\.5"):
        RecordedSource(tmp_path)
