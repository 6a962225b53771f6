"""A synthetic recording of 15-minute SOL markets, deterministic from a seed.

What ``kalshid record`` writes, in the shape the replay reads (:mod:`kalshid.research.events`): one
index print a second (a random walk), five book updates a second of the current market with three
levels of depth a side (a tenth of them a change at the touch; the rest a change one or two levels
below it), a trade print every two seconds, each market listed a minute before its open and settled
at its close. Used to measure replay speed and to check that the replay's fast paths give the same
result as the plain one.

Where the touch is, by ``books``:

- ``"makers"``: as the simulator's makers quote it (:class:`kalshid.sim.makers.MakerModel`, calibrated
  on KXSOL15M books): around the averaging-aware fair value of the index walk, with their noise, spread
  and depth, re-quoted at each change of the touch. A market whose price follows the index, as a
  recording of Kalshi's or of ``kalshid sim``'s does: a strategy signals where the quote and its model
  part.
- ``"random"``: a random walk of its own, blind to the index: the book is mispriced most of the time,
  so ``kelly_volatility`` signals on almost every evaluation. A stress case for the decision path
  (sizing, signals, proposals, risk, fills), not a market.
"""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Literal

from kalshid.core.markets import market_ticker
from kalshid.core.signals import BookTop
from kalshid.core.units import ONE_DOLLAR_CC
from kalshid.core.vocab import Side
from kalshid.research.events import BookTick, Event, IndexTick, MarketListed, Settled, TradePrint, event_sort_key
from kalshid.sim.makers import MakerModel

SYNTHETIC_START = datetime(2026, 6, 1, tzinfo=UTC)
INDEX_SIGMA_PER_SQRT_SECOND = 0.0002  # the index walk's: a relative step of N(0, 0.0002) a second
Books = Literal["makers", "random"]


def synthetic_recording(hours: float, seed: int = 7, start: datetime = SYNTHETIC_START,
                        books: Books = "random") -> list[Event]:
    """``hours`` of events (whole 15-minute windows, ``int(hours * 4)`` of them) from ``start``, sorted
    by :func:`~kalshid.research.events.event_sort_key`; ``books`` places the touch (module docstring)."""
    if hours <= 0:
        raise ValueError(f"hours must be > 0, got {hours}")
    if books not in ("makers", "random"):
        raise ValueError(f"books must be 'makers' or 'random', got {books!r}")
    rng = random.Random(seed)
    makers = MakerModel(seed) if books == "makers" else None
    events: list[Event] = []
    price = 150.0
    for w in range(int(hours * 4)):
        open_t = start + timedelta(minutes=15 * w)
        close = open_t + timedelta(minutes=15)
        ticker = market_ticker(close)
        events.append(MarketListed(open_t - timedelta(minutes=1), ticker, open_t, close, price))
        strike = price
        closing: list[float] = []
        yes_bid, size_y, size_n = 4800, 200, 200
        no_bid = ONE_DOLLAR_CC - yes_bid - 200
        deep = [300, 400, 300, 400]  # sizes one and two levels below each touch
        gaps = (100, 100)  # the YES and NO ladders' steps below the touch
        for s in range(900):
            t = open_t + timedelta(seconds=s)
            price *= 1 + rng.gauss(0, INDEX_SIGMA_PER_SQRT_SECOND)
            if s >= 840:
                closing.append(price)
            events.append(IndexTick(t, price))
            for k in range(5):
                if rng.random() < 0.1:  # a change at the touch
                    if makers is None:  # a price step or a new size
                        if rng.random() < 0.5:
                            yes_bid = min(9800, max(200, yes_bid + rng.choice((-100, 100))))
                        no_bid = ONE_DOLLAR_CC - yes_bid - 200
                        size_y, size_n = rng.randint(1, 500), rng.randint(1, 500)
                    else:  # the makers re-quote around the fair value of the index now
                        top, deep, gaps = _quoted(makers, price, strike, 900 - s - (200 * k + 50) / 1000,
                                                  sum(closing) / len(closing) if closing else None)
                        (yes_bid, size_y), (no_bid, size_n) = top
                else:  # a delta below the touch
                    deep[rng.randrange(4)] = rng.randint(1, 500)
                ts = t + timedelta(milliseconds=200 * k + 50)
                book = BookTop(ticker, yes_bid, size_y, no_bid, size_n, ts)
                yes_ladder = _ladder(yes_bid, size_y, gaps[0], deep[0], deep[1])
                no_ladder = _ladder(no_bid, size_n, gaps[1], deep[2], deep[3])
                events.append(BookTick(ts, book, yes_ladder, no_ladder))
            if s % 2 == 0:
                events.append(TradePrint(t, ticker, yes_bid, ONE_DOLLAR_CC - no_bid, 10))
        events.append(Settled(close, ticker, Side.YES if price >= strike else Side.NO))
    events.sort(key=event_sort_key)
    return events


def _ladder(best: int, size: int, gap: int, second: int, third: int) -> tuple[tuple[int, int], ...]:
    """A side's bids, best first: the touch and two levels ``gap`` apart, those above $0 only."""
    return tuple(level for level in ((best, size), (best - gap, second), (best - 2 * gap, third)) if level[0] > 0)


def _quoted(makers: MakerModel, index: float, strike: float, seconds_to_close: float,
            closing_avg: float | None) -> tuple[tuple[tuple[int, int], tuple[int, int]], list[int], tuple[int, int]]:
    """The makers' book now: ``((YES bid, size), (NO bid, size))`` at the touch, the sizes one and two
    levels below (YES, YES, NO, NO) and each side's step between levels (a side quoted on fewer than
    three levels, near $0, is given one-cent steps: :func:`_ladder` keeps the levels above $0)."""
    quotes = makers.quotes(0.0, Decimal(repr(index)), Decimal(repr(strike)), seconds_to_close,
                           INDEX_SIGMA_PER_SQRT_SECOND,
                           closing_avg_so_far=Decimal(repr(closing_avg)) if closing_avg is not None else None)
    ladders: dict[Side, list[tuple[int, int]]] = {Side.YES: [], Side.NO: []}
    for q in quotes:
        ladders[q.side].append((q.price_cc, q.count))
    out = []
    for side in (Side.YES, Side.NO):
        levels = ladders[side][:3]
        while len(levels) < 3:
            levels.append((levels[-1][0] - 100, 1))  # at or below $0: left out of the ladder
        out.append(levels)
    yes, no = out
    return ((yes[0], no[0]), [yes[1][1], yes[2][1], no[1][1], no[2][1]],
            (yes[0][0] - yes[1][0], no[0][0] - no[1][0]))
