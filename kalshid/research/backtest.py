"""The backtest's Python API: one call from a source and settings to a result.

    from kalshid.research import BacktestSettings, SharedDataSource, run_backtest
    result = run_backtest(SharedDataSource(), BacktestSettings(), start=..., end=...)
    result.pnl_cc, result.trades, result.forecasts

Deterministic: the same source, range and settings give the same result, on any machine.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

from kalshid.research.engine import Replay
from kalshid.research.results import BacktestResult
from kalshid.research.settings import BacktestSettings
from kalshid.research.sources.base import Source


def run_backtest(source: Source, settings: BacktestSettings | None = None, *, start: datetime | None = None,
                 end: datetime | None = None, progress: Callable[[int], None] | None = None) -> BacktestResult:
    """Replay ``source``'s markets closing in ``[start, end)`` through the daemon's decision code."""
    settings = settings or BacktestSettings()
    replay = Replay(settings, results=source.results(), index_gate_exempt=source.index_gate_exempt())
    count = 0

    def counted(n: int) -> None:
        nonlocal count
        count += n
        if progress is not None:
            progress(n)

    result = replay.run(source.events(start, end), counted)
    result.events = count
    result.source = source.info().as_dict()
    result.period = (start, end)
    return result
