"""Model against market on the same markets: the 35 hours where a SOL price path overlaps Kalshi quotes.

The Binance USDⓈ-M perpetual 1-minute file (2026-06-01 00:00 → 06-02 11:44 UTC) stands in for the
settlement index as the data README advises: moves from the window open, ``S_t = a0·close(t)/typ(open)``
with ``typ`` the (O+H+L+C)/4 of the candle ending at the open, strike ``a0`` from the settlements,
settled on the real result. σ is :class:`kalshid.core.vol.EwmaVol` over the perp closes (the first
two hours are burn-in). Each ``book_entry`` market gives one quote (favourite side, 8–14 minutes left).

Too few markets for a claim of edge (the data README says so); these are the only markets on which
the daemon's own fair value and its ``kelly_volatility`` entry rule meet real quotes.
"""

from __future__ import annotations

import csv
import gzip
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from kalshid.core.pricing import fair_yes_probability
from kalshid.core.vol import EwmaVol
from kalshid.research.edge.data import one

BURN_IN_S = 7200


@dataclass(frozen=True)
class Overlap:
    ticker: str
    ml: int
    model_yes: float
    mid_yes: float
    fav_yes: bool       # the quoted side is YES
    bid: float          # of the quoted side
    ask: float
    yes: bool


def _perp(data: Path) -> tuple[dict[int, tuple[float, float]], dict[int, float]]:
    """Candle end (epoch s) → (close, typical); and σ per √s known at each candle end."""
    path = one(data / "underlying_1m", "binance_um_perp_SOLUSDT_1m_*.csv")
    candles: dict[int, tuple[float, float]] = {}
    sigma: dict[int, float] = {}
    vol = EwmaVol()
    start = None
    with path.open(newline="") as f:
        for r in csv.DictReader(f):
            end = int(r["open_time"]) // 1000 + 60
            o, h, lo, c = (float(r[k]) for k in ("open", "high", "low", "close"))
            candles[end] = (c, (o + h + lo + c) / 4)
            vol = vol.update(datetime.fromtimestamp(end, UTC), c)
            start = start if start is not None else end
            if end - start >= BURN_IN_S and vol.is_warm:
                sigma[end] = vol.sigma_per_sqrt_second
    return candles, sigma


def overlap_entries(data: Path) -> list[Overlap]:
    candles, sigma = _perp(data)
    kalshi = data / "kalshi"
    a0: dict[str, float] = {}
    with gzip.open(one(kalshi, "kxcrypto15m_settlements_*.csv.gz"), "rt", newline="") as f:
        for r in csv.DictReader(f):
            if r["coin"] == "SOL":
                a0[r["ticker"]] = float(r["a0"])
    out: list[Overlap] = []
    with gzip.open(one(kalshi, "kxcrypto15m_book_entry_*.csv.gz"), "rt", newline="") as f:
        for r in csv.DictReader(f):
            if r["coin"] != "SOL" or r["ticker"] not in a0:
                continue
            close = int(r["close_ts"])
            ml = int(float(r["ml"]))
            at = close - 60 * ml
            opened = candles.get(close - 900)
            now = candles.get(at)
            if opened is None or now is None or at not in sigma:
                continue
            strike = a0[r["ticker"]]
            spot = strike * now[0] / opened[1]
            fav_yes = r["side"] == "yes"
            bid, ask = float(r["bid"]), float(r["ask"])
            mid_side = (bid + ask) / 2
            won = r["won"] == "1"
            out.append(Overlap(r["ticker"], ml, fair_yes_probability(spot, strike, sigma[at], 60.0 * ml),
                               mid_side if fav_yes else 1 - mid_side, fav_yes, bid, ask,
                               won if fav_yes else not won))
    return out
