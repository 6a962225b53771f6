"""What the strategy stage knows about the markets it trades: the pure market-data tracker.

It folds index prints and book tops (already parsed by the feed) into the inputs strategies take —
:class:`~kalshid.core.signals.MarketView`, :class:`~kalshid.core.signals.BookTop` and the index prints
new since the last call — and answers the data-age questions risk asks.

Each input says whether it changed what a strategy reads (:mod:`kalshid.core.decision`, "When to
evaluate"): :meth:`MarketTracker.on_index` is true for an accepted print, :meth:`MarketTracker.on_book`
when the followed market's visible top of book changed (:func:`~kalshid.core.decision.top_changed`).

Exchange time only: ``now`` is the newest exchange timestamp seen (index prints arrive every second),
never a local clock. A book is *confirmed* by every message of the live feed that carries it: while it
is not stale, its age is the age of the feed; once the feed marks it stale it has no age (``None``)
until a fresh snapshot arrives.

Memory is bounded: index prints older than ``index_window`` are dropped, and markets are replaced
wholesale by :meth:`MarketTracker.set_markets`.
"""

from __future__ import annotations

from collections import deque
from datetime import datetime, timedelta

import attrs

from kalshid.core.closing import OWN, ClosingObservation, closing_observation
from kalshid.core.decision import top_changed
from kalshid.core.markets import AVERAGING_SECONDS
from kalshid.core.signals import BookTop, IndexPrint, MarketView, market_view_unchecked

_AVERAGING = timedelta(seconds=AVERAGING_SECONDS)
_ONE_SECOND = timedelta(seconds=1)


@attrs.frozen
class MarketInfo:
    """The listing facts the tracker needs about one market."""

    ticker: str
    open_time: datetime
    close_time: datetime
    floor_strike: float | None


@attrs.define
class _Tracked:
    info: MarketInfo
    book: BookTop | None = None
    stale: bool = True
    checked: MarketInfo | None = None  # the listing facts a checked MarketView was built from
    closing_start: datetime = attrs.field(init=False)  # close − the averaging window

    def __attrs_post_init__(self) -> None:
        self.closing_start = self.info.close_time - _AVERAGING


class MarketTracker:
    """Index history, book tops and listing facts for the current and next markets."""

    def __init__(self, *, index_window: timedelta = timedelta(minutes=16)) -> None:
        self._window = index_window
        self._prints: deque[IndexPrint] = deque()
        self._new: list[IndexPrint] = []
        self._markets: dict[str, _Tracked] = {}
        self._now: datetime | None = None
        self._feed_seen_at: datetime | None = None
        # closing()'s last answer: (the market's listing facts, the newest print, the observation)
        self._closing_memo: tuple[MarketInfo, IndexPrint, ClosingObservation] | None = None
        # view()'s last answer and what it was built from: (listing facts, now, newest print, bankroll,
        # max count, the view)
        self._view_memo: tuple[MarketInfo, datetime, IndexPrint | None, int, int, MarketView] | None = None

    # --- inputs -------------------------------------------------------------------------------
    def set_markets(self, markets: list[MarketInfo]) -> None:
        """Follow exactly these markets; books of markets already followed are kept."""
        kept = {m.ticker: self._markets.get(m.ticker) for m in markets}
        self._markets = {m.ticker: (_Tracked(m, t.book, t.stale, t.checked) if t else _Tracked(m))
                         for m, t in zip(markets, kept.values(), strict=True)}

    def on_index(self, p: IndexPrint) -> bool:
        """A new index print; true when accepted. Prints at or before the newest one are ignored
        (replays, reconnects)."""
        if self._prints and p.ts <= self._prints[-1].ts:
            return False
        self._prints.append(p)
        self._new.append(p)
        self._advance(p.ts)
        horizon = p.ts - self._window
        while self._prints and self._prints[0].ts < horizon:
            self._prints.popleft()
        if len(self._new) > 4 * len(self._prints) + 64:  # nobody is draining: keep it bounded
            del self._new[: len(self._new) - len(self._prints)]
        return True

    def on_book(self, top: BookTop, *, stale: bool) -> bool:
        """A book top of a followed market (others are ignored). True when what :meth:`book` returns
        changed in anything but ``updated_at``: a price or size at the touch, or the stale mark."""
        tracked = self._markets.get(top.ticker)
        if tracked is None:
            return False
        was = None if tracked.stale else tracked.book
        tracked.book, tracked.stale = top, stale
        ts = top.updated_at  # _advance, inlined: this runs on every book message
        if self._now is None or ts > self._now:
            self._now = ts
        self._feed_seen_at = self._now
        return top_changed(was, None if stale else top)

    def mark_stale(self, ticker: str | None = None) -> None:
        """The feed lost sync for ``ticker`` (or for everything, when ``None``)."""
        for t, tracked in self._markets.items():
            if ticker is None or t == ticker:
                tracked.stale = True

    def _advance(self, ts: datetime) -> None:
        if self._now is None or ts > self._now:
            self._now = ts
        self._feed_seen_at = self._now

    # --- outputs ------------------------------------------------------------------------------
    @property
    def now(self) -> datetime | None:
        """The newest exchange time seen, or ``None`` before the first message."""
        return self._now

    @property
    def feed_seen_at(self) -> datetime | None:
        """The exchange time of the live feed's newest message: it confirms every book not stale."""
        return self._feed_seen_at

    @property
    def last_print(self) -> IndexPrint | None:
        return self._prints[-1] if self._prints else None

    def tickers(self) -> list[str]:
        return list(self._markets)

    def info(self, ticker: str) -> MarketInfo | None:
        tracked = self._markets.get(ticker)
        return tracked.info if tracked else None

    def book(self, ticker: str) -> BookTop | None:
        tracked = self._markets.get(ticker)
        return tracked.book if tracked and not tracked.stale else None

    def take_new_prints(self) -> tuple[IndexPrint, ...]:
        """Index prints received since the previous call (for strategies that fold them in)."""
        new = self._new
        if not new:  # the common call: no print since the last evaluation
            return ()
        self._new = []
        return tuple(new)

    def _scan_closing(self, close: datetime) -> tuple[float, int, float | None]:
        """One pass over the prints of ``[close − 60 s, close)``, newest first: the sum and count of the
        settlement prints seen, and the price of the window's first second (``None`` if not seen).

        The settlement takes one print per second, so each second ``[close − 60 s + k, close − 60 s + k + 1)``
        counts once, with its first print: a feed that prints faster (a spot stand-in such as Coinbase's
        ticker, or a 1 Hz feed whose timestamps jitter two prints into one second) neither counts more
        than 60 prints nor weighs a busy second more than a quiet one."""
        start = close - _AVERAGING
        total, count = 0.0, 0
        second = -1  # the second of the window the previous (newer) print fell in
        price = 0.0  # that second's price so far: its earliest print seen
        for p in reversed(self._prints):
            ts = p.ts
            if ts < start:
                break
            if ts >= close:
                continue
            k = (ts - start) // _ONE_SECOND
            if k != second:  # a new second: the previous one's earliest print is final
                if count:
                    total += price
                second = k
                count += 1
            price = p.price  # an earlier print in the same second replaces the later one
        if count:
            total += price
        return total, count, (price if second == 0 else None)

    def closing(self, ticker: str) -> ClosingObservation:
        """The settlement prints observed so far: the published closing average joined to the own
        prints when it is well formed, else the own prints, with the reason
        (:func:`kalshid.core.closing.closing_observation`). Remembered until the next print or listing
        change (strategies are asked on every change of the book in between)."""
        tracked = self._markets.get(ticker)
        last = self.last_print
        if tracked is None or last is None:
            return ClosingObservation(0.0, 0)
        memo = self._closing_memo
        if memo is not None and memo[0] is tracked.info and memo[1] is last:
            return memo[2]
        close = tracked.info.close_time
        own_sum, own_count, start_print = self._scan_closing(close)
        if not close - _AVERAGING < last.ts <= close:  # closing_observation's own answer, without its checks
            observed = ClosingObservation(own_sum, own_count)
        else:
            observed = closing_observation(close_time=close, own_sum=own_sum, own_count=own_count,
                                           start_print=start_print, print_ts=last.ts, print_price=last.price,
                                           published_avg=last.close_avg, published_window=last.close_avg_window)
        self._closing_memo = (tracked.info, last, observed)
        return observed

    def view(self, ticker: str, *, bankroll_cc: int, max_count: int) -> MarketView | None:
        """The strategy input for ``ticker`` at the current exchange time, or ``None`` if unknown."""
        tracked = self._markets.get(ticker)
        now = self._now
        if tracked is None or now is None:
            return None
        info = tracked.info
        prints = self._prints
        last = prints[-1] if prints else None
        memo = self._view_memo
        if memo is not None and memo[0] is info and memo[1] is now and memo[2] is last \
                and memo[3] == bankroll_cc and memo[4] == max_count:
            # nothing a view reads has changed since the last one (frozen: it is the same value, shared);
            # a burst of book changes at one exchange time asks for the same view again
            return memo[5]
        if last is None or last.ts < tracked.closing_start:
            # before the closing window nothing is observed: what closing() answers, without its search
            closing_sum, closing_count, closing_source, closing_note = 0.0, 0, OWN, ""
        else:
            closing = self.closing(ticker)
            closing_sum, closing_count = closing.observed_sum, closing.observed_count
            closing_source, closing_note = closing.source, closing.note
        bankroll = bankroll_cc if bankroll_cc > 0 else 0
        count = max_count if max_count > 0 else 0
        if tracked.checked is not info or closing_count or closing_sum:
            # positional (MarketView's field order); the first view of these listing facts, and every
            # view with closing prints, passes the checks
            view = MarketView(ticker, info.open_time, info.close_time, now, info.floor_strike,
                              bankroll, count, closing_sum, closing_count, closing_source, closing_note)
            tracked.checked = info
        else:
            # the same listing facts passed the checks; now is an exchange time from a checked print or
            # book top, the sizing context is clamped at 0, nothing is observed yet: no check can fail
            view = market_view_unchecked(ticker, info.open_time, info.close_time, now, info.floor_strike,
                                         bankroll, count, closing_sum, closing_count, closing_source,
                                         closing_note)
        self._view_memo = (info, now, last, bankroll_cc, max_count, view)
        return view

    def book_age_seconds(self, ticker: str) -> float | None:
        """Seconds since the book was last confirmed by the live feed; ``None`` if stale or unseen."""
        tracked = self._markets.get(ticker)
        if tracked is None or tracked.stale or tracked.book is None or self._now is None:
            return None
        confirmed = self._feed_seen_at or tracked.book.updated_at
        age = (self._now - confirmed).total_seconds()
        return age if age > 0.0 else 0.0  # max(0.0, age), written out: asked on every proposal

    def index_age_seconds(self, now: datetime) -> float | None:
        """Seconds between ``now`` and the newest index print; ``None`` before the first print."""
        prints = self._prints
        if not prints:
            return None
        age = (now - prints[-1].ts).total_seconds()
        return age if age > 0.0 else 0.0  # max(0.0, age), written out: asked on every proposal
