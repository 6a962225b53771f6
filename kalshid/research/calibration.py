"""Forecast scores by minutes left: Brier, log loss, expected calibration error, reliability bins.

Each forecaster (a strategy's modelled P(YES), or the market's own mid) is scored at each whole number
of minutes left (:class:`~kalshid.research.results.Forecast`), on the markets every forecaster priced
there, so model and mid are compared on the same markets. Log loss
clips probabilities to ``[1e-6, 1 − 1e-6]``; ECE is the count-weighted mean ``|mean forecast − observed|``
over ten equal-width bins.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence

import attrs

from kalshid.research.results import Forecast

MINUTES_LEFT = (14, 10, 7, 5, 3, 1)
MID = "market_mid"
BINS = 10
EPS = 1e-6


@attrs.frozen
class Score:
    forecaster: str
    minutes_left: int
    n: int
    brier: float
    log_loss: float
    ece: float

    def as_dict(self) -> dict[str, object]:
        return attrs.asdict(self)


def reliability(pairs: Sequence[tuple[float, bool]], bins: int = BINS) -> list[tuple[float, float, int]]:
    """``(mean forecast, observed frequency, n)`` per non-empty bin, in bin order."""
    sums = [[0.0, 0.0, 0.0] for _ in range(bins)]
    for p, y in pairs:
        b = min(int(p * bins), bins - 1)
        sums[b][0] += p
        sums[b][1] += float(y)
        sums[b][2] += 1.0
    return [(s[0] / s[2], s[1] / s[2], int(s[2])) for s in sums if s[2]]


def score(forecaster: str, minutes_left: int, pairs: Sequence[tuple[float, bool]]) -> Score | None:
    if not pairs:
        return None
    n = len(pairs)
    brier = sum((p - float(y)) ** 2 for p, y in pairs) / n
    ll = -sum(math.log(min(max(p if y else 1 - p, EPS), 1 - EPS)) for p, y in pairs) / n
    ece = sum(k * abs(mp - obs) for mp, obs, k in reliability(pairs)) / n
    return Score(forecaster, minutes_left, n, brier, ll, ece)


def forecast_pairs(labelled: Iterable[tuple[Forecast, bool]], forecaster: str,
                   minutes_left: int | None = None) -> list[tuple[float, bool]]:
    """``(probability, outcome)`` of ``forecaster`` (a strategy name or :data:`MID`)."""
    out = []
    for f, y in labelled:
        if minutes_left is not None and f.minutes_left != minutes_left:
            continue
        p = f.mid if forecaster == MID else f.fair_yes.get(forecaster)
        if p is not None:
            out.append((p, y))
    return out


def forecasters(labelled: Sequence[tuple[Forecast, bool]]) -> list[str]:
    names = sorted({name for f, _ in labelled for name in f.fair_yes})
    return [*names, MID]


def common_forecasts(labelled: Sequence[tuple[Forecast, bool]]) -> list[tuple[Forecast, bool]]:
    """The samples every forecaster priced (each strategy's P(YES) and the mid): the population both the
    scores and the reliability diagram compare forecasters on."""
    names = forecasters(labelled)
    return [(f, y) for f, y in labelled if all((f.mid if n == MID else f.fair_yes.get(n)) is not None for n in names)]


def calibration_table(labelled: Sequence[tuple[Forecast, bool]],
                      minutes: Sequence[int] = MINUTES_LEFT) -> list[Score]:
    """Scores of every forecaster at each of ``minutes`` left, all on the same markets: those where
    every forecaster priced the market at that many minutes left (a comparison on different markets
    would say nothing; :func:`common_forecasts`). Checkpoints without such markets are left out."""
    names = forecasters(labelled)
    common = common_forecasts(labelled)
    rows = []
    for name in names:
        for ml in minutes:
            s = score(name, ml, forecast_pairs(common, name, ml))
            if s is not None:
                rows.append(s)
    return rows
