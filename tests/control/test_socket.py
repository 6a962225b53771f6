"""The control socket end to end: server task in the test nursery, the real `kalshid ctl` client code."""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import socket
import stat
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import trio

from kalshid.config import Config
from kalshid.control import cli
from kalshid.control.fake import FakeDaemon
from kalshid.control.server import (
    LOCAL_SOCKET_PATH,
    AmbiguousSocket,
    ControlSocketError,
    control_socket_task,
    default_socket_path,
)


@pytest.fixture
def sock_path() -> Iterator[str]:
    # AF_UNIX paths are limited to 108 bytes; pytest's tmp_path can be longer.
    directory = tempfile.mkdtemp(prefix="kctl")
    yield os.path.join(directory, "kalshid.sock")
    shutil.rmtree(directory, ignore_errors=True)


@pytest.fixture
def fake() -> FakeDaemon:
    return FakeDaemon()


@pytest.fixture
async def server(nursery: trio.Nursery, fake: FakeDaemon, sock_path: str) -> str:
    path: str = await nursery.start(control_socket_task, fake, sock_path)
    return path


def _exists(path: str) -> bool:
    return os.path.lexists(path)


def _write(path: str, text: str) -> None:
    Path(path).write_text(text)


def _parse(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="kalshid ctl")
    cli.add_arguments(parser)
    return parser.parse_args(argv)


async def _ctl(path: str, *argv: str) -> int:
    return await cli.run_async(_parse(["--socket", path, *argv]))


async def test_socket_mode_is_0600(server: str) -> None:
    assert stat.S_ISSOCK(os.stat(server).st_mode)
    assert stat.S_IMODE(os.stat(server).st_mode) == 0o600


async def test_status_table_and_json(server: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert await _ctl(server, "status") == 0
    out = capsys.readouterr().out
    assert out.splitlines()[0].split() == ["state", "stopped"]
    assert await _ctl(server, "--json", "status") == 0
    assert json.loads(capsys.readouterr().out)["mode"] == "sim"


@pytest.mark.parametrize(
    ("argv", "call"),
    [
        (["start"], ("start", None)),
        (["stop"], ("stop", None)),
        (["stop-entry"], ("stop_entry", None)),
        (["cancel-all"], ("cancel_all", None)),
        (["reset-breaker"], ("reset_breaker", None)),
        (["enable", "momentum"], ("enable_strategy", "momentum")),
        (["disable", "fair_value"], ("disable_strategy", "fair_value")),
        (["reload"], ("reload", None)),
    ],
)
async def test_commands_reach_the_daemon(
    server: str, fake: FakeDaemon, argv: list[str], call: tuple[str, Any], capsys: pytest.CaptureFixture[str]
) -> None:
    assert await _ctl(server, *argv) == 0
    assert fake.calls == [call]
    assert capsys.readouterr().out.strip()


async def test_queries(server: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert await _ctl(server, "positions") == 0
    assert "KXSOL15M-24OCT011215-15" in capsys.readouterr().out
    assert await _ctl(server, "strategies") == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0] == "fair_value (enabled)" and lines[1].startswith("  ")  # its parameters, one a line
    assert await _ctl(server, "--json", "orders", "--status", "executed", "--limit", "1") == 0
    page = json.loads(capsys.readouterr().out)
    assert [o["id"] for o in page["items"]] == ["o1"] and page["cursor"] == "o1"
    assert page["items"][0]["order_id"] == "x1"
    # the table: one id column (the client order id), the exchange's id only in --json
    assert await _ctl(server, "orders", "--limit", "2") == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].split() == ["TS", "ID", "STRATEGY", "TICKER", "ACTION", "SIDE", "PRICE", "COUNT", "FILLED",
                                "REMAINING", "STATUS", "FEES", "EXTERNAL"]
    assert [line.split()[1] for line in lines[1:3]] == ["o0", "o1"] and "x0" not in lines[1]
    assert lines[3] == "(more: --cursor o1)"


async def test_refused_command_exits_1_with_field(server: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert await _ctl(server, "enable", "nosuch") == 1
    assert "unknown strategy 'nosuch' (name)" in capsys.readouterr().err
    assert await _ctl(server, "--json", "disable", "nosuch") == 1
    assert json.loads(capsys.readouterr().out)["error"]["code"] == "not_found"


async def test_usage_errors_exit_2(server: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert await _ctl(server, "enable", "bad name!") == 2
    assert "name must be" in capsys.readouterr().err
    assert await _ctl(server, "orders", "--limit", "5000") == 2
    with pytest.raises(SystemExit) as info:
        _parse(["enable"])
    assert info.value.code == 2


async def test_cannot_connect_exits_3_naming_the_socket(
    sock_path: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert await _ctl(sock_path, "status") == 3
    err = capsys.readouterr().err
    assert sock_path in err and "cannot connect" in err


def test_sync_run_entry_point(sock_path: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.run(_parse(["--socket", sock_path, "status"])) == 3


async def test_second_instance_refused(server: str, fake: FakeDaemon, nursery: trio.Nursery) -> None:
    with pytest.raises(ControlSocketError, match="another kalshid"):
        await nursery.start(control_socket_task, fake, server)
    assert await _ctl(server, "status") == 0  # the first instance still answers


async def test_live_socket_without_lock_refused(
    sock_path: str, fake: FakeDaemon, nursery: trio.Nursery
) -> None:
    # Something else (an older daemon, another program) listens on the path but holds no lock.
    other = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    other.bind(sock_path)
    other.listen()
    try:
        with pytest.raises(ControlSocketError, match="already answering"):
            await nursery.start(control_socket_task, fake, sock_path)
        assert _exists(sock_path)  # not unlinked from under its owner
    finally:
        other.close()


async def test_stale_socket_removed_and_unlinked_on_exit(sock_path: str, fake: FakeDaemon) -> None:
    dead = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    dead.bind(sock_path)
    dead.close()  # a crashed daemon leaves the file behind
    assert _exists(sock_path)
    async with trio.open_nursery() as nursery:
        await nursery.start(control_socket_task, fake, sock_path)
        assert await _ctl(sock_path, "--json", "status") == 0
        nursery.cancel_scope.cancel()
    assert not _exists(sock_path)


async def test_non_socket_file_refused(sock_path: str, fake: FakeDaemon, nursery: trio.Nursery) -> None:
    _write(sock_path, "precious")
    with pytest.raises(ControlSocketError, match="not a socket"):
        await nursery.start(control_socket_task, fake, sock_path)


async def _exchange(path: str, payload: bytes, n_lines: int) -> list[dict[str, Any]]:
    stream = await trio.open_unix_socket(path)
    async with stream:
        await stream.send_all(payload)
        buf = b""
        with trio.fail_after(5):
            while buf.count(b"\n") < n_lines and (chunk := await stream.receive_some()):
                buf += chunk
    return [json.loads(line) for line in buf.splitlines()]


async def test_raw_protocol_many_requests_and_bad_lines(server: str) -> None:
    replies = await _exchange(
        server,
        b'{"id": 1, "command": "status"}\nnot json\n{"id": 3, "command": "nope"}\n'
        b'{"id": 4, "command": "start"}\n',
        4,
    )
    assert replies[0]["ok"] and replies[0]["id"] == 1
    assert replies[1]["error"]["code"] == "bad_request"
    assert replies[2]["id"] == 3 and replies[2]["error"]["field"] == "command"
    assert replies[3]["ok"] and replies[3]["result"]["state"] == "running"


async def test_oversized_line_closes_connection(server: str) -> None:
    replies = await _exchange(server, b"x" * 70_000, 1)
    assert replies == [
        {
            "id": None,
            "ok": False,
            "error": {"code": "line_too_long", "message": replies[0]["error"]["message"]},
        }
    ]


async def test_pipeline_bug_is_internal_error_not_a_crash(server: str, fake: FakeDaemon) -> None:
    async def broken() -> Any:
        raise RuntimeError("boom")

    fake.positions = broken  # type: ignore[method-assign]
    (reply,) = await _exchange(server, b'{"id": 1, "command": "positions"}\n', 1)
    assert reply["error"]["code"] == "internal_error" and "boom" not in json.dumps(reply)
    (reply,) = await _exchange(server, b'{"id": 2, "command": "status"}\n', 1)
    assert reply["ok"]


def test_default_socket_path() -> None:
    none: Callable[[str], bool] = lambda path: False  # noqa: E731
    assert default_socket_path({"KALSHID_SOCKET": "/x/s"}, none) == "/x/s"
    # the daemon's own setting, as `kalshid run` reads it from the same environment
    assert default_socket_path({"KALSHID_CONTROL__SOCKET_PATH": "/y/s"}, none) == "/y/s"
    assert default_socket_path({"KALSHID_SOCKET": "/x/s", "KALSHID_CONTROL__SOCKET_PATH": "/y/s"}, none) == "/x/s"
    assert (
        default_socket_path({"RUNTIME_DIRECTORY": "/run/kalshid:/run/other"}, none) == "/run/kalshid/kalshid.sock"
    )
    assert default_socket_path({}, none) == "/run/kalshid/kalshid.sock"


async def test_ctl_without_socket_reaches_the_daemon_started_in_this_directory(
    fake: FakeDaemon, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """After `make run`, `kalshid ctl status` in the same directory needs no --socket; with a second
    daemon's socket present too it refuses to guess (exit 2) and names both."""
    directory = tempfile.mkdtemp(prefix="kctl")
    try:
        monkeypatch.chdir(directory)
        for name in ("KALSHID_SOCKET", "KALSHID_CONTROL__SOCKET_PATH", "RUNTIME_DIRECTORY"):
            monkeypatch.delenv(name, raising=False)
        unit_socket = os.path.join(directory, "unit.sock")  # stands for /run/kalshid/kalshid.sock
        monkeypatch.setattr("kalshid.control.server.FALLBACK_SOCKET_PATH", unit_socket)
        os.mkdir("var")
        async with trio.open_nursery() as nursery:  # ends (and removes the socket) in this directory
            await nursery.start(control_socket_task, fake, LOCAL_SOCKET_PATH)
            assert await cli.run_async(_parse(["stop"])) == 0
            assert fake.calls == [("stop", None)]
            capsys.readouterr()
            _write(unit_socket, "")
            assert await cli.run_async(_parse(["cancel-all"])) == 2
            assert f"a control socket at {unit_socket} and at var/kalshid.sock" in capsys.readouterr().err
            assert fake.calls == [("stop", None)]  # the kill switch reached nobody
            nursery.cancel_scope.cancel()
        assert not _exists(LOCAL_SOCKET_PATH)
    finally:
        shutil.rmtree(directory, ignore_errors=True)


def test_default_socket_path_finds_the_daemon_started_here() -> None:
    """Without a setting, ctl takes whichever of the systemd unit's socket and `make run`'s
    (var/kalshid.sock, the embedded default) is present, and refuses to guess between two."""
    assert LOCAL_SOCKET_PATH == "var/kalshid.sock" == Config().control.socket_path
    assert default_socket_path({}, lambda path: path == "var/kalshid.sock") == "var/kalshid.sock"
    assert default_socket_path({}, lambda path: path == "/run/kalshid/kalshid.sock") == "/run/kalshid/kalshid.sock"
    with pytest.raises(AmbiguousSocket, match=re.escape("/run/kalshid/kalshid.sock and at var/kalshid.sock")):
        default_socket_path({}, lambda path: True)
    # a setting wins over what is present
    assert default_socket_path({"KALSHID_SOCKET": "/x/s"}, lambda path: True) == "/x/s"
