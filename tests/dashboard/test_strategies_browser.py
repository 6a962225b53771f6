"""The strategies panel follows the daemon: a change made elsewhere (``kalshid ctl``, another browser, the
API) shows on an open page, while a parameter the operator is typing keeps its value and its focus."""

from __future__ import annotations

from typing import Any

import pytest

from tests.dashboard.conftest import Console
from tests.dashboard.harness import Daemon
from tests.dashboard.test_browser import expect_text, sign_in

pytestmark = pytest.mark.browser
NAME = "kelly_volatility"


def strategies(daemon: Daemon) -> dict[str, dict[str, Any]]:
    return {s["name"]: s for s in daemon.api("GET", "/api/strategies").json()}


def test_a_change_made_elsewhere_shows_and_an_edit_in_progress_is_kept(daemon: Daemon,
                                                                      page: tuple[Any, Console]) -> None:
    p, console = page
    sign_in(p, daemon)
    expect_text(p, f"#enabled-{NAME}", "^enabled$")
    others_enabled = [n for n, s in strategies(daemon).items() if n != NAME and s["enabled"]]
    before = strategies(daemon)[NAME]["params"]
    try:
        # the operator is typing a new min_edge when someone else changes the strategy
        p.fill(f"#param-{NAME}-min_edge", "0.07")
        p.focus(f"#param-{NAME}-min_edge")
        assert daemon.api("POST", f"/api/strategies/{NAME}/disable").status_code == 200
        new_kelly = 0.2 if before["kelly_fraction"] != 0.2 else 0.3
        put = daemon.api("PUT", f"/api/strategies/{NAME}/params", json={"kelly_fraction": new_kelly})
        assert put.status_code == 200, put.text

        expect_text(p, f"#enabled-{NAME}", "^disabled$")
        expect_text(p, f"#toggle-{NAME}", "^Enable$")
        p.wait_for_function("([id, v]) => document.getElementById(id).value === v",
                            arg=[f"param-{NAME}-kelly_fraction", str(new_kelly)])
        if not others_enabled:
            expect_text(p, "#why", "every strategy is disabled")
        assert p.input_value(f"#param-{NAME}-min_edge") == "0.07"
        assert p.evaluate("document.activeElement.id") == f"param-{NAME}-min_edge"

        # the toggle acts on the daemon's state as it is now: it enables
        p.click(f"#toggle-{NAME}")
        expect_text(p, f"#enabled-{NAME}", "^enabled$")
        assert strategies(daemon)[NAME]["enabled"] is True

        # saving sends only what the operator changed, against the daemon's current values
        p.click(f"#save-{NAME}")
        expect_text(p, "#control-result", f"{NAME}: parameters saved")
        after = strategies(daemon)[NAME]["params"]
        assert after["min_edge"] == 0.07 and after["kelly_fraction"] == new_kelly
    finally:
        daemon.api("POST", f"/api/strategies/{NAME}/enable")
        daemon.api("PUT", f"/api/strategies/{NAME}/params",
                   json={"min_edge": before["min_edge"], "kelly_fraction": before["kelly_fraction"]})
    assert console.unexpected() == [], console.errors
