"""The risk engine: every order intent passes :meth:`RiskEngine.check` before it is sent.

``check(intent, state, now) -> Verdict``. Checks, in order (the first failure is the reason code):

1. ``INVALID_ORDER``: count ≤ 0 or price outside ($0, $1).
2. Breaker: ``BREAKER_HALTED`` rejects everything; ``BREAKER_REDUCING`` rejects buys (exits only).
   ``POSITION_MISMATCH`` rejects buys while the position audit has confirmed that the journal and the
   exchange disagree on a position (:mod:`kalshid.core.audit`): every limit below reads the journal's.
   ``FEE_SCHEDULE`` rejects buys in a market whose effective fee structure on the exchange is not the
   one kalshid models, or is not known (``RiskState.fee_refusals``, :mod:`kalshid.core.fees`): every
   edge and every cost below assumes kalshid's taker fee.
3. Time: ``MARKET_NOT_OPEN`` before the window opens, ``MARKET_CLOSED`` at/after close; buys in the
   last ``entry_cutoff_seconds`` get ``ENTRY_CUTOFF`` (exits still pass).
4. Data: ``STALE_BOOK`` / ``STALE_INDEX`` when the book or index age (seconds, passed in the state;
   ``None`` = never seen) exceeds ``max_data_age_seconds``.
5. Sells: ``INSUFFICIENT_POSITION`` when selling more than held minus resting sells;
   ``INSUFFICIENT_CASH`` if the fee exceeds proceeds and cash; ``MAX_WINDOW_EXPOSURE`` and
   ``MAX_DAILY_LOSS`` if the sale would raise the window's exposure or the day's loss measure above
   its limit (selling one leg of a hedged position can).
6. Buys: ``MAX_CONCURRENT_POSITIONS`` (markets with open positions or resting buys, counting this
   one); then, for the order's worst case (taker fee at the limit price), ``MAX_TRADE_SIZE`` (cost
   incl. fee > ``max_position_size_cc``), ``INSUFFICIENT_CASH`` (cash − resting buys' reserve),
   ``MAX_WINDOW_EXPOSURE`` (worst-case settlement loss of the window's positions + resting buys +
   this order), ``MAX_DAILY_LOSS`` (loss measure after the order).

The **day's loss measure** is ``−realised_today + worst-case settlement loss of open positions +
worst case of resting buys``; limits are checked on the portfolio *after* a hypothetical fill of the
order (so a buy that hedges an open position is credited exactly). Day boundary: UTC midnight +
``day_rollover`` (:func:`kalshid.core.breaker.trading_day`); ``realised_today`` is the portfolio's
lifetime realised P&L minus ``DayLedger.start_realized_cc``; the shell rolls the ledger with
:meth:`DayLedger.rolled` before every check and before booking every fill and settlement, so what is
realised after the day boundary counts against the new day whatever message comes first.

**Reduction.** When a buy fails only a size-dependent limit (trade size, cash, window exposure,
daily loss) at its full count, the engine searches for the largest smaller count that passes every
check (re-verified exactly) and approves that with ``reason=REDUCED`` and ``adjusted_count``; if none
passes, it rejects with the reason a single contract fails. A reduced buy whose intent carries the
strategy's ``fair_prob`` must still reach its ``min_edge`` at the reduced count (after that order's
fee), else it is rejected with the limit's reason. A buy that pairs off contracts held on the
other side can pass with more contracts where one breaks the window or daily-loss limit (each pair
lowers both until the position's worst case is covered or the sides are even); it is searched from
there, at a price up to 99¢ (above it, a fee step can outweigh what a pair saves, and such a buy is
rejected when one contract breaks a limit). Exact integer cc throughout.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping, Sequence
from datetime import date, datetime, timedelta
from functools import partial
from types import MappingProxyType
from typing import Any

import attrs

from kalshid.core.breaker import BreakerStatus, trading_day
from kalshid.core.fees import taker_fee_cc
from kalshid.core.lazytext import LazyText, read_once, text_of, text_repr
from kalshid.core.markets import WINDOW
from kalshid.core.portfolio import Portfolio, window_close
from kalshid.core.sizing import all_in_cost_cc, max_count_within
from kalshid.core.units import ONE_DOLLAR_CC, format_dollars
from kalshid.core.vocab import Action, Side


class ReasonCode(enum.StrEnum):
    APPROVED = "approved"
    REDUCED = "reduced"
    INVALID_ORDER = "invalid_order"
    BREAKER_HALTED = "breaker_halted"
    BREAKER_REDUCING = "breaker_reducing"
    POSITION_MISMATCH = "position_mismatch"
    FEE_SCHEDULE = "fee_schedule"
    MARKET_NOT_OPEN = "market_not_open"
    MARKET_CLOSED = "market_closed"
    ENTRY_CUTOFF = "entry_cutoff"
    STALE_BOOK = "stale_book"
    STALE_INDEX = "stale_index"
    INSUFFICIENT_POSITION = "insufficient_position"
    MAX_CONCURRENT_POSITIONS = "max_concurrent_positions"
    MAX_TRADE_SIZE = "max_trade_size"
    INSUFFICIENT_CASH = "insufficient_cash"
    MAX_WINDOW_EXPOSURE = "max_window_exposure"
    MAX_DAILY_LOSS = "max_daily_loss"


@attrs.frozen
class OrderIntent:
    """An order we would like to place. ``price_cc`` is in ``side``'s terms (the limit).

    ``fair_prob`` (the strategy's probability that ``side`` wins) and ``min_edge`` (its threshold) let
    a reduction keep the strategy's rule: a buy is reduced only to a count whose edge after the fee of
    an order of that count is at least ``min_edge`` (the fee is per order and rounded up to a cent, so
    fewer contracts can pay more per contract). Without ``fair_prob`` nothing is asked of the edge."""

    ticker: str
    side: Side
    action: Action
    count: int
    price_cc: int
    fair_prob: float | None = None
    min_edge: float = 0.0


@attrs.frozen
class RestingOrder:
    """One of our orders resting on the book (``count`` = remaining)."""

    ticker: str
    side: Side
    action: Action
    count: int
    price_cc: int

    @property
    def worst_cost_cc(self) -> int:
        """Cash a resting buy can still consume (taker fee assumed, the worst case)."""
        if self.action is not _BUY:
            return 0
        return self.count * self.price_cc + taker_fee_cc(self.count, self.price_cc)


def _non_negative(_inst: object, attr: attrs.Attribute[Any], value: float) -> None:
    if value < 0:
        raise ValueError(f"risk limit {attr.name} must be >= 0, got {value!r}")


@attrs.frozen
class RiskLimits:
    """Limits in cc / counts / seconds (the config layer converts dollars with ``dollars_to_cc``)."""

    max_position_size_cc: int = attrs.field(validator=_non_negative)
    max_concurrent_positions: int = attrs.field(validator=_non_negative)
    max_daily_loss_cc: int = attrs.field(validator=_non_negative)
    max_window_exposure_cc: int = attrs.field(validator=_non_negative)
    entry_cutoff_seconds: float = attrs.field(default=60.0, validator=_non_negative)
    max_data_age_seconds: float = attrs.field(default=5.0, validator=_non_negative)
    day_rollover: timedelta = timedelta(0)


@attrs.frozen
class DayLedger:
    """Where today started: the trading day and the lifetime realised P&L at its start."""

    day: date
    start_realized_cc: int

    @classmethod
    def start(cls, now: datetime, portfolio: Portfolio, rollover: timedelta = timedelta(0)) -> DayLedger:
        return cls(trading_day(now, rollover), portfolio.realized_pnl_cc)

    def rolled(self, now: datetime, portfolio: Portfolio, rollover: timedelta = timedelta(0)) -> DayLedger:
        """This ledger, or a new one if ``now`` is in a later trading day (an earlier one, e.g. a late
        fill's own time, never takes the ledger back). Rolled *before* ``portfolio`` books what
        happened at ``now``, so a profit or loss realised in a new day is that day's."""
        day = trading_day(now, rollover)
        return self if day <= self.day else DayLedger(day, portfolio.realized_pnl_cc)


_NO_REFUSALS: Mapping[str, str] = MappingProxyType({})


@attrs.frozen
class RiskState:
    """Everything the engine needs besides the intent and ``now``."""

    portfolio: Portfolio
    ledger: DayLedger
    breaker_status: BreakerStatus = BreakerStatus.RUNNING
    resting: Sequence[RestingOrder] = ()
    book_age_seconds: float | None = None
    index_age_seconds: float | None = None
    position_mismatches: tuple[str, ...] = ()  # the position audit's confirmed differences, described
    # market -> why its buys are refused: its fee structure is not kalshid's model, or is not known
    fee_refusals: Mapping[str, str] = _NO_REFUSALS

    def loss_measure_cc(self, portfolio: Portfolio | None = None) -> int:
        """``−realised_today + worst-case open loss + resting buys' worst cost`` (cc)."""
        p = portfolio if portfolio is not None else self.portfolio
        realized_today = p.realized_pnl_cc - self.ledger.start_realized_cc
        return -realized_today + p.worst_case_loss_cc() + sum(r.worst_cost_cc for r in self.resting)


@attrs.frozen
class Verdict:
    """The answer to one check. ``detail`` says why, for the log and the journal; the engine may pass it
    as a function that formats it (:mod:`kalshid.core.lazytext`): the backtest reads no verdict's text,
    so a refusal's figures are formatted on the first read of :attr:`detail` only. Equality, hashing
    and ``repr`` use the text."""

    approved: bool
    reason: ReasonCode
    _detail: LazyText = attrs.field(alias="detail", eq=text_of, repr=text_repr)
    adjusted_count: int | None = None

    @property
    def detail(self) -> str:
        """The explanation, formatted (once) if the engine passed a function."""
        return read_once(self, "_detail", self._detail)

    def count_for(self, intent: OrderIntent) -> int:
        """The count to send: the adjusted one if reduced, else the intent's (0 if rejected)."""
        if not self.approved:
            return 0
        return self.adjusted_count if self.adjusted_count is not None else intent.count


_AFTER_FILL_LIMITS = (ReasonCode.MAX_WINDOW_EXPOSURE, ReasonCode.MAX_DAILY_LOSS)
# members read through module names where every check reads them: a member looked up on its enum
# class costs several times a global's lookup
_BUY, _YES = Action.BUY, Side.YES
_HALTED, _REDUCING = BreakerStatus.HALTED, BreakerStatus.REDUCING
# Above 99¢ a contract that pairs off lowers the worst case by less than the cent a fee step can add,
# so the day's loss measure need not be lowest where pairing stops; such a buy is not searched.
_PAIRING_SEARCH_MAX_PRICE_CC = 9_900


def _reject(reason: ReasonCode, detail: LazyText) -> Verdict:
    return Verdict(False, reason, detail)


def _over_limit(template: str, amount_cc: int, limit_cc: int) -> str:
    """A size limit's detail: ``template`` with the amount and the limit in dollars."""
    return template.format(format_dollars(amount_cc), format_dollars(limit_cc))


@attrs.frozen
class RiskEngine:
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
        buying = intent.action is _BUY

        if state.breaker_status is _HALTED:
            return _reject(ReasonCode.BREAKER_HALTED, "circuit breaker is HALTED")
        if buying and state.breaker_status is _REDUCING:
            return _reject(ReasonCode.BREAKER_REDUCING, "circuit breaker allows exits only")
        if buying and state.position_mismatches:
            return _reject(ReasonCode.POSITION_MISMATCH,
                           "the journal and the exchange disagree on positions (" + "; ".join(state.position_mismatches)
                           + "): no new entries until they agree")
        if buying and state.fee_refusals and intent.ticker in state.fee_refusals:
            return _reject(ReasonCode.FEE_SCHEDULE, state.fee_refusals[intent.ticker])

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
            return self._check_sell(intent, state, _Totals(intent.ticker, close, state))
        positions = state.portfolio.positions
        held = positions.get(intent.ticker)
        # a market held open is already counted: no limit to reach; nor when the positions and resting
        # orders together are fewer than the limit (the markets they make are not more)
        if (held is None or not held.is_open) and \
                len(positions) + len(state.resting) >= self.limits.max_concurrent_positions:
            open_markets = state.portfolio.open_tickers() | {
                r.ticker for r in state.resting if r.action is _BUY and r.count > 0}
            if intent.ticker not in open_markets and len(open_markets) >= self.limits.max_concurrent_positions:
                return _reject(ReasonCode.MAX_CONCURRENT_POSITIONS,
                               f"{len(open_markets)} markets open or with resting buys >= "
                               f"{self.limits.max_concurrent_positions}")
        return self._check_buy_size(intent, _Totals(intent.ticker, close, state))

    def _check_sell(self, intent: OrderIntent, state: RiskState, t: _Totals) -> Verdict:
        held = t.old.count(intent.side)
        committed = sum(r.count for r in state.resting if r.ticker == intent.ticker
                        and r.side is intent.side and r.action is Action.SELL)
        if intent.count > held - committed:
            return _reject(ReasonCode.INSUFFICIENT_POSITION,
                           f"selling {intent.count} {intent.side.value}: {held} held, {committed} already "
                           f"offered by resting sells")
        cash_delta, realized_delta, loss_after = t.after(intent, intent.count,
                                                         taker_fee_cc(intent.count, intent.price_cc))
        available = state.portfolio.cash_cc + cash_delta - t.reserved
        if available < 0:  # a fee above the proceeds (a sale near $0) must still be payable
            return _reject(ReasonCode.INSUFFICIENT_CASH,
                           f"the sale's fee exceeds its proceeds and cash: available after "
                           f"{format_dollars(available)}")
        others, resting_in_window = t.window()
        window_before = others + t.old_loss_cc + resting_in_window
        window_after = others + loss_after + resting_in_window
        if window_after > self.limits.max_window_exposure_cc and window_after > window_before:
            # selling one leg of a hedge turns a covered pair back into a naked, losable position
            return _reject(ReasonCode.MAX_WINDOW_EXPOSURE,
                           f"window exposure would rise from {format_dollars(window_before)} to "
                           f"{format_dollars(window_after)} (limit "
                           f"{format_dollars(self.limits.max_window_exposure_cc)})")
        before = t.loss_measure_cc(0, t.old_loss_cc)
        after_measure = t.loss_measure_cc(realized_delta, loss_after)
        if after_measure > self.limits.max_daily_loss_cc and after_measure > before:
            return _reject(ReasonCode.MAX_DAILY_LOSS,
                           f"day's loss measure would rise from {format_dollars(before)} to "
                           f"{format_dollars(after_measure)} (limit "
                           f"{format_dollars(self.limits.max_daily_loss_cc)})")
        return Verdict(True, ReasonCode.APPROVED, "exit")

    def _check_buy_size(self, intent: OrderIntent, t: _Totals) -> Verdict:
        full = self._buy_violation(intent, intent.count, t)
        if full is None:
            return Verdict(True, ReasonCode.APPROVED, "all limits pass")
        # Every limit passes for fewer contracts if it passes for more, except that a buy pairing off
        # the other side's contracts lowers the limits on the portfolio after the fill until the sides
        # are even (_one_breaks): so when one contract passes, the counts that pass run from it up to
        # the answer, and when it breaks a limit only such a buy can pass at all, with more.
        # A limit on the portfolio after the fill (window exposure, daily loss) that the whole order
        # breaks is usually broken by any count (a full window, a day at its loss limit), so one
        # contract is tried first; a breach of the cost limits goes to the arithmetic bound first.
        one_known = False
        if full[0] in _AFTER_FILL_LIMITS and intent.count > 1:
            one = self._buy_violation(intent, 1, t)
            if one is not None:
                return self._one_breaks(intent, one, t)
            one_known = True
        # The largest smaller count within the cost limits is usually the answer, and only the limits
        # that need the portfolio after the fill are searched below it.
        hi = self._within_cost_limits(intent, t)
        at_hi = self._buy_violation(intent, hi, t) if hi >= 1 else full
        if at_hi is None:
            return self._reduced(intent, hi, t)
        if not one_known:
            one = at_hi if hi == 1 or intent.count == 1 else self._buy_violation(intent, 1, t)
            if one is not None:
                return self._one_breaks(intent, one, t)
        return self._largest_passing(intent, 1, hi - 1, t)  # 1 passes

    def _largest_passing(self, intent: OrderIntent, lo: int, hi: int, t: _Totals) -> Verdict:
        """Reduce ``intent`` to the largest count in ``[lo, hi]``, ``lo`` passing and the counts that
        pass running from ``lo`` up (a binary search, each count checked exactly)."""
        while lo < hi:
            mid = (lo + hi + 1) // 2
            if self._buy_violation(intent, mid, t) is None:
                lo = mid
            else:
                hi = mid - 1
        return self._reduced(intent, lo, t)

    def _one_breaks(self, intent: OrderIntent, one: tuple[ReasonCode, LazyText], t: _Totals) -> Verdict:
        """The verdict on a buy one contract of which breaks a limit (``one``): rejected with that
        contract's reason, unless the buy pairs off contracts the position holds on the other side.

        Each such contract lowers the position's worst case by ``$1 − price`` until it is covered (0)
        or the sides are even, and from there every contract raises the window's exposure and the day's
        loss measure (the fee, then the worst case again). At a price up to 99¢ no fee step outweighs a
        contract's saving, so both are lowest at the count that covers the worst case (or the one
        before it, where the last saving is partial) or evens the sides, capped by the cost limits; the
        counts that pass, if any, run through one of those: the answer is searched up from the largest
        of them that passes; if none does, no count does."""
        old = t.old
        # the sides' counts read directly (Position.count and Side.other are calls): this runs on every
        # buy refused at the window or daily-loss limit
        held, other = (old.yes_count, old.no_count) if intent.side is _YES else (old.no_count, old.yes_count)
        pairs = other - held
        if one[0] not in _AFTER_FILL_LIMITS or pairs < 2 or intent.price_cc > _PAIRING_SEARCH_MAX_PRICE_CC:
            return _reject(*one)
        worst = old.cost_basis_cc - held * ONE_DOLLAR_CC  # the position's worst case, before the clamp at 0
        covered = -(-worst // (ONE_DOLLAR_CC - intent.price_cc)) if worst > 0 else 0  # contracts to cover it
        hi = self._within_cost_limits(intent, t)
        for lowest in sorted({min(n, hi) for n in (covered - 1, covered, pairs)}, reverse=True):
            if lowest >= 2 and self._buy_violation(intent, lowest, t) is None:
                return self._largest_passing(intent, lowest, hi, t)
        return _reject(*one)

    def _within_cost_limits(self, intent: OrderIntent, t: _Totals) -> int:
        """The largest count below the whole order's that the per-trade cap and the cash available
        allow: they bound the order's cost alone, so it is arithmetic (0 if none)."""
        budget = min(self.limits.max_position_size_cc, t.state.portfolio.cash_cc - t.reserved)
        return max_count_within(budget, intent.price_cc, intent.count - 1)

    def _reduced(self, intent: OrderIntent, count: int, t: _Totals) -> Verdict:
        """The verdict reducing ``intent`` to ``count``, with what the whole order would break; rejected
        with that reason when ``count`` contracts would not reach the strategy's ``min_edge``."""
        full = self._buy_violation(intent, intent.count, t)
        assert full is not None  # the whole order was found to break a limit
        breach = text_of(full[1])
        if intent.fair_prob is not None:
            edge = intent.fair_prob - all_in_cost_cc(count, intent.price_cc) / (count * ONE_DOLLAR_CC)
            if edge < intent.min_edge:
                return _reject(full[0], f"{breach}; the {count} contract(s) within it would have an edge of "
                                        f"{edge:.4f} after their fee, below the strategy's min_edge "
                                        f"{intent.min_edge:g}")
        return Verdict(True, ReasonCode.REDUCED, f"reduced from {intent.count} to {count}: {breach}",
                       adjusted_count=count)

    def _buy_violation(self, intent: OrderIntent, count: int, t: _Totals) -> tuple[ReasonCode, LazyText] | None:
        """The first limit a buy of ``count`` breaks, with its detail, or None. The detail is formatted
        when read: most violations are steps of a search or a refusal the backtest does not read."""
        lim = self.limits
        fee = taker_fee_cc(count, intent.price_cc)
        cost = count * intent.price_cc + fee
        if cost > lim.max_position_size_cc:
            return ReasonCode.MAX_TRADE_SIZE, partial(_over_limit, "cost {} incl. fee > per-trade cap {}", cost,
                                                      lim.max_position_size_cc)
        available = t.state.portfolio.cash_cc - t.reserved
        if cost > available:
            return ReasonCode.INSUFFICIENT_CASH, partial(_over_limit, "cost {} > available cash {}", cost, available)
        _cash_delta, realized_delta, loss_after = t.after(intent, count, fee)
        others, resting_in_window = t.window()
        window = others + loss_after + resting_in_window
        if window > lim.max_window_exposure_cc:
            return ReasonCode.MAX_WINDOW_EXPOSURE, partial(_over_limit, "window exposure {} > {}", window,
                                                           lim.max_window_exposure_cc)
        loss = t.loss_measure_cc(realized_delta, loss_after)
        if loss > lim.max_daily_loss_cc:
            return ReasonCode.MAX_DAILY_LOSS, partial(_over_limit, "day's loss measure {} > {}", loss,
                                                      lim.max_daily_loss_cc)
        return None


class _Totals:
    """What every limit of one check reads from the state, summed once per check (a reduced buy's
    search evaluates the limits a dozen times). Only the order's ticker changes with a fill, so the
    portfolio after a hypothetical fill is never built: the sums over the other positions stay and
    that one position's part is replaced (:meth:`Portfolio.position_after`, the arithmetic
    :meth:`Portfolio.apply_fill` applies; for a buy with nothing held on the other side, its notional
    added). Window sums parse tickers, so they are made on first use, as the limits that need them are
    reached."""

    __slots__ = ("_window", "close", "old", "old_loss_cc", "open_loss_cc", "reserved", "state", "ticker")

    def __init__(self, ticker: str, close: datetime, state: RiskState) -> None:
        self.ticker, self.close, self.state = ticker, close, state
        self.old = state.portfolio.position(ticker)
        self.old_loss_cc = self.old.worst_case_loss_cc
        self.open_loss_cc = state.portfolio.worst_case_loss_cc()
        # the sums over a handful of positions and resting orders as loops: a generator costs more
        # than the few items it sums
        reserved = 0
        for r in state.resting:
            reserved += r.worst_cost_cc
        self.reserved = reserved
        self._window: tuple[int, int] | None = None

    def window(self) -> tuple[int, int]:
        """``(other positions' worst-case loss in the order's window, resting buys' reserve in it)``."""
        if self._window is None:
            close, ticker = self.close, self.ticker
            others = resting = 0
            for t, p in self.state.portfolio.positions.items():
                if t != ticker and window_close(t) == close:
                    others += p.worst_case_loss_cc
            for r in self.state.resting:
                if window_close(r.ticker) == close:
                    resting += r.worst_cost_cc
            self._window = (others, resting)
        return self._window

    def after(self, intent: OrderIntent, count: int, fee: int) -> tuple[int, int, int]:
        """The order's ticker after ``count`` fill at the limit, paying the taker fee ``fee``:
        ``(change to cash, change to realised P&L, the position's worst-case settlement loss)`` (the
        loss 0 once the position is closed: the portfolio drops it). A plain tuple: a named one costs
        a call to make, on every limit evaluated."""
        old = self.old
        if (old.no_count if intent.side is _YES else old.yes_count) == 0 and intent.action is _BUY:
            # nothing on the other side to pair off: the position's worst case is its cost basis, which
            # the buy raises by its notional (a buy adds count × price and realises nothing but the fee)
            notional = count * intent.price_cc
            return -notional - fee, -fee, self.old_loss_cc + notional
        pos, cash_delta, realized_delta = self.state.portfolio.position_after(
            intent.ticker, intent.side, intent.action, count, intent.price_cc, fee)
        return cash_delta, realized_delta, pos.worst_case_loss_cc if pos.is_open else 0

    def loss_measure_cc(self, realized_delta: int, position_loss_cc: int) -> int:
        """:meth:`RiskState.loss_measure_cc` with the order's position's worst-case loss replaced by
        ``position_loss_cc`` and ``realized_delta`` more realised."""
        state = self.state
        p = state.portfolio
        realized_today = p.realized_pnl_cc + realized_delta - state.ledger.start_realized_cc
        return -realized_today + self.open_loss_cc - self.old_loss_cc + position_loss_cc + self.reserved
