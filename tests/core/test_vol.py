"""Time-based EWMA volatility: sampling-rate invariance, gaps, bursts, floor, warm-up, bad input,
and the calibration of the fair value it feeds on simulated paths with a known σ."""

from __future__ import annotations

import math
from datetime import UTC, datetime, timedelta

import numpy as np
import pytest

from kalshid.core.pricing import fair_yes_probability
from kalshid.core.vol import EwmaVol, VolError, per_sqrt_minute_to_per_sqrt_second

T0 = datetime(2026, 7, 1, 12, 0, tzinfo=UTC)


def _path(sigma: float, seconds: int, rng: np.random.Generator) -> np.ndarray:
    """Log-prices of a driftless Brownian path sampled every second (index i = i seconds after T0)."""
    steps = sigma * rng.standard_normal(seconds)
    return np.concatenate([[math.log(100.0)], math.log(100.0) + np.cumsum(steps)])


def _feed(vol: EwmaVol, logp: np.ndarray, times: np.ndarray) -> EwmaVol:
    for t in times:
        vol = vol.update(T0 + timedelta(seconds=float(t)), math.exp(float(logp[int(t)])))
    return vol


@pytest.mark.parametrize("sigma", [5e-5, 3e-4])
def test_same_path_sampled_at_different_rates_gives_the_same_sigma(sigma: float) -> None:
    # One path, observed every 1 s, every 15 s, and every 60 s: the estimate depends on the clock,
    # not on the number of prints. Averaged over paths so the check is about bias, not noise.
    rng = np.random.default_rng(7)
    ratios: dict[int, list[float]] = {1: [], 15: [], 60: []}
    for _ in range(6):
        logp = _path(sigma, 3 * 3600, rng)
        for step, out in ratios.items():
            vol = _feed(EwmaVol(half_life_seconds=1800.0), logp, np.arange(0, 3 * 3600 + 1, step))
            out.append(vol.sigma_per_sqrt_second / sigma)
    means = {step: float(np.mean(r)) for step, r in ratios.items()}
    for step, m in means.items():
        assert m == pytest.approx(1.0, abs=0.06), (step, means)
    assert means[1] == pytest.approx(means[60], abs=0.06)


def test_irregular_spacing_is_unbiased() -> None:
    rng = np.random.default_rng(2)
    logp = _path(2e-4, 8 * 3600, rng)
    gaps = rng.choice([1, 2, 5, 13, 40], size=4000)
    times = np.concatenate([[0], np.cumsum(gaps)])
    times = times[times <= 8 * 3600]
    vol = _feed(EwmaVol(half_life_seconds=3600.0), logp, times)
    assert vol.sigma_per_sqrt_second == pytest.approx(2e-4, rel=0.12)
    assert vol.is_warm


def test_memory_is_a_half_life_in_seconds() -> None:
    # A variance regime that ended one half-life ago weighs half as much as at its end.
    v = EwmaVol(half_life_seconds=600.0, warmup_seconds=0.0, warmup_returns=0.0)
    v = v.update(T0, 100.0).update(T0 + timedelta(seconds=1), 100.0 * math.exp(1e-3))
    assert v.variance_per_second == pytest.approx(1e-6)
    before = v.weighted_variance, v.evidence_seconds
    flat = v.update(T0 + timedelta(seconds=601), 100.0 * math.exp(1e-3))  # no move over 600 s
    assert flat.weighted_variance == pytest.approx(0.5 * before[0])
    # 600 s of flat evidence counts max_return_seconds (300 s) only; the old evidence halves.
    k = math.log(2) / 600.0
    assert flat.evidence_seconds == pytest.approx(0.5 * before[1] + (1 - math.exp(-k * 300)) / k)


def test_a_long_gap_makes_the_estimator_cold_again() -> None:
    rng = np.random.default_rng(3)
    logp = _path(1e-4, 3600, rng)
    vol = _feed(EwmaVol(), logp, np.arange(0, 3601))
    assert vol.is_warm
    later = vol.update(T0 + timedelta(hours=24), math.exp(float(logp[-1])) * 1.001)
    assert not later.is_warm
    assert later.updates == vol.updates + 1


def test_a_burst_of_prints_forms_no_returns() -> None:
    v = EwmaVol(min_return_seconds=0.5).update(T0, 100.0)
    for i in range(1, 10):  # ten prints bouncing within 90 ms
        v = v.update(T0 + timedelta(milliseconds=10 * i), 100.0 + (0.05 if i % 2 else 0.0))
    assert v.updates == 0 and v.variance_per_second is None
    assert v.last_price == pytest.approx(100.05)
    v = v.update(T0 + timedelta(seconds=1), 100.0)
    assert v.updates == 1 and v.variance_per_second == 0.0  # the return runs from the anchor (100.0)


def test_no_floor_by_default_and_optional_floor_in_per_sqrt_minute() -> None:
    v = EwmaVol().update(T0, 100.0).update(T0 + timedelta(seconds=1), 100.0)
    assert v.sigma_per_sqrt_second == 0.0 and not v.statistics().floored
    f = EwmaVol(microstructure_floor=0.0007).update(T0, 100.0).update(T0 + timedelta(seconds=1), 100.0)
    assert per_sqrt_minute_to_per_sqrt_second(0.0007) == pytest.approx(9.037e-5, rel=1e-3)
    stats = f.statistics()
    assert stats.floored and stats.raw_sigma_per_sqrt_second == 0.0
    assert stats.sigma_per_sqrt_minute == pytest.approx(0.0007)


def test_warm_up_needs_evidence_and_returns_and_same_timestamp_is_a_correction() -> None:
    v = EwmaVol(warmup_seconds=3.0, warmup_returns=3.0).update(T0, 100.0)
    v = v.update(T0, 101.0)
    assert v.updates == 0 and v.anchor_price == 101.0
    for i in range(1, 4):
        assert not v.is_warm
        v = v.update(T0 + timedelta(seconds=i), 101.0 + i * 0.01)
    assert v.updates == 3
    assert not v.is_warm  # three returns, but their evidence decays a little below 3 s
    v = v.update(T0 + timedelta(seconds=4), 101.05)
    assert v.is_warm


def test_immutable_and_deterministic() -> None:
    a = EwmaVol().update(T0, 100.0)
    b = a.update(T0 + timedelta(seconds=1), 100.1)
    assert a.updates == 0 and b.updates == 1
    assert b == EwmaVol().update(T0, 100.0).update(T0 + timedelta(seconds=1), 100.1)


@pytest.mark.parametrize("price", [0.0, -1.0, float("nan"), float("inf")])
def test_bad_price_raises(price: float) -> None:
    with pytest.raises(VolError, match="price"):
        EwmaVol().update(T0, price)


def test_backwards_time_and_naive_time_raise() -> None:
    v = EwmaVol().update(T0, 100.0)
    with pytest.raises(VolError, match="older"):
        v.update(T0 - timedelta(seconds=1), 100.0)
    with pytest.raises(VolError, match="naive"):
        v.update(datetime(2026, 7, 1, 12, 1), 100.0)


@pytest.mark.parametrize("kw", [{"half_life_seconds": 0.0}, {"half_life_seconds": float("inf")},
                                {"microstructure_floor": -0.1}, {"warmup_seconds": -1.0},
                                {"max_return_seconds": 0.1, "min_return_seconds": 1.0}])
def test_bad_parameters_raise(kw: dict[str, float]) -> None:
    with pytest.raises(VolError):
        EwmaVol(**kw)  # type: ignore[arg-type]


def test_fair_value_is_calibrated_on_simulated_paths_with_known_sigma() -> None:
    # 15-minute windows of a Brownian index (σ known to the simulation, estimated by EwmaVol from
    # the previous hour of 1-s prints), priced 5 minutes before the close: in each probability
    # bucket the mean prediction matches the observed frequency.
    rng = np.random.default_rng(11)
    sigma = 1.2e-4
    preds: list[float] = []
    doubled: list[float] = []
    outcomes: list[bool] = []
    for _ in range(1200):
        logp = _path(sigma, 3600 + 900, rng)
        vol = _feed(EwmaVol(), logp, np.arange(0, 3601, 30))
        strike = float(np.mean(np.exp(logp[3600 - 60:3600])))
        settle = float(np.mean(np.exp(logp[3600 + 840:3600 + 900])))
        spot = math.exp(float(logp[3600 + 600]))
        preds.append(fair_yes_probability(spot, strike, vol.sigma_per_sqrt_second, 300.0))
        doubled.append(fair_yes_probability(spot, strike, 2 * vol.sigma_per_sqrt_second, 300.0))
        outcomes.append(settle >= strike)
    p, y = np.array(preds), np.array(outcomes, dtype=float)
    ece = 0.0
    for lo in np.linspace(0, 1, 11)[:-1]:
        sel = (p >= lo) & (p < lo + 0.1)
        if sel.sum():
            ece += sel.mean() * abs(p[sel].mean() - y[sel].mean())
    assert ece < 0.035
    # A σ twice too large (a fixed floor on a quiet day) is under-confident and scores worse.
    q = np.array(doubled)
    assert np.mean((q - y) ** 2) > np.mean((p - y) ** 2) + 0.005
    assert np.mean(np.abs(q - 0.5)) < np.mean(np.abs(p - 0.5))


def test_a_return_across_a_reconnect_gap_does_not_warm_the_estimator_up_on_its_own() -> None:
    # A cold start, a ten-minute reconnect gap after the first print, then one-second prints: the return
    # across the gap carries 300 s of evidence, nearly all of the weight, so σ rests on one sample and
    # twenty returns do not make it warm; one-second returns that outweigh it do.
    rng = np.random.default_rng(5)
    v = EwmaVol().update(T0, 100.0)
    t, price = T0 + timedelta(minutes=10), 100.2
    v = v.update(t, price)
    for i in range(1, 40):
        price *= math.exp(1e-4 * float(rng.standard_normal()))
        v = v.update(t + timedelta(seconds=i), price)
    assert v.updates == 40 and v.evidence_seconds > 300.0
    assert v.effective_returns < 2.0 and not v.is_warm
    for i in range(40, 1400):
        price *= math.exp(1e-4 * float(rng.standard_normal()))
        v = v.update(t + timedelta(seconds=i), price)
    assert v.is_warm and v.sigma_per_sqrt_second == pytest.approx(1e-4, rel=0.3)


def test_a_warm_estimator_stays_warm_across_a_reconnect_gap_of_minutes() -> None:
    rng = np.random.default_rng(6)
    logp = _path(1e-4, 3600, rng)
    vol = _feed(EwmaVol(), logp, np.arange(0, 3601))
    assert vol.effective_returns > 3000  # equal weights: nearly as many as the returns, discounted by age
    later = vol.update(T0 + timedelta(seconds=3600 + 600), math.exp(float(logp[-1])) * 1.002)
    assert later.is_warm and later.effective_returns > 50


def test_the_first_return_after_a_long_outage_does_not_make_the_estimator_warm() -> None:
    # Eight hours without prints: the old evidence has aged by eight half-lives and the return across the
    # outage outweighs it, so a handful of new one-second returns leave σ resting on that one sample.
    rng = np.random.default_rng(8)
    logp = _path(1e-4, 3600, rng)
    vol = _feed(EwmaVol(), logp, np.arange(0, 3601))
    t, price = T0 + timedelta(hours=9), math.exp(float(logp[-1])) * 1.05
    vol = vol.update(t, price)
    for i in range(1, 21):
        vol = vol.update(t + timedelta(seconds=i), price)
    assert vol.evidence_seconds > 30 and not vol.is_warm
