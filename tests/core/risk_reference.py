"""The risk engine's size limits evaluated literally, as the rules read (:mod:`kalshid.core.risk`'s
docstring): every hypothetical fill builds the whole portfolio after it and every sum is taken
again. :class:`ReferenceRiskEngine` is :class:`~kalshid.core.risk.RiskEngine` with its sale check
and its buy-limit evaluation replaced by those literal ones (the checks before them, and the
reduction search over counts, are the engine's own); ``test_risk_reference.py`` holds the two
engines' verdicts equal, detail for detail."""

from __future__ import annotations

from datetime import UTC, datetime

import attrs

from kalshid.core.fees import taker_fee_cc
from kalshid.core.portfolio import Fill, window_close
from kalshid.core.risk import OrderIntent, ReasonCode, RiskEngine, RiskState, Verdict, _Totals
from kalshid.core.units import format_dollars
from kalshid.core.vocab import Action

FILL_TS = datetime(2026, 1, 1, tzinfo=UTC)  # a fill's time does not enter any limit


def _reject(reason: ReasonCode, detail: str) -> Verdict:
    return Verdict(False, reason, detail)


@attrs.frozen
class ReferenceRiskEngine(RiskEngine):
    def _check_sell(self, intent: OrderIntent, state: RiskState, t: _Totals) -> Verdict:
        held = state.portfolio.position(intent.ticker).count(intent.side)
        committed = sum(r.count for r in state.resting if r.ticker == intent.ticker
                        and r.side is intent.side and r.action is Action.SELL)
        if intent.count > held - committed:
            return _reject(ReasonCode.INSUFFICIENT_POSITION,
                           f"selling {intent.count} {intent.side.value}: {held} held, {committed} already "
                           f"offered by resting sells")
        after_fill = state.portfolio.apply_fill(self._fill(intent, intent.count))
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

    def _buy_violation(self, intent: OrderIntent, count: int, t: _Totals) -> tuple[ReasonCode, str] | None:
        lim, state, close = self.limits, t.state, t.close
        fill = self._fill(intent, count)
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
    def _fill(intent: OrderIntent, count: int) -> Fill:
        """The order's worst-case fill: all ``count`` at the limit, paying the taker fee."""
        return Fill(intent.ticker, intent.side, intent.action, count, intent.price_cc,
                    taker_fee_cc(count, intent.price_cc), FILL_TS)
