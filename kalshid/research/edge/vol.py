"""The volatility and fair-value part of the edge study, on SOL 1-minute candles.

Windows are synthetic 15-minute markets aligned to :00/:15/:30/:45 UTC. The 60-second averages that
settle a real market are proxied by the typical price (O+H+L+C)/4 of the minute before the open
(strike) and of the last minute (settlement). σ comes from :class:`kalshid.core.vol.EwmaVol` fed each
candle's close at the candle's end; the first day of each file is burn-in.

``vol_scores`` judges a volatility configuration by the Gaussian negative log-likelihood of the
window's log-move ``ln(settle/strike)``, whose variance under the model is ``σ²·880 s`` (two 60-s
averages 900 s apart). ``forecasts`` prices each window with
:func:`kalshid.core.pricing.fair_yes_probability` at the given minutes left.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime

from kalshid.core.pricing import fair_yes_probability
from kalshid.core.vol import EwmaVol
from kalshid.research.edge.data import Candles

WINDOW = 900
AVERAGED_VARIANCE_SECONDS = 880.0
BURN_IN = 86_400


@dataclass(frozen=True)
class VolConfig:
    label: str
    half_life_seconds: float
    floor_per_sqrt_minute: float = 0.0


def sigma_path(c: Candles, cfg: VolConfig) -> dict[int, float]:
    """σ per √s known at each candle's end (epoch s), from the file's first candle on."""
    vol = EwmaVol(half_life_seconds=cfg.half_life_seconds, microstructure_floor=cfg.floor_per_sqrt_minute,
                  max_return_seconds=max(300.0, cfg.half_life_seconds))
    out: dict[int, float] = {}
    for ts, close in zip(c.ts, c.close, strict=True):
        end = ts + 60
        vol = vol.update(datetime.fromtimestamp(end, UTC), close)
        out[end] = vol.sigma_per_sqrt_second
    return out


@dataclass(frozen=True)
class Window:
    open_ts: int
    strike: float
    settle: float
    day: date


def windows(c: Candles) -> list[Window]:
    row = {ts: i for i, ts in enumerate(c.ts)}
    out = []
    start = c.ts[0] + BURN_IN
    for ts in c.ts:
        if ts % WINDOW or ts < start:
            continue
        before, last = row.get(ts - 60), row.get(ts + WINDOW - 60)
        if before is None or last is None:
            continue
        out.append(Window(ts, _typical(c, before), _typical(c, last), datetime.fromtimestamp(ts, UTC).date()))
    return out


def _typical(c: Candles, i: int) -> float:
    return (c.open[i] + c.high[i] + c.low[i] + c.close[i]) / 4.0


def vol_nll(c: Candles, ws: Sequence[Window], sigma: dict[int, float]) -> float:
    """Mean Gaussian NLL of ``ln(settle/strike)`` with variance ``σ(open)²·880``."""
    total, n = 0.0, 0
    for w in ws:
        s = sigma.get(w.open_ts)
        if not s:
            continue
        v = s * s * AVERAGED_VARIANCE_SECONDS
        r = math.log(w.settle / w.strike)
        total += 0.5 * math.log(2 * math.pi * v) + r * r / (2 * v)
        n += 1
    return total / n


@dataclass
class Forecasts:
    p: list[float]
    y: list[bool]
    day: list[date]


def forecasts(c: Candles, ws: Sequence[Window], sigma: dict[int, float], ml: int) -> Forecasts:
    """The model's P(YES) with ``ml`` minutes left (from the close of the minute ending then)."""
    row = {ts: i for i, ts in enumerate(c.ts)}
    out = Forecasts([], [], [])
    for w in ws:
        end = w.open_ts + WINDOW - 60 * ml
        i = row.get(end - 60)
        s = sigma.get(end)
        if i is None or s is None:
            continue
        out.p.append(fair_yes_probability(c.close[i], w.strike, s, 60.0 * ml))
        out.y.append(w.settle >= w.strike)
        out.day.append(w.day)
    return out
