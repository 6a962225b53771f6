"""The replay's input: a time-ordered stream of frozen market-data events.

Every source (recordings, the shared public data, simulator sessions) turns what it has into these,
so the engine never knows where the data came from. Times are timezone-aware UTC exchange times;
prices are integer centi-cents in YES terms unless named otherwise; sizes are whole contracts.

- :class:`MarketListed`: a market the replay may trade, with its window and strike (``None`` until
  published). A source emits it before the market's data (again when its strike is published).
- :class:`IndexTick`: one print of the underlying (the settlement index, or a stand-in the source names).
- :class:`BookTick`: the market's book as of ``ts``: the best bids (:class:`~kalshid.core.signals.BookTop`)
  and, when the source has it, the full bid ladders of both sides (best first).
- :class:`TradePrint`: trades at YES prices ``[yes_low_cc, yes_high_cc]`` since the previous print of
  this market (a single trade has ``low == high``; a 1-minute candle gives its range). Resting orders
  fill only on these (trade-through).
- :class:`Settled`: the market's result.
- :class:`RecordedFill`: a fill the account really got (recordings only), used when fills are taken
  as recorded instead of modelled.

Events with equal ``ts`` are applied in :data:`EVENT_ORDER` (listing, then data, then settlement), which
is the order :func:`event_sort_key` sorts by.
"""

from __future__ import annotations

from datetime import datetime

import attrs

from kalshid.core.signals import BookTop, IndexPrint
from kalshid.core.vocab import Side

Ladder = tuple[tuple[int, int], ...]
"""Bids of one side, best (highest) first: ``((price_cc, size), ...)``."""


@attrs.frozen(slots=True)
class MarketListed:
    ts: datetime
    ticker: str
    open_time: datetime
    close_time: datetime
    floor_strike: float | None

    @property
    def listing(self) -> tuple[str, datetime, datetime, float | None]:
        """What the listing says, every field but ``ts`` (when it was seen): a market listed again with
        the same listing is unchanged. (A recording repeats each listing every few seconds.)"""
        return (self.ticker, self.open_time, self.close_time, self.floor_strike)


@attrs.frozen(slots=True)
class IndexTick:
    ts: datetime
    price: float
    close_avg: float | None = None  # the published closing average carried by the print, if any
    close_avg_window: int | None = None
    # the tracker's input, built (and checked) once with the event rather than on every replay of it
    index_print: IndexPrint = attrs.field(init=False, eq=False, repr=False)

    def __attrs_post_init__(self) -> None:
        object.__setattr__(self, "index_print",
                           IndexPrint(self.ts, self.price, self.close_avg, self.close_avg_window))


@attrs.frozen(slots=True)
class BookTick:
    ts: datetime
    top: BookTop
    yes_bids: Ladder | None = None
    no_bids: Ladder | None = None

    @property
    def ticker(self) -> str:
        return self.top.ticker

    def bids(self, side: Side) -> Ladder:
        """``side``'s bid ladder: the recorded one, else the top of book alone (possibly empty)."""
        ladder = self.yes_bids if side is Side.YES else self.no_bids
        if ladder is not None:
            return ladder
        price = self.top.yes_bid_cc if side is Side.YES else self.top.no_bid_cc
        size = self.top.yes_bid_size if side is Side.YES else self.top.no_bid_size
        return () if price is None else ((price, size),)


@attrs.frozen(slots=True)
class TradePrint:
    ts: datetime
    ticker: str
    yes_low_cc: int
    yes_high_cc: int
    count: int | None = None


@attrs.frozen(slots=True)
class Settled:
    ts: datetime
    ticker: str
    result: Side


@attrs.frozen(slots=True)
class RecordedFill:
    ts: datetime
    ticker: str
    side: Side
    action: str
    count: int
    price_cc: int
    fee_cc: int
    client_order_id: str | None = None
    strategy: str | None = None


Event = MarketListed | IndexTick | BookTick | TradePrint | Settled | RecordedFill

EVENT_ORDER: dict[type, int] = {MarketListed: 0, IndexTick: 1, BookTick: 2, TradePrint: 3, RecordedFill: 4,
                                Settled: 5}


def event_sort_key(event: Event) -> tuple[datetime, int]:
    return event.ts, EVENT_ORDER[type(event)]
