"""The recordings' directory is made and checked writable at start; a directory that cannot be is a
start-up error naming the setting, not a recorder process that dies and is restarted for ever."""

from __future__ import annotations

from pathlib import Path

import pytest
import trio
from structlog.testing import capture_logs

from kalshid.config import load_config
from kalshid.daemon.supervisor import EXIT_FAILURE, Runtime, Supervisor
from kalshid.research.recorder import RecordingDirError, prepare_recording_dir
from kalshid.trading import app
from kalshid.trading.wiring import TradingDaemon
from tests.trading.daemonkit import daemon_env


def test_the_directory_is_made_with_its_parents(tmp_path: Path) -> None:
    cfg = load_config(environ={"KALSHID_RECORD__DIR": str(tmp_path / "a" / "b")}, cwd=tmp_path).config
    assert prepare_recording_dir(cfg) == tmp_path / "a" / "b"
    assert (tmp_path / "a" / "b").is_dir() and list((tmp_path / "a" / "b").iterdir()) == []  # the probe is gone


def test_a_directory_that_cannot_be_made_names_the_setting(tmp_path: Path) -> None:
    (tmp_path / "file").write_text("not a directory")
    cfg = load_config(environ={"KALSHID_RECORD__DIR": str(tmp_path / "file" / "rec")}, cwd=tmp_path).config
    with pytest.raises(RecordingDirError, match=r"cannot write the recordings directory .*file/rec \(Not a "
                                                r"directory\): set record.dir \(KALSHID_RECORD__DIR\)"):
        prepare_recording_dir(cfg)


async def test_the_daemon_refuses_to_start_on_a_recordings_directory_it_cannot_write(
        tmp_path: Path, autojump_clock: trio.abc.Clock) -> None:
    (tmp_path / "file").write_text("not a directory")
    env = daemon_env(tmp_path, KALSHID_RECORD__ENABLED="true", KALSHID_RECORD__DIR=str(tmp_path / "file" / "rec"))
    runtime = Runtime(load_config(environ=env, cwd=tmp_path), None)
    supervisor = Supervisor(runtime, app.components(TradingDaemon(runtime, virtual_clock=True)))
    with capture_logs() as logs, trio.fail_after(60):
        assert await supervisor.run() == EXIT_FAILURE
    errors = [e["event"] for e in logs if e["log_level"] == "error"]
    assert errors == [f"feed: cannot write the recordings directory {tmp_path / 'file' / 'rec'} (Not a directory): "
                      "set record.dir (KALSHID_RECORD__DIR) to a writable directory, or record.enabled = false"]
    assert not any(e["event"].startswith("recording interrupted") for e in logs)
