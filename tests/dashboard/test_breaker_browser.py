"""A breaker trip seen end to end: the daemon halts, the page says why, the phone alert arrives, reset works."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from tests.dashboard.conftest import Console
from tests.dashboard.harness import SCREENSHOTS, Daemon, running_daemon
from tests.dashboard.test_browser import confirm, expect_text, sign_in

pytestmark = pytest.mark.browser


class Posts:
    def __init__(self) -> None:
        self.bodies: list[dict[str, Any]] = []
        self.arrived = threading.Event()


@pytest.fixture
def receiver() -> Iterator[tuple[int, Posts]]:
    posts = Posts()

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
            posts.bodies.append(json.loads(body))
            posts.arrived.set()
            self.send_response(200)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server.server_address[1], posts
    finally:
        server.shutdown()
        server.server_close()


@pytest.fixture
def fragile_daemon(tmp_path: Path, receiver: tuple[int, Posts]) -> Iterator[Daemon]:
    """A daemon whose breaker trips at a 0.01 % drawdown (the first fill's spread), alerting the receiver."""
    port, _ = receiver
    with running_daemon(tmp_path, KALSHID_RISK__BREAKER_DRAWDOWN_FRACTION="0.0001",
                        KALSHID_ALERTS__URLS=f"json://127.0.0.1:{port}/phone") as d:
        yield d


def test_breaker_trip_shows_halted_alerts_the_phone_and_resets(
    fragile_daemon: Daemon, receiver: tuple[int, Posts], page: tuple[Any, Console]
) -> None:
    p, console = page
    _, posts = receiver
    sign_in(p, fragile_daemon)
    expect_text(p, "#state", "HALTED", timeout_ms=120_000)
    expect_text(p, "#why", "circuit breaker HALTED")
    assert fragile_daemon.status()["breaker"]["tripped"] is True
    assert p.is_disabled("#btn-start") and not p.is_disabled("#btn-reset")
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    p.screenshot(path=str(SCREENSHOTS / "dashboard-halted.png"), full_page=True)

    assert posts.arrived.wait(30), "no alert reached the loopback receiver"
    titles = [b["title"] for b in posts.bodies]
    assert "kalshid: Circuit breaker HALTED" in titles, titles
    halted = next(b for b in posts.bodies if b["title"] == "kalshid: Circuit breaker HALTED")
    assert halted["type"] == "failure" and "drawdown" in halted["message"]

    confirm(p, "#btn-reset")
    expect_text(p, "#state", "^STOPPED")
    status = fragile_daemon.status()
    assert status["state"] == "stopped" and status["breaker"]["tripped"] is False
    assert console.unexpected() == [], console.errors
