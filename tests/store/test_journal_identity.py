"""A journal belongs to one exchange: stamped, checked, set aside for a fresh one; files 0600; one daemon."""

from __future__ import annotations

import stat
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from storefakes import signal

from kalshid.store import open_journal
from kalshid.store.identity import (
    JournalIdentityError,
    exchange_identity,
    paper_identity,
    set_aside_fresh_journal,
    set_aside_stale_journal,
)
from kalshid.store.instancelock import InstanceLockError, instance_lock

DEMO = exchange_identity("demo", "https://demo-api.kalshi.co/trade-api/v2/", fresh=False)
FRESH = exchange_identity("sim", "", fresh=True)


async def _journal_with_a_signal(path: Path, identity: str) -> None:
    async with open_journal(path, "sim", inline=True) as journal:
        await journal.bind_exchange(identity)
        await journal.record_signal(signal())


def _set_aside(directory: Path) -> list[Path]:
    return sorted(directory.glob("kalshid-sim.*Z.sqlite3"))


async def test_identity_is_stamped_then_checked(tmp_path: Path) -> None:
    path = tmp_path / "j.sqlite3"
    async with open_journal(path, "live", inline=True) as journal:
        await journal.bind_exchange(DEMO)
        await journal.bind_exchange(DEMO)
        assert await journal.get_meta("exchange_identity") == "demo https://demo-api.kalshi.co/trade-api/v2"
        with pytest.raises(JournalIdentityError, match=r"move .* away to start afresh"):
            await journal.bind_exchange(exchange_identity("prod", "https://api.elections.kalshi.com", fresh=False))


async def test_a_used_journal_of_a_fresh_exchange_is_set_aside_and_old_ones_pruned(tmp_path: Path) -> None:
    path = tmp_path / "kalshid-sim.sqlite3"
    assert set_aside_stale_journal(path, FRESH) is None  # nothing there
    async with open_journal(path, "sim", inline=True) as journal:
        await journal.bind_exchange(FRESH)
    assert set_aside_stale_journal(path, FRESH) is None  # there, but never traded: kept
    start = datetime(2026, 1, 1, tzinfo=UTC)
    moved = []
    for i in range(7):
        await _journal_with_a_signal(path, FRESH)
        target = set_aside_stale_journal(path, FRESH, now=start + timedelta(minutes=i))
        assert target is not None and target.exists() and not path.exists()
        moved.append(target)
    kept = _set_aside(tmp_path)
    assert kept == moved[-5:]


async def test_a_journal_of_a_persistent_exchange_is_never_set_aside(tmp_path: Path) -> None:
    path = tmp_path / "kalshid-sim.sqlite3"
    await _journal_with_a_signal(path, DEMO)
    with pytest.raises(JournalIdentityError, match="belongs to 'demo "):
        set_aside_stale_journal(path, FRESH)
    assert path.exists()


async def test_a_dry_run_journal_is_kept_and_belongs_to_its_paper_account_only(tmp_path: Path) -> None:
    path = tmp_path / "kalshid-sim.sqlite3"
    paper = paper_identity("demo", "https://demo-api.kalshi.co/trade-api/v2/")
    assert paper == "paper:demo https://demo-api.kalshi.co/trade-api/v2"
    await _journal_with_a_signal(path, paper)
    assert set_aside_fresh_journal(path) is None and path.exists()  # a paper journal stays where it is
    await _journal_with_a_signal(path, paper)  # and opens again for the next run
    async with open_journal(path, "sim", inline=True) as journal:
        for other in (DEMO, FRESH):  # neither the live account nor a fresh exchange may take it over
            with pytest.raises(JournalIdentityError, match="belongs to the dry-run paper account on 'demo "):
                await journal.bind_exchange(other)
    with pytest.raises(JournalIdentityError):
        set_aside_stale_journal(path, FRESH)
    assert path.exists()


async def test_a_fresh_exchange_journal_is_set_aside_before_a_paper_account_opens_there(tmp_path: Path) -> None:
    path = tmp_path / "kalshid-sim.sqlite3"
    async with open_journal(path, "sim", inline=True) as journal:
        await journal.bind_exchange(FRESH)  # never traded: moved all the same, since its stamp is not the paper's
    moved = set_aside_fresh_journal(path, now=datetime(2026, 1, 1, tzinfo=UTC))
    assert moved is not None and moved.exists() and not path.exists()
    await _journal_with_a_signal(path, paper_identity("sim", "http://127.0.0.1:8001"))


async def test_journal_files_are_owner_only(tmp_path: Path) -> None:
    path = tmp_path / "j.sqlite3"
    async with open_journal(path, "sim", inline=True):
        pass
    assert stat.S_IMODE(path.stat().st_mode) == 0o600


def test_instance_lock_is_exclusive_and_names_the_holder(tmp_path: Path) -> None:
    path = tmp_path / "var" / "j.sqlite3"
    with instance_lock(path) as lock_file:
        assert stat.S_IMODE(lock_file.stat().st_mode) == 0o600
        with pytest.raises(InstanceLockError, match=r"another kalshid \(pid \d+\) is running"), instance_lock(path):
            pass
    with instance_lock(path):  # released
        pass
