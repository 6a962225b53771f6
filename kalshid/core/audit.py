"""Positions compared with the exchange's: at every start (reconciliation) and while trading (the
position audit). Pure: positions in, differences out.

A market's position is compared as Kalshi reports it, one signed count: YES contracts positive, NO
negative (the journal's ``yes_count − no_count``; Kalshi nets the two sides). A market whose items
the exchange client set aside (fractional counts in a series kalshid does not trade) is left out.
While trading, so is a window that has closed (:func:`closed_windows`): its position changes when it
settles, and the settlement is checked against the journal's counts when it is booked.

While trading, one read of the exchange's positions and the journal's can straddle a fill (read by
one side and not yet by the other): such a difference lasts one audit. So a market with a fill booked
while an audit was under way is not judged by that audit (it stays as the previous one left it), and
:class:`PositionAudit` calls a difference *confirmed* when two audits in a row find it in the same
market by the same number of contracts, and keeps it confirmed until an audit finds the market in
agreement again.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Mapping
from datetime import datetime

import attrs

from kalshid.core.portfolio import Position, window_close


@attrs.frozen
class Difference:
    """One market where the journal and the exchange disagree (signed counts, YES − NO)."""

    ticker: str
    journal: int
    exchange: int

    @property
    def offset(self) -> int:
        """What the exchange holds beyond the journal (signed contracts)."""
        return self.exchange - self.journal

    def describe(self) -> str:
        return f"{self.ticker}: journal says {self.journal:+d} (YES − NO), exchange says {self.exchange:+d}"


def position_differences(positions: Mapping[str, Position], exchange: Mapping[str, int],
                         left_alone: Collection[str] = ()) -> dict[str, Difference]:
    """Every market where ``positions`` (the journal's) and ``exchange`` (ticker → signed count)
    differ, by ticker in order; ``left_alone`` tickers are not compared."""
    out: dict[str, Difference] = {}
    for ticker in sorted((set(exchange) | set(positions)) - set(left_alone)):
        pos = positions.get(ticker)
        ours = (pos.yes_count - pos.no_count) if pos else 0
        theirs = exchange.get(ticker, 0)
        if ours != theirs:
            out[ticker] = Difference(ticker, ours, theirs)
    return out


def closed_windows(tickers: Iterable[str], at: datetime) -> set[str]:
    """The tickers among ``tickers`` of 15-minute windows closed at ``at`` (a ticker that names no
    window, such as another series', is not one)."""
    closed = set()
    for ticker in tickers:
        try:
            if window_close(ticker) <= at:
                closed.add(ticker)
        except ValueError:
            continue
    return closed


def trading_differences(positions: Mapping[str, Position], exchange: Mapping[str, int], left_alone: Collection[str],
                        at: datetime) -> dict[str, Difference]:
    """:func:`position_differences` while trading: closed windows (at exchange time ``at``) left out."""
    closed = closed_windows(set(exchange) | set(positions), at)
    return position_differences(positions, exchange, set(left_alone) | closed)


@attrs.frozen
class PositionAudit:
    """The audits so far: the latest one's differences (``seen``), the confirmed ones, and when the
    latest ran (``None``: none yet)."""

    seen: Mapping[str, Difference] = attrs.field(factory=dict)
    confirmed: Mapping[str, Difference] = attrs.field(factory=dict)
    checked_at: datetime | None = None

    def observe(self, differences: Mapping[str, Difference], at: datetime,
                busy: Collection[str] = ()) -> PositionAudit:
        """The audit after one more comparison: a difference is confirmed when the previous audit saw
        the same offset in that market, or it was confirmed already and the market still differs. The
        ``busy`` markets (a fill booked during the comparison) keep what the previous audit found."""
        seen = {t: d for t, d in differences.items() if t not in busy}
        confirmed = {t: d for t, d in seen.items()
                     if t in self.confirmed or (t in self.seen and self.seen[t].offset == d.offset)}
        for t in busy:
            if t in self.seen:
                seen[t] = self.seen[t]
            if t in self.confirmed:
                confirmed[t] = self.confirmed[t]
        return PositionAudit(seen, confirmed, at)

    @property
    def agrees(self) -> bool:
        """No confirmed difference: the journal's positions can be trusted for risk."""
        return not self.confirmed

    def describe(self) -> tuple[str, ...]:
        """The confirmed differences, one line each."""
        return tuple(d.describe() for d in self.confirmed.values())
