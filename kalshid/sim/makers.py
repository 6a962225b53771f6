"""Simulated liquidity: makers quoting around the binary's fair value, and takers hitting them.

Pure and seeded; the simulator shell owns time and the book. The shell calls
:meth:`MakerModel.quotes` to get the bids the makers want resting, re-quoting only every
``refresh_delay_s`` seconds, so between refreshes quotes go *stale* while the index moves. The
shell also calls :meth:`InformedTaker.decide` with the current fair value and the best bids:
the informed taker buys whatever is mispriced by more than fees plus a threshold (picking off
stale quotes), and a little uninformed noise flow makes trades happen. A stale quote is thus a
real opportunity for a fast strategy, and a slow resting order is adversely selected.

Fair value (:func:`fair_yes`): YES pays iff the 60-s average of the index before the close is at
least the strike. With log-price a Brownian motion (σ per √s, no drift), the average of log S
over the last 60 s seen from ``T`` seconds before close has variance ``σ²(T − 40)`` for
``T ≥ 60`` (``σ²(a + w/3)`` for a window of ``w`` s starting ``a`` s ahead); inside the window
the part already printed is known (``closing_avg_so_far``).
"""

from __future__ import annotations

import math
from decimal import Decimal

import attrs
import numpy as np

from kalshid.core.fees import taker_fee_cc
from kalshid.core.units import CC_PER_CENT, ONE_DOLLAR_CC
from kalshid.core.vocab import Side

AVERAGING_S = 60


def _check_bid(inst: object, attribute: attrs.Attribute[int], price_cc: int) -> None:
    if price_cc % CC_PER_CENT or not CC_PER_CENT <= price_cc <= ONE_DOLLAR_CC - CC_PER_CENT:
        raise ValueError(f"{attribute.name}={price_cc}: must be a whole cent in [100, 9900] cc")


def _check_taker_price(inst: object, attribute: attrs.Attribute[int], price_cc: int) -> None:
    if not 0 < price_cc < ONE_DOLLAR_CC:
        raise ValueError(f"{attribute.name}={price_cc}: must be in (0, 10000) cc")


def _check_count(inst: object, attribute: attrs.Attribute[int], count: int) -> None:
    if count < 1:
        raise ValueError(f"{attribute.name}={count}: must be >= 1")


@attrs.frozen
class Quote:
    """A resting **bid** a maker wants: buy ``count`` ``side`` contracts at ``price_cc``."""

    side: Side = attrs.field(validator=attrs.validators.in_(tuple(Side)))
    price_cc: int = attrs.field(validator=_check_bid)
    count: int = attrs.field(validator=_check_count)


@attrs.frozen
class TakerOrder:
    """An immediate-or-cancel buy of ``count`` ``side`` contracts at up to ``price_cc``."""

    side: Side = attrs.field(validator=attrs.validators.in_(tuple(Side)))
    price_cc: int = attrs.field(validator=_check_taker_price)
    count: int = attrs.field(validator=_check_count)
    informed: bool = False


def _phi(x: float) -> float:
    return 0.5 * (1.0 + math.erf(x / math.sqrt(2.0)))


def fair_yes(index: Decimal, strike: Decimal, seconds_to_close: float, sigma_per_sqrt_s: float,
             closing_avg_so_far: Decimal | None = None) -> float:
    """P(YES): probability the 60-s closing average ends at or above ``strike`` (ties pay YES).

    ``closing_avg_so_far`` is the average of the prints already inside the final minute (only
    used when ``seconds_to_close < 60``; if absent the current index stands in for it). At or
    after the close the answer is 0 or 1. Raises ``ValueError`` for non-positive prices or a
    negative/non-finite sigma.
    """
    if index <= 0 or strike <= 0:
        raise ValueError(f"index and strike must be positive, got index={index} strike={strike}")
    if not math.isfinite(sigma_per_sqrt_s) or sigma_per_sqrt_s < 0:
        raise ValueError(f"sigma_per_sqrt_s must be finite and >= 0, got {sigma_per_sqrt_s!r}")
    s, k = float(index), float(strike)
    t = max(float(seconds_to_close), 0.0)
    known = float(closing_avg_so_far) if closing_avg_so_far is not None else s
    if t >= AVERAGING_S:
        target, var = k, sigma_per_sqrt_s**2 * (t - 40.0)
    else:
        if t == 0.0:
            return 1.0 if known >= k else 0.0
        # The future T seconds must average at least `target` for the full minute to reach k.
        target = (AVERAGING_S * k - (AVERAGING_S - t) * known) / t
        if target <= 0:
            return 1.0
        var = sigma_per_sqrt_s**2 * t / 3.0
    if var <= 0.0:
        return 1.0 if s >= target else 0.0
    return _phi(math.log(s / target) / math.sqrt(var))


@attrs.frozen
class MakerParams:
    """How the simulated makers quote. Defaults measured by ``bench/calibrate.py`` on KXSOL15M."""

    # P(spread = 1, 2, …, 7 cents) at a refresh: equal blend of the June-July population 14 min
    # before close (book entry: .354 .241 .115 .106 .097 .055 .032) and the August snapshots at
    # mid .2-.8, >=3 min left (.537 .274 .177 .011 .000 .001 .000). Median 2 cents, mean 2.2.
    spread_weights: tuple[float, ...] = (0.446, 0.258, 0.146, 0.058, 0.049, 0.028, 0.015)
    # Ladder paths, mid .2-.8: median spread 2 cents at >=7 min left, 3 at 4-6, 4 at 2-3, 5 at 1.
    close_widen_cents: float = 3.0
    close_widen_window_s: float = 360.0
    # Ladder paths, >=3 min left: median spread 0.9 cents (sub-cent ticks) when min(mid, 1-mid)
    # < 0.1 vs 2 cents elsewhere; on the 1-cent grid that is a 1-cent spread at the extremes.
    extreme_distance: float = 0.10
    levels: int = 5
    level_gap_cents: int = 1
    # Snapshots: total depth (yes+no, contracts) median ~75k-165k at >=6 min left and mid .2-.8,
    # ~27-30k at 3-5 min, 8-20k in the last 3 min; per side median 19k YES / 14k NO overall.
    level_sizes: tuple[int, ...] = (4_000, 6_000, 8_000, 10_000, 12_000)
    depth_full_above_s: float = 360.0
    depth_floor_below_s: float = 120.0
    depth_close_factor: float = 0.15
    # Snapshots, >=3 min left: total depth 237k at min(mid,1-mid) < .1, 144k at .1-.2, 100k at
    # .2-.3, 70-78k beyond: factor 1 + 7 × max(0, 0.3 − distance).
    depth_extreme_slope: float = 7.0
    depth_extreme_distance: float = 0.3
    size_noise_sigma: float = 0.5
    # Not measurable from candles/snapshots (UNCONFIRMED): makers re-quote every 3 s, estimate
    # fair with 0.5-cent noise, and lean 1 cent per 1000 contracts of net YES inventory.
    refresh_delay_s: float = 3.0
    fair_noise_cents: float = 0.5
    inventory_skew_cents_per_1000: float = 1.0

    def __attrs_post_init__(self) -> None:
        weights = self.spread_weights
        if not weights or any(w < 0 for w in weights) or sum(weights) <= 0:
            raise ValueError(f"spread_weights must be non-negative with a positive sum: {weights}")
        if self.levels < 1 or len(self.level_sizes) < self.levels:
            raise ValueError(f"levels={self.levels} needs that many level_sizes, got {len(self.level_sizes)}")
        if self.refresh_delay_s < 0:
            raise ValueError(f"refresh_delay_s must be >= 0, got {self.refresh_delay_s}")
        if self.level_gap_cents < 1:
            raise ValueError(f"level_gap_cents must be >= 1, got {self.level_gap_cents}")


class MakerModel:
    """Seeded makers: given the index, strike and time left, the bids they want resting.

    Draws come from one generator in call order, so a run is reproducible for a seed.
    """

    def __init__(self, seed: int, params: MakerParams | None = None) -> None:
        self.params = params or MakerParams()
        self._rng = np.random.default_rng(seed)
        w = np.asarray(self.params.spread_weights, dtype=float)
        self._spread_p = w / w.sum()

    @property
    def refresh_delay_s(self) -> float:
        """Seconds between re-quotes; in between, quotes stay where they were (stale)."""
        return self.params.refresh_delay_s

    def spread_cents(self, fair: float, seconds_to_close: float) -> int:
        """Draw the YES ask − YES bid spread in whole cents for this refresh."""
        p = self.params
        k = int(self._rng.choice(len(self._spread_p), p=self._spread_p)) + 1
        distance = min(fair, 1.0 - fair)
        if distance < p.extreme_distance:
            k = 1 + round((k - 1) * distance / p.extreme_distance)
        if seconds_to_close < p.close_widen_window_s:
            k += round(p.close_widen_cents * (1.0 - max(seconds_to_close, 0.0) / p.close_widen_window_s))
        return k

    def depth_factor(self, fair: float, seconds_to_close: float) -> float:
        """Multiplier on ``level_sizes``: thinner near close, thicker when fair is near 0 or 1."""
        p = self.params
        ramp = (seconds_to_close - p.depth_floor_below_s) / (p.depth_full_above_s - p.depth_floor_below_s)
        time_factor = p.depth_close_factor + (1 - p.depth_close_factor) * min(max(ramp, 0.0), 1.0)
        distance = min(fair, 1.0 - fair)
        return time_factor * (1.0 + p.depth_extreme_slope * max(0.0, p.depth_extreme_distance - distance))

    def quotes(self, now_ts: float, index: Decimal, strike: Decimal | None, seconds_to_close: float,
               sigma_per_sqrt_s: float, *, closing_avg_so_far: Decimal | None = None,
               inventory: int = 0) -> list[Quote]:
        """YES bids (best first) then NO bids (best first); empty when there is no strike yet or
        the market has closed. The book never crosses itself: best YES bid + best NO bid < $1.

        ``inventory`` is the makers' net YES position (contracts); they lean away from it.
        """
        if strike is None or seconds_to_close <= 0:
            return []
        p = self.params
        fair = fair_yes(index, strike, seconds_to_close, sigma_per_sqrt_s, closing_avg_so_far)
        center = fair * 100.0 + self._rng.normal(0.0, p.fair_noise_cents)
        center -= p.inventory_skew_cents_per_1000 * inventory / 1000.0
        center = min(max(center, 0.0), 100.0)
        k = self.spread_cents(center / 100.0, seconds_to_close)
        yes_bid = min(max(math.floor(center - k / 2.0 + 0.5), 1), 99 - k)
        no_bid = 100 - yes_bid - k
        depth = self.depth_factor(center / 100.0, seconds_to_close)
        out: list[Quote] = []
        sides: tuple[tuple[Side, int], ...] = ((Side.YES, yes_bid), (Side.NO, no_bid))
        for side, best in sides:
            for level in range(p.levels):
                price = best - level * p.level_gap_cents
                if price < 1:
                    break
                size = p.level_sizes[level] * depth * math.exp(self._rng.normal(0.0, p.size_noise_sigma))
                out.append(Quote(side=side, price_cc=price * CC_PER_CENT, count=max(1, round(size))))
        return out


@attrs.frozen
class TakerParams:
    """Informed and noise taker flow. Not measurable from the data we have except the volume
    (median 11.7k contracts per SOL market, p25 6.6k, p75 18.9k); the rest is UNCONFIRMED."""

    edge_threshold_cc: int = 50          # wants > 0.5 cent per contract after fees
    act_probability: float = 0.5         # sees an opportunity but loses the race half the time
    min_interval_s: float = 1.0          # at most one informed order per second
    informed_size: int = 500
    noise_rate_per_s: float = 0.1        # ~90 noise orders per 15-min window
    noise_size_max: int = 100

    def __attrs_post_init__(self) -> None:
        if not 0.0 <= self.act_probability <= 1.0:
            raise ValueError(f"act_probability must be in [0, 1], got {self.act_probability}")
        if self.informed_size < 1 or self.noise_size_max < 1:
            raise ValueError("informed_size and noise_size_max must be >= 1")
        if self.noise_rate_per_s < 0 or self.min_interval_s < 0:
            raise ValueError("noise_rate_per_s and min_interval_s must be >= 0")


class InformedTaker:
    """Buys what is cheap against fair value (after the taker fee), plus random noise buys."""

    def __init__(self, seed: int, params: TakerParams | None = None) -> None:
        self.params = params or TakerParams()
        self._rng = np.random.default_rng(seed)
        self._last_call: float | None = None
        self._last_informed: float | None = None

    def edge_cc(self, fair_of_side: float, ask_cc: int, count: int) -> float:
        """Expected profit per contract, in cc, of buying ``count`` at ``ask_cc`` (fee included)."""
        return fair_of_side * ONE_DOLLAR_CC - ask_cc - taker_fee_cc(count, ask_cc) / count

    def decide(self, now_ts: float, fair_yes: float, best_yes_bid_cc: int | None,
               best_no_bid_cc: int | None) -> list[TakerOrder]:
        """The IOC buys to send now. The YES ask is $1 − best NO bid, the NO ask $1 − best YES bid."""
        p = self.params
        orders: list[TakerOrder] = []
        asks: dict[Side, int] = {}
        if best_no_bid_cc is not None:
            asks[Side.YES] = ONE_DOLLAR_CC - best_no_bid_cc
        if best_yes_bid_cc is not None:
            asks[Side.NO] = ONE_DOLLAR_CC - best_yes_bid_cc
        fair: dict[Side, float] = {Side.YES: fair_yes, Side.NO: 1.0 - fair_yes}

        rested = self._last_informed is None or now_ts - self._last_informed >= p.min_interval_s
        if rested:
            edges = {side: self.edge_cc(fair[side], ask, p.informed_size) for side, ask in asks.items()}
            best = max(edges, key=lambda s: edges[s], default=None)
            if best is not None and edges[best] > p.edge_threshold_cc \
                    and self._rng.random() < p.act_probability:
                orders.append(TakerOrder(side=best, price_cc=asks[best], count=p.informed_size,
                                         informed=True))
                self._last_informed = now_ts

        dt = 0.0 if self._last_call is None else max(now_ts - self._last_call, 0.0)
        self._last_call = now_ts
        if asks and dt > 0 and self._rng.random() < 1.0 - math.exp(-p.noise_rate_per_s * dt):
            sides = sorted(asks)
            side: Side = sides[int(self._rng.integers(len(sides)))]
            count = int(self._rng.integers(1, p.noise_size_max + 1))
            orders.append(TakerOrder(side=side, price_cc=asks[side], count=count))
        return orders
