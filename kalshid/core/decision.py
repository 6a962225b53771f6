"""One evaluation of the enabled strategies on one market: signals in, proposals for risk out.

This is the strategy stage's decision, shared by the daemon (:mod:`kalshid.trading.strategy`) and the
backtest (:mod:`kalshid.research.engine`) so both run the same rules:

- each strategy is asked once, in registry order, with the same view, print, history and book;
- a signal is **suppressed** when trading is stopped (:func:`trading_enabled`: the operator's stop, or a
  HALTED circuit breaker, which risk would refuse anyway) or the strategy already has an order working
  in this market (one intent at a time per strategy and market); a buy also while entries are held
  (:func:`entries_enabled`: the breaker allows exits only, or the position audit found the journal and
  the exchange in disagreement; risk would refuse the buy anyway);
- a buy signal's Kelly count is a *target position*: what the strategy already holds of that side in
  that market is subtracted, and a signal already met is **at target**; so is one whose rest no longer
  reaches the strategy's ``min_edge`` after the fee of an order of that size (the fee is per order and
  rounded up to a cent, so a smaller order can pay more per contract).

Pure: no I/O, no clock; the caller passes the state and applies the outcome (marks the strategy busy,
sends the proposal to risk, updates its counters).

When to evaluate
----------------
Strategies are asked only when something they read has changed since the previous evaluation. Both
the daemon's strategy stage and the backtest apply this rule, through the return values of
:class:`~kalshid.core.tracker.MarketTracker`'s inputs:

- an **index print** was accepted (:meth:`~kalshid.core.tracker.MarketTracker.on_index` is true): the
  spot, the volatility, the time left and the closing average move with it; the prints arrive every
  second, so they are also the clock that carries a market across its open, its closing window and
  its close;
- the **current market's top of book** changed (:meth:`~kalshid.core.tracker.MarketTracker.on_book` is
  true, see :func:`top_changed`): a best bid's price or size on either side, or the book turned stale
  or fresh again.

Nothing else triggers: a message that only re-confirms the top (a deep-level delta), the next
market's book, a public trade, a lifecycle change or a fill are folded into the state and wait for
the next trigger (at most a second, the next index print). A burst of events is folded first and
evaluated once.
"""

from __future__ import annotations

import enum
from collections.abc import Collection, Iterable, Mapping, Sequence
from datetime import datetime, timedelta

import attrs

from kalshid.core.breaker import BreakerStatus
from kalshid.core.risk import OrderIntent, RestingOrder
from kalshid.core.signals import BookTop, IndexPrint, MarketView, Signal
from kalshid.core.slots import slot_setters
from kalshid.core.strategies.base import BaseStrategy, PriceHistory
from kalshid.core.units import ONE_DOLLAR_CC
from kalshid.core.vocab import Action


class Outcome(enum.StrEnum):
    SILENT = "silent"            # the strategy returned no signal
    PROPOSED = "proposed"        # ``proposal`` goes to risk
    SUPPRESSED = "suppressed"    # trading stopped, or the strategy is busy in this market
    AT_TARGET = "at_target"      # the strategy holds the signal's count, or the rest is below its min_edge


@attrs.frozen
class Evaluation:
    """What one strategy said and what becomes of it. ``fair_yes`` is the strategy's modelled P(YES)
    after the call when it exposes one (``last_fair_yes``), else ``None``."""

    strategy: str
    outcome: Outcome
    signal: Signal | None
    proposal: Signal | None
    fair_yes: float | None


def top_changed(old: BookTop | None, new: BookTop | None) -> bool:
    """True when ``new`` shows a strategy something ``old`` did not: a best bid's price or size on
    either side, or a book appearing or disappearing (``None``: no book, or a stale one). The
    timestamp ``updated_at`` alone is not a change."""
    if old is None or new is None:
        return old is not new
    return (old.yes_bid_cc != new.yes_bid_cc or old.no_bid_cc != new.no_bid_cc
            or old.yes_bid_size != new.yes_bid_size or old.no_bid_size != new.no_bid_size
            or old.ticker != new.ticker)


def trading_enabled(operator_enabled: bool, breaker_status: BreakerStatus) -> bool:
    """Whether signals may become proposals: the operator has not stopped trading and the circuit
    breaker is not HALTED (nothing trades until it is reset; risk would refuse every proposal)."""
    return operator_enabled and breaker_status is not BreakerStatus.HALTED


def entries_enabled(breaker_status: BreakerStatus, positions_agree: bool = True) -> bool:
    """Whether a buy signal may become a proposal: the breaker is not REDUCING (exits only) and the
    position audit has confirmed no difference with the exchange (risk refuses buys in either case)."""
    return breaker_status is not BreakerStatus.REDUCING and positions_agree


def order_intent(signal: Signal, min_edge: float) -> OrderIntent:
    """The order a proposal asks risk for. A buy carries the strategy's ``fair_prob`` and ``min_edge``,
    so that a reduction keeps the strategy's rule (:class:`~kalshid.core.risk.OrderIntent`); a sale (an
    exit) asks nothing of the edge."""
    if signal.action is _BUY:
        return OrderIntent(signal.ticker, signal.side, signal.action, signal.count, signal.price_cc,
                           signal.fair_prob, min_edge)
    return OrderIntent(signal.ticker, signal.side, signal.action, signal.count, signal.price_cc)


def bankroll_cc(cash_cc: int, resting: Iterable[RestingOrder]) -> int:
    """Cash a new signal may size against: cash minus what resting buys can still consume, >= 0."""
    return max(0, cash_cc - sum(r.worst_cost_cc for r in resting))


def evaluate_strategies(strategies: Sequence[BaseStrategy], view: MarketView, current_print: IndexPrint | None,
                        history: PriceHistory, top: BookTop | None, *, trading_enabled: bool,
                        busy: Collection[str], holdings: Mapping[tuple[str, str, str], int],
                        entries_enabled: bool = True) -> list[Evaluation]:
    """Ask every strategy in ``strategies`` once; see the module docstring for the rules.

    ``busy``: names of strategies with an order working in ``view.ticker``. ``holdings``: contracts held
    per ``(strategy, ticker, side)``. ``entries_enabled`` false: buys are suppressed.
    """
    out: list[Evaluation] = []
    for strategy in strategies:
        name = strategy.name
        signal = strategy.analyze(view, current_print, history, top)
        fair = strategy.last_fair_yes  # BaseStrategy's is None
        fair_yes = fair if isinstance(fair, float) else None
        if signal is None:
            # frozen: a silence with the same fair value (the same object, or None) as the strategy's
            # previous one is the same value, shared (the common case between index prints)
            silent = _LAST_SILENT.get(name)
            if silent is None or silent.fair_yes is not fair_yes:
                silent = _LAST_SILENT[name] = _evaluation(name, _SILENT, None, None, fair_yes)
            out.append(silent)
            continue
        if not trading_enabled or name in busy or (not entries_enabled and signal.action is _BUY):
            out.append(_evaluation(name, _SUPPRESSED, signal, None, fair_yes))
            continue
        proposal = signal
        if signal.action is _BUY:
            # the side's value read as the enum stores it (``.value`` is a property lookup)
            held = holdings.get((name, view.ticker, signal.side._value_), 0) if holdings else 0
            if held >= signal.count:
                out.append(_evaluation(name, _AT_TARGET, signal, None, fair_yes))
                continue
            if held:  # an unchanged signal is its own proposal (frozen: sharing it is safe, and cheaper)
                proposal = signal.with_count(signal.count - held)
                if proposal.edge < strategy.min_edge:  # the smaller order's fee leaves too little edge
                    out.append(_evaluation(name, _AT_TARGET, signal, None, fair_yes))
                    continue
        out.append(_evaluation(name, _PROPOSED, signal, proposal, fair_yes))
    return out


_SILENT, _PROPOSED, _SUPPRESSED, _AT_TARGET = Outcome.SILENT, Outcome.PROPOSED, Outcome.SUPPRESSED, Outcome.AT_TARGET
_BUY = Action.BUY
_LAST_SILENT: dict[str, Evaluation] = {}  # per strategy name: its latest silent evaluation
_new = object.__new__
_EV_STRATEGY, _EV_OUTCOME, _EV_SIGNAL, _EV_PROPOSAL, _EV_FAIR = slot_setters(Evaluation)


def _evaluation(strategy: str, outcome: Outcome, signal: Signal | None, proposal: Signal | None,
                fair_yes: float | None) -> Evaluation:
    """``Evaluation(...)`` (it has no checks), its slots set directly (:mod:`kalshid.core.slots`)."""
    e = _new(Evaluation)
    _EV_STRATEGY(e, strategy)
    _EV_OUTCOME(e, outcome)
    _EV_SIGNAL(e, signal)
    _EV_PROPOSAL(e, proposal)
    _EV_FAIR(e, fair_yes)
    return e


CANCEL_BEFORE_CLOSE = timedelta(seconds=2)  # our resting orders in a window are cancelled this long before it closes


def closing_due(now: datetime, close_time: datetime) -> bool:
    """Whether a window closing at ``close_time`` is due its cancels at exchange time ``now``."""
    return now >= close_time - CANCEL_BEFORE_CLOSE


def side_edges(fair_yes: float, top: BookTop) -> dict[str, float]:
    """The edge, as a probability, of buying each side at its best ask when YES is worth ``fair_yes``:
    ``{"yes": fair - yes_ask, "no": (1 - fair) - no_ask}``, a side without an ask left out."""
    edges: dict[str, float] = {}
    if top.yes_ask_cc is not None:
        edges["yes"] = fair_yes - top.yes_ask_cc / ONE_DOLLAR_CC
    if top.no_ask_cc is not None:
        edges["no"] = (1 - fair_yes) - top.no_ask_cc / ONE_DOLLAR_CC
    return edges
