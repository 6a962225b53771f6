"""Backtest the daemon's strategies on the shared public data: a thin wrapper of ``kalshid backtest``.

Usage: ``.venv/bin/python bench/backtest.py [--data DIR] [--out DIR] [any kalshid backtest option]``
(``--help`` lists them). The data directory defaults to ``$KALSHID_DATA_DIR``, else ``shared/data``
beside the repository. The report's calibration table scores the model and the market's own mid by
minutes left on real KXSOL15M markets; see ``docs/backtesting.md``.
"""

from __future__ import annotations

import sys

from kalshid.cli import main

if __name__ == "__main__":
    sys.exit(main(["backtest", *sys.argv[1:]]))
