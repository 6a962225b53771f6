"""``kalshid backup``: a consistent copy of a journal in use, with the decisions still in its intent log."""

from __future__ import annotations

import sqlite3
import stat
from datetime import UTC, datetime
from pathlib import Path

import pytest
import trio
from storefakes import T0, fill, intent, signal

from kalshid.cli import main
from kalshid.store import open_journal
from kalshid.store.backup import BackupError, backup_journal, prune_backups
from kalshid.store.records import RiskVerdict

NOW = datetime(2026, 12, 5, 3, 40, 12, tzinfo=UTC)
APPROVED = RiskVerdict(signal_id=1, ts=T0, approved=True, reason_code="approved", detail="all limits pass")


def orders(path: Path) -> list[str]:
    conn = sqlite3.connect(path)
    try:
        return [r[0] for r in conn.execute("SELECT client_order_id FROM orders ORDER BY client_order_id")]
    finally:
        conn.close()


async def test_a_copy_taken_while_the_journal_is_in_use_holds_every_decision(tmp_path: Path) -> None:
    live = tmp_path / "var" / "kalshid-prod.sqlite3"
    live.parent.mkdir()
    async with open_journal(live, "live") as journal:
        await journal.record_decision(signal(), APPROVED, intent("c-1"))
        await journal.record_fill(fill("f-1", client_order_id="c-1"))  # a later call writes c-1 to SQLite
        await journal.record_decision(signal(), APPROVED, intent("c-2"))  # only in the intent log so far
        assert orders(live) == ["c-1"]
        copy, log_copy = backup_journal(live, tmp_path / "backups", now=NOW)
    assert copy == tmp_path / "backups" / "kalshid-prod.20261205T034012.000000Z.backup.sqlite3"
    assert log_copy == tmp_path / "backups" / "kalshid-prod.20261205T034012.000000Z.backup.sqlite3.intents"
    assert stat.S_IMODE(copy.parent.stat().st_mode) == 0o700
    # not named as a journal a start sets aside (kalshid.store.identity prunes those beside the journal)
    assert not list(copy.parent.glob("kalshid-prod.*Z.sqlite3"))
    for f in (copy, log_copy):
        assert stat.S_IMODE(f.stat().st_mode) == 0o600
    assert not list((tmp_path / "backups").glob("*.tmp"))
    assert orders(copy) == ["c-1"]  # the database as of the backup
    async with open_journal(copy, "live") as restored:  # opening it replays the copied intent log
        assert [o.client_order_id for o in (await restored.list_orders()).items] == ["c-2", "c-1"]
        assert len((await restored.list_fills()).items) == 1


async def test_a_journal_without_an_intent_log_is_copied_alone(tmp_path: Path) -> None:
    live = tmp_path / "kalshid-sim.sqlite3"
    async with open_journal(live, "sim") as journal:
        await journal.record_decision(signal(), APPROVED, intent("c-1"))
        await journal.record_fill(fill("f-1", client_order_id="c-1"))
    (tmp_path / "kalshid-sim.sqlite3.intents").unlink()
    copy, log_copy = backup_journal(live, tmp_path / "out", now=NOW)
    assert log_copy is None and orders(copy) == ["c-1"]


def test_what_cannot_be_copied_is_named(tmp_path: Path) -> None:
    with pytest.raises(BackupError, match=r"no journal at .*missing\.sqlite3"):
        backup_journal(tmp_path / "missing.sqlite3", tmp_path / "out", now=NOW)
    not_a_db = tmp_path / "kalshid-sim.sqlite3"
    not_a_db.write_bytes(b"this is not SQLite" * 100)
    with pytest.raises(BackupError, match=r"cannot copy the journal .*kalshid-sim\.sqlite3"):
        backup_journal(not_a_db, tmp_path / "out", now=NOW)
    assert not list((tmp_path / "out").iterdir())  # nothing half-written is left
    (tmp_path / "a-file").write_text("")  # where the copies' directory cannot be made
    with pytest.raises(BackupError, match=r"cannot write the copy under .*a-file/b: Not a directory"):
        backup_journal(not_a_db, tmp_path / "a-file" / "b", now=NOW)


def test_kalshid_backup_prints_the_copies(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    live = tmp_path / "kalshid-sim.sqlite3"

    async def journal_one_decision() -> None:
        async with open_journal(live, "sim") as journal:
            await journal.record_decision(signal(), APPROVED, intent("c-1"))

    trio.run(journal_one_decision)
    assert main(["backup", "--journal", str(live), "--out", str(tmp_path / "b")]) == 0
    printed = capsys.readouterr().out.split()
    assert len(printed) == 2 and all(Path(p).is_file() for p in printed)
    assert printed[0].startswith(str(tmp_path / "b" / "kalshid-sim.")) and printed[1].endswith(".intents")
    assert main(["backup", "--journal", str(live), "--out", str(tmp_path / "b")]) == 0  # at once: another copy
    again = capsys.readouterr().out.split()
    assert again[0] != printed[0] and len(list((tmp_path / "b").glob("*.backup.sqlite3"))) == 2
    assert main(["backup", "--journal", str(tmp_path / "nope.sqlite3")]) == 1
    assert "kalshid backup: no journal at" in capsys.readouterr().err
    assert main(["backup", "--journal", str(live), "--keep", "0"]) == 2
    assert "--keep must be at least 1" in capsys.readouterr().err


def test_keep_deletes_the_oldest_copies_of_that_journal_only(tmp_path: Path) -> None:
    out = tmp_path / "b"
    out.mkdir()
    # a copy's name given to the second (T000000Z) sorts among names given to the microsecond
    names = [f"kalshid-prod.2026120{d}T000000{'Z' if d < 3 else '.000001Z'}.backup.sqlite3" for d in range(1, 6)]
    for name in [*names, "kalshid-prod-dry.20261201T000000Z.backup.sqlite3", "notes.txt"]:
        (out / name).write_text("")
        (out / (name + ".intents")).write_text("")
    stale = prune_backups(tmp_path / "kalshid-prod.sqlite3", out, 2)
    assert [p.name for p in stale] == names[:3]
    left = sorted(p.name for p in out.iterdir())
    other = "kalshid-prod-dry.20261201T000000Z.backup.sqlite3"  # another journal's copy
    assert left == sorted([*(n + s for n in [*names[3:], other, "notes.txt"] for s in ("", ".intents"))])
    with pytest.raises(ValueError, match="keep at least one"):
        prune_backups(tmp_path / "kalshid-prod.sqlite3", out, 0)
