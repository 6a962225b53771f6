"""A Kalshi market's order book, kept from a snapshot and signed deltas (the ``orderbook_delta``
channel of Kalshi's AsyncAPI spec).

Kalshi shows *bids only*, on both sides: a YES bid at p is a NO ask at $1 − p. So the book is two
bid ladders (price cc → resting contracts) and the asks are derived: ``yes_ask = $1 − best NO bid``,
``no_ask = $1 − best YES bid``.

:class:`Book` is the mutable, single-owner ladder the feed updates (O(1) per delta, best prices
cached). :class:`OrderBook` is the frozen snapshot handed to everyone else. Sizes are exact ints; a
delta that would make a level negative raises :class:`BookError` (the feed then resyncs) and leaves
the book unchanged. A level at zero is removed.

Pure: no clock reads. Times (the exchange's and the local receive time) are passed in and stored.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime

import attrs

from kalshid.core.units import ONE_DOLLAR_CC

Level = tuple[int, int]  # (price_cc, count)


class BookError(ValueError):
    """A snapshot or delta is inconsistent with the book (negative size, bad price, bad side)."""


@attrs.frozen
class OrderBook:
    """An immutable view of one market's book: bid levels ascending by price, best last.

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
        raise BookError(f"{side} level at {price_cc} cc has negative size {size}")


class Book:
    """One market's live bid ladders. Not thread-safe; one owner (the feed task) mutates it."""

    __slots__ = ("_best", "_levels", "exchange_ts", "local_time", "stale", "ticker", "updates")

    def __init__(self, ticker: str) -> None:
        self.ticker = ticker
        self._levels: dict[str, dict[int, int]] = {"yes": {}, "no": {}}
        # Cached best bid per side; None = empty side, -1 = unknown (recompute lazily).
        self._best: dict[str, int | None] = {"yes": None, "no": None}
        self.exchange_ts: datetime | None = None
        self.local_time: float | None = None
        self.stale = True  # no snapshot yet
        self.updates = 0

    def apply_snapshot(self, yes: Iterable[Level], no: Iterable[Level], *,
                       exchange_ts: datetime | None, local_time: float) -> None:
        """Replace both ladders. Zero-size levels are dropped; duplicate prices are summed.
        Raises :class:`BookError` (book unchanged) on a bad level. Clears ``stale``."""
        fresh: dict[str, dict[int, int]] = {"yes": {}, "no": {}}
        for side, levels in (("yes", yes), ("no", no)):
            ladder = fresh[side]
            for price, size in levels:
                _check_level(side, price, size)
                if size:
                    ladder[price] = ladder.get(price, 0) + size
        self._levels = fresh
        self._best = {s: (max(fresh[s]) if fresh[s] else None) for s in ("yes", "no")}
        self.exchange_ts = exchange_ts
        self.local_time = local_time
        self.stale = False
        self.updates += 1

    def apply_delta(self, side: str, price_cc: int, delta: int, *,
                    exchange_ts: datetime | None, local_time: float) -> int:
        """Add ``delta`` contracts at ``price_cc`` on ``side``'s bid ladder; returns the new size.
        Raises :class:`BookError` (book unchanged) if the level would go negative."""
        try:
            ladder = self._levels[side]
        except KeyError:
            raise BookError(f"unknown book side {side!r}") from None
        if not 0 < price_cc < ONE_DOLLAR_CC:
            raise BookError(f"{side} delta price {price_cc} cc is outside ($0, $1)")
        new = ladder.get(price_cc, 0) + delta
        if new < 0:
            raise BookError(f"{self.ticker}: {side} level at {price_cc} cc would go negative "
                            f"({new - delta} + {delta})")
        best = self._best[side]
        if new == 0:
            ladder.pop(price_cc, None)
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

    def best_bid(self, side: str) -> Level | None:
        """(price_cc, size) of the best bid on ``side``, or None if that side is empty."""
        best = self._best[side]
        ladder = self._levels[side]
        if best == -1:
            best = max(ladder) if ladder else None
            self._best[side] = best
        return None if best is None else (best, ladder[best])

    def ask(self, side: str) -> Level | None:
        """(price_cc, size) of the best ask on ``side``: $1 − the best bid of the other side."""
        b = self.best_bid("no" if side == "yes" else "yes")
        return None if b is None else (ONE_DOLLAR_CC - b[0], b[1])

    def size_at(self, side: str, price_cc: int) -> int:
        return self._levels[side].get(price_cc, 0)

    def snapshot(self) -> OrderBook:
        """A frozen copy (O(levels))."""
        return OrderBook(
            ticker=self.ticker,
            yes=tuple(sorted(self._levels["yes"].items())),
            no=tuple(sorted(self._levels["no"].items())),
            exchange_ts=self.exchange_ts, local_time=self.local_time, stale=self.stale,
        )
