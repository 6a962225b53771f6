"""The systemd watchdog feeder and the unit file."""

from __future__ import annotations

import configparser
import ctypes
import os
import shutil
import socket
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest
import trio

from kalshid.daemon.watchdog import watchdog_interval_s, watchdog_task

UNIT = Path(__file__).resolve().parents[2] / "systemd" / "kalshid.service"


@pytest.fixture
def notify_socket(monkeypatch: pytest.MonkeyPatch) -> Iterator[socket.socket]:
    """A datagram socket standing in for systemd's NOTIFY_SOCKET."""
    directory = tempfile.mkdtemp(prefix="kwd")
    path = os.path.join(directory, "notify")
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    sock.bind(path)
    sock.setblocking(False)
    monkeypatch.setenv("NOTIFY_SOCKET", path)
    yield sock
    sock.close()
    shutil.rmtree(directory, ignore_errors=True)


def _drain(sock: socket.socket) -> list[bytes]:
    out = []
    while True:
        try:
            out.append(sock.recv(256))
        except BlockingIOError:
            return out


def test_interval_from_environment() -> None:
    assert watchdog_interval_s({}) is None
    assert watchdog_interval_s({"WATCHDOG_USEC": "30000000"}) == 15.0
    assert watchdog_interval_s({"WATCHDOG_USEC": "30000000", "WATCHDOG_PID": "1"}, pid=2) is None
    assert watchdog_interval_s({"WATCHDOG_USEC": "30000000", "WATCHDOG_PID": "2"}, pid=2) == 15.0
    with pytest.raises(ValueError, match="WATCHDOG_USEC"):
        watchdog_interval_s({"WATCHDOG_USEC": "soon"})


async def test_pings_only_while_alive(notify_socket: socket.socket, autojump_clock: trio.abc.Clock) -> None:
    alive = True
    env = {"WATCHDOG_USEC": "30000000"}
    async with trio.open_nursery() as nursery:
        interval = await nursery.start(
            lambda task_status: watchdog_task(lambda: alive, environ=env, task_status=task_status)
        )
        assert interval == 15.0
        await trio.sleep(31)  # pings at t=0, 15, 30 through the real sd_notify and NOTIFY_SOCKET
        assert _drain(notify_socket) == [b"WATCHDOG=1"] * 3
        alive = False
        await trio.sleep(60)
        assert _drain(notify_socket) == []  # wedged: systemd will restart us
        alive = True
        await trio.sleep(15)
        assert _drain(notify_socket) == [b"WATCHDOG=1"]
        nursery.cancel_scope.cancel()


async def test_no_watchdog_configured_returns_immediately() -> None:
    sent: list[str] = []

    def record(state: str) -> bool:
        sent.append(state)
        return True

    async with trio.open_nursery() as nursery:
        interval = await nursery.start(
            lambda task_status: watchdog_task(
                lambda: True, notify=record, environ={}, task_status=task_status
            )
        )
    assert interval is None
    assert sent == []


async def test_send_failure_is_logged_not_raised(
    autojump_clock: trio.abc.Clock, caplog: pytest.LogCaptureFixture
) -> None:
    def failing(state: str) -> bool:
        raise OSError("socket gone")

    with trio.move_on_after(20):
        await watchdog_task(lambda: True, notify=failing, environ={"WATCHDOG_USEC": "10000000"})
    assert "watchdog ping failed" in caplog.text


def _unit() -> configparser.ConfigParser:
    parser = configparser.ConfigParser(strict=False, interpolation=None, delimiters=("=",))
    parser.optionxform = str  # type: ignore[assignment,method-assign]
    parser.read(UNIT)
    return parser


def test_unit_has_the_key_directives() -> None:
    service = _unit()["Service"]
    expected = {
        "Type": "notify",
        "WatchdogSec": "30",
        "Restart": "on-failure",
        "DynamicUser": "yes",
        "StateDirectory": "kalshid",
        "RuntimeDirectory": "kalshid",
        "ExecReload": "/bin/kill -HUP $MAINPID",
        "ExecStart": "/opt/kalshid/.venv/bin/kalshid run --config /etc/kalshid/kalshid.toml",
        "NoNewPrivileges": "yes",
        "ProtectSystem": "strict",
        "ProtectHome": "yes",
        "PrivateTmp": "yes",
        "PrivateDevices": "yes",
        "RestrictAddressFamilies": "AF_UNIX AF_INET AF_INET6",
        "CapabilityBoundingSet": "",
        "ProtectKernelTunables": "yes",
        "LockPersonality": "yes",
        "MemoryDenyWriteExecute": "yes",
        "EnvironmentFile": "-/etc/kalshid/kalshid.env",
    }
    for key, value in expected.items():
        assert service.get(key) == value, key
    text = UNIT.read_text()
    assert "LoadCredential=kalshi.pem:/etc/kalshid/kalshi.pem" in text
    assert "LoadCredential=api-token:" in text
    assert "SystemCallFilter=@system-service" in text
    assert _unit()["Install"]["WantedBy"] == "multi-user.target"


def _install_mode(install_md: str, target: str) -> int:
    """The ``-m`` mode of INSTALL.md's ``install`` command that creates ``target``."""
    for line in install_md.splitlines():
        words = line.split("#")[0].split()
        if "install" in words and words[-1] == target and "-m" in words:
            return int(words[words.index("-m") + 1], 8)
    raise AssertionError(f"INSTALL.md installs no {target}")


def test_the_dynamic_user_can_read_the_config_file_as_install_md_installs_it() -> None:
    """The daemon reads ``--config`` itself, as the unit's dynamic user (neither root nor in root's group);
    systemd reads the key, the token and kalshid.env as root."""
    service = _unit()["Service"]
    config = service["ExecStart"].split("--config ")[1].split()[0]
    install_md = (UNIT.parent / "INSTALL.md").read_text()
    assert _install_mode(install_md, os.path.dirname(config)) & 0o001, "others cannot enter the config's directory"
    assert _install_mode(install_md, config) & 0o004, "others cannot read the config file"
    assert _install_mode(install_md, "/etc/kalshid/kalshi.pem") & 0o077 == 0


@pytest.mark.skipif(shutil.which("systemd-analyze") is None, reason="systemd-analyze not installed")
def test_systemd_analyze_verify(tmp_path: Path) -> None:
    # The real ExecStart does not exist on a build host; everything else is checked as written.
    unit = tmp_path / "kalshid.service"
    unit.write_text(UNIT.read_text().replace("/opt/kalshid/.venv/bin/kalshid run", "/bin/true"))
    result = subprocess.run(
        ["systemd-analyze", "verify", str(unit)], capture_output=True, text=True, timeout=30
    )
    assert result.returncode == 0, result.stderr


_MDWE_PROBE = """
import ctypes, mmap
assert ctypes.CDLL(None).prctl(65, 1, 0, 0, 0) == 0  # PR_SET_MDWE, PR_MDWE_REFUSE_EXEC_GAIN
try:
    mmap.mmap(-1, 4096, prot=mmap.PROT_READ | mmap.PROT_WRITE | mmap.PROT_EXEC)
    raise SystemExit("W+X mapping was allowed")
except PermissionError:
    pass
import numpy, scipy.special, sqlite3, trio, quart_trio, hypercorn
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding, rsa
key = rsa.generate_private_key(65537, 2048)
key.sign(b"x", padding.PSS(padding.MGF1(hashes.SHA256()), padding.PSS.DIGEST_LENGTH), hashes.SHA256())
numpy.linalg.inv(numpy.eye(3)); scipy.special.ndtr(0.1); sqlite3.connect(":memory:").execute("select 1")
trio.run(trio.sleep, 0)
"""


def _mdwe_supported() -> bool:
    return sys.platform == "linux" and int(ctypes.CDLL(None).prctl(66, 0, 0, 0, 0)) >= 0  # PR_GET_MDWE


@pytest.mark.skipif(not _mdwe_supported(), reason="kernel lacks PR_SET_MDWE (Linux >= 6.3)")
def test_stack_runs_with_memory_deny_write_execute() -> None:
    """MemoryDenyWriteExecute=yes is safe: the libraries we load never need W+X memory."""
    result = subprocess.run([sys.executable, "-c", _MDWE_PROBE], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
