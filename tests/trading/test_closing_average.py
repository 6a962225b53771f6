"""The strategy stage hands the published closing average to the strategies, and logs a fallback once."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

import pytest
import structlog
import trio
import trio.testing

from kalshid.core.markets import INDEX_ID
from kalshid.exchange import base
from kalshid.exchange.types import IndexPrint as ExIndexPrint
from kalshid.store import Journal
from kalshid.trading.strategy import StrategyStage
from tests.trading.stagekit import CLOSE, TICKER, RecordingStrategy, StageChannels, strategy_pipeline


def _print(seconds_into_window: int, value: str, avg: str | None = None,
           window: int | None = None) -> base.IndexPrinted:
    ts = CLOSE - timedelta(seconds=60 - seconds_into_window)
    p = ExIndexPrint(INDEX_ID, Decimal(value), ts, float(seconds_into_window),
                     close_avg_60s=None if avg is None else Decimal(avg), close_avg_window=window)
    return base.IndexPrinted(p, float(seconds_into_window))


async def test_the_last_minute_is_priced_from_the_published_average(journal: Journal) -> None:
    recorder = RecordingStrategy()
    stage = StrategyStage(strategy_pipeline(journal, recorder))
    ch = StageChannels.open()
    with structlog.testing.capture_logs() as logs:
        async with trio.open_nursery() as nursery:
            nursery.start_soon(stage.run, *ch.stage_ends())
            ch.md.send_nowait(_print(0, "150.00"))  # the print at close - 60 s
            await trio.testing.wait_all_tasks_blocked()
            # a gap of 9 s in the daemon's own feed; the exchange's average covers it
            ch.md.send_nowait(_print(10, "150.40", avg="150.25", window=10))
            await trio.testing.wait_all_tasks_blocked()
            view = recorder.views[-1]
            assert (view.closing_source, view.closing_count) == ("published", 11)
            assert view.closing_sum == pytest.approx(10 * 150.25 + 150.00)
            ch.md.send_nowait(_print(12, "150.50", avg="150.30", window=3))  # short: falls back
            await trio.testing.wait_all_tasks_blocked()
            view = recorder.views[-1]
            assert view.closing_source == "own" and view.closing_count == 3  # prints at 0, 10 and 12 s
            ch.md.send_nowait(_print(13, "150.50", avg="150.30", window=4))  # short again: logged once
            await trio.testing.wait_all_tasks_blocked()
            await ch.md.aclose()
    closing = [e for e in logs if e["event"] == "closing average"]
    assert len(closing) == 1 and closing[0]["market"] == TICKER
    assert "published average covers 11 settlement prints, own prints 2" in closing[0]["reason"]
