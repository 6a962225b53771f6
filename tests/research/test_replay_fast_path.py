"""The replay's folding of lone book ticks gives exactly the result of the plain per-batch path."""

from __future__ import annotations

from collections import Counter
from typing import Any

import pytest

from kalshid.research.engine import Replay
from kalshid.research.events import BookTick
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


class _Counting(Replay):
    folded = 0

    def _fold_book(self, ts: Any, e: BookTick) -> bool:
        done = super()._fold_book(ts, e)
        self.folded += done
        return done


@pytest.mark.parametrize("settings", [
    BacktestSettings(),
    BacktestSettings(fills=FillSettings(latency_seconds=0)),
    BacktestSettings(evaluation="event"),
], ids=["latency", "no-latency", "each-event"])
def test_folding_book_ticks_changes_nothing(settings: BacktestSettings) -> None:
    plain = Replay(settings, fold_book_ticks=False).run(iter(EVENTS))
    fast = _Counting(settings)
    folded = fast.run(iter(EVENTS))
    assert _everything(folded) == _everything(plain)
    # the stream exercises what the fast path must keep: most book ticks folded, evaluations on
    # folded ticks, orders walking the depth, and the fill model's memory of taken liquidity
    books = sum(1 for e in EVENTS if isinstance(e, BookTick))
    assert fast.folded > books // 2
    assert plain.counters["evaluations"] > 1000 and len(plain.trades) > 20
    per_order = Counter((t.ts, t.ticker, t.strategy) for t in plain.trades if t.is_taker)
    assert any(n > 1 for n in per_order.values()), "no order walked the book's depth"


def test_folding_changes_nothing_on_books_that_follow_the_index() -> None:
    settings = BacktestSettings()
    plain = Replay(settings, fold_book_ticks=False).run(iter(QUOTED))
    fast = _Counting(settings)
    assert _everything(fast.run(iter(QUOTED))) == _everything(plain)
    assert fast.folded > sum(1 for e in QUOTED if isinstance(e, BookTick)) // 2
    assert plain.counters["evaluations"] > 1000 and plain.trades  # quieter than the stress stream, not silent


def test_folding_keeps_the_fill_model_s_memory_of_taken_liquidity_at_every_time() -> None:
    settings = BacktestSettings(fills=FillSettings(latency_seconds=0))

    def memory(replay: Replay) -> list[dict[Any, int]]:
        seen: list[dict[Any, int]] = []
        replay.run(iter(EVENTS), progress=lambda _n: seen.append(dict(replay.fill_model._consumed)))
        return seen

    plain, fast = memory(Replay(settings, fold_book_ticks=False)), memory(Replay(settings))
    assert fast == plain
    assert sum(1 for m in plain if m) > 100, "the stream never makes the fill model remember taken liquidity"
