"""Volatility of the settlement index (SOLUSD_RTI) as an EWMA whose memory is a time, not a count.

**Estimator.** Each return ``r = ln(P/P_anchor)`` over ``Δt`` seconds is an unbiased sample of the
per-second variance, ``r²/Δt``, that covers the interval ``Δt``. Past information is discounted by
its age with a half-life ``H`` (``k = ln 2 / H``), and a sample is weighted by the exponential kernel
integrated over the time it covers, ``w = (1 − e^(−kΔt))/k``. The estimate is the normalised ratio

    σ² = S / T,   S ← e^(−kΔt)·S + w·r²/Δt,   T ← e^(−kΔt)·T + w,

so the first return is its own estimate (no prior, no seeding rule) and a path observed every second
or every minute gives the same σ in expectation: the weights depend only on the clock, never on how
many prints arrived. ``T`` is the *evidence* in seconds (it tends to ``H/ln 2`` under steady prints).

**Bursts and gaps.** A print less than ``min_return_seconds`` after the last *anchor* (the print that
closed the previous return) updates the latest price but forms no return, so a burst of prints in
the same instant cannot add rounding noise as variance. A return that spans more than
``max_return_seconds`` (a feed gap) is still used (its ``r²/Δt`` is unbiased) but counts as only
``max_return_seconds`` of evidence, while the old state still ages by the whole gap: after a long gap
the estimate rests on little evidence and :attr:`EwmaVol.is_warm` turns false until
``warmup_seconds`` of evidence and ``warmup_returns`` effective returns are seen again.

**Effective returns.** The estimate is a weighted mean of the samples ``r²/Δt``, with weights
``vᵢ = wᵢ·e^(−k·ageᵢ)``; each sample has the same relative noise (``r²/Δt`` is ``σ²·χ²₁``), so the
estimate is as precise as ``(Σv)²/Σv²`` equally weighted returns (Kish's effective sample size). That
number, not a count of returns, is what ``warmup_returns`` asks for: it equals the count while returns
cover equal times, and it stays near 1 when one return across a feed gap carries most of the weight
(a reconnect during the warm-up, or the first return after a long outage), so σ from a single sample
is not traded on. The defaults (30 s and 20 returns) match one-second index prints: σ from 30 returns
is within about 13 % (one standard error), well inside the strategy's edge threshold, and the daemon
trades within a minute of a cold start.

**No constant floor by default.** ``microstructure_floor`` (per √minute) is an optional lower
bound, 0 by default. A floor stands in for a memory too short to average over calm stretches (a decay
of 0.94 per one-second print is an 11-s half-life: a few quiet prints drive σ towards zero). With the
one-hour half-life chosen on SOL 1-minute closes 2021-10 → 2024-02 (``kalshid backtest --study vol``,
``docs/research.md`` §1), the Gaussian likelihood of the 15-minute move is better without a
floor, and a floor fixed on one period binds for days on another (SOL spot on 2026-08-17 moved
0.00033/√min, half of 0.0007).

The type is frozen: :meth:`EwmaVol.update` returns a new value, so the estimator is deterministic
and replayable. Bad input (non-positive price, naive or backwards time) raises :class:`VolError`.
"""

from __future__ import annotations

import math
from datetime import datetime

import attrs

from kalshid.core.slots import slot_setters

SECONDS_PER_MINUTE = 60.0
DEFAULT_HALF_LIFE_SECONDS = 3600.0
DEFAULT_FLOOR_PER_SQRT_MINUTE = 0.0
DEFAULT_MIN_RETURN_SECONDS = 0.5
DEFAULT_MAX_RETURN_SECONDS = 300.0
DEFAULT_WARMUP_SECONDS = 30.0
DEFAULT_WARMUP_RETURNS = 20.0


_new = object.__new__
_LN2 = math.log(2.0)
_SQRT_SECONDS_PER_MINUTE = math.sqrt(SECONDS_PER_MINUTE)


class VolError(ValueError):
    """A print could not be used: bad price, naive or backwards timestamp, or bad parameters."""


def per_sqrt_minute_to_per_sqrt_second(sigma: float) -> float:
    """Convert a volatility quoted per √minute into one per √second."""
    return sigma / math.sqrt(SECONDS_PER_MINUTE)


def _check_non_negative(_inst: object, attr: attrs.Attribute[float], value: float) -> None:
    if isinstance(value, bool) or not (math.isfinite(value) and value >= 0.0):
        raise VolError(f"{attr.name} must be a finite number >= 0, got {value!r}")


def _check_positive(_inst: object, attr: attrs.Attribute[float], value: float) -> None:
    if isinstance(value, bool) or not (math.isfinite(value) and value > 0.0):
        raise VolError(f"{attr.name} must be a finite number > 0, got {value!r}")


@attrs.frozen
class VolStatistics:
    """A snapshot for logs and the control API."""

    sigma_per_sqrt_second: float
    sigma_per_sqrt_minute: float
    raw_sigma_per_sqrt_second: float | None
    floored: bool
    updates: int
    evidence_seconds: float
    effective_returns: float
    is_warm: bool
    last_ts: datetime | None
    last_price: float | None


@attrs.frozen
class EwmaVol:
    """Immutable time-based EWMA volatility. Start with ``EwmaVol()`` and feed prints in time order."""

    half_life_seconds: float = attrs.field(default=DEFAULT_HALF_LIFE_SECONDS, validator=_check_positive)
    microstructure_floor: float = attrs.field(
        default=DEFAULT_FLOOR_PER_SQRT_MINUTE, validator=_check_non_negative)
    min_return_seconds: float = attrs.field(default=DEFAULT_MIN_RETURN_SECONDS, validator=_check_non_negative)
    max_return_seconds: float = attrs.field(default=DEFAULT_MAX_RETURN_SECONDS, validator=_check_positive)
    warmup_seconds: float = attrs.field(default=DEFAULT_WARMUP_SECONDS, validator=_check_non_negative)
    warmup_returns: float = attrs.field(default=DEFAULT_WARMUP_RETURNS, validator=_check_non_negative)
    weighted_variance: float = 0.0
    evidence_seconds: float = 0.0  # Σv: the discounted weights
    squared_weights: float = 0.0  # Σv²: the discounted weights squared
    updates: int = 0
    anchor_ts: datetime | None = None
    anchor_price: float | None = None
    last_ts: datetime | None = None
    last_price: float | None = None

    def __attrs_post_init__(self) -> None:
        if self.max_return_seconds < self.min_return_seconds:
            raise VolError(f"max_return_seconds ({self.max_return_seconds}) must not be below "
                           f"min_return_seconds ({self.min_return_seconds})")

    def update(self, ts: datetime, price: float) -> EwmaVol:
        """The state after one index print at ``ts``.

        A print with the same timestamp as the previous one replaces it (a correction). A print
        older than the previous one raises :class:`VolError`: the caller must drop out-of-order
        prints, because folding them in would double-count a move.
        """
        if ts.tzinfo is None:
            raise VolError("index print timestamp is naive; pass timezone-aware times")
        if not (math.isfinite(price) and price > 0.0):
            raise VolError(f"index print price must be finite and > 0, got {price!r}")
        if self.last_ts is not None and ts < self.last_ts:
            raise VolError(
                f"index print at {ts.isoformat()} is older than the previous one "
                f"at {self.last_ts.isoformat()}")
        if self.anchor_ts is None or self.anchor_price is None:
            return attrs.evolve(self, anchor_ts=ts, anchor_price=price, last_ts=ts, last_price=price)
        dt = (ts - self.anchor_ts).total_seconds()
        if dt <= 0.0 or dt < self.min_return_seconds:
            if dt <= 0.0:  # a correction of the anchor print itself
                return attrs.evolve(self, anchor_price=price, last_ts=ts, last_price=price)
            return attrs.evolve(self, last_ts=ts, last_price=price)
        r = math.log(price / self.anchor_price)
        k = _LN2 / self.half_life_seconds
        decay = math.exp(-k * dt)
        capped = self.max_return_seconds if self.max_return_seconds < dt else dt  # min(dt, max_return_seconds)
        weight = -math.expm1(-k * capped) / k
        # this runs on every index print: the parameters are this (validated) instance's, so the new
        # value is built without the constructor's checks (and without attrs.evolve's introspection)
        new = _new(EwmaVol)
        _SET_HALF_LIFE_SECONDS(new, self.half_life_seconds)
        _SET_MICROSTRUCTURE_FLOOR(new, self.microstructure_floor)
        _SET_MIN_RETURN_SECONDS(new, self.min_return_seconds)
        _SET_MAX_RETURN_SECONDS(new, self.max_return_seconds)
        _SET_WARMUP_SECONDS(new, self.warmup_seconds)
        _SET_WARMUP_RETURNS(new, self.warmup_returns)
        _SET_WEIGHTED_VARIANCE(new, decay * self.weighted_variance + weight * (r * r / dt))
        _SET_EVIDENCE_SECONDS(new, decay * self.evidence_seconds + weight)
        _SET_SQUARED_WEIGHTS(new, decay * decay * self.squared_weights + weight * weight)
        _SET_UPDATES(new, self.updates + 1)
        _SET_ANCHOR_TS(new, ts)
        _SET_ANCHOR_PRICE(new, price)
        _SET_LAST_TS(new, ts)
        _SET_LAST_PRICE(new, price)
        return new

    @property
    def variance_per_second(self) -> float | None:
        """The unfloored estimate, or None before the first return."""
        if self.evidence_seconds <= 0.0:
            return None
        return self.weighted_variance / self.evidence_seconds

    @property
    def effective_returns(self) -> float:
        """How many equally weighted returns the estimate is as precise as: ``(Σv)²/Σv²`` (0 before
        the first return)."""
        squared = self.squared_weights
        return 0.0 if squared <= 0.0 else self.evidence_seconds * self.evidence_seconds / squared

    @property
    def is_warm(self) -> bool:
        """Enough recent evidence to trade on σ: ``warmup_seconds`` of discounted evidence and
        ``warmup_returns`` effective returns (a long feed gap, or a return across a gap that outweighs
        the rest, makes the estimator cold)."""
        return (self.updates > 0 and self.evidence_seconds >= self.warmup_seconds
                and self.effective_returns >= self.warmup_returns)

    @property
    def floor_per_sqrt_second(self) -> float:
        return per_sqrt_minute_to_per_sqrt_second(self.microstructure_floor)

    @property
    def sigma_per_sqrt_second(self) -> float:
        """σ per √second, never below the floor (0 before any return unless a floor is set)."""
        # variance_per_second and floor_per_sqrt_second, inlined (the same operations): read per print
        evidence = self.evidence_seconds
        raw = 0.0 if evidence <= 0.0 else math.sqrt(self.weighted_variance / evidence)
        floor = self.microstructure_floor / _SQRT_SECONDS_PER_MINUTE
        return floor if floor > raw else raw  # max(raw, floor)

    def statistics(self) -> VolStatistics:
        variance = self.variance_per_second
        raw = math.sqrt(variance) if variance is not None else None
        sigma = self.sigma_per_sqrt_second
        return VolStatistics(
            sigma_per_sqrt_second=sigma,
            sigma_per_sqrt_minute=sigma * math.sqrt(SECONDS_PER_MINUTE),
            raw_sigma_per_sqrt_second=raw,
            floored=self.microstructure_floor > 0.0 and (raw is None or raw < self.floor_per_sqrt_second),
            updates=self.updates,
            evidence_seconds=self.evidence_seconds,
            effective_returns=self.effective_returns,
            is_warm=self.is_warm,
            last_ts=self.last_ts,
            last_price=self.last_price,
        )


(_SET_HALF_LIFE_SECONDS, _SET_MICROSTRUCTURE_FLOOR, _SET_MIN_RETURN_SECONDS, _SET_MAX_RETURN_SECONDS,
 _SET_WARMUP_SECONDS, _SET_WARMUP_RETURNS, _SET_WEIGHTED_VARIANCE, _SET_EVIDENCE_SECONDS, _SET_SQUARED_WEIGHTS,
 _SET_UPDATES, _SET_ANCHOR_TS, _SET_ANCHOR_PRICE, _SET_LAST_TS, _SET_LAST_PRICE) = slot_setters(EwmaVol)
