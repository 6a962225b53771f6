"""Fair value: limits, monotonicity, the averaging variance, and Monte Carlo calibration."""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest

from kalshid.core.pricing import (
    PricingError,
    digital_probability,
    fair_yes_probability,
    normal_cdf,
    remaining_average_log_variance,
)

SIGMA = 1e-4  # per sqrt(second): about 0.00077 per sqrt(minute), a typical SOL level


def test_normal_cdf_values() -> None:
    assert normal_cdf(0.0) == 0.5
    assert normal_cdf(1.959963984540054) == pytest.approx(0.975, abs=1e-12)
    assert normal_cdf(-40.0) == 0.0 or normal_cdf(-40.0) < 1e-300
    assert normal_cdf(-10.0) == pytest.approx(7.61985302416e-24, rel=1e-9)  # erfc keeps the tail


def test_discrete_variance_matches_brute_force() -> None:
    for m, d in ((60, 0.0), (60, 240.0), (7, 1.0), (1, 3.0)):
        u = [d + j for j in range(m)]
        brute = sum(min(a, b) for a in u for b in u) / m**2
        assert remaining_average_log_variance(1.0, d, m) == pytest.approx(brute, rel=1e-12)


def test_variance_approaches_continuous_formula() -> None:
    # sigma^2 (T - A - t) + sigma^2 A / 3 for A = 60 s, t = 300 s before close
    continuous = SIGMA**2 * (300 - 60) + SIGMA**2 * 60 / 3
    discrete = remaining_average_log_variance(SIGMA, 240.0, 60)
    assert discrete == pytest.approx(continuous, rel=0.02)


def test_at_the_money_is_one_half_and_symmetric() -> None:
    assert fair_yes_probability(100.0, 100.0, SIGMA, 600.0) == 0.5
    up = fair_yes_probability(100.05, 100.0, SIGMA, 600.0)
    down = fair_yes_probability(100.0, 100.05, SIGMA, 600.0)
    assert up + down == pytest.approx(1.0, abs=1e-12)


def test_deterministic_limits_and_ties_pay_yes() -> None:
    assert fair_yes_probability(100.0, 100.0, 0.0, 600.0) == 1.0  # tie -> YES
    assert fair_yes_probability(100.01, 100.0, 0.0, 600.0) == 1.0
    assert fair_yes_probability(99.99, 100.0, 0.0, 600.0) == 0.0
    # All 60 prints observed: the average decides, whatever sigma
    assert fair_yes_probability(50.0, 100.0, 0.1, 0.0, observed_sum=6000.0, observed_count=60) == 1.0
    assert fair_yes_probability(500.0, 100.0, 0.1, 0.0, observed_sum=5999.99, observed_count=60) == 0.0
    # Observed prints already guarantee the strike: certain even with huge vol
    assert fair_yes_probability(1.0, 100.0, 0.5, 10.0, observed_sum=7000.0, observed_count=50) == 1.0


def test_monotone_in_spot_and_in_sigma() -> None:
    spots = [99.0 + 0.01 * i for i in range(200)]
    probs = [fair_yes_probability(s, 100.0, SIGMA, 400.0) for s in spots]
    assert all(a <= b for a, b in itertools.pairwise(probs))
    assert probs[0] < 0.01 and probs[-1] > 0.99
    # More vol pulls an in-the-money price toward 1/2, an out-of-the-money one up toward 1/2
    itm = [fair_yes_probability(100.05, 100.0, s, 400.0) for s in (5e-5, 1e-4, 2e-4, 4e-4)]
    otm = [fair_yes_probability(99.95, 100.0, s, 400.0) for s in (5e-5, 1e-4, 2e-4, 4e-4)]
    assert itm == sorted(itm, reverse=True) and otm == sorted(otm)


def test_averaging_is_more_decisive_than_the_endpoint_digital() -> None:
    # The average over the last minute has less variance than the close print, so an ITM price
    # is worth more than the textbook digital says, most visibly near the window.
    for tau in (60.0, 120.0, 900.0):
        avg = fair_yes_probability(100.02, 100.0, SIGMA, tau)
        end = digital_probability(100.02, 100.0, SIGMA, tau)
        assert avg > end

    def gap(tau: float) -> float:
        spot, strike = 100.02, 100.0
        return fair_yes_probability(spot, strike, SIGMA, tau) - digital_probability(spot, strike, SIGMA, tau)

    assert gap(60.0) > gap(900.0)


def test_inside_window_uses_the_observed_sum() -> None:
    # 30 prints observed at 100.10; spot now 99.95 vs strike 100.00: the observed half carries it.
    p = fair_yes_probability(99.95, 100.0, SIGMA, 31.0, observed_sum=30 * 100.10, observed_count=30)
    assert p > 0.9
    # Same spot with no help from the observed prints: below one half
    q = fair_yes_probability(99.95, 100.0, SIGMA, 31.0, observed_sum=30 * 99.95, observed_count=30)
    assert q < 0.5


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"spot": 0.0}, "spot"),
        ({"strike": -1.0}, "strike"),
        ({"sigma": -1e-4}, "sigma"),
        ({"tau": float("nan")}, "seconds_to_close"),
        ({"tau": 120.0, "observed_sum": 100.0, "observed_count": 1}, "window starts in"),
        ({"tau": 10.0, "observed_sum": 100.0, "observed_count": 61}, "observed_count"),
        ({"tau": 10.0, "observed_sum": 100.0, "observed_count": 0}, "observed_count is 0"),
    ],
)
def test_bad_inputs_raise(kwargs: dict[str, float], match: str) -> None:
    args = {"spot": 100.0, "strike": 100.0, "sigma": SIGMA, "tau": 600.0, "observed_sum": 0.0,
            "observed_count": 0}
    args.update(kwargs)
    with pytest.raises(PricingError, match=match):
        fair_yes_probability(args["spot"], args["strike"], args["sigma"], args["tau"],
                             observed_sum=args["observed_sum"], observed_count=int(args["observed_count"]))


# --- calibration -------------------------------------------------------------------------------


def _max_bucket_z(pred: np.ndarray, outcome: np.ndarray, *, min_n: int = 400) -> tuple[float, int]:
    """Largest |observed − predicted| in units of its standard error (+ a small slack), over deciles."""
    worst, used = 0.0, 0
    bins = np.clip((pred * 10).astype(int), 0, 9)
    for b in range(10):
        sel = bins == b
        n = int(sel.sum())
        if n < min_n:
            continue
        used += 1
        p = float(pred[sel].mean())
        se = math.sqrt(max(float((pred[sel] * (1 - pred[sel])).mean()), 1e-4) / n)
        worst = max(worst, abs(float(outcome[sel].mean()) - p) / (se + 0.004))
    return worst, used


def _simulate_outside(rng: np.random.Generator, n: int) -> tuple[np.ndarray, ...]:
    tau = rng.uniform(61.0, 900.0, n)
    spot = np.full(n, 100.0)
    strike = 100.0 * np.exp(SIGMA * np.sqrt(tau) * rng.standard_normal(n))
    d = tau - 60.0  # seconds until the first settlement print
    first = np.sqrt(d)[:, None] * rng.standard_normal((n, 1))
    steps = rng.standard_normal((n, 59))
    w = np.concatenate([first, first + np.cumsum(steps, axis=1)], axis=1)
    avg = (spot[:, None] * np.exp(SIGMA * w)).mean(axis=1)
    return tau, spot, strike, avg >= strike


def _simulate_inside(rng: np.random.Generator, n: int) -> tuple[np.ndarray, ...]:
    count = rng.integers(1, 60, n)  # 1..59 prints observed; the latest observed print is "now"
    w = np.cumsum(rng.standard_normal((n, 60)), axis=1)
    prints = 100.0 * np.exp(SIGMA * w)
    idx = np.arange(60)[None, :]
    observed = np.where(idx < count[:, None], prints, 0.0).sum(axis=1)
    spot = prints[np.arange(n), count - 1]
    tau = 61.0 - count  # the latest observed print is at close - 60 + (count - 1)
    strike = 100.0 * np.exp(SIGMA * 5.0 * rng.standard_normal(n))
    return tau, spot, strike, observed, count, prints.mean(axis=1) >= strike


def test_calibration_outside_the_final_minute() -> None:
    rng = np.random.default_rng(20260525)
    tau, spot, strike, yes = _simulate_outside(rng, 60_000)
    pred = np.array([fair_yes_probability(float(s), float(k), SIGMA, float(t))
                     for s, k, t in zip(spot, strike, tau, strict=True)])
    z, used = _max_bucket_z(pred, yes.astype(float))
    assert used >= 8
    assert z < 4.0, z


def test_calibration_inside_the_final_minute_and_naive_model_fails() -> None:
    rng = np.random.default_rng(20260714)
    tau, spot, strike, observed, count, yes = _simulate_inside(rng, 60_000)
    pred = np.array([
        fair_yes_probability(float(s), float(k), SIGMA, float(t), observed_sum=float(o),
                             observed_count=int(c))
        for s, k, t, o, c in zip(spot, strike, tau, observed, count, strict=True)])
    z, used = _max_bucket_z(pred, yes.astype(float))
    assert used >= 8
    assert z < 4.0, z
    # The test has power: the endpoint digital that ignores the observed prints is badly off.
    naive = np.array([digital_probability(float(s), float(k), SIGMA, float(t))
                      for s, k, t in zip(spot, strike, tau, strict=True)])
    z_naive, _ = _max_bucket_z(naive, yes.astype(float))
    assert z_naive > 8.0, z_naive


@pytest.mark.parametrize("spot, strike, sigma, tau, observed_sum, observed_count", [
    (100.0, 100.33, 2e-4, 300.0, 0.0, 0),          # five minutes out
    (100.0, 100.09, 2e-4, 60.5, 0.0, 0),           # the first settlement print half a second ahead
    (100.0, 100.07, 2e-4, 45.0, 16 * 100.05, 16),  # inside the window, 16 prints observed
    (100.0, 99.99, 3e-4, 10.0, 50 * 99.98, 50),    # ten seconds to go
])
def test_price_matches_a_monte_carlo_of_the_closing_average(spot: float, strike: float, sigma: float, tau: float,
                                                           observed_sum: float, observed_count: int) -> None:
    """At single market states: P(the 60-print arithmetic average >= strike) over 100 000 simulated paths
    of ln S = ln S0 + σW, prints one second apart ending a second before the close, within 0.006 (about
    five standard errors; a 10 % error in the averaging variance moves each case by more than 0.01)."""
    rng = np.random.default_rng(20261205)
    remaining = 60 - observed_count
    first = tau - remaining  # seconds from now to the first unobserved print
    gaps = np.array([first] + [1.0] * (remaining - 1))
    log_paths = np.cumsum(sigma * np.sqrt(gaps) * rng.standard_normal((100_000, remaining)), axis=1)
    average = (observed_sum + (spot * np.exp(log_paths)).sum(axis=1)) / 60
    simulated = float((average >= strike).mean())
    priced = fair_yes_probability(spot, strike, sigma, tau, observed_sum=observed_sum, observed_count=observed_count)
    assert priced == pytest.approx(simulated, abs=0.006)


@pytest.mark.parametrize("strike", [181.07, 150.12, 88.8888, 143.21, 99.99])
def test_a_closing_average_equal_to_the_strike_pays_yes_whatever_the_rounding_of_its_sum(strike: float) -> None:
    # Sixty prints at the strike, summed one by one in floating point, can land an ulp below 60 x strike;
    # the average still equals the strike to the index's precision, and ties pay YES.
    total = 0.0
    for _ in range(60):
        total += strike
    assert total < 60 * strike  # the rounding these strikes show
    assert fair_yes_probability(strike, strike, 1e-4, 0.0, observed_sum=total, observed_count=60) == 1.0
    assert fair_yes_probability(strike, strike, 1e-4, 1.0, observed_sum=total - strike, observed_count=59) == 1.0
    assert fair_yes_probability(strike, strike, 0.0, 30.0, observed_sum=total / 2, observed_count=30) == 1.0
    # a real shortfall, however small against the price, still pays NO
    below = strike * (1 - 1e-9)
    assert fair_yes_probability(below, strike, 1e-4, 0.0, observed_sum=60 * below, observed_count=60) == 0.0
