"""The frozen data that flows into and out of strategies.

Inputs: :class:`MarketView` (the market and the caller's sizing context at ``now``), :class:`IndexPrint`
(one SOLUSD_RTI print), :class:`PricePoint` (a timestamped YES probability, e.g. a book mid) and
:class:`BookTop` (best YES/NO bids with sizes). Output: :class:`Signal`.

Conventions, all exact: prices in centi-cents (``kalshid.core.units``), counts in whole contracts,
times timezone-aware UTC datetimes taken from the exchange/index (never a local clock read).
Kalshi books show bids only: the YES ask is ``$1 − best NO bid`` and the NO ask ``$1 − best YES bid``.
"""

from __future__ import annotations

import math
from datetime import datetime
from functools import partial

import attrs

from kalshid.core.lazytext import LazyText, read_once, text_of, text_repr
from kalshid.core.sizing import all_in_cost_cc
from kalshid.core.slots import slot_setters
from kalshid.core.units import ONE_DOLLAR_CC, check_price_cc, complement
from kalshid.core.vocab import Action, Side


def _aware(_inst: object, attr: attrs.Attribute[datetime], value: datetime) -> None:
    if value.tzinfo is None:
        raise ValueError(f"{attr.name} must be timezone-aware, got naive {value.isoformat()}")


@attrs.frozen
class IndexPrint:
    """One print of the settlement index (SOLUSD_RTI), in dollars.

    ``close_avg`` / ``close_avg_window`` are the closing average the exchange published with the print
    (``last_60s_windowed_average_15min``: value and ``window_size``, only in the last minute before a
    quarter hour), as received; :mod:`kalshid.core.closing` checks them before use.
    """

    ts: datetime
    price: float
    close_avg: float | None = None
    close_avg_window: int | None = None

    def __attrs_post_init__(self) -> None:
        # one method for every check (a print is built on every index tick)
        if self.ts.tzinfo is None:
            _aware(self, attrs.fields_dict(IndexPrint)["ts"], self.ts)
        if not 0 < self.price < math.inf:  # finite and > 0 (NaN fails)
            raise ValueError(f"index price must be finite and > 0, got {self.price!r}")


@attrs.frozen
class PricePoint:
    """A timestamped YES probability in [0, 1] (e.g. the book mid), for price-history strategies."""

    ts: datetime = attrs.field(validator=_aware)
    yes_prob: float

    def __attrs_post_init__(self) -> None:
        if not (math.isfinite(self.yes_prob) and 0.0 <= self.yes_prob <= 1.0):
            raise ValueError(f"yes_prob must be in [0, 1], got {self.yes_prob!r}")


@attrs.frozen
class BookTop:
    """Best bids of both sides, with sizes, as of ``updated_at`` (when the book last changed or was
    confirmed by the feed). ``None`` price means that side has no bids."""

    ticker: str
    yes_bid_cc: int | None
    yes_bid_size: int
    no_bid_cc: int | None
    no_bid_size: int
    updated_at: datetime = attrs.field(validator=_aware)

    def __attrs_post_init__(self) -> None:
        for name, price, size in (("yes_bid_cc", self.yes_bid_cc, self.yes_bid_size),
                                  ("no_bid_cc", self.no_bid_cc, self.no_bid_size)):
            if price is not None:
                check_price_cc(price, what=name)
                if size <= 0:
                    raise ValueError(f"{name} is set but its size is {size}")
            elif size != 0:
                raise ValueError(f"{name} is empty but its size is {size}")
        if self.yes_bid_cc is not None and self.no_bid_cc is not None \
                and self.yes_bid_cc + self.no_bid_cc > ONE_DOLLAR_CC:
            raise ValueError(f"crossed book: yes bid {self.yes_bid_cc} + no bid {self.no_bid_cc} > $1")

    @property
    def yes_ask_cc(self) -> int | None:
        return None if self.no_bid_cc is None else complement(self.no_bid_cc)

    @property
    def no_ask_cc(self) -> int | None:
        return None if self.yes_bid_cc is None else complement(self.yes_bid_cc)

    def ask(self, side: Side) -> tuple[int, int] | None:
        """``(price_cc, size)`` we can buy ``side`` at now, or ``None``."""
        if side is Side.YES:
            return None if self.no_bid_cc is None else (complement(self.no_bid_cc), self.no_bid_size)
        return None if self.yes_bid_cc is None else (complement(self.yes_bid_cc), self.yes_bid_size)

    @property
    def yes_mid_prob(self) -> float | None:
        """The YES mid as a probability, when both sides are quoted."""
        yes_bid, no_bid = self.yes_bid_cc, self.no_bid_cc
        if yes_bid is None or no_bid is None:
            return None
        return (yes_bid + (ONE_DOLLAR_CC - no_bid)) / (2 * ONE_DOLLAR_CC)  # the YES ask is complement(no_bid)

    def age_seconds(self, now: datetime) -> float:
        return (now - self.updated_at).total_seconds()


@attrs.frozen
class MarketView:
    """What a strategy knows about one market at ``now`` (exchange time).

    ``closing_sum`` / ``closing_count`` are the running sum and count of index prints observed inside
    the settlement window ``[close − 60 s, close)`` (zero before it starts). ``bankroll_cc`` and
    ``max_count`` are the caller's sizing context (cash available to this strategy, and a hard cap on
    one signal's contracts); the risk engine re-checks every limit independently.
    ``closing_source`` says whether they come from the exchange's published closing average
    (``"published"``) or the own prints (``"own"``), and ``closing_note`` why, when it needs saying
    (:mod:`kalshid.core.closing`).
    ``floor_strike`` is ``None`` until the exchange publishes it (strategies then stay silent).
    """

    ticker: str
    open_time: datetime
    close_time: datetime
    now: datetime
    floor_strike: float | None
    bankroll_cc: int
    max_count: int
    closing_sum: float = 0.0
    closing_count: int = 0
    closing_source: str = "own"
    closing_note: str = ""

    def __attrs_post_init__(self) -> None:
        # One method for every check (a view is built on every strategy evaluation): the times must
        # be timezone-aware, as an attrs validator would check them, in field order.
        if self.open_time.tzinfo is None or self.close_time.tzinfo is None or self.now.tzinfo is None:
            for name in ("open_time", "close_time", "now"):
                _aware(self, attrs.fields_dict(MarketView)[name], getattr(self, name))
        if self.close_time <= self.open_time:
            raise ValueError(f"{self.ticker}: close_time is not after open_time")
        strike = self.floor_strike
        if strike is not None and not 0 < strike < math.inf:  # finite and > 0 (NaN fails)
            raise ValueError(f"{self.ticker}: floor_strike must be finite and > 0, got {strike!r}")
        if self.bankroll_cc < 0 or self.max_count < 0:
            raise ValueError(f"{self.ticker}: bankroll_cc and max_count must be >= 0")
        if self.closing_count < 0 or self.closing_sum < 0:
            raise ValueError(f"{self.ticker}: closing_sum/closing_count must be >= 0")

    @property
    def seconds_to_close(self) -> float:
        return (self.close_time - self.now).total_seconds()

    @property
    def is_open(self) -> bool:
        return self.open_time <= self.now < self.close_time


def _rest_of_target(reason: LazyText, target: int) -> str:
    return f"{text_of(reason)} (rest of a target of {target})"


@attrs.frozen
class Signal:
    """A strategy's wish to trade, before risk. ``price_cc`` is the limit price *in the signal side's
    terms* (a NO buy at 4 200 cc pays $0.42 per NO contract). ``fair_prob`` is the modelled probability
    that the signal's *side* pays (``1 − P(YES)`` for a NO signal). ``edge`` is ``fair_prob`` minus the
    all-in cost per contract (probability units, net of the taker fee); ``confidence`` is in [0, 1].

    ``reason`` is the human explanation. A strategy may pass it as a function that formats it
    (:mod:`kalshid.core.lazytext`): most signals end at the decision rule (already at target, busy) and
    nobody reads their text, so it is formatted on the first read of :attr:`reason` only. Equality,
    hashing and ``repr`` use the text."""

    strategy: str
    ticker: str
    side: Side
    action: Action
    price_cc: int
    count: int
    fair_prob: float
    edge: float
    confidence: float
    _reason: LazyText = attrs.field(alias="reason", eq=text_of, repr=text_repr)
    created_at: datetime

    @property
    def reason(self) -> str:
        """The explanation, formatted (once) if the strategy passed a function."""
        return read_once(self, "_reason", self._reason)

    def with_count(self, count: int) -> Signal:
        """This signal for ``count`` contracts (> 0): ``attrs.evolve(self, count=count)`` without the
        constructor's other checks, which this signal passed (the decision rule proposes what is left of
        a target position this way), its ``edge`` that of an order of ``count`` (the taker fee is per
        order and rounded up to a cent, so a smaller order can pay more per contract). Its reason says
        so: the strategy's text (its figures, e.g. the fee, are the target's) and ``(rest of a target of
        N)``."""
        if type(count) is not int or count <= 0:
            raise ValueError(f"signal count must be an int > 0, got {count!r}")
        reason = partial(_rest_of_target, self._reason, self.count)
        edge = self.fair_prob - all_in_cost_cc(count, self.price_cc) / (count * ONE_DOLLAR_CC)
        return signal_unchecked(self.strategy, self.ticker, self.side, self.action, self.price_cc, count,
                                self.fair_prob, edge, self.confidence, reason, self.created_at)

    def __attrs_post_init__(self) -> None:
        # one method for every check (a signal is built on most strategy evaluations)
        if self.created_at.tzinfo is None:
            _aware(self, attrs.fields_dict(Signal)["created_at"], self.created_at)
        price = self.price_cc
        if type(price) is not int or not 0 < price < ONE_DOLLAR_CC:
            check_price_cc(price, what="signal price_cc")  # raises with the reason
        if self.count <= 0:
            raise ValueError(f"signal count must be > 0, got {self.count}")
        if not 0.0 <= self.confidence <= 1.0:
            raise ValueError(f"signal confidence must be in [0, 1], got {self.confidence}")


_new = object.__new__
(_MV_TICKER, _MV_OPEN, _MV_CLOSE, _MV_NOW, _MV_STRIKE, _MV_BANKROLL, _MV_MAX_COUNT, _MV_CLOSING_SUM,
 _MV_CLOSING_COUNT, _MV_CLOSING_SOURCE, _MV_CLOSING_NOTE) = slot_setters(MarketView)
(_SG_STRATEGY, _SG_TICKER, _SG_SIDE, _SG_ACTION, _SG_PRICE, _SG_COUNT, _SG_FAIR, _SG_EDGE, _SG_CONFIDENCE,
 _SG_REASON, _SG_CREATED) = slot_setters(Signal)


def market_view_unchecked(ticker: str, open_time: datetime, close_time: datetime, now: datetime,
                          floor_strike: float | None, bankroll_cc: int, max_count: int, closing_sum: float,
                          closing_count: int, closing_source: str, closing_note: str) -> MarketView:
    """``MarketView(...)`` without its checks (:mod:`kalshid.core.slots`): for a caller whose inputs
    already passed them (the tracker, for a market whose listing facts built a checked view)."""
    v = _new(MarketView)
    _MV_TICKER(v, ticker)
    _MV_OPEN(v, open_time)
    _MV_CLOSE(v, close_time)
    _MV_NOW(v, now)
    _MV_STRIKE(v, floor_strike)
    _MV_BANKROLL(v, bankroll_cc)
    _MV_MAX_COUNT(v, max_count)
    _MV_CLOSING_SUM(v, closing_sum)
    _MV_CLOSING_COUNT(v, closing_count)
    _MV_CLOSING_SOURCE(v, closing_source)
    _MV_CLOSING_NOTE(v, closing_note)
    return v


def signal_unchecked(strategy: str, ticker: str, side: Side, action: Action, price_cc: int, count: int,
                     fair_prob: float, edge: float, confidence: float, reason: LazyText,
                     created_at: datetime) -> Signal:
    """``Signal(...)`` without its checks (:mod:`kalshid.core.slots`): for a strategy whose price and
    count come from :func:`kalshid.core.sizing.size_binary` (a valid price, a count > 0), whose
    confidence is in [0, 1] by construction and whose ``created_at`` is a checked view's ``now``."""
    s = _new(Signal)
    _SG_STRATEGY(s, strategy)
    _SG_TICKER(s, ticker)
    _SG_SIDE(s, side)
    _SG_ACTION(s, action)
    _SG_PRICE(s, price_cc)
    _SG_COUNT(s, count)
    _SG_FAIR(s, fair_prob)
    _SG_EDGE(s, edge)
    _SG_CONFIDENCE(s, confidence)
    _SG_REASON(s, reason)
    _SG_CREATED(s, created_at)
    return s
