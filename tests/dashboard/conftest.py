"""Fixtures for the browser tests: a daemon, a Chromium profile, a page that records console errors."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.dashboard.harness import CHROMIUM_ARGS, Daemon, require_chromium, running_daemon


@pytest.fixture(scope="module")
def daemon(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Daemon]:
    with running_daemon(tmp_path_factory.mktemp("daemon")) as d:
        yield d


@pytest.fixture(scope="module")
def browser(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    executable = require_chromium()
    from playwright.sync_api import sync_playwright

    profile: Path = tmp_path_factory.mktemp("chromium-profile")
    with sync_playwright() as p:
        context = p.chromium.launch_persistent_context(
            str(profile), executable_path=executable, headless=True, args=CHROMIUM_ARGS,
            viewport={"width": 1440, "height": 1100},
        )
        try:
            yield context
        finally:
            context.close()


class Console:
    """Console errors and uncaught exceptions of one page."""

    def __init__(self, page: Any) -> None:
        self.errors: list[str] = []
        page.on("console", lambda m: self.errors.append(m.text) if m.type == "error" else None)
        page.on("pageerror", lambda e: self.errors.append(f"uncaught: {e}"))

    def unexpected(self, *allowed_statuses: int) -> list[str]:
        """Errors other than the browser's notice of an HTTP status the test provoked on purpose."""
        allowed = tuple(f"the server responded with a status of {s} " for s in allowed_statuses)
        return [e for e in self.errors if not any(a in e + " " for a in allowed)]


@pytest.fixture
def page(browser: Any) -> Iterator[tuple[Any, Console]]:
    page = browser.new_page()
    console = Console(page)
    try:
        yield page, console
    finally:
        page.close()
