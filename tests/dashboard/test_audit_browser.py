"""The dashboard when the position audit finds the journal and the exchange in disagreement: the page
says why it is not entering and shows the difference in its health panel. The daemon and the page are
real; the status the page receives (REST and WebSocket) carries a confirmed difference, since the
embedded simulator offers no way to change an account from outside."""

from __future__ import annotations

import json
from typing import Any

import pytest

from tests.dashboard.conftest import Console
from tests.dashboard.harness import Daemon
from tests.dashboard.test_browser import LIVE_TIMEOUT_MS, expect_text, sign_in

pytestmark = pytest.mark.browser
DIFFERENCE = "KXSOL15M-26DEC051215-15: journal says +0 (YES − NO), exchange says +7"
AUDIT = {"checked_at": "2026-12-05T17:00:00+00:00", "agrees": False, "differences": [DIFFERENCE]}


def disagreeing(status: dict[str, Any]) -> dict[str, Any]:
    assert "position_audit" in status, "the daemon's status has no position_audit"
    return {**status, "position_audit": AUDIT}


def test_a_confirmed_difference_is_shown_as_the_reason_entries_are_held(daemon: Daemon,
                                                                       page: tuple[Any, Console]) -> None:
    p, console = page

    def rest(route: Any) -> None:
        response = route.fetch()
        route.fulfill(response=response, json=disagreeing(response.json()))

    def ws(socket: Any) -> None:
        server = socket.connect_to_server()

        def from_server(message: str | bytes) -> None:
            event = json.loads(message)
            if event.get("type") == "status_update":
                event["data"] = disagreeing(event["data"])
            socket.send(json.dumps(event))

        server.on_message(from_server)

    p.route("**/api/status", rest)
    p.route_web_socket("**/ws", ws)
    sign_in(p, daemon)
    expect_text(p, "#why", "No new entries: the journal and the exchange disagree on positions", LIVE_TIMEOUT_MS)
    expect_text(p, "#why", "exchange says \\+7")
    expect_text(p, "#health", "positions vs exchange\\s*DISAGREE: KXSOL15M-26DEC051215-15")
    assert not console.unexpected()
