"""A synthetic recording of 15-minute SOL markets, deterministic from a seed.

What ``kalshid record`` writes, in the shape the replay reads (:mod:`kalshid.research.events`): one
index print a second (a random walk), five book updates a second of the current market with three
levels of depth a side (a tenth of them a change at the touch, a price step or new sizes; the rest a
change one or two ticks below it), a trade print every two seconds, each market listed a minute
before its open and settled at its close. Used to measure replay speed and to check that the replay's
fast paths give the same result as the plain one.
"""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta

from kalshid.core.markets import market_ticker
from kalshid.core.signals import BookTop
from kalshid.core.vocab import Side
from kalshid.research.events import BookTick, Event, IndexTick, MarketListed, Settled, TradePrint, event_sort_key

SYNTHETIC_START = datetime(2026, 6, 1, tzinfo=UTC)


def synthetic_recording(hours: float, seed: int = 7, start: datetime = SYNTHETIC_START) -> list[Event]:
    """``hours`` of events (whole 15-minute windows, ``int(hours * 4)`` of them) from ``start``, sorted
    by :func:`~kalshid.research.events.event_sort_key`."""
    if hours <= 0:
        raise ValueError(f"hours must be > 0, got {hours}")
    rng = random.Random(seed)
    events: list[Event] = []
    price = 150.0
    for w in range(int(hours * 4)):
        open_t = start + timedelta(minutes=15 * w)
        close = open_t + timedelta(minutes=15)
        ticker = market_ticker(close)
        events.append(MarketListed(open_t - timedelta(minutes=1), ticker, open_t, close, price))
        strike = price
        yes_bid, size_y, size_n = 4800, 200, 200
        deep = [300, 400, 300, 400]  # sizes one and two ticks below each touch
        for s in range(900):
            t = open_t + timedelta(seconds=s)
            price *= 1 + rng.gauss(0, 0.0002)
            events.append(IndexTick(t, price))
            for k in range(5):
                if rng.random() < 0.1:  # a change at the touch: a price step or a new size
                    if rng.random() < 0.5:
                        yes_bid = min(9800, max(200, yes_bid + rng.choice((-100, 100))))
                    size_y, size_n = rng.randint(1, 500), rng.randint(1, 500)
                else:  # a delta below the touch
                    deep[rng.randrange(4)] = rng.randint(1, 500)
                ts = t + timedelta(milliseconds=200 * k + 50)
                no_bid = 10_000 - yes_bid - 200
                top = BookTop(ticker, yes_bid, size_y, no_bid, size_n, ts)
                events.append(BookTick(ts, top, ((yes_bid, size_y), (yes_bid - 100, deep[0]), (yes_bid - 200, deep[1])),
                                       ((no_bid, size_n), (no_bid - 100, deep[2]), (no_bid - 200, deep[3]))))
            if s % 2 == 0:
                events.append(TradePrint(t, ticker, yes_bid, yes_bid + 200, 10))
        events.append(Settled(close, ticker, Side.YES if price >= strike else Side.NO))
    events.sort(key=event_sort_key)
    return events
