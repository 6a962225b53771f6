"""The replay's single pass over the events gives exactly the result of the plain per-time path
(:meth:`Replay.step`)."""

from __future__ import annotations

from collections import Counter
from typing import Any

import attrs
import pytest

from kalshid.research.engine import Replay
from kalshid.research.events import BookTick, MarketListed
from kalshid.research.fills import FillSettings
from kalshid.research.results import BacktestResult
from kalshid.research.settings import BacktestSettings
from kalshid.research.synthetic import synthetic_recording

EVENTS = synthetic_recording(0.5)  # books=random: a signal on almost every evaluation
QUOTED = synthetic_recording(0.5, books="makers")  # books that follow the index


def _everything(result: BacktestResult) -> dict[str, Any]:
    return {"trades": result.trades, "signals": result.signals, "counters": dict(result.counters),
            "equity": result.equity, "results": result.results, "breaker": result.breaker_events,
            "forecasts": result.forecasts, "unsettled": result.unsettled, "pnl_cc": result.pnl_cc,
            "cash_cc": result.final_portfolio.cash_cc if result.final_portfolio else None}


@pytest.mark.parametrize("settings", [
    BacktestSettings(),
    BacktestSettings(fills=FillSettings(latency_seconds=0)),
    BacktestSettings(evaluation="event"),
], ids=["latency", "no-latency", "each-event"])
def test_the_single_pass_changes_nothing(settings: BacktestSettings) -> None:
    plain = Replay(settings, single_pass=False).run(iter(EVENTS))
    assert _everything(Replay(settings).run(iter(EVENTS))) == _everything(plain)
    # the stream exercises what the single pass must keep: many evaluations, times with several
    # events, orders walking the depth, and the fill model's memory of taken liquidity
    times = Counter(e.ts for e in EVENTS)
    assert sum(1 for n in times.values() if n > 1) > 500
    assert plain.counters["evaluations"] > 1000 and len(plain.trades) > 20
    per_order = Counter((t.ts, t.ticker, t.strategy) for t in plain.trades if t.is_taker)
    assert any(n > 1 for n in per_order.values()), "no order walked the book's depth"


def test_the_single_pass_changes_nothing_on_books_that_follow_the_index() -> None:
    settings = BacktestSettings()
    plain = Replay(settings, single_pass=False).run(iter(QUOTED))
    assert _everything(Replay(settings).run(iter(QUOTED))) == _everything(plain)
    assert plain.counters["evaluations"] > 1000 and plain.trades  # quieter than the stress stream, not silent


def test_the_single_pass_keeps_the_fill_model_s_memory_of_taken_liquidity_at_every_time() -> None:
    settings = BacktestSettings(fills=FillSettings(latency_seconds=0))

    def memory(replay: Replay) -> list[dict[Any, int]]:
        seen: list[dict[Any, int]] = []
        replay.run(iter(EVENTS), progress=lambda _n: seen.append(dict(replay.fill_model.taken)))
        return seen

    plain, fast = memory(Replay(settings, single_pass=False)), memory(Replay(settings))
    assert fast == plain
    assert sum(1 for m in plain if m) > 100, "the stream never makes the fill model remember taken liquidity"


def test_a_listing_after_other_events_of_its_time_is_refused_by_name() -> None:
    """Listings come first within a time (event_sort_key): the single pass reads them before the time's
    other events, so one out of place is an error that names it, not a listing silently missed."""
    listing = next(e for e in QUOTED if isinstance(e, MarketListed))
    book = next(e for e in QUOTED if isinstance(e, BookTick) and e.ts > listing.ts)
    late = attrs.evolve(listing, ts=book.ts)
    events = [e for e in QUOTED if e.ts < book.ts] + [book, late]
    for single_pass in (True, False):
        with pytest.raises(ValueError, match=f"a listing of {late.ticker} after other events at"):
            Replay(BacktestSettings(), single_pass=single_pass).run(iter(events))
