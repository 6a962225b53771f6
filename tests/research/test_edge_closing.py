"""Recordings carry the published closing average to the replay, which prices with it like the daemon."""

from datetime import timedelta
from decimal import Decimal
from pathlib import Path

from kalshid.core.closing import OWN, PUBLISHED
from kalshid.core.portfolio import window_close
from kalshid.core.signals import IndexPrint as CoreIndexPrint
from kalshid.core.tracker import MarketInfo, MarketTracker
from kalshid.exchange.base import IndexPrinted
from kalshid.exchange.types import IndexPrint
from kalshid.research.events import IndexTick
from kalshid.research.recorder import Recorder
from kalshid.research.recording import MarketListing
from kalshid.research.sources.recorded import RecordedSource

TICKER = "KXSOL15M-26JUN010815-15"
CLOSE = window_close(TICKER)
OPEN = CLOSE - timedelta(minutes=15)


def test_a_recorded_closing_average_reaches_the_replay_tracker(tmp_path: Path) -> None:
    start = CLOSE - timedelta(seconds=60)
    with Recorder(tmp_path, flush_seconds=0.01) as rec:
        rec.offer(MarketListing(TICKER, OPEN, CLOSE, Decimal("150")))
        rec.offer(IndexPrinted(IndexPrint("SOLUSD_RTI", Decimal("150.2"), start, 1.0), 1.0))
        rec.offer(IndexPrinted(IndexPrint("SOLUSD_RTI", Decimal("150.4"), start + timedelta(seconds=10), 2.0,
                                          close_avg_60s=Decimal("150.3"), close_avg_window=10), 2.0))
    ticks = [e for e in RecordedSource(tmp_path).events() if isinstance(e, IndexTick)]
    assert [(t.close_avg, t.close_avg_window) for t in ticks] == [(None, None), (150.3, 10)]

    tracker = MarketTracker()
    tracker.set_markets([MarketInfo(TICKER, OPEN, CLOSE, 150.0)])
    for t in ticks:  # as the replay engine feeds them
        tracker.on_index(CoreIndexPrint(t.ts, t.price, t.close_avg, t.close_avg_window))
    view = tracker.view(TICKER, bankroll_cc=1, max_count=1)
    assert view is not None and view.closing_source == PUBLISHED
    assert view.closing_count == 11 and abs(view.closing_sum - (10 * 150.3 + 150.2)) < 1e-9
    # the own prints alone (2 of the 11 seconds) are what is left without it
    tracker.on_index(CoreIndexPrint(start + timedelta(seconds=11), 150.5))
    view = tracker.view(TICKER, bankroll_cc=1, max_count=1)
    assert view is not None and view.closing_source == OWN and view.closing_count == 3
    assert "no published closing average 11 s into the closing window" in view.closing_note
