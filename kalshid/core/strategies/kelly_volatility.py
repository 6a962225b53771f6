"""KellyVolatility: trade when the averaging-aware fair value beats the ask by ``min_edge`` after fees.

Per call: fold new index prints into a time-based EWMA volatility (:mod:`kalshid.core.vol`; memory
``vol_half_life_seconds``, no σ floor unless ``microstructure_floor`` > 0), price the market
with :func:`kalshid.core.pricing.fair_yes_probability` from the latest print (the closing prints
as the tracker reconciled them with the published closing average, :mod:`kalshid.core.closing`),
optionally pool it with the book mid (``pool_*`` parameters, :mod:`kalshid.core.pooling`; off by
default, fitted by ``kalshid backtest --fit-pool``), compare with both asks
(YES ask = $1 − best NO bid, NO ask = $1 − best YES bid), size the better side by fractional Kelly net
of the exact taker fee (:mod:`kalshid.core.sizing`), capped by the displayed size at the ask and
``market.max_count``, and signal a taker buy at the ask if its net edge is at least ``min_edge``.

Silent (returns ``None``) while the vol is warming up, before the strike is published, outside the
market's ``[open, close)``, or when a side has no ask. Inconsistent inputs (e.g. closing prints counted
while the window has not started) raise :class:`kalshid.core.pricing.PricingError`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from functools import partial

import attrs

from kalshid.core.pooling import RECALIBRATION, LogitPool
from kalshid.core.pricing import fair_yes_probability
from kalshid.core.signals import BookTop, IndexPrint, MarketView, Signal, signal_unchecked
from kalshid.core.sizing import EDGE_BOUND_SLACK, SizeDecision, edge_bound, size_binary
from kalshid.core.strategies.base import BaseStrategy, PriceHistory, number_in
from kalshid.core.units import ONE_DOLLAR_CC
from kalshid.core.vocab import Action, Side
from kalshid.core.vol import (
    DEFAULT_FLOOR_PER_SQRT_MINUTE,
    DEFAULT_HALF_LIFE_SECONDS,
    DEFAULT_WARMUP_SECONDS,
    EwmaVol,
)


@attrs.frozen
class KellyVolatilityParams:
    min_edge: float = attrs.field(default=0.03, validator=number_in(0.0, 1.0))
    vol_half_life_seconds: float = attrs.field(default=DEFAULT_HALF_LIFE_SECONDS,
                                               validator=number_in(0.0, 30 * 86_400.0, lo_open=True))
    microstructure_floor: float = attrs.field(default=DEFAULT_FLOOR_PER_SQRT_MINUTE, validator=number_in(0.0, 1.0))
    kelly_fraction: float = attrs.field(default=0.25, validator=number_in(0.0, 1.0, lo_open=True))
    warmup_seconds: float = attrs.field(default=DEFAULT_WARMUP_SECONDS, validator=number_in(0.0, 86_400.0))
    # logit pooling of the model with the book mid (kalshid.core.pooling); the defaults recalibrate the model
    # alone (no mid weight), fitted on the training candles: RECALIBRATION
    pool_bias: float = attrs.field(default=RECALIBRATION.bias, validator=number_in(-100.0, 100.0))
    pool_model_at_close: float = attrs.field(default=RECALIBRATION.model_at_close, validator=number_in(-100.0, 100.0))
    pool_model_at_open: float = attrs.field(default=RECALIBRATION.model_at_open, validator=number_in(-100.0, 100.0))
    pool_mid_at_close: float = attrs.field(default=0.0, validator=number_in(-100.0, 100.0))
    pool_mid_at_open: float = attrs.field(default=0.0, validator=number_in(-100.0, 100.0))

    @property
    def pool(self) -> LogitPool:
        return LogitPool(self.pool_bias, self.pool_model_at_close, self.pool_model_at_open,
                         self.pool_mid_at_close, self.pool_mid_at_open)


_YES, _NO, _BUY = Side.YES, Side.NO, Action.BUY  # module constants: an enum class attribute is a slow lookup


class KellyVolatility(BaseStrategy):
    name = "kelly_volatility"
    params_class = KellyVolatilityParams
    params: KellyVolatilityParams

    def __init__(self, params: KellyVolatilityParams | None = None) -> None:
        super().__init__(params)
        self.vol = EwmaVol(half_life_seconds=self.params.vol_half_life_seconds,
                           microstructure_floor=self.params.microstructure_floor,
                           warmup_seconds=self.params.warmup_seconds)
        self.last_fair_yes: float | None = None
        self.last_model_yes: float | None = None
        self._pool = self.params.pool
        self._pool_identity = self._pool.is_identity
        self._pool_uses_mid = not self._pool_identity and self._pool.uses_mid
        self._pool_without_mid = not self._pool_identity and not self._pool.uses_mid  # a recalibration alone
        self._min_edge = self.params.min_edge
        self._kelly_fraction = self.params.kelly_fraction
        # The last pricing: the vol state and the print it read (frozen, so the same objects are the same
        # values), the market's facts, and what came out (τ, σ, the model's P(YES), and the pooled one
        # when the pool weighs no mid; None when silent whatever the book). A book change alone prices
        # the same print again: the memo changes no decision.
        self._priced_vol: EwmaVol | None = None
        self._priced_print: IndexPrint | None = None
        self._priced: tuple[datetime, float | None, float, int] | None = None
        self._priced_out: tuple[float, float, float, float] | None = None

    def _adopt_state(self, old: KellyVolatility) -> None:
        self.vol = attrs.evolve(old.vol, half_life_seconds=self.params.vol_half_life_seconds,
                                microstructure_floor=self.params.microstructure_floor,
                                warmup_seconds=self.params.warmup_seconds)
        self.last_fair_yes = old.last_fair_yes
        self.last_model_yes = old.last_model_yes

    def ingest(self, prints: Sequence[IndexPrint]) -> None:
        """Fold prints newer than the last one seen into the EWMA (older ones are skipped)."""
        vol = self.vol
        last = vol.last_ts
        for p in (prints if len(prints) < 2 else sorted(prints, key=lambda q: q.ts)):
            if last is None or p.ts > last:
                vol = vol.update(p.ts, p.price)
                last = vol.last_ts
        self.vol = vol

    def _price(self, vol: EwmaVol, current_price: IndexPrint,
               market: MarketView) -> tuple[float, float, float, float] | None:
        """``(τ, σ, model P(YES), pooled P(YES))`` from the vol state and the print, or ``None`` when the
        strategy is silent whatever the book (the vol warming up, no strike yet, the print at or after
        the close): :func:`fair_yes_probability` and the pool when it weighs no mid (else the model's
        value again), remembered for the last inputs (the same inputs give the same floats, so the memo
        changes no decision)."""
        key = (market.close_time, market.floor_strike, market.closing_sum, market.closing_count)
        if vol is self._priced_vol and current_price is self._priced_print and key == self._priced:
            return self._priced_out
        self._priced_vol, self._priced_print, self._priced = vol, current_price, key
        self._priced_out = None
        strike = market.floor_strike
        if strike is None or not vol.is_warm:
            return None
        tau = (market.close_time - current_price.ts).total_seconds()
        if tau <= 0:
            return None
        sigma = vol.sigma_per_sqrt_second
        model_yes = fair_yes_probability(current_price.price, strike, sigma, tau,
                                         observed_sum=market.closing_sum, observed_count=market.closing_count)
        pooled = model_yes
        if self._pool_without_mid:
            pooled = self._pool(model_yes, None, tau / 60.0)
        out = self._priced_out = (tau, sigma, model_yes, pooled)
        return out

    def analyze(self, market: MarketView, current_price: IndexPrint | None, price_history: PriceHistory,
                orderbook: BookTop | None) -> Signal | None:
        prints = price_history.index
        vol = self.vol
        if prints:
            self.ingest((*prints, current_price) if current_price is not None else prints)
            vol = self.vol
        elif current_price is not None and (vol.last_ts is None or current_price.ts > vol.last_ts):
            vol = self.vol = vol.update(current_price.ts, current_price.price)  # ingest of one print
        self.last_fair_yes = self.last_model_yes = None
        if current_price is None or orderbook is None or not market.is_open:
            return None
        priced = self._price(vol, current_price, market)
        if priced is None:
            return None
        tau, sigma, model_yes, fair_yes = priced
        self.last_model_yes = model_yes
        mid: float | None = None  # for the reason: the pool's input, or None when it used no mid
        pool_off = False
        if self._pool_uses_mid:
            if (mid := orderbook.yes_mid_prob) is None:
                pool_off = True
            else:
                fair_yes = self._pool(model_yes, mid, tau / 60.0)
        self.last_fair_yes = fair_yes

        # both sides, YES first (the YES ask is $1 - the best NO bid, the NO ask $1 - the best YES bid);
        # the NO side replaces the YES side only with a strictly larger edge
        decision: SizeDecision | None = None
        side, p_side = _YES, fair_yes
        if orderbook.no_bid_cc is not None:
            decision = self._size(fair_yes, ONE_DOLLAR_CC - orderbook.no_bid_cc, orderbook.no_bid_size, market)
        if orderbook.yes_bid_cc is not None:
            p_no = 1.0 - fair_yes
            other = self._size(p_no, ONE_DOLLAR_CC - orderbook.yes_bid_cc, orderbook.yes_bid_size, market)
            if other is not None and (decision is None or other.edge > decision.edge):
                side, p_side, decision = _NO, p_no, other
        if decision is None:
            return None
        min_edge = self._min_edge
        confidence = 1.0 if min_edge <= 0 else decision.edge / (3.0 * min_edge)
        if not confidence < 1.0:  # min(1.0, ·), written out: a builtin call is dear on every evaluation
            confidence = 1.0

        # the reason is formatted only if read (see Signal); a partial, not a closure, so that no call
        # pays for the closure's cells
        reason = partial(self._reason, fair_yes, model_yes, mid, pool_off, side, decision, sigma, tau, market)
        # unchecked: size_binary gave a valid price and a count > 0, confidence is in (0, 1] since the
        # edge is at least min_edge, and the view's now is checked
        return signal_unchecked(self.name, market.ticker, side, _BUY, decision.price_cc, decision.count, p_side,
                                decision.edge, confidence, reason, market.now)

    def _size(self, p_side: float, price_cc: int, size: int, market: MarketView) -> SizeDecision | None:
        """The buy of one side at its ask ``price_cc`` (``size`` shown there), if it reaches ``min_edge``;
        a side whose :func:`edge_bound` is below it is not sized (no count could reach it)."""
        if edge_bound(p_side, price_cc) < self._min_edge - EDGE_BOUND_SLACK:
            return None
        decision = size_binary(p_side, price_cc, market.bankroll_cc, kelly_fraction=self._kelly_fraction,
                               max_count=size if size < market.max_count else market.max_count)
        if decision is None or decision.edge < self._min_edge:
            return None
        return decision

    def _reason(self, fair_yes: float, model_yes: float, mid: float | None, pool_off: bool, side: Side,
                decision: SizeDecision, sigma: float, tau: float, market: MarketView) -> str:
        if self._pool_identity:
            pooled = ""
        elif pool_off:
            pooled = " pool=off(no mid)"
        elif mid is None:
            pooled = f" model_yes={model_yes:.4f} recalibrated"
        else:
            pooled = f" model_yes={model_yes:.4f} mid={mid:.4f}"
        return (f"fair_yes={fair_yes:.4f} {side.value}_ask={decision.price_cc}cc fee={decision.fee_cc}cc "
                f"edge={decision.edge:.4f} sigma={sigma:.3e}/sqrt(s) tau={tau:.0f}s "
                f"closing={market.closing_count}/60 {market.closing_source}{pooled}"
                + (f" ({market.closing_note})" if market.closing_note else ""))

    def statistics(self) -> Mapping[str, object]:
        return {"name": self.name, "params": attrs.asdict(self.params), "vol": self.vol.statistics(),
                "last_fair_yes": self.last_fair_yes, "last_model_yes": self.last_model_yes}
