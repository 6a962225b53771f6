"""RollingWindow: O(1) sliding mean/variance that agrees with the direct computation."""

from __future__ import annotations

import math

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from kalshid.core.rolling import RollingWindow


def direct(values: list[float]) -> tuple[float, float]:
    n = len(values)
    mean = math.fsum(values) / n
    return mean, math.fsum((v - mean) ** 2 for v in values) / n


@settings(max_examples=200, deadline=None)
@given(st.lists(st.tuples(st.floats(0.0, 5.0), st.floats(0.0001, 0.9999)), min_size=1, max_size=400),
       st.floats(1.0, 60.0))
def test_matches_direct_computation_over_a_sliding_window(steps: list[tuple[float, float]], window: float) -> None:
    w = RollingWindow()
    kept: list[tuple[float, float]] = []
    t = 0.0
    for dt, x in steps:
        t += dt
        w.append(t, x)
        kept.append((t, x))
        w.drop_before(t - window)
        kept = [(s, v) for s, v in kept if s >= t - window]
        assert len(w) == len(kept)
        mean, var = direct([v for _, v in kept])
        assert w.mean() == pytest.approx(mean, abs=1e-12)
        assert w.variance() == pytest.approx(var, abs=1e-12)


def test_constant_series_has_exactly_zero_variance_even_after_churn() -> None:
    w = RollingWindow()
    for i in range(1000):
        w.append(float(i), 0.1 * (i % 7))  # varied values first
        w.drop_before(i - 10.0)
    for i in range(1000, 1100):
        w.append(float(i), 0.37)
        w.drop_before(i - 10.0)
    assert len(w) == 11
    assert w.variance() == 0.0
    assert w.mean() == 0.37


def test_refuses_points_out_of_time_order_and_clears() -> None:
    w = RollingWindow()
    w.append(10.0, 0.5)
    w.append(10.0, 0.6)  # equal times are fine
    with pytest.raises(ValueError, match="older than the newest point"):
        w.append(9.0, 0.5)
    assert w.last_time == 10.0 and w.last_value == 0.6
    w.drop_before(11.0)
    assert len(w) == 0 and w.mean() is None and w.variance() is None and w.last_time is None


def test_a_copy_carries_the_statistics_and_is_independent() -> None:
    w = RollingWindow()
    for i in range(30):
        w.append(float(i), 0.4 + 0.01 * (i % 5))
    c = w.copy()
    assert (c.mean(), c.variance(), len(c)) == (w.mean(), w.variance(), len(w))
    c.append(31.0, 0.9)
    c.drop_before(20.0)
    assert len(w) == 30 and w.last_value == 0.4 + 0.01 * 4
