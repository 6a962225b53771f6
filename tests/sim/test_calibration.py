"""Tests for the calibration measurements, and that the hard-coded defaults match them."""

from __future__ import annotations

import csv
import gzip
import json
import math
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import pytest

from kalshid.sim import index
from kalshid.sim.calibration import (
    Summary,
    entry_spread_distribution,
    index_figures,
    ladder_spreads,
    snapshot_figures,
)
from kalshid.sim.makers import MakerParams

DATA = Path(__file__).resolve().parents[2] / ".." / "shared" / "data"


def data_dir(name: str) -> Path:
    """``<repo>/../shared/data/<name>``; a missing data set fails the test, naming the path."""
    path = DATA / name
    if not path.is_dir():
        pytest.fail(f"shared data set not found: looked for {path}")
    return path


def _one(pattern: str) -> Path:
    found = sorted(data_dir("kalshi").glob(pattern))
    if not found:
        pytest.fail(f"no file matching {pattern} in {DATA / 'kalshi'}")
    return found[0]


def test_summary() -> None:
    s = Summary.of([1.0, 2.0, 3.0, 4.0])
    assert (s.n, s.median, s.mean, s.p25, s.p75) == (4, 2.5, 2.5, 1.75, 3.25)
    assert Summary.of([]).n == 0


def test_index_figures_recover_a_known_jump_diffusion(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    minutes = 40 * 1440
    sigma_annual, jumps_per_day, jump_sigma = 0.8, 5.0, 0.02
    sigma_min = sigma_annual / math.sqrt(index.SECONDS_PER_YEAR / 60)
    r = rng.normal(0, sigma_min, minutes)
    hits = rng.random(minutes) < jumps_per_day / 1440
    r[hits] += rng.normal(0, jump_sigma, hits.sum())
    closes = 100 * np.exp(np.cumsum(r))
    t0 = datetime(2024, 1, 1, tzinfo=UTC)
    lines = ["timestamp,open,high,low,close,volume"]
    for i, c in enumerate(closes):
        ts = (t0 + timedelta(minutes=i)).strftime("%Y-%m-%d %H:%M:%S")
        lines.append(f"{ts},{c:.6f},{c:.6f},{c:.6f},{c:.6f},1")
    path = tmp_path / "synthetic.csv"
    path.write_text("\n".join(lines))
    figs = index_figures([path])
    assert figs.sigma_annual == pytest.approx(sigma_annual, rel=0.05)
    # Small jumps hide inside the diffusion, so the detector sees somewhat fewer, larger ones.
    assert 0.6 * jumps_per_day <= figs.jumps_per_day <= 1.1 * jumps_per_day
    assert figs.jump_sigma == pytest.approx(jump_sigma, rel=0.25)


def test_ladder_and_entry_parsers_on_tiny_files(tmp_path: Path) -> None:
    ladder = tmp_path / "ladder.csv.gz"
    path = [{"ml": 14.0, "bc": 0.49, "bh": 0.5, "ac": 0.51, "al": 0.5},
            {"ml": 1.0, "bc": 0.45, "bh": 0.5, "ac": 0.5, "al": 0.45},
            {"ml": 5.0, "bc": 0.02, "bh": 0.03, "ac": 0.03, "al": 0.02}]
    with gzip.open(ladder, "wt", newline="") as f:
        w = csv.writer(f)
        w.writerow(["ticker", "coin", "date", "result", "path"])
        w.writerow(["KXSOL15M-X", "SOL", "2026-06-01", "yes", json.dumps(path)])
        w.writerow(["KXBTC15M-X", "BTC", "2026-06-01", "yes", json.dumps(path)])
    by_ml, by_dist = ladder_spreads(ladder)
    assert by_ml[14].median == pytest.approx(2.0) and by_ml[1].median == pytest.approx(5.0)
    assert by_ml[14].n == 1 and 5 not in by_ml  # mid 0.025 is outside [0.2, 0.8]
    assert by_dist[0.0].median == pytest.approx(1.0) and by_dist[0.4].n == 1
    entry = tmp_path / "entry.csv.gz"
    with gzip.open(entry, "wt") as f:
        f.write("ticker,coin,close_ts,minute,side,bid,ask,vol,ml,won\n"
                "A,SOL,1,0,yes,0.5,0.51,1,14,1\nB,SOL,1,0,yes,0.5,0.52,1,14,1\n"
                "C,SOL,1,0,yes,0.5,0.6,1,14,1\nD,ETH,1,0,yes,0.5,0.6,1,14,1\n")
    fractions = entry_spread_distribution(entry)
    assert fractions == pytest.approx([1 / 3, 1 / 3, 0, 0, 0, 0, 1 / 3])


def test_index_defaults_match_the_sol_data() -> None:
    figs = index_figures(sorted(data_dir("crypto_1m").glob("binance_spot_SOLUSDT_1m_*.csv")))
    assert len(figs.per_file) == 6
    assert abs(index.DEFAULT_SIGMA_ANNUAL - figs.sigma_annual) < 0.01
    assert abs(index.DEFAULT_JUMPS_PER_DAY - figs.jumps_per_day) < 0.1
    assert abs(index.DEFAULT_JUMP_SIGMA - figs.jump_sigma) < 0.0005


def test_maker_defaults_match_the_kalshi_data() -> None:
    entry = entry_spread_distribution(_one("kxcrypto15m_book_entry_*.csv.gz"))
    snap = snapshot_figures(_one("johnnygod_KXSOL15M_raw_snapshots_*.jsonl"))
    blend = [(a + b) / 2 for a, b in zip(entry, snap.spread_fractions, strict=True)]
    assert list(MakerParams().spread_weights) == pytest.approx(blend, abs=0.003)
    by_ml, by_dist = ladder_spreads(_one("kxcrypto15m_ladder_paths_*.csv.gz"))
    # The shapes the maker model encodes: wider near the close, narrower at the extremes.
    assert by_ml[1].median > by_ml[4].median > by_ml[10].median == 2.0
    assert by_dist[0.0].median < 1.0 < by_dist[0.3].median
    # Depth: thin in the last minutes, thick mid-window and at the extremes.
    assert snap.depth_by_ml[1].median < snap.depth_by_ml[8].median / 3
    assert snap.depth_by_distance[0.0].median > 2 * snap.depth_by_distance[0.4].median
