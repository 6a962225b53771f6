"""Scores of probability forecasts for binary outcomes, and logistic recalibration.

Pure functions on plain sequences (no numpy on the import path), used by the edge study and cheap
enough for a live report:

- :func:`brier` — mean squared error of ``p`` against the 0/1 outcome (0 is perfect, 0.25 is a coin);
- :func:`log_loss` — mean negative log-likelihood, with ``p`` clipped to ``[eps, 1 − eps]`` so that a
  certain forecast that turns out wrong costs a large finite amount instead of infinity;
- :func:`ece` — expected calibration error over equal-width bins: ``Σ (nᵦ/n)·|mean pᵦ − mean yᵦ|``;
- :class:`LogisticRecalibration` — ``p' = σ(a + b·logit(p))``: ``b > 1`` sharpens an under-confident
  forecast, ``b < 1`` softens an over-confident one, ``a`` shifts it.

Bad input (a probability outside ``[0, 1]``, sequences of different lengths, nothing to score)
raises :class:`CalibrationError`.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import attrs

LOG_LOSS_EPS = 1e-6
LOGIT_CLIP = 1e-4


class CalibrationError(ValueError):
    """Forecasts and outcomes cannot be scored (bad probability, length mismatch, empty input)."""


def _pairs(p: Sequence[float], y: Sequence[bool | int]) -> list[tuple[float, float]]:
    if len(p) != len(y):
        raise CalibrationError(f"{len(p)} forecasts but {len(y)} outcomes")
    if not p:
        raise CalibrationError("no forecasts to score")
    out = []
    for pi, yi in zip(p, y, strict=True):
        if not (math.isfinite(pi) and 0.0 <= pi <= 1.0):
            raise CalibrationError(f"forecast {pi!r} is not a probability")
        out.append((pi, 1.0 if yi else 0.0))
    return out


def brier(p: Sequence[float], y: Sequence[bool | int]) -> float:
    """Mean of ``(p − y)²``."""
    pairs = _pairs(p, y)
    return sum((pi - yi) ** 2 for pi, yi in pairs) / len(pairs)


def log_loss(p: Sequence[float], y: Sequence[bool | int], eps: float = LOG_LOSS_EPS) -> float:
    """Mean of ``−ln p`` (outcome 1) or ``−ln(1 − p)`` (outcome 0), ``p`` clipped to ``[eps, 1 − eps]``."""
    pairs = _pairs(p, y)
    total = 0.0
    for pi, yi in pairs:
        q = min(1.0 - eps, max(eps, pi))
        total -= math.log(q) if yi else math.log(1.0 - q)
    return total / len(pairs)


def ece(p: Sequence[float], y: Sequence[bool | int], bins: int = 10) -> float:
    """Expected calibration error over ``bins`` equal-width bins of ``[0, 1]`` (1.0 falls in the last)."""
    if bins < 1:
        raise CalibrationError(f"bins must be >= 1, got {bins}")
    pairs = _pairs(p, y)
    count = [0] * bins
    sum_p = [0.0] * bins
    sum_y = [0.0] * bins
    for pi, yi in pairs:
        b = min(int(pi * bins), bins - 1)
        count[b] += 1
        sum_p[b] += pi
        sum_y[b] += yi
    return sum(abs(sum_p[b] - sum_y[b]) for b in range(bins) if count[b]) / len(pairs)


def logit(p: float, clip: float = LOGIT_CLIP) -> float:
    """``ln(p/(1 − p))`` with ``p`` clipped to ``[clip, 1 − clip]`` (a 0/1 price stays finite)."""
    high = 1.0 - clip
    q = p if p > clip else clip  # min(1 − clip, max(clip, p)), written out: this runs on every pooling
    if high < q:
        q = high
    return math.log(q / (1.0 - q))


def sigmoid(x: float) -> float:
    """The logistic function, without overflow for large ``|x|``."""
    if x >= 0:
        return 1.0 / (1.0 + math.exp(-x))
    e = math.exp(x)
    return e / (1.0 + e)


@attrs.frozen
class LogisticRecalibration:
    """``p' = σ(intercept + slope·logit(p))``; the identity is ``(0, 1)``."""

    intercept: float = 0.0
    slope: float = 1.0

    def __call__(self, p: float) -> float:
        if not (math.isfinite(p) and 0.0 <= p <= 1.0):
            raise CalibrationError(f"forecast {p!r} is not a probability")
        return sigmoid(self.intercept + self.slope * logit(p))
