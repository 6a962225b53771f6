"""Calibration of the fair-value model on real SOL data (Brier score, reliability by decile).

Usage: ``.venv/bin/python bench/backtest.py [DATA_DIR]`` (default ``/work/shared/data``).

Two replays, both through :mod:`kalshid.core.vol` and :mod:`kalshid.core.pricing`:

1. **Kalshi KXSOL15M settlements (2026)**: for each window, the strike ``a0`` and the settlement
   ``a1`` from ``kxcrypto15m_settlements_*``; the spot at the open is the CF index print at the window
   boundary (``cf_brti_window_index_*``); σ is an EWMA over the 15-minute index series (step 900 s).
   The boundary values are the 60-s averages themselves, so this checks the variance scale:
   ``z = ln(a1/a0)/(σ·√880)`` should have unit standard deviation.
2. **Binance SOL/USDT 1-minute candles (2021–2024)**: synthetic 15-minute windows aligned to :00/:15/…;
   the 60-second averages are proxied by the typical price (O+H+L+C)/4 of the minute before the open
   and before the close; σ is an EWMA over 1-minute closes (step 60 s); the model is evaluated at the
   end of each of minutes 0–13 (τ = 840 … 60 s), from that minute's close.

Each prints the Brier score of the model, of the endpoint digital (no averaging), and of the constant
0.5, and a reliability table (mean prediction vs observed frequency per decile).
"""

from __future__ import annotations

import csv
import gzip
import math
import sys
from collections.abc import Iterable
from datetime import UTC, datetime, timedelta
from pathlib import Path

from kalshid.core.pricing import digital_probability, fair_yes_probability
from kalshid.core.vol import EwmaVol

LAMBDA_15M = 0.94
LAMBDA_1M = 0.97


def _brier(pairs: list[tuple[float, bool]]) -> float:
    return sum((p - float(y)) ** 2 for p, y in pairs) / len(pairs)


def _report(title: str, model: list[tuple[float, bool]], naive: list[tuple[float, bool]]) -> None:
    print(f"== {title}: n={len(model)}")
    print(f"   Brier model={_brier(model):.5f}  endpoint-digital={_brier(naive):.5f}  "
          f"constant-0.5={_brier([(0.5, y) for _, y in model]):.5f}")
    print("   decile  n       mean_pred  observed")
    for b in range(10):
        sel = [(p, y) for p, y in model if min(int(p * 10), 9) == b]
        if sel:
            mean_pred = sum(p for p, _ in sel) / len(sel)
            print(f"   {b / 10:.1f}-{(b + 1) / 10:.1f} {len(sel):6d}  {mean_pred:.4f}     "
                  f"{sum(y for _, y in sel) / len(sel):.4f}")


def _csv_gz(path: Path) -> Iterable[dict[str, str]]:
    with gzip.open(path, "rt", newline="") as f:
        yield from csv.DictReader(f)


def kalshi_windows(data: Path) -> None:
    """The index file holds the 60-s *averages* at each boundary (= a0/a1), so the model cannot be
    evaluated at the open (S = K gives 0.5). Instead check the variance scale: with σ from an EWMA of
    the boundary series (known before the window), ``z = ln(a1/a0) / (σ·√880)`` should have unit
    standard deviation (Var of the difference of two 60-s averages 900 s apart = σ²·(900 − 60 + 40))."""
    kalshi = data / "kalshi"
    settle = {}
    for r in _csv_gz(next(kalshi.glob("kxcrypto15m_settlements_*.csv.gz"))):
        if r["coin"] == "SOL":
            close = datetime.fromisoformat(r["close"].replace("Z", "+00:00")) - timedelta(minutes=5)
            settle[close] = (float(r["a0"]), float(r["a1"]))
    index = sorted((datetime.fromisoformat(r["ts_utc"].replace("Z", "+00:00")), float(r["index_value"]))
                   for r in _csv_gz(next(kalshi.glob("cf_brti_window_index_*.csv.gz"))) if r["coin"] == "SOL")
    for floor in (0.0, 0.0007):
        vol = EwmaVol(vol_lambda=LAMBDA_15M, microstructure_floor=floor, step_seconds=900.0,
                      warmup_updates=20)
        zs: list[float] = []
        last_ts = None
        for ts, value in index:
            if last_ts is not None and ts <= last_ts:
                continue
            window = settle.get(ts + timedelta(minutes=15))
            if window is not None and vol.is_warm:
                a0, a1 = window
                zs.append(math.log(a1 / a0) / (vol.sigma_per_sqrt_second * math.sqrt(880.0)))
            vol = vol.update(ts, value)
            last_ts = ts
        sd = math.sqrt(sum(z * z for z in zs) / len(zs))
        tail = sum(abs(z) > 2 for z in zs) / len(zs)
        print(f"== KXSOL15M 2026 variance scale (floor {floor}/sqrt(min)): n={len(zs)} "
              f"sd(z)={sd:.3f} (1 = calibrated)  P(|z|>2)={tail:.3f} (normal 0.046)")


def candle_windows(data: Path, floor: float) -> None:
    model: list[tuple[float, bool]] = []
    naive: list[tuple[float, bool]] = []
    for path in sorted((data / "crypto_1m").glob("binance_spot_SOLUSDT_1m_*.csv")):
        with path.open(newline="") as f:
            rows = [(datetime.fromisoformat(r["timestamp"]).replace(tzinfo=UTC), float(r["open"]),
                     float(r["high"]), float(r["low"]), float(r["close"])) for r in csv.DictReader(f)]
        by_ts = {r[0]: r for r in rows}
        vol = EwmaVol(vol_lambda=LAMBDA_1M, microstructure_floor=floor, step_seconds=60.0, warmup_updates=60)
        sigmas: dict[datetime, float] = {}
        for ts, *_ohl, c in rows:
            vol = vol.update(ts + timedelta(minutes=1), c)  # a candle's close is known at its end
            if vol.is_warm:
                sigmas[ts + timedelta(minutes=1)] = vol.sigma_per_sqrt_second
        for ts, *_ in rows:
            if ts.minute % 15:
                continue
            before_open = by_ts.get(ts - timedelta(minutes=1))
            before_close = by_ts.get(ts + timedelta(minutes=14))
            if before_open is None or before_close is None:
                continue
            strike = sum(before_open[1:]) / 4
            outcome = sum(before_close[1:]) / 4 >= strike
            for m in range(14):
                candle = by_ts.get(ts + timedelta(minutes=m))
                at = ts + timedelta(minutes=m + 1)
                if candle is None or at not in sigmas:
                    continue
                tau = 900.0 - 60.0 * (m + 1)
                model.append((fair_yes_probability(candle[4], strike, sigmas[at], tau), outcome))
                naive.append((digital_probability(candle[4], strike, sigmas[at], tau), outcome))
    _report(f"Binance SOL/USDT 1m candles 2021-2024, minutes 1-14 (proxied averages), floor {floor}",
            model, naive)


def main() -> None:
    data = Path(sys.argv[1]) if len(sys.argv) > 1 else Path("/work/shared/data")
    kalshi_windows(data)
    for floor in (0.0, 0.0007):
        candle_windows(data, floor)


if __name__ == "__main__":
    main()
