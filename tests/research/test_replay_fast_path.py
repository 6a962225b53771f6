"""The replay's one pass over all the events gives exactly the result of replaying them a time at a
time (:meth:`Replay.step`): nothing of a time's fold leaks into the next."""

from __future__ import annotations

import itertools
from collections import Counter
from typing import Any

import attrs
import pytest

from kalshid.research.engine import Replay
from kalshid.research.events import BookTick, Event, MarketListed
from kalshid.research.fills import FillSettings
from kalshid.research.results import BacktestResult
from kalshid.research.settings import BacktestSettings
from kalshid.research.synthetic import synthetic_recording

EVENTS = synthetic_recording(0.5)  # books=random: a signal on almost every evaluation
QUOTED = synthetic_recording(0.5, books="makers")  # books that follow the index


def _per_time(replay: Replay, events: list[Event], progress: Any = None) -> BacktestResult:
    for _, batch in itertools.groupby(events, key=lambda e: e.ts):
        times = list(batch)
        replay.step(times[0].ts, times)
        if progress is not None:
            progress(len(times))
    return replay.finish()


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
def test_one_pass_is_a_time_at_a_time(settings: BacktestSettings) -> None:
    plain = _per_time(Replay(settings), EVENTS)
    assert _everything(Replay(settings).run(iter(EVENTS))) == _everything(plain)
    # the stream exercises what must carry over from time to time: many evaluations, times with several
    # events, orders walking the depth, and the fill model's memory of taken liquidity
    times = Counter(e.ts for e in EVENTS)
    assert sum(1 for n in times.values() if n > 1) > 500
    assert plain.counters["evaluations"] > 1000 and len(plain.trades) > 20
    per_order = Counter((t.ts, t.ticker, t.strategy) for t in plain.trades if t.is_taker)
    assert any(n > 1 for n in per_order.values()), "no order walked the book's depth"


def test_one_pass_is_a_time_at_a_time_on_books_that_follow_the_index() -> None:
    settings = BacktestSettings()
    plain = _per_time(Replay(settings), QUOTED)
    assert _everything(Replay(settings).run(iter(QUOTED))) == _everything(plain)
    assert plain.counters["evaluations"] > 1000 and plain.trades  # quieter than the stress stream, not silent


def test_one_pass_keeps_the_fill_model_s_memory_of_taken_liquidity_at_every_time() -> None:
    settings = BacktestSettings(fills=FillSettings(latency_seconds=0))

    def memory(replay: Replay, per_time: bool) -> list[dict[str, dict[Any, int]]]:
        seen: list[dict[str, dict[Any, int]]] = []

        def progress(_n: int) -> None:
            seen.append({t: dict(m) for t, m in replay.fill_model.taken.items()})

        if per_time:
            _per_time(replay, EVENTS, progress)
        else:
            replay.run(iter(EVENTS), progress=progress)
        return seen

    plain, fast = memory(Replay(settings), per_time=True), memory(Replay(settings), per_time=False)
    assert fast == plain
    assert sum(1 for m in plain if m) > 100, "the stream never makes the fill model remember taken liquidity"


def test_a_listing_after_other_events_of_its_time_is_refused_by_name() -> None:
    """Listings come first within a time (event_sort_key): the single pass reads them before the time's
    other events, so one out of place is an error that names it, not a listing silently missed."""
    listing = next(e for e in QUOTED if isinstance(e, MarketListed))
    book = next(e for e in QUOTED if isinstance(e, BookTick) and e.ts > listing.ts)
    late = attrs.evolve(listing, ts=book.ts)
    events = [e for e in QUOTED if e.ts < book.ts] + [book, late]
    with pytest.raises(ValueError, match=f"a listing of {late.ticker} after other events at"):
        Replay(BacktestSettings()).run(iter(events))
    with pytest.raises(ValueError, match=f"a listing of {late.ticker} after other events at"):
        _per_time(Replay(BacktestSettings()), events)


def test_a_step_refuses_events_of_other_times() -> None:
    first, later = QUOTED[0], next(e for e in QUOTED if e.ts > QUOTED[0].ts)
    with pytest.raises(ValueError, match="given events of other times"):
        Replay(BacktestSettings()).step(first.ts, [first, later])
