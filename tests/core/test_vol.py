"""EWMA volatility: convergence, irregular spacing, floor, warm-up, bad input."""

from __future__ import annotations

import math
from datetime import UTC, datetime, timedelta

import numpy as np
import pytest

from kalshid.core.vol import EwmaVol, VolError, per_sqrt_minute_to_per_sqrt_second

T0 = datetime(2026, 7, 1, 12, 0, tzinfo=UTC)


def _feed(vol: EwmaVol, sigma: float, dts: np.ndarray, rng: np.random.Generator) -> EwmaVol:
    t, logp = T0, math.log(100.0)
    vol = vol.update(t, 100.0)
    for dt in dts:
        t += timedelta(seconds=float(dt))
        logp += sigma * math.sqrt(float(dt)) * float(rng.standard_normal())
        vol = vol.update(t, math.exp(logp))
    return vol


def test_converges_to_true_sigma_with_regular_prints() -> None:
    rng = np.random.default_rng(1)
    sigmas = []
    vol = EwmaVol(vol_lambda=0.99, microstructure_floor=0.0)
    t, logp = T0, math.log(100.0)
    vol = vol.update(t, 100.0)
    for i in range(20_000):
        t += timedelta(seconds=1)
        logp += 3e-4 * float(rng.standard_normal())
        vol = vol.update(t, math.exp(logp))
        if i > 1000 and i % 50 == 0:
            sigmas.append(vol.sigma_per_sqrt_second)
    assert np.mean(sigmas) == pytest.approx(3e-4, rel=0.03)


def test_irregular_spacing_is_normalised_per_second() -> None:
    rng = np.random.default_rng(2)
    dts = rng.choice([1.0, 2.0, 5.0, 0.5], size=20_000)
    vol = _feed(EwmaVol(vol_lambda=0.995, microstructure_floor=0.0), 2e-4, dts, rng)
    assert vol.sigma_per_sqrt_second == pytest.approx(2e-4, rel=0.15)
    assert vol.updates == 20_000


def test_gap_weighs_like_many_prints() -> None:
    v = EwmaVol(vol_lambda=0.5, microstructure_floor=0.0).update(T0, 100.0)
    v = v.update(T0 + timedelta(seconds=1), 100.0 * math.exp(1e-3))  # seeds variance 1e-6
    flat_one = v.update(T0 + timedelta(seconds=2), 100.0 * math.exp(1e-3))
    flat_ten = v.update(T0 + timedelta(seconds=11), 100.0 * math.exp(1e-3))
    assert flat_one.variance_per_second == pytest.approx(0.5e-6)
    assert flat_ten.variance_per_second == pytest.approx(0.5**10 * 1e-6)


def test_floor_unit_is_per_sqrt_minute_and_applies() -> None:
    v = EwmaVol()  # floor 0.0007 per sqrt(minute)
    assert v.sigma_per_sqrt_second == pytest.approx(0.0007 / math.sqrt(60))
    assert per_sqrt_minute_to_per_sqrt_second(0.0007) == pytest.approx(9.037e-5, rel=1e-3)
    v = v.update(T0, 100.0).update(T0 + timedelta(seconds=1), 100.0)  # zero return
    stats = v.statistics()
    assert stats.floored and stats.raw_sigma_per_sqrt_second == 0.0
    assert stats.sigma_per_sqrt_minute == pytest.approx(0.0007)


def test_warm_up_and_same_timestamp_correction() -> None:
    v = EwmaVol(warmup_updates=3).update(T0, 100.0)
    assert not v.is_warm and v.updates == 0
    v = v.update(T0, 101.0)  # correction: replaces the price, no return
    assert v.updates == 0 and v.last_price == 101.0
    for i in range(1, 4):
        v = v.update(T0 + timedelta(seconds=i), 101.0 + i * 0.01)
    assert v.is_warm and v.updates == 3


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


@pytest.mark.parametrize("kw", [{"vol_lambda": 1.0}, {"vol_lambda": 0.0}, {"microstructure_floor": -0.1},
                                {"warmup_updates": 0}, {"step_seconds": 0.0}])
def test_bad_parameters_raise(kw: dict[str, float]) -> None:
    with pytest.raises(VolError):
        EwmaVol(**kw)  # type: ignore[arg-type]
