"""A pooled fair value: the model's probability and the market's own mid, weighted by minutes left.

Logit pooling::

    logit p = bias + w_model(m)·logit(model) + w_mid(m)·logit(mid),

with ``m`` the minutes left and each weight linear in ``m`` between its value at the close (``m = 0``)
and at the open (``m = 15``), clamped outside. :data:`IDENTITY` (model weight 1, mid weight 0, no bias)
is the model alone; :meth:`LogitPool.is_identity` lets a caller skip the pooling exactly. With both mid
weights zero (:attr:`LogitPool.uses_mid` false) the pool is a recalibration of the model by minutes left
and needs no mid.

:func:`fit_logit_pool` fits the five numbers by maximum likelihood (a logistic regression on
``1, logit(model), (m/15)·logit(model), logit(mid), (m/15)·logit(mid)``, Newton's method) with a small
ridge penalty towards the identity, so a sparse sample cannot run the weights away. It is meant for a
*training* period only; judging the result on later data is the caller's job
(``kalshid backtest --fit-pool`` / ``--score-pool``).

Pure: floats in, floats out; bad input raises :class:`PoolError`.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import attrs

from kalshid.core.calibration import logit, sigmoid

WINDOW_MINUTES = 15.0
DEFAULT_RIDGE = 1.0


class PoolError(ValueError):
    """Pooling inputs or weights are not usable (not a probability, no data, a singular fit)."""


@attrs.frozen
class LogitPool:
    """Pooling weights; see the module docstring. Field names match ``kelly_volatility``'s ``pool_*``
    parameters."""

    bias: float = 0.0
    model_at_close: float = 1.0
    model_at_open: float = 1.0
    mid_at_close: float = 0.0
    mid_at_open: float = 0.0

    def __attrs_post_init__(self) -> None:
        for name in ("bias", "model_at_close", "model_at_open", "mid_at_close", "mid_at_open"):
            v = getattr(self, name)
            if isinstance(v, bool) or not isinstance(v, int | float) or not math.isfinite(v) or abs(v) > 100:
                raise PoolError(f"pool weight {name} must be a finite number in [-100, 100], got {v!r}")

    @property
    def is_identity(self) -> bool:
        return self == IDENTITY

    @property
    def uses_mid(self) -> bool:
        """False when both mid weights are zero: the pool is then a recalibration of the model alone."""
        return self.mid_at_close != 0.0 or self.mid_at_open != 0.0

    def weights(self, minutes_left: float) -> tuple[float, float]:
        """``(w_model, w_mid)`` at ``minutes_left`` (clamped to ``[0, 15]``)."""
        # min(max(minutes_left, 0.0), WINDOW_MINUTES), written out: the pool runs on every index print
        clamped = 0.0 if minutes_left < 0.0 else minutes_left
        x = (WINDOW_MINUTES if clamped > WINDOW_MINUTES else clamped) / WINDOW_MINUTES
        return (self.model_at_close + x * (self.model_at_open - self.model_at_close),
                self.mid_at_close + x * (self.mid_at_open - self.mid_at_close))

    def __call__(self, model: float, mid: float | None, minutes_left: float) -> float:
        """The pooled P(YES). ``mid`` may be ``None`` only when the pool does not use it."""
        if not 0.0 <= model <= 1.0:  # a finite probability (NaN fails the comparison)
            _check_probability("model", model)
        w_model, w_mid = self.weights(minutes_left)
        z = self.bias + w_model * logit(model)
        if self.uses_mid:
            if mid is None:
                raise PoolError("this pool weighs the book mid, and there is no mid")
            _check_probability("mid", mid)
            z += w_mid * logit(mid)
        return sigmoid(z)

    def as_params(self) -> dict[str, float]:
        """The ``kelly_volatility`` parameters that configure this pool."""
        return {f"pool_{k}": float(v) for k, v in attrs.asdict(self).items()}


IDENTITY = LogitPool()

# The model's recalibration by minutes left, fitted on the SOL candles of the training period and judged on
# the later test period (``kalshid backtest --study vol``, docs/research.md part 2): the averaging-aware
# model is under-confident, more so near the close. ``kelly_volatility``'s default ``pool_*``.
RECALIBRATION = LogitPool(bias=-0.0106, model_at_close=1.2892, model_at_open=0.9300)


@attrs.frozen
class PoolSample:
    """One training point: the model's and the mid's P(YES) at ``minutes_left``, and the outcome."""

    minutes_left: float
    model: float
    mid: float
    outcome: bool


def _features(s: PoolSample) -> list[float]:
    x = min(max(s.minutes_left, 0.0), WINDOW_MINUTES) / WINDOW_MINUTES
    lm, lq = logit(s.model), logit(s.mid)
    return [1.0, lm, x * lm, lq, x * lq]


_PRIOR = (0.0, 1.0, 0.0, 0.0, 0.0)  # the identity in (bias, model, model slope, mid, mid slope)


def fit_logit_pool(samples: Sequence[PoolSample], *, ridge: float = DEFAULT_RIDGE,
                   iterations: int = 50) -> LogitPool:
    """Maximum-likelihood pooling weights with an L2 penalty ``ridge/2·‖β − identity‖²``."""
    if not samples:
        raise PoolError("no samples to fit the pool on")
    if not (math.isfinite(ridge) and ridge >= 0):
        raise PoolError(f"ridge must be finite and >= 0, got {ridge!r}")
    rows = []
    for s in samples:
        _check_probability("model", s.model)
        _check_probability("mid", s.mid)
        rows.append((_features(s), 1.0 if s.outcome else 0.0))
    k = len(_PRIOR)
    beta = list(_PRIOR)
    for _ in range(iterations):
        grad = [ridge * (beta[i] - _PRIOR[i]) for i in range(k)]
        hess = [[ridge if i == j else 0.0 for j in range(k)] for i in range(k)]
        for f, y in rows:
            p = sigmoid(sum(b * v for b, v in zip(beta, f, strict=True)))
            w = p * (1.0 - p)
            for i in range(k):
                grad[i] += (p - y) * f[i]
                for j in range(i, k):
                    hess[i][j] += w * f[i] * f[j]
        for i in range(k):
            for j in range(i):
                hess[i][j] = hess[j][i]
        step = _solve(hess, grad)
        beta = [b - s for b, s in zip(beta, step, strict=True)]
        if max(abs(s) for s in step) < 1e-10:
            break
    bias, model, model_slope, mid, mid_slope = beta
    return LogitPool(bias=bias, model_at_close=model, model_at_open=model + model_slope,
                     mid_at_close=mid, mid_at_open=mid + mid_slope)


def _solve(a: list[list[float]], b: list[float]) -> list[float]:
    """``a⁻¹·b`` by Gaussian elimination with partial pivoting."""
    n = len(b)
    m = [[*row, b[i]] for i, row in enumerate(a)]
    for c in range(n):
        piv = max(range(c, n), key=lambda r: abs(m[r][c]))
        if abs(m[piv][c]) < 1e-12:
            raise PoolError("the pooling fit is singular (too few or identical samples; raise the ridge)")
        m[c], m[piv] = m[piv], m[c]
        for r in range(c + 1, n):
            f = m[r][c] / m[c][c]
            for j in range(c, n + 1):
                m[r][j] -= f * m[c][j]
    x = [0.0] * n
    for r in range(n - 1, -1, -1):
        x[r] = (m[r][n] - sum(m[r][j] * x[j] for j in range(r + 1, n))) / m[r][r]
    return x


def _check_probability(name: str, p: float) -> None:
    if not (math.isfinite(p) and 0.0 <= p <= 1.0):
        raise PoolError(f"{name} {p!r} is not a probability")
