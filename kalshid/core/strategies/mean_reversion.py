"""MeanReversion: fade a YES price that has moved far from its recent mean.

State: a :class:`~kalshid.core.rolling.RollingWindow` of ``(ts, yes_prob)`` for the current market,
trimmed to the ``lookback_window`` seconds before the current exchange second (bounded by age; reset when
the ticker changes), so the mean and variance cost O(1). It holds at most one point per exchange second,
the first one seen in it: the points of ``price_history.yes`` newer than the last one kept, then the
book's YES mid at ``market.now``. Sampling by time rather than per call keeps how often the book changes
(a busy touch asks for many evaluations, a quiet one for few) from weighing the mean and variance; it
also means the window, and so the z-score, change at most once per second: a call later in the same
second reuses them and only the ask and its size can change the answer.

With at least ``min_samples`` points and a non-zero standard deviation, ``z = (mid − mean)/std``.
``|z| ≥ zscore_threshold_high`` → confidence 1.0; ``≥ zscore_threshold_medium`` → 0.5; else silent.
It trades *toward* the mean: ``z > 0`` (YES rich) buys NO, ``z < 0`` buys YES, treating the mean as
the fair value of that side (``1 − mean`` for NO). The size is fractional Kelly on that fair value
with the Kelly fraction scaled by confidence, capped by the displayed size and ``market.max_count``;
the net edge after fees must be at least ``min_edge``.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from functools import partial

import attrs

from kalshid.core.rolling import RollingWindow
from kalshid.core.signals import BookTop, IndexPrint, MarketView, PricePoint, Signal, signal_unchecked
from kalshid.core.sizing import EDGE_BOUND_SLACK, edge_bound, size_binary
from kalshid.core.strategies.base import BaseStrategy, ParamError, PriceHistory, number_in, whole_in
from kalshid.core.vocab import Action, Side


def _min_samples(_inst: object, attr: attrs.Attribute[int], value: int) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or value < 2:
        raise ParamError(f"parameter {attr.name} must be a whole number >= 2, got {value!r}")


@attrs.frozen
class MeanReversionParams:
    # whole seconds: the window holds one point per exchange second
    lookback_window: int = attrs.field(default=300, validator=whole_in(0, 86_400, lo_open=True, unit="seconds"))
    zscore_threshold_high: float = attrs.field(default=2.0, validator=number_in(0.0, 100.0, lo_open=True))
    zscore_threshold_medium: float = attrs.field(default=1.5, validator=number_in(0.0, 100.0, lo_open=True))
    kelly_fraction: float = attrs.field(default=0.25, validator=number_in(0.0, 1.0, lo_open=True))
    min_edge: float = attrs.field(default=0.03, validator=number_in(0.0, 1.0))
    min_samples: int = attrs.field(default=20, validator=_min_samples)

    def __attrs_post_init__(self) -> None:
        if self.zscore_threshold_medium > self.zscore_threshold_high:
            raise ParamError(f"zscore_threshold_medium ({self.zscore_threshold_medium}) must not exceed "
                             f"zscore_threshold_high ({self.zscore_threshold_high})")


def _reason(z: float, points: int, mean: float, side: Side, price_cc: int, edge: float) -> str:
    return f"z={z:+.2f} over {points} points mean_yes={mean:.4f} {side.value}_ask={price_cc}cc edge={edge:.4f}"


HIGH_CONFIDENCE = 1.0
MEDIUM_CONFIDENCE = 0.5
# A YES-probability variance below this (std 1e-7, a thousandth of a 1-cc tick) is float residue of the
# rolling sums, not movement: no z-score.
MIN_VARIANCE = 1e-14
_NEVER = datetime.min.replace(tzinfo=UTC)  # before every exchange time: the first call updates the window


class MeanReversion(BaseStrategy):
    name = "mean_reversion"
    params_class = MeanReversionParams
    params: MeanReversionParams

    def __init__(self, params: MeanReversionParams | None = None) -> None:
        super().__init__(params)
        self.ticker: str | None = None
        self.history = RollingWindow()  # (epoch seconds, yes_prob): O(1) mean and variance per tick
        self.last_z: float | None = None
        self._lookback = self.params.lookback_window
        self._min_samples = self.params.min_samples
        # the window's answer, ``(z, mean, confidence)`` (0.0: |z| below both thresholds) or None, and
        # the start of the exchange second after the one it was brought to (the window does not change
        # before then, see _update)
        self._scored: tuple[float, float, float] | None = None
        self._second_end = _NEVER
        self._sampled = False  # the window has a point in the second before _second_end

    def _adopt_state(self, old: MeanReversion) -> None:
        self.ticker = old.ticker
        self.history = old.history.copy()
        self.last_z = old.last_z  # the window is scored again on the next call (the parameters may differ)

    def _update(self, market: MarketView, points: Sequence[PricePoint], mid: float | None) -> None:
        """Bring the window to ``market.now``: fold ``points`` then the book's ``mid`` at ``market.now``
        (``None``: no mid), at most one point per exchange second (the first one seen in it, never one
        from the future), trim it to the ``lookback_window`` seconds before the current second, and score
        it (:meth:`zscore`)."""
        if mid is not None and not 0.0 <= mid <= 1.0:  # the check PricePoint makes
            raise ValueError(f"yes_prob must be in [0, 1], got {mid!r}")
        history = self.history
        if market.ticker != self.ticker:
            self.ticker = market.ticker
            history.clear()
        now = market.now.timestamp()
        second = math.floor(now)
        last = history.last_time
        last_second = -math.inf if last is None else math.floor(last)
        if not points:  # the common call: the mid alone (the loop below, for one point)
            if mid is not None and second > last_second:
                history.append(now, mid)
                last_second = second
        else:
            ordered = sorted((p.ts.timestamp(), p.yes_prob) for p in points)
            if mid is not None:
                if ordered and ordered[-1][0] >= now:
                    ordered = sorted([*ordered, (now, mid)])
                else:
                    ordered.append((now, mid))
            for t, x in ordered:
                if t <= now and math.floor(t) > last_second:
                    history.append(t, x)
                    last_second = math.floor(t)
        history.drop_before(second - self._lookback)
        scored = self.zscore()
        if scored is None:
            self._scored = None
        else:
            z, mean = scored
            p = self.params
            confidence = (HIGH_CONFIDENCE if abs(z) >= p.zscore_threshold_high
                          else MEDIUM_CONFIDENCE if abs(z) >= p.zscore_threshold_medium else 0.0)
            self._scored = (z, mean, confidence)
        self._second_end = datetime.fromtimestamp(second + 1, UTC)
        self._sampled = last_second >= second

    def zscore(self) -> tuple[float, float] | None:
        """``(z, mean)``: z of the newest point against the window's mean and (population) std, and
        that mean; None until the window holds ``min_samples`` points that vary."""
        moments = self.history.moments()
        if moments is None:
            return None
        n, mean, var, last = moments
        if n < self._min_samples or var <= MIN_VARIANCE:
            return None
        return (last - mean) / math.sqrt(var), mean

    def analyze(self, market: MarketView, current_price: IndexPrint | None, price_history: PriceHistory,
                orderbook: BookTop | None) -> Signal | None:
        points = price_history.yes
        if (points or market.ticker != self.ticker or not market.now < self._second_end
                or not (self._sampled or orderbook is None or orderbook.yes_mid_prob is None)):
            self._update(market, points, orderbook.yes_mid_prob if orderbook is not None else None)
        # the window changes at most once per exchange second, with its first mid: until then the same answer
        scored = self._scored
        if scored is None:
            self.last_z = None
            return None
        z, mean, confidence = scored
        self.last_z = z
        if not confidence or orderbook is None or not market.is_open:
            return None
        p = self.params
        side = Side.NO if z > 0 else Side.YES
        fair = 1.0 - mean if side is Side.NO else mean
        ask = orderbook.ask(side)
        if ask is None:
            return None
        price_cc, size = ask
        if edge_bound(fair, price_cc) < p.min_edge - EDGE_BOUND_SLACK:
            return None  # no count reaches min_edge: skip sizing
        decision = size_binary(fair, price_cc, market.bankroll_cc,
                               kelly_fraction=p.kelly_fraction * confidence,
                               max_count=size if size < market.max_count else market.max_count)
        if decision is None or decision.edge < p.min_edge:
            return None
        # the reason is formatted only if read (see Signal); a partial, not a closure, so that the
        # (mostly silent) calls pay nothing for the closure's cells
        reason = partial(_reason, z, len(self.history), mean, side, price_cc, decision.edge)
        # unchecked: size_binary accepted the price and gave a count > 0, the confidence is one of two
        # constants in [0, 1], and the view's now is checked
        return signal_unchecked(self.name, market.ticker, side, Action.BUY, price_cc, decision.count, fair,
                                decision.edge, confidence, reason, market.now)

    def statistics(self) -> Mapping[str, object]:
        return {"name": self.name, "params": attrs.asdict(self.params), "ticker": self.ticker,
                "points": len(self.history), "last_z": self.last_z}
