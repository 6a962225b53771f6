"""Helpers for process-level tests: ``kalshid`` subprocesses whose output is read under deadlines.

Each process's stdout (stderr merged) is drained by a background thread into a queue, so a chatty
daemon never blocks on a full pipe while the test does something else, and waiting for a line is a
``queue.get`` with a timeout: nothing sleeps to wait. Every wait has a deadline and fails with the
output seen so far.
"""

from __future__ import annotations

import json
import os
import queue
import re
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

_EOF = object()
SIM_URL_LINE = re.compile(r"kalshid sim: REST (?P<rest>http://\S+)\s+WS (?P<ws>ws://\S+)")


class OutputTimeout(AssertionError):
    """The awaited line did not arrive before the deadline (or the process ended first)."""


class LineProcess:
    """A subprocess whose output lines are collected by a reader thread.

    ``lines`` holds every line read so far, in order (for JSON processes, parsed dicts; a line that is
    not JSON becomes ``{"event": None, "raw": text}`` so a traceback is kept, not lost).
    """

    def __init__(self, argv: list[str], *, cwd: Path, env: Mapping[str, str], json_lines: bool,
                 name: str) -> None:
        self.name = name
        self.json_lines = json_lines
        self.proc = subprocess.Popen(argv, cwd=cwd, env=dict(env), stdin=subprocess.DEVNULL,
                                     stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
        self.lines: list[Any] = []
        self._queue: queue.Queue[object] = queue.Queue()
        self._eof = False
        self._reader = threading.Thread(target=self._pump, name=f"{name}-stdout", daemon=True)
        self._reader.start()

    def _pump(self) -> None:
        assert self.proc.stdout is not None
        for raw in self.proc.stdout:  # ends at EOF, i.e. when the process (and its children) closed stdout
            self._queue.put(raw)
        self._queue.put(_EOF)

    def _parse(self, raw: bytes) -> Any:
        text = raw.decode("utf-8", "replace").rstrip("\n")
        if not self.json_lines:
            return text
        try:
            parsed = json.loads(text)
        except ValueError:
            return {"event": None, "raw": text}
        return parsed if isinstance(parsed, dict) else {"event": None, "raw": text}

    def _take(self, timeout: float) -> bool:
        """Move one line (if any arrives within ``timeout``) into ``lines``; False at EOF or timeout."""
        if self._eof:
            return False
        try:
            item = self._queue.get(timeout=max(0.0, timeout))
        except queue.Empty:
            return False
        if item is _EOF:
            self._eof = True
            return False
        assert isinstance(item, bytes)
        self.lines.append(self._parse(item))
        return True

    def wait_for(self, match: Callable[[Any], bool], what: str, *, timeout: float, start: int = 0) -> int:
        """Index (in ``lines``) of the first line at or after ``start`` that ``match`` accepts.

        Raises :class:`OutputTimeout` naming ``what`` if none arrives within ``timeout`` seconds or the
        output ends first.
        """
        deadline = time.monotonic() + timeout
        index = start
        while True:
            while index < len(self.lines):
                if match(self.lines[index]):
                    return index
                index += 1
            remaining = deadline - time.monotonic()
            if remaining <= 0 or self._eof:
                raise OutputTimeout(f"{self.name}: no {what} within {timeout:.0f} s "
                                    f"(process rc={self.proc.poll()}); last lines:\n{self.tail()}")
            self._take(remaining)

    def drain(self, timeout: float) -> None:
        """Collect output until EOF (the process has exited) or ``timeout``."""
        deadline = time.monotonic() + timeout
        while not self._eof and time.monotonic() < deadline:
            self._take(deadline - time.monotonic())

    def tail(self, n: int = 25) -> str:
        return "\n".join(json.dumps(line) if isinstance(line, dict) else str(line) for line in self.lines[-n:])

    def kill(self) -> int:
        """SIGKILL and reap; returns the exit status (negative signal number)."""
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
        return self.proc.wait(timeout=10)

    def stop(self) -> None:
        """Best-effort cleanup for ``finally``: kill if still running, reap, close the pipe."""
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.wait(timeout=10)
        # The pipe is at EOF once the process is gone; closing it under a still-reading thread would not be.
        self._reader.join(timeout=5)
        if not self._reader.is_alive() and self.proc.stdout is not None:
            self.proc.stdout.close()


class Daemon(LineProcess):
    """``python -m kalshid run`` with JSON log lines on stdout."""

    def __init__(self, cwd: Path, env: Mapping[str, str], name: str = "kalshid run") -> None:
        super().__init__([sys.executable, "-m", "kalshid", "run"], cwd=cwd, env=env, json_lines=True,
                         name=name)

    def wait_event(self, event: str, *, timeout: float, start: int = 0,
                   where: Callable[[dict[str, Any]], bool] | None = None) -> tuple[int, dict[str, Any]]:
        """The first log line with this ``event`` (and satisfying ``where``) at or after ``start``."""
        def match(line: Any) -> bool:
            return line.get("event") == event and (where is None or where(line))

        index = self.wait_for(match, f"{event!r} log line", timeout=timeout, start=start)
        line: dict[str, Any] = self.lines[index]
        return index, line

    def events(self, event: str) -> list[dict[str, Any]]:
        return [line for line in self.lines if line.get("event") == event]

    def problems(self) -> list[dict[str, Any]]:
        """Lines logged at error or critical level, and any output that was not a JSON log line."""
        return [line for line in self.lines
                if line.get("level") in ("error", "critical") or line.get("event") is None]


class Simulator(LineProcess):
    """``python -m kalshid sim`` on an ephemeral loopback port; ``rest_url``/``ws_url`` once started."""

    def __init__(self, cwd: Path, args: list[str], *, timeout: float = 15.0) -> None:
        env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin")}
        super().__init__([sys.executable, "-m", "kalshid", "sim", "--port", "0", *args], cwd=cwd, env=env,
                         json_lines=False, name="kalshid sim")
        index = self.wait_for(lambda line: bool(SIM_URL_LINE.search(line)), "bound-URL line", timeout=timeout)
        found = SIM_URL_LINE.search(self.lines[index])
        assert found is not None
        self.rest_url: str = found["rest"]
        self.ws_url: str = found["ws"]


def keygen(out: Path, cwd: Path) -> tuple[str, Path, Path]:
    """Run ``kalshid keygen --out DIR``; returns (key id, private key path, public key path)."""
    env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin")}
    done = subprocess.run([sys.executable, "-m", "kalshid", "keygen", "--out", str(out)], cwd=cwd, env=env,
                          capture_output=True, text=True, timeout=30, check=False)
    assert done.returncode == 0, done.stderr
    key_id = (out / "kalshi.key_id").read_text().strip()
    assert done.stdout.strip() == key_id
    private, public = out / "kalshi.pem", out / "kalshi.pub.pem"
    assert private.stat().st_mode & 0o777 == 0o600
    return key_id, private, public
