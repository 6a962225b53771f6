"""Readers for the edge study: SOL 1-minute candles and Kalshi ladder paths from ``shared/data``.

The data folder is found relative to the repository (``<repo>/../shared/data``) unless given. A
missing file raises ``SystemExit`` naming the path that was looked for.
"""

from __future__ import annotations

import csv
import gzip
import json
import math
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime
from pathlib import Path


def one(folder: Path, pattern: str) -> Path:
    found = sorted(folder.glob(pattern))
    if not found:
        raise SystemExit(f"edge study: no file matching {pattern!r} in {folder}")
    return found[0]


@dataclass(frozen=True)
class Candles:
    """One file of 1-minute candles: epoch seconds of each candle's *open*, and O/H/L/C."""

    name: str
    ts: list[int]
    open: list[float]
    high: list[float]
    low: list[float]
    close: list[float]


def sol_candle_files(data: Path) -> list[Path]:
    files = sorted((data / "crypto_1m").glob("binance_spot_SOLUSDT_1m_*.csv"))
    if not files:
        raise SystemExit(f"edge study: no SOL candle files in {data / 'crypto_1m'}")
    return files


def read_candles(path: Path) -> Candles:
    ts: list[int] = []
    o: list[float] = []
    h: list[float] = []
    lo: list[float] = []
    c: list[float] = []
    with path.open(newline="") as f:
        for r in csv.DictReader(f):
            ts.append(int(datetime.fromisoformat(r["timestamp"]).replace(tzinfo=UTC).timestamp()))
            o.append(float(r["open"]))
            h.append(float(r["high"]))
            lo.append(float(r["low"]))
            c.append(float(r["close"]))
    name = path.stem.removeprefix("binance_spot_SOLUSDT_1m_")
    return Candles(name, ts, o, h, lo, c)


@dataclass(frozen=True)
class Quote:
    """One minute of a Kalshi ladder path (YES side, dollars): bid close/high, ask close/low."""

    ml: int
    bc: float
    bh: float
    ac: float
    al: float

    @property
    def mid(self) -> float:
        return (self.bc + self.ac) / 2.0


@dataclass(frozen=True)
class LadderMarket:
    ticker: str
    coin: str
    day: date
    yes: bool
    quotes: dict[int, Quote]


def read_ladders(data: Path) -> list[LadderMarket]:
    """Every ladder-path market (all coins); minutes with a missing or crossed quote are left out."""
    path = one(data / "kalshi", "kxcrypto15m_ladder_paths_*.csv.gz")
    out: list[LadderMarket] = []
    with gzip.open(path, "rt", newline="") as f:
        for r in csv.DictReader(f):
            quotes: dict[int, Quote] = {}
            for e in json.loads(r["path"]):
                vals = [e.get(k) for k in ("bc", "bh", "ac", "al")]
                if any(v is None or not math.isfinite(float(v)) for v in vals) or e["ac"] <= e["bc"]:
                    continue
                ml = int(e["ml"])
                quotes[ml] = Quote(ml, float(e["bc"]), float(e["bh"]), float(e["ac"]), float(e["al"]))
            out.append(LadderMarket(r["ticker"], r["coin"], date.fromisoformat(r["date"]),
                                    r["result"] == "yes", quotes))
    return out


def days_of(markets: list[LadderMarket]) -> Iterator[date]:
    return iter(sorted({m.day for m in markets}))
