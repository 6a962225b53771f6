"""The page when the daemon stops answering and comes back: nothing old is shown as current.

A daemon is stopped under an open page and started again on the same port and journal; the page marks
itself not live (banner, state, why-line, dimmed figures), says a control got no answer, and is live again
once the daemon is back. A page loaded while the daemon's API does not answer starts in that state too.
"""

from __future__ import annotations

import socket
from pathlib import Path
from typing import Any

import pytest

from tests.dashboard.conftest import Console
from tests.dashboard.harness import running_daemon
from tests.dashboard.test_browser import LIVE_TIMEOUT_MS, confirm, expect_text, sign_in

pytestmark = pytest.mark.browser


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def opacity(page: Any, selector: str) -> float:
    return float(page.eval_on_selector(selector, "e => getComputedStyle(e).opacity"))


def expect_live(page: Any) -> None:
    expect_text(page, "#conn-text", "^live$", LIVE_TIMEOUT_MS)
    expect_text(page, "#state", "^RUNNING")
    page.wait_for_selector("#stale", state="hidden")
    expect_text(page, "#health", "daemon\\s*answering")
    assert opacity(page, "#pnl-card") == 1.0
    assert "stale" not in (page.get_attribute("body", "class") or "")


def test_a_stopped_daemon_marks_the_page_not_live_until_it_is_back(
    tmp_path: Path, page: tuple[Any, Console]
) -> None:
    p, console = page
    port = str(free_port())
    with running_daemon(tmp_path, KALSHID_API__PORT=port) as first:
        sign_in(p, first)
        expect_live(p)
        expect_text(p, "#equity", "^\\$")
        equity = p.text_content("#equity")
    # the daemon has exited: the last figures stay on screen, marked as what they are
    p.wait_for_selector("#stale", state="visible")
    expect_text(p, "#stale", "Not live: no answer from the daemon since \\d\\d:\\d\\d:\\d\\d")
    expect_text(p, "#state", "^NO ANSWER · last seen RUNNING$")
    assert "running" not in (p.get_attribute("#state", "class") or "").split()
    expect_text(p, "#why", "^Unknown: no answer from the daemon since")
    expect_text(p, "#health", "daemon\\s*NO ANSWER for")
    expect_text(p, "#health", "exchange\\s*connected \\(last seen\\)")
    assert p.text_content("#equity") == equity
    assert opacity(p, "#pnl-card") < 1 and opacity(p, "#positions-card") < 1
    # a control pressed now says the daemon did not answer (not that it refused)
    confirm(p, "#btn-stop")
    expect_text(p, "#control-result", "^stop: no answer from the daemon")

    with running_daemon(tmp_path, KALSHID_API__PORT=port) as second:
        assert second.url.endswith(f":{port}")
        expect_live(p)
        assert second.status()["state"] == "running"  # the stop above never reached the daemon
    assert not [e for e in console.errors if "ERR_CONNECTION_REFUSED" not in e], console.errors


def test_a_page_loaded_while_the_api_does_not_answer_starts_not_live(tmp_path: Path,
                                                                     page: tuple[Any, Console]) -> None:
    p, console = page
    blocked = True

    def ws(socket: Any) -> None:
        if blocked:
            socket.close()
        else:
            socket.connect_to_server()

    with running_daemon(tmp_path) as daemon:
        sign_in(p, daemon)
        expect_live(p)
        p.route_web_socket("**/ws", ws)
        p.route("**/api/**", lambda route: route.abort("connectionrefused"))
        p.reload()
        p.wait_for_selector("#app", state="visible")  # the token is kept; no sign-in form
        assert not p.is_visible("#signin")
        p.wait_for_selector("#stale", state="visible")
        expect_text(p, "#stale", "^Not live: no answer from the daemon yet")
        expect_text(p, "#state", "^NO ANSWER$")
        expect_text(p, "#why", "^Unknown: no answer from the daemon")
        blocked = False
        p.unroute("**/api/**")
        expect_live(p)
    assert not [e for e in console.errors if "ERR_CONNECTION_REFUSED" not in e], console.errors
