"""Builders for the journal tests (not part of kalshid)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from kalshid.store import Journal, open_journal
from kalshid.store.records import Fill, OrderIntent, Settlement, Signal

T0 = datetime(2026, 7, 8, 22, 50, tzinfo=UTC)
TICKER = "KXSOL15M-26JUL081900-00"
TICKER_B = "KXSOL15M-26JUL081915-00"


def at(seconds: float) -> datetime:
    return T0 + timedelta(seconds=seconds)


def intent(cid: str, **kw: Any) -> OrderIntent:
    base: dict[str, Any] = dict(client_order_id=cid, ts=T0, strategy="kelly", ticker=TICKER, side="yes",
                                action="buy", price_cc=4200, count=5, tif="immediate_or_cancel")
    base.update(kw)
    return OrderIntent(**base)


def fill(fill_id: str, **kw: Any) -> Fill:
    base: dict[str, Any] = dict(fill_id=fill_id, order_id="oid-1", ticker=TICKER, side="yes", action="buy",
                                count=5, price_cc=4200, fee_cc=90, is_taker=True, ts=T0)
    base.update(kw)
    return Fill(**base)


def signal(**kw: Any) -> Signal:
    base: dict[str, Any] = dict(ts=T0, strategy="kelly", ticker=TICKER, side="yes", action="buy",
                                price_cc=4200, count=5, fair_prob=0.55, edge=0.13, confidence=0.8,
                                reason="z=1.9")
    base.update(kw)
    return Signal(**base)


def settlement(ticker: str = TICKER, **kw: Any) -> Settlement:
    base: dict[str, Any] = dict(ticker=ticker, result="yes", revenue_cc=0, yes_count=0, no_count=0,
                                settled_ts=at(900))
    base.update(kw)
    return Settlement(**base)


@pytest.fixture
async def journal(tmp_path: Path) -> AsyncIterator[Journal]:
    """A fresh dry-run journal in a temporary directory (import this fixture into a test module)."""
    async with open_journal(tmp_path / "journal-dry.sqlite3", "dry") as j:
        yield j
