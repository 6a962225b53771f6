"""The `/docs` cookie lasts as long as the dashboard is open: it is set again when the page loads and
renewed while the page stays open, so "API docs" opens hours after sign-in (the cookie itself lasts an
hour). The page's clock is Playwright's, moved forward by hand; the daemon's is real."""

from __future__ import annotations

from typing import Any

import pytest

from tests.dashboard.conftest import Console
from tests.dashboard.harness import Daemon
from tests.dashboard.test_browser import expect_text, sign_in

pytestmark = pytest.mark.browser


def docs_status(page: Any, daemon: Daemon) -> int:
    docs = page.context.new_page()
    try:
        response = docs.goto(daemon.url + "/docs")
        assert response is not None
        status: int = response.status
        return status
    finally:
        docs.close()


def docs_cookie(page: Any) -> bool:
    return any(c["name"] == "kalshid_docs" for c in page.context.cookies())


def test_the_docs_cookie_is_renewed_on_load_and_while_the_page_stays_open(daemon: Daemon,
                                                                           page: tuple[Any, Console]) -> None:
    p, console = page
    p.clock.install()
    sign_in(p, daemon)
    expect_text(p, "#state", "RUNNING")
    assert docs_cookie(p) and docs_status(p, daemon) == 200

    # the cookie has expired (an hour after sign-in); reloading the tab, still signed in, sets it again
    p.context.clear_cookies()
    assert docs_status(p, daemon) == 401
    with p.expect_response(lambda r: r.url.endswith("/api/session") and r.status == 200):
        p.reload()
    p.wait_for_selector("#app", state="visible")
    assert docs_cookie(p) and docs_status(p, daemon) == 200

    # and a tab left open: half an hour on, the page renews it before it runs out
    p.context.clear_cookies()
    with p.expect_response(lambda r: r.url.endswith("/api/session") and r.status == 200):
        p.clock.fast_forward("31:00")
    assert docs_cookie(p) and docs_status(p, daemon) == 200
    assert console.unexpected(401) == [], console.errors
