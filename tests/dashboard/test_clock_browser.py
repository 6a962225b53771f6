"""Today's P&L is the exchange's UTC day, as the journal and the breaker count it, whatever the date on
the device showing the page (a phone's clock set wrong, or the simulator's clock running ahead)."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

import pytest

from tests.dashboard.conftest import Console
from tests.dashboard.harness import Daemon
from tests.dashboard.test_browser import LIVE_TIMEOUT_MS, expect_text, sign_in

pytestmark = pytest.mark.browser


def shown(amount: str) -> str:
    """The page's rendering of a dollar string: $1,234.56."""
    return "${:,}".format(Decimal(amount).quantize(Decimal("0.01"), ROUND_HALF_UP))


def test_todays_figures_follow_the_exchange_day_not_the_devices_date(daemon: Daemon,
                                                                     page: tuple[Any, Console]) -> None:
    p, console = page
    p.clock.set_fixed_time(datetime.now(UTC) + timedelta(days=3))  # this device's date is wrong
    sign_in(p, daemon)
    # a fill that paid a fee, then no more fills, so the day's fees hold still
    p.wait_for_function("() => [...document.querySelectorAll('#fills tbody tr')].some((tr) => "
                        "/^\\$\\d/.test(tr.lastChild.textContent) && tr.lastChild.textContent !== '$0.00')",
                        timeout=LIVE_TIMEOUT_MS)
    assert daemon.api("POST", "/api/stop").status_code == 200
    try:
        day = daemon.status()["exchange_time"][:10]
        fees = next(r["fees"] for r in daemon.api("GET", "/api/pnl").json() if r["day"] == day)
        assert Decimal(fees) > 0
        expect_text(p, "#fees", f"^{re.escape(shown(fees))}$")
    finally:
        assert daemon.api("POST", "/api/start").status_code == 200
    assert console.unexpected() == [], console.errors
