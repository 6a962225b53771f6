"""Statistics for the edge study: logistic fits and bootstrap intervals clustered by day."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import date

import numpy as np
from scipy.optimize import minimize

from kalshid.core.calibration import logit

Metric = Callable[[np.ndarray, np.ndarray], float]


def np_brier(p: np.ndarray, y: np.ndarray) -> float:
    return float(np.mean((p - y) ** 2))


def np_log_loss(p: np.ndarray, y: np.ndarray) -> float:
    q = np.clip(p, 1e-6, 1 - 1e-6)
    return float(-np.mean(y * np.log(q) + (1 - y) * np.log(1 - q)))


def np_ece(p: np.ndarray, y: np.ndarray, bins: int = 10) -> float:
    b = np.minimum((p * bins).astype(int), bins - 1)
    sp = np.bincount(b, weights=p, minlength=bins)
    sy = np.bincount(b, weights=y, minlength=bins)
    return float(np.sum(np.abs(sp - sy)) / len(p))


METRICS: dict[str, Metric] = {"brier": np_brier, "log_loss": np_log_loss, "ece": np_ece}


def fit_logistic(features: Sequence[Sequence[float]], y: Sequence[bool]) -> np.ndarray:
    """Coefficients ``(intercept, w1, …)`` maximising the Bernoulli likelihood (no penalty)."""
    x = np.column_stack([np.ones(len(y)), np.asarray(features, dtype=float)])
    t = np.asarray(y, dtype=float)

    def nll(w: np.ndarray) -> tuple[float, np.ndarray]:
        z = x @ w
        loss = np.sum(np.logaddexp(0.0, z) - t * z)
        grad = x.T @ (1.0 / (1.0 + np.exp(-z)) - t)
        return float(loss), grad

    w0 = np.zeros(x.shape[1])
    w0[1] = 1.0
    res = minimize(nll, w0, jac=True, method="L-BFGS-B")
    return np.asarray(res.x)


def logits(p: Sequence[float]) -> list[list[float]]:
    return [[logit(v)] for v in p]


class DayBootstrap:
    """Resample whole days with replacement (returns within a day are correlated: one price path)."""

    def __init__(self, days: Sequence[date], reps: int, seed: int) -> None:
        labels = np.array([d.toordinal() for d in days])
        self.unique = np.unique(labels)
        self.index = [np.flatnonzero(labels == u) for u in self.unique]
        rng = np.random.default_rng(seed)
        self.draws = rng.integers(0, len(self.unique), size=(reps, len(self.unique)))

    def samples(self) -> list[np.ndarray]:
        return [np.concatenate([self.index[i] for i in draw]) for draw in self.draws]

    def metric(self, p: np.ndarray, y: np.ndarray, fn: Metric) -> tuple[float, float, float]:
        vals = [fn(p[s], y[s]) for s in self.samples()]
        lo, hi = np.percentile(vals, [2.5, 97.5])
        return fn(p, y), float(lo), float(hi)

    def ratio(self, num: np.ndarray, den: np.ndarray) -> tuple[float, float, float]:
        """``Σnum/Σden`` with a 95 % percentile interval (days with no trades count as zero)."""
        per_num = np.array([num[i].sum() for i in self.index])
        per_den = np.array([den[i].sum() for i in self.index])
        nums = per_num[self.draws].sum(axis=1)
        dens = per_den[self.draws].sum(axis=1)
        ok = dens > 0
        vals = nums[ok] / dens[ok]
        lo, hi = np.percentile(vals, [2.5, 97.5]) if len(vals) else (float("nan"), float("nan"))
        est = float(num.sum() / den.sum()) if den.sum() > 0 else float("nan")
        return est, float(lo), float(hi)


def fmt_ci(est: float, lo: float, hi: float, digits: int = 3) -> str:
    return f"{est:.{digits}f} [{lo:.{digits}f}, {hi:.{digits}f}]"
