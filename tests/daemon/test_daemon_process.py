"""The real CLI in a subprocess: bad config exits 2, `kalshid run` stops cleanly on SIGTERM/SIGINT.

Each subprocess costs ~0.5 s, so there are only a few. Output is polled under a deadline; nothing
sleeps to wait.
"""

import json
import os
import selectors
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

DEADLINE_S = 60.0  # generous: on a loaded 2-core box start-up alone has taken over 10 s


def base_env(**extra: str) -> dict[str, str]:
    return {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "KALSHID_LOG__FILE": "off",
            "KALSHID_LOG__FORMAT": "json", "KALSHID_API__PORT": "0", **extra}


class Daemon:
    """``python -m kalshid run`` with its stdout lines read as JSON under a deadline."""

    def __init__(self, cwd: Path, env: dict[str, str]) -> None:
        self.proc = subprocess.Popen([sys.executable, "-m", "kalshid", "run"], cwd=cwd, env=env,
                                     stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
        assert self.proc.stdout is not None
        self._sel = selectors.DefaultSelector()
        self._sel.register(self.proc.stdout, selectors.EVENT_READ)
        self._buf = b""
        self.lines: list[dict[str, Any]] = []

    def wait_for(self, event: str) -> dict[str, Any]:
        deadline = time.monotonic() + DEADLINE_S
        seen = 0
        while True:
            for line in self.lines[seen:]:
                if line.get("event") == event:
                    return line
            seen = len(self.lines)
            remaining = deadline - time.monotonic()
            if remaining <= 0 or (self.proc.poll() is not None and not self._read(0)):
                raise AssertionError(f"no {event!r} line; got {self.lines}")
            self._read(remaining)

    def _read(self, timeout: float) -> bool:
        assert self.proc.stdout is not None
        if not self._sel.select(timeout):
            return False
        chunk = os.read(self.proc.stdout.fileno(), 65536)
        self._buf += chunk
        *complete, self._buf = self._buf.split(b"\n")
        self.lines += [json.loads(c) for c in complete if c.strip()]
        return bool(chunk)

    def finish(self) -> int:
        rc = self.proc.wait(timeout=DEADLINE_S)
        while self._read(0):
            pass
        return rc


def test_bad_config_exits_2_naming_the_variable(tmp_path: Path) -> None:
    env = base_env(DRY_RUN_MODE="flase", MAX_DAILY_LOSS="-1")
    proc = subprocess.run([sys.executable, "-m", "kalshid", "run"], cwd=tmp_path, capture_output=True,
                          text=True, env=env, timeout=DEADLINE_S)
    assert proc.returncode == 2
    lines = proc.stderr.strip().splitlines()
    assert any("DRY_RUN_MODE" in line and "'flase'" in line for line in lines)
    assert any("MAX_DAILY_LOSS" in line for line in lines)
    assert proc.stdout == ""  # nothing started, nothing logged


@pytest.mark.parametrize("stop_signal", [signal.SIGTERM, signal.SIGINT])
def test_run_stops_cleanly_on_signal(tmp_path: Path, stop_signal: signal.Signals) -> None:
    env = base_env()
    if stop_signal == signal.SIGTERM:  # exercise SIGHUP reload once, on the SIGTERM run
        (tmp_path / "k.toml").write_text("[risk]\nmax_daily_loss = 100\n")
        env["KALSHID_CONFIG"] = "k.toml"
    daemon = Daemon(tmp_path, env)
    try:
        started = daemon.wait_for("kalshid starting")
        assert started["dry_run"] is False and started["env"] == "sim"
        daemon.wait_for("kalshid ready")
        if stop_signal == signal.SIGTERM:
            (tmp_path / "k.toml").write_text("[risk]\nmax_daily_loss = 200\n")
            daemon.proc.send_signal(signal.SIGHUP)
            reloaded = daemon.wait_for("config reloaded and valid; strategy parameters and risk limits "
                                       "applied, other changes take effect on restart")
            assert reloaded["changed"] == {"risk.max_daily_loss": {"old": "100.0000", "new": "200.0000"}}
            assert reloaded["applied"] == ["risk"] and reloaded["needs_restart"] == {}
            audit = daemon.wait_for("operator action")
            assert (audit["source"], audit["action"], audit["outcome"]) == ("signal", "reload", "applied")
            # named as the configuration names it, in dollars, as the reload line gives it
            assert audit["before"] == {"risk.max_daily_loss": "100.0000"}
            assert audit["after"] == {"risk.max_daily_loss": "200.0000"}
        daemon.proc.send_signal(stop_signal)
        stopped = daemon.wait_for("kalshid stopped")
        assert stopped["exit_status"] == 0
        assert [line for line in daemon.lines if line.get("level") in ("error", "critical")] == []
        assert daemon.finish() == 0
    finally:
        if daemon.proc.poll() is None:
            daemon.proc.kill()


def test_a_trading_run_logs_no_secret(tmp_path: Path) -> None:
    """Run the daemon until it has traded the embedded simulator, then scan everything it printed for
    the API token, key material, request signatures and the full API key id."""
    import re

    env = base_env(KALSHID_SIM__SPEED="20", KALSHID_LOG__LEVEL="debug")
    daemon = Daemon(tmp_path, env)
    try:
        daemon.wait_for("kalshid ready")
        daemon.wait_for("fill")
        daemon.proc.send_signal(signal.SIGTERM)
        daemon.wait_for("kalshid stopped")
        assert daemon.finish() == 0
    finally:
        if daemon.proc.poll() is None:
            daemon.proc.kill()
    output = "\n".join(json.dumps(line) for line in daemon.lines)
    token = (tmp_path / "var" / "api-token").read_text().strip()
    assert len(token) >= 32 and token not in output
    assert "PRIVATE KEY" not in output and "KALSHI-ACCESS-SIGNATURE" not in output
    # An RSA-2048 signature is 344 base64 characters; nothing of that shape may appear.
    assert not re.search(r"[A-Za-z0-9+/]{200,}={0,2}", output)
