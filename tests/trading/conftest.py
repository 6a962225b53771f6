"""Fixtures of the single-stage tests in this folder."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from kalshid.store import Journal, open_journal


@pytest.fixture
async def journal(tmp_path: Path) -> AsyncIterator[Journal]:
    """A simulator-mode journal in the test's own folder, closed after the test."""
    async with open_journal(tmp_path / "j.sqlite3", "sim") as j:
        yield j
