"""The research loop: record → replay → backtest → sweep → report, on the daemon's own core.

Public API (stable; see ``docs/backtesting.md``):

- :func:`run_backtest` (:mod:`.backtest`): source + :class:`BacktestSettings` → :class:`BacktestResult`.
- :class:`BacktestSettings` (:mod:`.settings`): the daemon's strategy params, risk limits, breaker and
  bankroll (``from_config``), fill settings; ``with_params({"kelly_volatility.min_edge": 0.05})``.
- Sources (:mod:`.sources`): :class:`SharedDataSource` (``shared/data``), :class:`RecordedSource`
  (kalshid's own recordings). Each states what it supports in ``info()``.
- :class:`FillModel` / :class:`FillSettings` (:mod:`.fills`): the stated fill rules.
- Reports (:mod:`.report`): ``summarize(result)`` and ``write_report(result, out_dir)``.

Names load on first use, so ``kalshid run`` (which imports only the recorder) pays for nothing else;
pyarrow, matplotlib, optuna and dask load only inside the commands and the recorder's thread.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from kalshid.research.backtest import run_backtest
    from kalshid.research.fills import FillModel, FillSettings
    from kalshid.research.results import BacktestResult, Forecast, TradeRecord
    from kalshid.research.settings import BacktestSettings
    from kalshid.research.sources.shared import SharedDataSource

_EXPORTS = {
    "run_backtest": "kalshid.research.backtest", "FillModel": "kalshid.research.fills",
    "FillSettings": "kalshid.research.fills", "BacktestResult": "kalshid.research.results",
    "Forecast": "kalshid.research.results", "TradeRecord": "kalshid.research.results",
    "BacktestSettings": "kalshid.research.settings", "SharedDataSource": "kalshid.research.sources.shared",
}

__all__ = ["BacktestResult", "BacktestSettings", "FillModel", "FillSettings", "Forecast", "SharedDataSource",
           "TradeRecord", "run_backtest"]


def __getattr__(name: str) -> Any:
    """Load the public names on first use: ``kalshid run`` imports only the recorder from here."""
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'kalshid.research' has no attribute {name!r}")
    return getattr(importlib.import_module(module), name)
