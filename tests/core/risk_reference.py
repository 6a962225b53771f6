"""The risk engine's limits evaluated literally, as the rules read (:mod:`kalshid.core.risk`'s
docstring): every hypothetical fill builds the whole portfolio after it and every sum is taken
again. :class:`kalshid.core.risk.RiskEngine` must reach the same verdict, detail for detail
(``test_risk_reference.py``)."""

from __future__ import annotations

from datetime import datetime

import attrs

from kalshid.core.breaker import BreakerStatus
from kalshid.core.fees import taker_fee_cc
from kalshid.core.markets import WINDOW
from kalshid.core.portfolio import Fill, window_close
from kalshid.core.risk import OrderIntent, ReasonCode, RiskLimits, RiskState, Verdict
from kalshid.core.sizing import max_count_within
from kalshid.core.units import ONE_DOLLAR_CC, format_dollars
from kalshid.core.vocab import Action


def _reject(reason: ReasonCode, detail: str) -> Verdict:
    return Verdict(False, reason, detail)


@attrs.frozen
class ReferenceRiskEngine:
    limits: RiskLimits

    def check(self, intent: OrderIntent, state: RiskState, now: datetime) -> Verdict:
        """Approve, reduce or reject ``intent``; never raises for a bad intent (``INVALID_ORDER``)."""
        if isinstance(intent.count, bool) or not isinstance(intent.count, int) or intent.count <= 0:
            return _reject(ReasonCode.INVALID_ORDER,
                           f"count must be a whole number > 0, got {intent.count!r}")
        if not isinstance(intent.price_cc, int) or not 0 < intent.price_cc < ONE_DOLLAR_CC:
            return _reject(ReasonCode.INVALID_ORDER, f"price_cc must be in (0, {ONE_DOLLAR_CC}), "
                                                     f"got {intent.price_cc!r}")
        try:
            close = window_close(intent.ticker)
        except ValueError as exc:
            return _reject(ReasonCode.INVALID_ORDER, str(exc))
        buying = intent.action is Action.BUY

        if state.breaker_status is BreakerStatus.HALTED:
            return _reject(ReasonCode.BREAKER_HALTED, "circuit breaker is HALTED")
        if buying and state.breaker_status is BreakerStatus.REDUCING:
            return _reject(ReasonCode.BREAKER_REDUCING, "circuit breaker allows exits only")

        if now < close - WINDOW:
            return _reject(ReasonCode.MARKET_NOT_OPEN, f"window opens at {(close - WINDOW).isoformat()}")
        to_close = (close - now).total_seconds()
        if to_close <= 0:
            return _reject(ReasonCode.MARKET_CLOSED, f"market closed at {close.isoformat()}")
        if buying and to_close < self.limits.entry_cutoff_seconds:
            return _reject(ReasonCode.ENTRY_CUTOFF, f"{to_close:.1f} s to close < entry cutoff "
                                                    f"{self.limits.entry_cutoff_seconds:.0f} s")

        max_age = self.limits.max_data_age_seconds
        if state.book_age_seconds is None or state.book_age_seconds > max_age:
            return _reject(ReasonCode.STALE_BOOK, f"book age {state.book_age_seconds} s > {max_age} s")
        if state.index_age_seconds is None or state.index_age_seconds > max_age:
            return _reject(ReasonCode.STALE_INDEX, f"index age {state.index_age_seconds} s > {max_age} s")

        if not buying:
            return self._check_sell(intent, state, now)
        open_markets = state.portfolio.open_tickers() | {
            r.ticker for r in state.resting if r.action is Action.BUY and r.count > 0}
        if intent.ticker not in open_markets and len(open_markets) >= self.limits.max_concurrent_positions:
            return _reject(ReasonCode.MAX_CONCURRENT_POSITIONS,
                           f"{len(open_markets)} markets open or with resting buys >= "
                           f"{self.limits.max_concurrent_positions}")
        return self._check_buy_size(intent, state, now, close)

    def _check_sell(self, intent: OrderIntent, state: RiskState, now: datetime) -> Verdict:
        held = state.portfolio.position(intent.ticker).count(intent.side)
        committed = sum(r.count for r in state.resting if r.ticker == intent.ticker
                        and r.side is intent.side and r.action is Action.SELL)
        if intent.count > held - committed:
            return _reject(ReasonCode.INSUFFICIENT_POSITION,
                           f"selling {intent.count} {intent.side.value}: {held} held, {committed} already "
                           f"offered by resting sells")
        after_fill = state.portfolio.apply_fill(self._fill(intent, intent.count, now))
        available = after_fill.cash_cc - sum(r.worst_cost_cc for r in state.resting)
        if available < 0:  # a fee above the proceeds (a sale near $0) must still be payable
            return _reject(ReasonCode.INSUFFICIENT_CASH,
                           f"the sale's fee exceeds its proceeds and cash: available after "
                           f"{format_dollars(available)}")
        close = window_close(intent.ticker)
        resting_in_window = sum(r.worst_cost_cc for r in state.resting if window_close(r.ticker) == close)
        window_before = state.portfolio.exposure_by_window().get(close, 0) + resting_in_window
        window_after = after_fill.exposure_by_window().get(close, 0) + resting_in_window
        if window_after > self.limits.max_window_exposure_cc and window_after > window_before:
            # selling one leg of a hedge turns a covered pair back into a naked, losable position
            return _reject(ReasonCode.MAX_WINDOW_EXPOSURE,
                           f"window exposure would rise from {format_dollars(window_before)} to "
                           f"{format_dollars(window_after)} (limit "
                           f"{format_dollars(self.limits.max_window_exposure_cc)})")
        before = state.loss_measure_cc()
        after = state.loss_measure_cc(after_fill)
        if after > self.limits.max_daily_loss_cc and after > before:
            return _reject(ReasonCode.MAX_DAILY_LOSS,
                           f"day's loss measure would rise from {format_dollars(before)} to "
                           f"{format_dollars(after)} (limit {format_dollars(self.limits.max_daily_loss_cc)})")
        return Verdict(True, ReasonCode.APPROVED, "exit")

    def _check_buy_size(self, intent: OrderIntent, state: RiskState, now: datetime,
                        close: datetime) -> Verdict:
        full = self._buy_violation(intent, intent.count, state, now, close)
        if full is None:
            return Verdict(True, ReasonCode.APPROVED, "all limits pass")
        # Every limit passes for fewer contracts if it passes for more (the search below relies on it).
        # The per-trade cap and the cash available bound the order's cost alone, so the largest count
        # within both is arithmetic; it is usually the answer, and only the limits that need the
        # portfolio after the fill (window exposure, daily loss) are searched below it.
        budget = min(self.limits.max_position_size_cc,
                     state.portfolio.cash_cc - sum(r.worst_cost_cc for r in state.resting))
        hi = max_count_within(budget, intent.price_cc, intent.count - 1)
        at_hi = self._buy_violation(intent, hi, state, now, close) if hi >= 1 else full
        if at_hi is None:
            return Verdict(True, ReasonCode.REDUCED, f"reduced from {intent.count} to {hi}: {full[1]}",
                           adjusted_count=hi)
        one = at_hi if hi == 1 or intent.count == 1 else self._buy_violation(intent, 1, state, now, close)
        if one is not None:
            return _reject(*one)
        lo, hi = 1, hi - 1  # 1 passes; search the largest passing count, then verify it
        while lo < hi:
            mid = (lo + hi + 1) // 2
            if self._buy_violation(intent, mid, state, now, close) is None:
                lo = mid
            else:
                hi = mid - 1
        return Verdict(True, ReasonCode.REDUCED, f"reduced from {intent.count} to {lo}: {full[1]}",
                       adjusted_count=lo)

    def _buy_violation(self, intent: OrderIntent, count: int, state: RiskState, now: datetime,
                       close: datetime) -> tuple[ReasonCode, str] | None:
        lim = self.limits
        fill = self._fill(intent, count, now)
        cost = count * intent.price_cc + fill.fee_cc
        if cost > lim.max_position_size_cc:
            return (ReasonCode.MAX_TRADE_SIZE, f"cost {format_dollars(cost)} incl. fee > per-trade cap "
                                               f"{format_dollars(lim.max_position_size_cc)}")
        reserved = sum(r.worst_cost_cc for r in state.resting)
        available = state.portfolio.cash_cc - reserved
        if cost > available:
            return (ReasonCode.INSUFFICIENT_CASH, f"cost {format_dollars(cost)} > available cash "
                                                  f"{format_dollars(available)}")
        after = state.portfolio.apply_fill(fill)
        window = after.exposure_by_window().get(close, 0) + sum(
            r.worst_cost_cc for r in state.resting if window_close(r.ticker) == close)
        if window > lim.max_window_exposure_cc:
            return (ReasonCode.MAX_WINDOW_EXPOSURE, f"window exposure {format_dollars(window)} > "
                                                    f"{format_dollars(lim.max_window_exposure_cc)}")
        loss = state.loss_measure_cc(after)
        if loss > lim.max_daily_loss_cc:
            return (ReasonCode.MAX_DAILY_LOSS, f"day's loss measure {format_dollars(loss)} > "
                                               f"{format_dollars(lim.max_daily_loss_cc)}")
        return None

    @staticmethod
    def _fill(intent: OrderIntent, count: int, now: datetime) -> Fill:
        """The order's worst-case fill: all ``count`` at the limit, paying the taker fee."""
        return Fill(intent.ticker, intent.side, intent.action, count, intent.price_cc,
                    taker_fee_cc(count, intent.price_cc), now)
