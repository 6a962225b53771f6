"""Forecast scores and logistic recalibration."""

from __future__ import annotations

import math

import pytest

from kalshid.core.calibration import (
    CalibrationError,
    LogisticRecalibration,
    brier,
    ece,
    log_loss,
    logit,
    sigmoid,
)


def test_scores_on_known_values() -> None:
    p, y = [0.9, 0.2, 0.5, 1.0], [1, 0, 1, 1]
    assert brier(p, y) == pytest.approx((0.01 + 0.04 + 0.25 + 0.0) / 4)
    assert log_loss(p, y) == pytest.approx(-(math.log(0.9) + math.log(0.8) + math.log(0.5) + math.log(1 - 1e-6)) / 4)
    assert brier([0.5] * 4, [1, 0, 1, 0]) == 0.25


def test_ece_bins_and_perfect_calibration() -> None:
    # Bin 0.2-0.3 holds four forecasts of 0.25 with one hit: calibrated; bin 0.9-1.0 two 1.0s with one hit.
    assert ece([0.25] * 4, [1, 0, 0, 0]) == pytest.approx(0.0)
    assert ece([1.0, 1.0], [1, 0]) == pytest.approx(0.5)
    assert ece([0.25] * 4 + [1.0, 1.0], [1, 0, 0, 0, 1, 0]) == pytest.approx(2 * 0.5 / 6)


def test_a_certain_wrong_forecast_costs_a_finite_log_loss() -> None:
    assert log_loss([0.0], [1]) == pytest.approx(-math.log(1e-6))


@pytest.mark.parametrize(("p", "y", "match"), [([1.2], [1], "not a probability"), ([0.5], [1, 0], "2 outcomes"),
                                               ([], [], "no forecasts"), ([float("nan")], [0], "not a probability")])
def test_bad_input_raises(p: list[float], y: list[int], match: str) -> None:
    with pytest.raises(CalibrationError, match=match):
        brier(p, y)


def test_recalibration_identity_sharpening_and_bounds() -> None:
    assert LogisticRecalibration()(0.3) == pytest.approx(0.3)
    sharp = LogisticRecalibration(0.0, 1.5)
    assert sharp(0.7) > 0.7 and sharp(0.3) < 0.3 and sharp(0.5) == pytest.approx(0.5)
    assert 0.0 < LogisticRecalibration(0.0, 3.0)(0.0) < 1e-9
    assert sigmoid(-800.0) == 0.0 and sigmoid(800.0) == 1.0
    assert sigmoid(logit(0.42)) == pytest.approx(0.42)
    with pytest.raises(CalibrationError):
        sharp(1.5)
