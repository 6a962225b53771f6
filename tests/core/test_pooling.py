"""Logit pooling of the model and the mid: weights by minutes left, the fit, and kelly_volatility's use."""

import math
import random
from datetime import UTC, datetime, timedelta

import pytest

from kalshid.core.calibration import logit, sigmoid
from kalshid.core.pooling import IDENTITY, RECALIBRATION, LogitPool, PoolError, PoolSample, fit_logit_pool
from kalshid.core.signals import BookTop, IndexPrint, MarketView
from kalshid.core.strategies.base import ParamError, PriceHistory
from kalshid.core.strategies.kelly_volatility import KellyVolatility, KellyVolatilityParams


def test_weights_are_linear_in_minutes_left_and_clamped() -> None:
    pool = LogitPool(bias=0.1, model_at_close=2.0, model_at_open=0.5, mid_at_close=0.0, mid_at_open=1.0)
    assert pool.weights(0) == (2.0, 0.0) and pool.weights(15) == (0.5, 1.0)
    assert pool.weights(7.5) == pytest.approx((1.25, 0.5)) and pool.weights(40) == (0.5, 1.0)
    assert pool(0.7, 0.6, 7.5) == pytest.approx(sigmoid(0.1 + 1.25 * logit(0.7) + 0.5 * logit(0.6)))
    assert IDENTITY.is_identity and IDENTITY(0.3, 0.9, 5) == pytest.approx(0.3)


@pytest.mark.parametrize("bad", [float("nan"), 1e9, True])
def test_bad_weights_are_rejected(bad: float) -> None:
    with pytest.raises(PoolError, match="pool weight bias"):
        LogitPool(bias=bad)
    with pytest.raises(PoolError, match="is not a probability"):
        IDENTITY(1.5, 0.5, 3)


def _samples(n: int, seed: int) -> list[PoolSample]:
    """Outcomes drawn from a known pool: the truth leans on the mid early and on the model late."""
    truth = LogitPool(bias=0.0, model_at_close=1.5, model_at_open=0.2, mid_at_close=0.2, mid_at_open=1.0)
    rng = random.Random(seed)
    out = []
    for _ in range(n):
        m = rng.choice((14, 10, 7, 5, 3, 1))
        model, mid = sigmoid(rng.gauss(0, 1.5)), sigmoid(rng.gauss(0, 1.5))
        out.append(PoolSample(m, model, mid, rng.random() < truth(model, mid, m)))
    return out


def test_the_fit_recovers_known_weights_and_beats_either_input_out_of_sample() -> None:
    fitted = fit_logit_pool(_samples(6000, 1), ridge=0.1)
    assert fitted.model_at_close == pytest.approx(1.5, abs=0.25)
    assert fitted.mid_at_open == pytest.approx(1.0, abs=0.25)
    test = _samples(3000, 2)

    def loss(f) -> float:  # type: ignore[no-untyped-def]
        return -sum(math.log(p if s.outcome else 1 - p) for s in test for p in [f(s)]) / len(test)

    pooled = loss(lambda s: fitted(s.model, s.mid, s.minutes_left))
    assert pooled < loss(lambda s: s.model) and pooled < loss(lambda s: s.mid)


def test_the_ridge_holds_a_tiny_sample_near_the_model() -> None:
    fitted = fit_logit_pool(_samples(5, 3), ridge=1000.0)
    assert all(abs(a - b) < 0.05 for a, b in zip(fitted.as_params().values(), IDENTITY.as_params().values(),
                                                 strict=True))
    with pytest.raises(PoolError, match="no samples"):
        fit_logit_pool([])


OPEN = datetime(2026, 7, 8, 22, 45, tzinfo=UTC)
CLOSE = OPEN + timedelta(minutes=15)


def test_kelly_volatility_prices_with_the_configured_pool() -> None:
    now = CLOSE - timedelta(minutes=6)
    view = MarketView("KXSOL15M-26JUL081900-00", OPEN, CLOSE, now, 100.0, 10_000_000, 100)
    path = [IndexPrint(now - timedelta(seconds=s), 100.0 * math.exp(2e-4 * (-1) ** s)) for s in range(900, 0, -1)]
    book = BookTop(view.ticker, 3000, 10, 6000, 10, now)  # YES mid (0.30 + 0.40)/2 = 0.35
    plain = KellyVolatility(KellyVolatilityParams(warmup_seconds=0.0))
    plain.analyze(view, IndexPrint(now, 100.0), PriceHistory(index=path), book)
    params = {"pool_bias": 0.0, "pool_model_at_close": 0.5, "pool_model_at_open": 0.5,
              "pool_mid_at_close": 0.5, "pool_mid_at_open": 0.5, "warmup_seconds": 0.0}
    pooled = KellyVolatility.from_mapping(params)
    signal = pooled.analyze(view, IndexPrint(now, 100.0), PriceHistory(index=path), book)
    model = plain.last_model_yes
    assert model is not None and pooled.last_model_yes == pytest.approx(model)
    # the default parameters recalibrate the model (6 minutes left)
    assert plain.last_fair_yes == pytest.approx(RECALIBRATION(model, None, 6.0))
    assert pooled.last_fair_yes == pytest.approx(sigmoid(0.5 * logit(model) + 0.5 * logit(0.35)))
    assert signal is None or "mid=0.3500" in signal.reason
    with pytest.raises(ParamError, match="pool_mid_at_open"):
        KellyVolatility.from_mapping({"pool_mid_at_open": 500.0})


def test_a_pool_without_mid_weights_recalibrates_the_model_and_needs_no_mid() -> None:
    recal = LogitPool(bias=0.1, model_at_close=1.3, model_at_open=0.9)
    assert not recal.uses_mid
    # at the close the model weight is 1.3, 15 minutes out 0.9, halfway 1.1
    for minutes, w in ((0.0, 1.3), (15.0, 0.9), (7.5, 1.1)):
        assert recal(0.7, None, minutes) == pytest.approx(sigmoid(0.1 + w * logit(0.7)))
        assert recal(0.7, 0.2, minutes) == recal(0.7, None, minutes)  # a mid is ignored


def test_a_pool_weighing_the_mid_refuses_a_missing_mid() -> None:
    pool = LogitPool(mid_at_close=0.5, mid_at_open=0.5)
    assert pool.uses_mid
    with pytest.raises(PoolError, match="no mid"):
        pool(0.6, None, 5.0)


def test_the_shipped_recalibration_is_a_pool_without_the_mid_and_pushes_probabilities_outwards() -> None:
    assert not RECALIBRATION.uses_mid
    # under-confidence corrected: near the close a 70 % model becomes more than 70 %
    assert RECALIBRATION(0.7, None, 1.0) > 0.7
    assert RECALIBRATION(0.3, None, 1.0) < 0.3
