"""EWMA volatility of the settlement index (SOLUSD_RTI), one update per print.

The estimator is RiskMetrics' exponentially weighted moving average of squared log-returns, made
time-aware: each return ``r = ln(Pₙ/Pₙ₋₁)`` over ``Δt`` seconds contributes ``r²/Δt`` (a per-second
variance), and its weight is ``1 − λ^(Δt/step)`` where ``step`` is the nominal print spacing (1 s for
the RTI). A gap of ten seconds therefore counts like ten regular prints, and σ is always *per
√second*, whatever the spacing.

**The floor.** ``microstructure_floor`` is a volatility **per √minute** (the unit people quote
for 1-minute log-returns). The default 0.0007 was chosen from Binance's SOL/USDT 1-minute candles
(2021–2024): the standard deviation of 1-minute log-returns is
0.0009–0.0021 per file, and the 5th percentile of hour-by-hour standard deviations is 0.0004–0.0008
(median 0.0008–0.0014); Kalshi's own 2026 SOL windows (a1/a0 of the CF index) imply ≈0.00095 per
√minute (``bench/backtest.py``: with this floor, ln(a1/a0) over 4 794 2026 windows scaled by the
model's σ has standard deviation 1.01, tail P(|z|>2) = 0.046; without it 1.14). So 0.0007/√min
(≈ 9.0e-5 per √second, ≈ 0.27 % per 15 minutes) is a quiet-market level below which an estimate
from a calm stretch of 1-second prints is more likely noise (stale constituent quotes, the RTI's
outlier trimming) than information. The floor applies to the reported σ only; the raw EWMA state is
kept unfloored.

**Warm-up.** Until ``warmup_updates`` returns have been seen, :attr:`EwmaVol.is_warm` is false and
callers should not trade on σ; the first return seeds the variance directly (no prior).

The type is frozen: :meth:`EwmaVol.update` returns a new value, so the estimator is deterministic
and replayable. Bad input (non-positive price, time going backwards) raises :class:`VolError`.
"""

from __future__ import annotations

import math
from datetime import datetime

import attrs

SECONDS_PER_MINUTE = 60.0
DEFAULT_LAMBDA = 0.94
DEFAULT_FLOOR_PER_SQRT_MINUTE = 0.0007
DEFAULT_WARMUP_UPDATES = 30


class VolError(ValueError):
    """A print could not be used: bad price, naive or backwards timestamp, or bad parameters."""


def per_sqrt_minute_to_per_sqrt_second(sigma: float) -> float:
    """Convert a volatility quoted per √minute into one per √second."""
    return sigma / math.sqrt(SECONDS_PER_MINUTE)


def _check_lambda(_inst: object, _attr: object, value: float) -> None:
    if not (math.isfinite(value) and 0.0 < value < 1.0):
        raise VolError(f"vol_lambda must be in (0, 1), got {value!r}")


def _check_non_negative(_inst: object, attr: attrs.Attribute[float], value: float) -> None:
    if not (math.isfinite(value) and value >= 0.0):
        raise VolError(f"{attr.name} must be a finite number >= 0, got {value!r}")


def _check_positive(_inst: object, attr: attrs.Attribute[float], value: float) -> None:
    if not (math.isfinite(value) and value > 0.0):
        raise VolError(f"{attr.name} must be a finite number > 0, got {value!r}")


def _check_warmup(_inst: object, _attr: object, value: int) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise VolError(f"warmup_updates must be a whole number >= 1, got {value!r}")


@attrs.frozen
class VolStatistics:
    """A snapshot for logs and the control API."""

    sigma_per_sqrt_second: float
    sigma_per_sqrt_minute: float
    raw_sigma_per_sqrt_second: float | None
    floored: bool
    updates: int
    is_warm: bool
    last_ts: datetime | None
    last_price: float | None


@attrs.frozen
class EwmaVol:
    """Immutable EWMA volatility state. Start with ``EwmaVol()`` and feed prints in time order."""

    vol_lambda: float = attrs.field(default=DEFAULT_LAMBDA, validator=_check_lambda)
    microstructure_floor: float = attrs.field(
        default=DEFAULT_FLOOR_PER_SQRT_MINUTE, validator=_check_non_negative)
    step_seconds: float = attrs.field(default=1.0, validator=_check_positive)
    warmup_updates: int = attrs.field(default=DEFAULT_WARMUP_UPDATES, validator=_check_warmup)
    variance_per_second: float | None = None
    updates: int = 0
    last_ts: datetime | None = None
    last_price: float | None = None

    def update(self, ts: datetime, price: float) -> EwmaVol:
        """The state after one index print at ``ts``.

        A print with the same timestamp as the previous one replaces it (a correction; no return
        is formed). A print older than the previous one raises :class:`VolError`: the caller must
        drop out-of-order prints, because folding them in would double-count a move.
        """
        if ts.tzinfo is None:
            raise VolError("index print timestamp is naive; pass timezone-aware times")
        if not (math.isfinite(price) and price > 0.0):
            raise VolError(f"index print price must be finite and > 0, got {price!r}")
        if self.last_ts is None or self.last_price is None:
            return attrs.evolve(self, last_ts=ts, last_price=price)
        dt = (ts - self.last_ts).total_seconds()
        if dt < 0:
            raise VolError(
                f"index print at {ts.isoformat()} is older than the previous one "
                f"at {self.last_ts.isoformat()}")
        if dt == 0:
            return attrs.evolve(self, last_price=price)
        r = math.log(price / self.last_price)
        sample = r * r / dt
        if self.variance_per_second is None:
            variance = sample
        else:
            decay = self.vol_lambda ** (dt / self.step_seconds)
            variance = decay * self.variance_per_second + (1.0 - decay) * sample
        return attrs.evolve(self, variance_per_second=variance, updates=self.updates + 1,
                            last_ts=ts, last_price=price)

    @property
    def is_warm(self) -> bool:
        return self.updates >= self.warmup_updates

    @property
    def floor_per_sqrt_second(self) -> float:
        return per_sqrt_minute_to_per_sqrt_second(self.microstructure_floor)

    @property
    def sigma_per_sqrt_second(self) -> float:
        """σ per √second, never below the floor (the floor alone before any return is seen)."""
        raw = math.sqrt(self.variance_per_second) if self.variance_per_second is not None else 0.0
        return max(raw, self.floor_per_sqrt_second)

    def statistics(self) -> VolStatistics:
        raw = math.sqrt(self.variance_per_second) if self.variance_per_second is not None else None
        sigma = self.sigma_per_sqrt_second
        return VolStatistics(
            sigma_per_sqrt_second=sigma,
            sigma_per_sqrt_minute=sigma * math.sqrt(SECONDS_PER_MINUTE),
            raw_sigma_per_sqrt_second=raw,
            floored=raw is None or raw < self.floor_per_sqrt_second,
            updates=self.updates,
            is_warm=self.is_warm,
            last_ts=self.last_ts,
            last_price=self.last_price,
        )
