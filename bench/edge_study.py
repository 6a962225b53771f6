"""The edge study of docs/research.md, every part through ``kalshid backtest --study``.

Usage: ``.venv/bin/python bench/edge_study.py [--data DIR] [--out docs/research] [--reps N]`` — the same as
``kalshid backtest --study all --out docs/research``: each part's tables (``NAME.md`` / ``NAME.json``),
the replays' charts and the verdict in the output directory (see ``kalshid.research.edge.cli``).
"""

from __future__ import annotations

import sys
from pathlib import Path

from kalshid.cli import main

if __name__ == "__main__":
    default_out = Path(__file__).resolve().parents[1] / "docs" / "research"
    args = sys.argv[1:]
    if "--out" not in args:
        args += ["--out", str(default_out)]
    sys.exit(main(["backtest", "--study", "all", "--no-progress", *args]))
