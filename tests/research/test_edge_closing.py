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


def test_the_simulator_s_published_average_joins_to_its_settlement_prints() -> None:
    """Every second of the closing minute, the simulator's ``last_60s_windowed_average_15min`` joined to
    the print at close − 60 s gives the settlement prints so far; at the close tick, their average is
    the value the simulator settles on (:func:`kalshid.sim.lifecycle.average_before`)."""
    import random

    from kalshid.core.closing import closing_observation
    from kalshid.sim.lifecycle import average_before
    from kalshid.sim.wsmsg import cfbenchmarks_value

    close = int(CLOSE.timestamp())
    rng = random.Random(5)
    prints = {t: Decimal(f"{150 + rng.uniform(-1, 1):.4f}") for t in range(close - 130, close + 1)}

    class Index:
        def print_at(self, ts: int) -> Decimal:
            return prints[ts]

    for ts in range(close - 59, close + 1):
        msg = cfbenchmarks_value("SOLUSD_RTI", ts, prints)
        avg = msg["last_60s_windowed_average_15min"]
        obs = closing_observation(close_time=CLOSE, own_sum=0.0, own_count=0,
                                  start_print=float(prints[close - 60]),
                                  print_ts=CLOSE + timedelta(seconds=ts - close), print_price=float(prints[ts]),
                                  published_avg=float(avg["value"]), published_window=avg["window_size"])
        settled = [prints[t] for t in range(close - 60, min(ts, close - 1) + 1)]
        assert obs.source == PUBLISHED and obs.observed_count == len(settled)
        assert abs(obs.observed_sum - float(sum(settled))) < 1e-6
    assert abs(obs.observed_sum / 60 - float(average_before(Index(), close))) < 1e-4
