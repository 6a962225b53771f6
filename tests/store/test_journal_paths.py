from __future__ import annotations

from pathlib import Path

import pytest

from kalshid.store import default_journal_path, journal_path, state_dir


def test_state_dir_from_systemd_or_default() -> None:
    assert state_dir({"STATE_DIRECTORY": "/var/lib/kalshid:/var/lib/other"}) == Path("/var/lib/kalshid")
    assert state_dir({}) == Path("var")
    assert state_dir({"STATE_DIRECTORY": ""}) == Path("var")


def test_one_file_per_mode() -> None:
    paths = {m: journal_path("/s", m) for m in ("live", "dry", "sim")}
    assert paths == {"live": Path("/s/journal-live.sqlite3"), "dry": Path("/s/journal-dry.sqlite3"),
                     "sim": Path("/s/journal-sim.sqlite3")}
    assert default_journal_path("dry", {"STATE_DIRECTORY": "/x"}) == Path("/x/journal-dry.sqlite3")
    with pytest.raises(ValueError, match="journal mode: 'paper' is not one of"):
        journal_path("/s", "paper")
