"""A Kalshi market's order book, kept from a snapshot and signed deltas (the ``orderbook_delta``
channel of Kalshi's AsyncAPI spec).

Kalshi shows *bids only*, on both sides: a YES bid at p is a NO ask at $1 − p. So the book is two
bid ladders (price cc → resting size) and the asks are derived: ``yes_ask = $1 − best NO bid``,
``no_ask = $1 − best YES bid``.

Sizes are other traders' and may be fractional (Kalshi's granularity is 0.01 contract): the book
holds them exactly, as ints in hundredths of a contract (*centi*, :data:`CENTI_PER_CONTRACT`). What
kalshid can use of them is whole contracts, and fills of its own orders must be whole (it refuses a
fractional one). An order that reaches a price is filled by each resting order there in turn (time
priority), and the book shows only each level's total. So a level whose total is fractional (or that a
fractional delta touched since it was last empty: it may hold 1.50 + 1.50) can fill any order reaching it
with a fractional part — taking 2 of a 2.50 level gives a 2.50 fill whenever the 2.50 order is first in
its queue. kalshid's view in whole contracts is therefore the **takeable prefix** of each ladder
(:func:`takeable`): from the best price down, the levels known to be whole, stopping *before* the first
level that is not. Neither the floor of each level nor the floor of the cumulative depth is safe:
both count contracts that can only be taken through a fractional fill. A whole-contract book is its own
takeable prefix, so for it nothing changes; a fractional level at the top leaves that side empty to
kalshid until it is gone. What no book can show: a whole level that already held fractional orders when
the snapshot came (1.50 + 1.50 = 3.00); taking it can still bring a fractional fill, which is refused.

:class:`Book` is the mutable, single-owner ladder the feed updates (O(1) per delta, best prices
cached). :class:`OrderBook` is the frozen snapshot handed to everyone else: ``yes``/``no`` in whole
contracts (the takeable prefix), the exact ladders under :meth:`OrderBook.exact`. A snapshot level or
a delta that would make a level negative raises :class:`BookError` (the feed then resyncs) and leaves
the book unchanged. A level at zero is removed.

Pure: no clock reads. Times (the exchange's and the local receive time) are passed in and stored.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable
from datetime import datetime

import attrs

from kalshid.core.units import ONE_DOLLAR_CC

CENTI_PER_CONTRACT = 100  # book sizes are hundredths of a contract (Kalshi's count granularity)

Level = tuple[int, int]  # (price_cc, size): whole contracts in OrderBook.yes/no, hundredths in exact ladders


class BookError(ValueError):
    """A snapshot or delta is inconsistent with the book (negative size, bad price, bad side)."""


def takeable(exact: Iterable[Level], mixed: Collection[int] = ()) -> tuple[Level, ...]:
    """A bid ladder in hundredths → its takeable prefix in whole contracts (module docstring), ascending
    by price: from the best level down, each level's whole contracts, stopping before the first level
    with a fractional size or a price in ``mixed`` (levels a fractional delta touched)."""
    c = CENTI_PER_CONTRACT
    out: list[Level] = []
    for price, centi in sorted(exact, reverse=True):
        if centi % c or price in mixed:
            break
        out.append((price, centi // c))
    out.reverse()
    return tuple(out)


def _whole(ladder: tuple[Level, ...], mixed: Collection[int]) -> tuple[Level, ...] | None:
    """The ladder in whole contracts when every level is known whole, else None."""
    c = CENTI_PER_CONTRACT
    for price, centi in ladder:
        if centi % c or price in mixed:
            return None
    return tuple([(price, centi // c) for price, centi in ladder])


# One side of an OrderBook: (the whole-contract view, the exact ladder or None when it is all whole)
_SideView = tuple[tuple[Level, ...], tuple[Level, ...] | None]


def _side_view(levels: Iterable[Level], mixed: Collection[int]) -> _SideView:
    """One side's fields of an :class:`OrderBook` from its exact ladder (any order) and mixed prices."""
    exact = tuple(sorted(levels))
    whole = _whole(exact, mixed)
    return (takeable(exact, mixed), exact) if whole is None else (whole, None)


@attrs.frozen
class OrderBook:
    """An immutable view of one market's book: bid levels ascending by price, best last.

    ``yes``/``no`` are in whole contracts: the takeable prefix of each ladder (module docstring), which
    for a book without fractional sizes is the whole ladder. ``yes_centi``/``no_centi`` are the exact
    ladders in hundredths of a contract when a side has a level not known whole, None when every level
    of that side is (then the exact ladder is ``yes``/``no`` × 100): read them with :meth:`exact`.

    ``exchange_ts`` is the exchange time of the last update when the exchange sent one (snapshots
    may carry none), ``local_time`` the receiver's monotonic time (trio clock) of the last update.
    ``stale`` is true while the feed is resyncing: do not trade on a stale book.
    """

    ticker: str
    yes: tuple[Level, ...]
    no: tuple[Level, ...]
    exchange_ts: datetime | None = None
    local_time: float | None = None
    stale: bool = False
    yes_centi: tuple[Level, ...] | None = None
    no_centi: tuple[Level, ...] | None = None

    @classmethod
    def from_exact(cls, ticker: str, yes: Iterable[Level], no: Iterable[Level], *,
                   exchange_ts: datetime | None = None, local_time: float | None = None,
                   stale: bool = False, mixed_yes: Collection[int] = (),
                   mixed_no: Collection[int] = ()) -> OrderBook:
        """A book from exact ladders in hundredths (any order, positive sizes, one level per price);
        ``mixed_*`` are prices whose levels a fractional delta touched (not takeable, module docstring)."""
        return cls._of_sides(ticker, _side_view(yes, mixed_yes), _side_view(no, mixed_no),
                             exchange_ts=exchange_ts, local_time=local_time, stale=stale)

    @classmethod
    def _of_sides(cls, ticker: str, yes: _SideView, no: _SideView, *, exchange_ts: datetime | None,
                  local_time: float | None, stale: bool) -> OrderBook:
        return cls(ticker=ticker, yes=yes[0], no=no[0], exchange_ts=exchange_ts, local_time=local_time,
                   stale=stale, yes_centi=yes[1], no_centi=no[1])

    def exact(self, side: str) -> tuple[Level, ...]:
        """``side``'s whole bid ladder, exactly: (price_cc, hundredths of a contract), ascending."""
        centi = self.yes_centi if side == "yes" else self.no_centi
        if centi is not None:
            return centi
        return tuple((p, n * CENTI_PER_CONTRACT) for p, n in (self.yes if side == "yes" else self.no))

    @property
    def fractional(self) -> bool:
        """Some level is not known whole (the whole-contract view is a prefix of the book)."""
        return self.yes_centi is not None or self.no_centi is not None

    @property
    def best_yes_bid(self) -> Level | None:
        return self.yes[-1] if self.yes else None

    @property
    def best_no_bid(self) -> Level | None:
        return self.no[-1] if self.no else None

    @property
    def yes_ask(self) -> Level | None:
        """Best price to buy YES (and the size there): $1 − the best NO bid."""
        b = self.best_no_bid
        return (ONE_DOLLAR_CC - b[0], b[1]) if b else None

    @property
    def no_ask(self) -> Level | None:
        """Best price to buy NO (and the size there): $1 − the best YES bid."""
        b = self.best_yes_bid
        return (ONE_DOLLAR_CC - b[0], b[1]) if b else None


def _check_level(side: str, price_cc: int, size: int) -> None:
    if not 0 < price_cc < ONE_DOLLAR_CC:
        raise BookError(f"{side} level price {price_cc} cc is outside ($0, $1)")
    if size < 0:
        raise BookError(f"{side} level at {price_cc} cc has negative size {size / CENTI_PER_CONTRACT:.2f}")


class Book:
    """One market's live bid ladders, sizes in hundredths of a contract. Not thread-safe; one owner
    (the feed task) mutates it."""

    __slots__ = ("_best", "_levels", "_mixed", "_views", "exchange_ts", "local_time", "stale", "ticker", "updates")

    def __init__(self, ticker: str) -> None:
        self.ticker = ticker
        self._levels: dict[str, dict[int, int]] = {"yes": {}, "no": {}}
        # Prices a fractional delta touched since their level was last empty (module docstring).
        self._mixed: dict[str, set[int]] = {"yes": set(), "no": set()}
        # Cached best bid per side; None = empty side, -1 = unknown (recompute lazily).
        self._best: dict[str, int | None] = {"yes": None, "no": None}
        # Each side's part of the last snapshot, None once the side changes: a delta changes one side,
        # so the next snapshot sorts only that one (docs/performance.md, "Tick-to-order").
        self._views: dict[str, _SideView | None] = {"yes": None, "no": None}
        self.exchange_ts: datetime | None = None
        self.local_time: float | None = None
        self.stale = True  # no snapshot yet
        self.updates = 0

    def apply_snapshot(self, yes: Iterable[Level], no: Iterable[Level], *,
                       exchange_ts: datetime | None, local_time: float) -> None:
        """Replace both ladders; sizes in hundredths of a contract. Zero-size levels are dropped;
        duplicate prices are summed. Raises :class:`BookError` (book unchanged) on a bad level.
        Clears ``stale``."""
        fresh: dict[str, dict[int, int]] = {"yes": {}, "no": {}}
        for side, levels in (("yes", yes), ("no", no)):
            ladder = fresh[side]
            for price, size in levels:
                _check_level(side, price, size)
                if size:
                    ladder[price] = ladder.get(price, 0) + size
        self._levels = fresh
        self._mixed = {"yes": set(), "no": set()}
        self._best = {s: (max(fresh[s]) if fresh[s] else None) for s in ("yes", "no")}
        self._views = {"yes": None, "no": None}
        self.exchange_ts = exchange_ts
        self.local_time = local_time
        self.stale = False
        self.updates += 1

    def apply_delta(self, side: str, price_cc: int, delta: int, *,
                    exchange_ts: datetime | None, local_time: float) -> int:
        """Add ``delta`` hundredths of a contract at ``price_cc`` on ``side``'s bid ladder; returns the
        new size in hundredths. Raises :class:`BookError` (book unchanged) if the level would go
        negative."""
        try:
            ladder = self._levels[side]
        except KeyError:
            raise BookError(f"unknown book side {side!r}") from None
        if not 0 < price_cc < ONE_DOLLAR_CC:
            raise BookError(f"{side} delta price {price_cc} cc is outside ($0, $1)")
        new = ladder.get(price_cc, 0) + delta
        if new < 0:
            c = CENTI_PER_CONTRACT
            raise BookError(f"{self.ticker}: {side} level at {price_cc} cc would go negative "
                            f"({(new - delta) / c:.2f} + {delta / c:.2f})")
        best = self._best[side]
        self._views[side] = None
        if delta % CENTI_PER_CONTRACT:
            self._mixed[side].add(price_cc)
        if new == 0:
            ladder.pop(price_cc, None)
            self._mixed[side].discard(price_cc)
            if best == price_cc:
                self._best[side] = -1
        else:
            ladder[price_cc] = new
            if (best is not None and best != -1 and price_cc > best) or best is None:
                self._best[side] = price_cc
        self.exchange_ts = exchange_ts
        self.local_time = local_time
        self.updates += 1
        return new

    def mark_stale(self) -> None:
        """The feed lost sync; the book is kept for inspection but must not be traded on."""
        self.stale = True

    def best_bid_exact(self, side: str) -> Level | None:
        """(price_cc, hundredths) of the best bid on ``side``, or None if that side is empty."""
        best = self._best[side]
        ladder = self._levels[side]
        if best == -1:
            best = max(ladder) if ladder else None
            self._best[side] = best
        return None if best is None else (best, ladder[best])

    @property
    def crossed(self) -> bool:
        """Whether the best YES and NO bids add up to more than $1: orders the exchange would have
        matched, so a book out of step with it (or caught mid-match)."""
        yes, no = self.best_bid_exact("yes"), self.best_bid_exact("no")
        return yes is not None and no is not None and yes[0] + no[0] > ONE_DOLLAR_CC

    def best_bid(self, side: str) -> Level | None:
        """(price_cc, whole contracts) of the best bid on ``side`` as the takeable prefix sees it: None
        if the side is empty or its best level is not known whole."""
        b = self.best_bid_exact(side)
        if b is None or b[1] % CENTI_PER_CONTRACT or b[0] in self._mixed[side]:
            return None
        return (b[0], b[1] // CENTI_PER_CONTRACT)

    def ask(self, side: str) -> Level | None:
        """(price_cc, whole contracts) of the best ask on ``side``: $1 − the other side's best bid."""
        b = self.best_bid("no" if side == "yes" else "yes")
        return None if b is None else (ONE_DOLLAR_CC - b[0], b[1])

    def size_at(self, side: str, price_cc: int) -> int:
        """The whole contracts resting at ``price_cc`` (the level's size rounded down)."""
        return self._levels[side].get(price_cc, 0) // CENTI_PER_CONTRACT

    def size_at_exact(self, side: str, price_cc: int) -> int:
        """The size resting at ``price_cc`` in hundredths of a contract."""
        return self._levels[side].get(price_cc, 0)

    def snapshot(self) -> OrderBook:
        """A frozen copy: :meth:`OrderBook.from_exact` of the ladders, O(levels) for each side changed
        since the last snapshot."""
        views = self._views
        yes, no = views["yes"], views["no"]
        if yes is None:
            yes = views["yes"] = _side_view(self._levels["yes"].items(), self._mixed["yes"])
        if no is None:
            no = views["no"] = _side_view(self._levels["no"].items(), self._mixed["no"])
        return OrderBook._of_sides(self.ticker, yes, no, exchange_ts=self.exchange_ts,
                                   local_time=self.local_time, stale=self.stale)
