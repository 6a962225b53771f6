"""The research loop: record → replay → backtest → sweep → report, on the daemon's own core.

Public API (stable; see ``docs/backtesting.md``):

- :func:`run_backtest` (:mod:`.backtest`): source + :class:`BacktestSettings` → :class:`BacktestResult`.
- :class:`BacktestSettings` (:mod:`.settings`): the daemon's strategy params, risk limits, breaker and
  bankroll (``from_config``), fill settings; ``with_params({"kelly_volatility.min_edge": 0.05})``.
- Sources (:mod:`.sources`): :class:`SharedDataSource` (``shared/data``), :class:`RecordedSource`
  (kalshid's own recordings). Each states what it supports in ``info()``.
- :class:`FillModel` / :class:`FillSettings` (:mod:`.fills`): the stated fill rules.
- Reports (:mod:`.report`): ``summarize(result)`` and ``write_report(result, out_dir)``.

Imports here are light (no pyarrow, matplotlib, optuna or dask); those load inside the commands.
"""

from kalshid.research.backtest import run_backtest
from kalshid.research.fills import FillModel, FillSettings
from kalshid.research.results import BacktestResult, Forecast, TradeRecord
from kalshid.research.settings import BacktestSettings
from kalshid.research.sources.shared import SharedDataSource

__all__ = ["BacktestResult", "BacktestSettings", "FillModel", "FillSettings", "Forecast", "SharedDataSource",
           "TradeRecord", "run_backtest"]
