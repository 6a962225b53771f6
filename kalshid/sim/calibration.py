"""Measure the simulator's defaults from real data (run ``bench/calibrate.py`` to print them).

* Index: diffusive volatility, jump rate and jump size of SOL from Binance 1-minute candles
  (``crypto_1m/binance_spot_SOLUSDT_1m_*.csv``). A 1-minute log return beyond ``JUMP_Z`` robust
  sigmas (1.4826 × MAD) counts as a jump; the rest is the diffusion.
* Makers: KXSOL15M spreads in cents vs minutes left and vs distance of the mid from 0/1 (ladder
  paths: Kalshi 1-minute candle closes), the spread distribution a quarter hour before close
  (book entry: one row per market, ml = 14), and spreads/depth from the August order-book
  snapshots (``yes_depth``/``no_depth``, taken to be resting contracts on each side).

Only reads files; the figures were copied by hand into ``index.py`` / ``makers.py`` defaults,
with comments citing them. Raises ``FileNotFoundError`` when a file is missing.
"""

from __future__ import annotations

import csv
import gzip
import json
from collections import defaultdict
from collections.abc import Iterable, Iterator
from pathlib import Path

import attrs
import numpy as np

from kalshid.core.markets import parse_market_ticker

JUMP_Z = 6.0
MINUTES_PER_YEAR = 365 * 1440


@attrs.frozen
class IndexFigures:
    """Per-file and pooled (median over files) estimates for the jump diffusion."""

    per_file: dict[str, tuple[float, float, float]]  # name -> (sigma_annual, jumps_per_day, jump_sigma)
    sigma_annual: float
    jumps_per_day: float
    jump_sigma: float


@attrs.frozen
class Summary:
    """Distribution of a sample: count, median, mean, 25th and 75th percentiles."""

    n: int
    median: float
    mean: float
    p25: float
    p75: float

    @classmethod
    def of(cls, values: Iterable[float]) -> Summary:
        a = np.asarray(list(values), dtype=float)
        if a.size == 0:
            return cls(0, float("nan"), float("nan"), float("nan"), float("nan"))
        p25, med, p75 = np.percentile(a, [25, 50, 75])
        return cls(int(a.size), float(med), float(a.mean()), float(p25), float(p75))


def index_figures(candle_files: Iterable[Path]) -> IndexFigures:
    """Estimate diffusive vol, jump intensity and jump log-size sd from 1-minute close-to-close returns."""
    per_file: dict[str, tuple[float, float, float]] = {}
    for path in candle_files:
        closes = np.genfromtxt(path, delimiter=",", skip_header=1, usecols=(4,))
        r = np.diff(np.log(closes))
        robust = 1.4826 * float(np.median(np.abs(r - np.median(r))))
        is_jump = np.abs(r) > JUMP_Z * robust
        diffusive = float(r[~is_jump].std())
        days = r.size / 1440
        # A jump minute also carries a minute of diffusion; remove that variance from its size.
        jump_var = float(np.mean(r[is_jump] ** 2)) - diffusive**2 if is_jump.any() else 0.0
        per_file[path.name] = (diffusive * np.sqrt(MINUTES_PER_YEAR), float(is_jump.sum()) / days,
                               float(np.sqrt(max(jump_var, 0.0))))
    if not per_file:
        raise FileNotFoundError("no candle files given")
    cols = np.array(list(per_file.values()))
    med = np.median(cols, axis=0)
    return IndexFigures(per_file, float(med[0]), float(med[1]), float(med[2]))


def _ladder_points(ladder_csv_gz: Path, coin: str) -> Iterator[tuple[float, float, float]]:
    """(minutes_left, yes_bid, yes_ask) for each minute of each market of ``coin``."""
    with gzip.open(ladder_csv_gz, "rt", newline="") as f:
        for row in csv.DictReader(f):
            if row["coin"] != coin:
                continue
            for p in json.loads(row["path"]):
                if p.get("bc") is not None and p.get("ac") is not None:
                    yield float(p["ml"]), float(p["bc"]), float(p["ac"])


def ladder_spreads(ladder_csv_gz: Path, coin: str = "SOL") -> tuple[dict[int, Summary], dict[float, Summary]]:
    """Spread in cents by minutes left (mid in [0.2, 0.8]) and by distance of the mid from 0 or 1
    (decile buckets, minutes left >= 3)."""
    by_ml: dict[int, list[float]] = defaultdict(list)
    by_dist: dict[float, list[float]] = defaultdict(list)
    for ml, bid, ask in _ladder_points(ladder_csv_gz, coin):
        spread, mid = round((ask - bid) * 100, 4), (ask + bid) / 2  # cents, without float dust
        if 0.2 <= mid <= 0.8:
            by_ml[int(ml)].append(spread)
        if ml >= 3:
            by_dist[min(int(min(mid, 1 - mid) * 10), 4) / 10].append(spread)
    return ({k: Summary.of(v) for k, v in sorted(by_ml.items())},
            {k: Summary.of(v) for k, v in sorted(by_dist.items())})


def entry_spread_distribution(book_entry_csv_gz: Path, coin: str = "SOL", max_cents: int = 7) -> list[float]:
    """Fractions of markets whose spread 14 minutes before close was 1, 2, …, ``max_cents``+ cents
    (locked 0-cent quotes are dropped)."""
    counts = [0] * max_cents
    with gzip.open(book_entry_csv_gz, "rt", newline="") as f:
        for row in csv.DictReader(f):
            if row["coin"] != coin or not row["bid"] or not row["ask"]:
                continue
            cents = round((float(row["ask"]) - float(row["bid"])) * 100)
            if cents >= 1:
                counts[min(cents, max_cents) - 1] += 1
    total = sum(counts)
    return [c / total for c in counts]


@attrs.frozen
class SnapshotFigures:
    spread_by_ml: dict[int, Summary]          # mid in [0.2, 0.8]
    depth_by_ml: dict[int, Summary]           # yes_depth + no_depth, mid in [0.2, 0.8]
    depth_by_distance: dict[float, Summary]   # minutes left >= 3
    yes_depth: Summary
    no_depth: Summary
    spread_fractions: list[float]             # 1, 2, …, 7+ cents; mid in [0.2, 0.8], minutes left >= 3


def snapshot_figures(snapshots_jsonl: Path) -> SnapshotFigures:
    """Spread and depth from the order-book snapshots (irregular, ~1 s apart, one day)."""
    spread_ml: dict[int, list[float]] = defaultdict(list)
    depth_ml: dict[int, list[float]] = defaultdict(list)
    depth_dist: dict[float, list[float]] = defaultdict(list)
    yes_d: list[float] = []
    no_d: list[float] = []
    counts = [0] * 7
    with snapshots_jsonl.open() as f:
        for line in f:
            x = json.loads(line)
            if x["ya"] is None or x["yb"] is None:
                continue
            left = parse_market_ticker(x["ticker"])[1].close_time.timestamp() - x["ts"]
            if not 0 <= left < 900:
                continue
            ml, mid = int(left // 60), (x["ya"] + x["yb"]) / 2
            spread = round((x["ya"] - x["yb"]) * 100, 4)
            depth = x["yes_depth"] + x["no_depth"]
            yes_d.append(x["yes_depth"])
            no_d.append(x["no_depth"])
            if 0.2 <= mid <= 0.8:
                spread_ml[ml].append(spread)
                depth_ml[ml].append(depth)
                if ml >= 3 and round(spread) >= 1:
                    counts[min(round(spread), 7) - 1] += 1
            if ml >= 3:
                depth_dist[min(int(min(mid, 1 - mid) * 10), 4) / 10].append(depth)
    total = sum(counts) or 1
    return SnapshotFigures(
        spread_by_ml={k: Summary.of(v) for k, v in sorted(spread_ml.items())},
        depth_by_ml={k: Summary.of(v) for k, v in sorted(depth_ml.items())},
        depth_by_distance={k: Summary.of(v) for k, v in sorted(depth_dist.items())},
        yes_depth=Summary.of(yes_d), no_depth=Summary.of(no_d),
        spread_fractions=[c / total for c in counts])


def settlement_volume(settlements_csv_gz: Path, coin: str = "SOL") -> Summary:
    """Contracts traded per market (for the takers' flow)."""
    with gzip.open(settlements_csv_gz, "rt", newline="") as f:
        return Summary.of(float(r["volume"]) for r in csv.DictReader(f) if r["coin"] == coin and r["volume"])
