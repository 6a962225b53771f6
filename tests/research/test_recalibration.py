"""The model's recalibration as the daemon applies it: fitted on train forecasts, shipped as defaults."""

import json
import random
from datetime import date
from pathlib import Path

import pytest

from kalshid.config.schema import KellyVolatilityParams as KellyVolatilityConfig
from kalshid.core.calibration import logit, sigmoid
from kalshid.core.pooling import RECALIBRATION
from kalshid.core.strategies.kelly_volatility import KellyVolatilityParams
from kalshid.research.edge.study import HORIZONS, fit_daemon_recalibration
from kalshid.research.edge.vol import Forecasts

REPO = Path(__file__).resolve().parents[2]


def test_the_fit_recovers_a_known_under_confidence_linear_in_minutes_left() -> None:
    rng = random.Random(7)
    bias, at_close, at_open = 0.05, 1.3, 0.9
    train: dict[int, list[Forecasts]] = {}
    for ml in HORIZONS:
        w = at_close + (at_open - at_close) * ml / 15.0
        ps = [rng.uniform(0.03, 0.97) for _ in range(8000)]
        ys = [rng.random() < sigmoid(bias + w * logit(p)) for p in ps]
        train[ml] = [Forecasts(ps, ys, [date(2024, 1, 1)] * len(ps))]
    fitted = fit_daemon_recalibration(train)
    assert not fitted.uses_mid
    assert fitted.bias == pytest.approx(bias, abs=0.05)
    assert fitted.model_at_close == pytest.approx(at_close, abs=0.08)
    assert fitted.model_at_open == pytest.approx(at_open, abs=0.08)


def test_the_shipped_defaults_are_the_study_s_fit() -> None:
    """`kalshid backtest --study vol` writes the fit into docs/research/vol.json; the daemon ships it
    (to four decimals) as kelly_volatility's pool_* defaults, in the strategy and in the config schema."""
    path = REPO / "docs" / "research" / "vol.json"
    assert path.is_file(), f"{path} not found: regenerate it with kalshid backtest --study vol --out docs/research"
    fitted = json.loads(path.read_text())["recalibration"]
    shipped = RECALIBRATION.as_params()
    assert set(fitted) == set(shipped)
    for key, value in fitted.items():
        assert shipped[key] == round(value, 4), key
    params = KellyVolatilityParams()
    config = KellyVolatilityConfig()
    for key, value in shipped.items():
        assert getattr(params, key) == value, key
        assert getattr(config, key) == value, key
