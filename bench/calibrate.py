"""Print the figures behind the simulator's defaults (index vol/jumps, maker spreads and depth).

Usage: ``.venv/bin/python bench/calibrate.py [DATA_DIR]`` (default: ``$KALSHID_DATA_DIR``, else
``shared/data`` beside the repository; ``--help`` prints this).
See ``kalshid/sim/calibration.py`` for the method; ``index.py`` and ``makers.py`` cite the output.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from kalshid.sim.calibration import (
    Summary,
    entry_spread_distribution,
    index_figures,
    ladder_spreads,
    settlement_volume,
    snapshot_figures,
)


def _fmt(s: Summary) -> str:
    return f"n={s.n:5d} median={s.median:8.2f} mean={s.mean:8.2f} p25={s.p25:8.2f} p75={s.p75:8.2f}"


def _one(folder: Path, pattern: str) -> Path:
    found = sorted(folder.glob(pattern))
    if not found:
        raise SystemExit(f"no file matching {pattern} in {folder}")
    return found[0]


def main(argv: list[str]) -> int:
    from kalshid.research.sources.shared import default_data_dir

    ap = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    ap.add_argument("data", nargs="?", type=Path, default=None, help="shared data directory")
    data = ap.parse_args(argv[1:]).data or default_data_dir()
    if not (data / "kalshi").is_dir():
        raise SystemExit(f"shared data not found at {data} (pass DATA_DIR or set $KALSHID_DATA_DIR)")
    kalshi = data / "kalshi"

    idx = index_figures(sorted((data / "crypto_1m").glob("binance_spot_SOLUSDT_1m_*.csv")))
    print("== SOL index (Binance 1-m candles): sigma_annual, jumps/day, jump log-size sd")
    for name, (sig, lam, js) in idx.per_file.items():
        print(f"  {name:55s} {sig:6.3f} {lam:6.2f} {js:7.4f}")
    print(f"  median over files: sigma_annual={idx.sigma_annual:.3f} jumps_per_day={idx.jumps_per_day:.2f} "
          f"jump_sigma={idx.jump_sigma:.4f}")

    by_ml, by_dist = ladder_spreads(_one(kalshi, "kxcrypto15m_ladder_paths_*.csv.gz"))
    print("== KXSOL15M spread (cents) vs minutes left, mid in [0.2, 0.8] (ladder paths)")
    for ml, s in by_ml.items():
        print(f"  ml={ml:2d} {_fmt(s)}")
    print("== KXSOL15M spread (cents) vs min(mid, 1-mid), minutes left >= 3 (ladder paths)")
    for d, s in by_dist.items():
        print(f"  dist>={d:.1f} {_fmt(s)}")

    entry = entry_spread_distribution(_one(kalshi, "kxcrypto15m_book_entry_*.csv.gz"))
    print("== spread distribution 14 min before close, 1..7+ cents (book entry):",
          " ".join(f"{x:.3f}" for x in entry))

    snap = snapshot_figures(_one(kalshi, "johnnygod_KXSOL15M_raw_snapshots_*.jsonl"))
    print("== snapshots: spread distribution 1..7+ cents (mid .2-.8, ml>=3):",
          " ".join(f"{x:.3f}" for x in snap.spread_fractions))
    print(f"  yes_depth {_fmt(snap.yes_depth)}\n  no_depth  {_fmt(snap.no_depth)}")
    print("  spread and total depth vs minutes left (mid in [0.2, 0.8]):")
    for ml, s in snap.spread_by_ml.items():
        print(f"  ml={ml:2d} spread {_fmt(s)} | depth median={snap.depth_by_ml[ml].median:9.0f}")
    print("  total depth vs min(mid, 1-mid), ml>=3:")
    for d, s in snap.depth_by_distance.items():
        print(f"  dist>={d:.1f} {_fmt(s)}")

    vol = settlement_volume(_one(kalshi, "kxcrypto15m_settlements_*.csv.gz"))
    print(f"== contracts traded per SOL market: {_fmt(vol)}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
