"""A real ``kalshid run`` (embedded simulator) in a subprocess, and a headless Chromium driven by Playwright.

The daemon runs in its own process so Playwright's sync API (which blocks) never sits inside the
daemon's Trio loop. The browser is the system Chromium (Debian's ``chromium`` package,
or ``$KALSHID_CHROMIUM``); without it the browser tests fail, naming the path they looked for.
"""

from __future__ import annotations

import json
import os
import queue
import signal
import subprocess
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import attrs
import httpx

TOKEN = "browser-test-token-0123456789"
CHROMIUM = os.environ.get("KALSHID_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
]
SCREENSHOTS = Path(__file__).resolve().parents[2] / "var" / "screenshots"
STARTUP_TIMEOUT_S = 60.0


@attrs.define
class Daemon:
    url: str
    proc: subprocess.Popen[str]
    lines: list[str]

    def api(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        headers = {"Authorization": f"Bearer {TOKEN}"}
        return httpx.request(method, self.url + path, headers=headers, timeout=10, **kwargs)

    def status(self) -> dict[str, Any]:
        data: dict[str, Any] = self.api("GET", "/api/status").json()
        return data


@contextmanager
def running_daemon(workdir: Path, **env: str) -> Iterator[Daemon]:
    """``kalshid run`` in ``workdir`` (sim at 10x, API on a free port, the test token), until exit."""
    base = {k: v for k, v in os.environ.items() if not k.startswith(("KALSHI", "DRY_RUN", "MAX_", "ENABLED_"))}
    base |= {
        "KALSHID_API__PORT": "0", "KALSHID_API__TOKEN": TOKEN, "KALSHID_SIM__SPEED": "10",
        "KALSHID_SIM__SEED": "11", "KALSHID_LOG__FILE": "off", "KALSHID_LOG__FORMAT": "json",
    } | env
    proc = subprocess.Popen([sys.executable, "-m", "kalshid", "run"], cwd=workdir, env=base, text=True,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    lines: list[str] = []
    found: queue.Queue[str | None] = queue.Queue()

    def read() -> None:
        assert proc.stdout is not None
        for line in proc.stdout:
            lines.append(line)
            if "dashboard: open " in line:
                found.put(json.loads(line)["event"].split("open ", 1)[1].split("/ ", 1)[0])
        found.put(None)

    threading.Thread(target=read, daemon=True).start()
    try:
        try:
            url = found.get(timeout=STARTUP_TIMEOUT_S)
        except queue.Empty:
            url = None
        if url is None:
            raise AssertionError("kalshid run did not print the dashboard URL:\n" + "".join(lines[-30:]))
        yield Daemon(url, proc, lines)
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def require_chromium() -> str:
    if not os.access(CHROMIUM, os.X_OK):
        raise AssertionError(
            f"no Chromium at {CHROMIUM}: install Debian's package (apt-get install -y chromium; .ci/run does) "
            "or point KALSHID_CHROMIUM at one"
        )
    return CHROMIUM
