"""Positions and realized P&L derived from fills and settlements, exactly, with FIFO lots.

Each market keeps one book per contract side (YES and NO do not net on Kalshi: you hold both until
settlement). A buy adds a lot at its price; a sell closes lots first-in-first-out — the selling
strategy's own lots first, then anyone's — and realizes ``(sell - lot price) x count``. Selling more
than is held opens a short lot (not possible on Kalshi, kept so the arithmetic stays exact if the
exchange ever reports it). Every amount is an integer number of centi-cents, so there is no rounding
anywhere: the P&L of a crafted sequence is exact to the centi-cent.

At settlement every open lot is paid its side's per-contract value and closed. The amount credited
is the exchange's ``revenue``; it is split over strategies by the derived payouts, and any difference
(exchange minus journal) is booked to no strategy, as ``(unattributed)``, and flagged by
:func:`check_settlement`. A void market refunds lots at cost (realized 0 per lot).

Attribution: a closing sell's realized P&L goes to the selling fill's strategy; settlement P&L goes
to each lot's strategy. Fees are booked on the fill, on the fill's day.

Pure: no I/O, no clock.
"""

from __future__ import annotations

from collections import defaultdict, deque
from collections.abc import Callable, Iterable, Sequence
from datetime import UTC, datetime

import attrs

from kalshid.core.vocab import Action, Side
from kalshid.store.records import (
    Fill,
    JournalCheck,
    PnlRow,
    Position,
    Settlement,
    SettlementResult,
)

UNATTRIBUTED = "(unattributed)"
PAYOUT_CC = 10_000


@attrs.frozen
class PnlEntry:
    """One realized amount: from a fill (``fill_count`` 1) or a settlement (``fill_count`` 0)."""

    ts: datetime
    ticker: str
    strategy: str | None
    realized_cc: int
    fees_cc: int
    fill_count: int
    contracts: int


@attrs.define
class _Lot:
    strategy: str | None
    qty: int  # > 0
    price_cc: int


@attrs.define
class _Book:
    """Open lots of one (ticker, side); ``short`` says whether they are short lots."""

    short: bool = False
    lots: deque[_Lot] = attrs.field(factory=deque)

    def net(self) -> int:
        n = sum(lot.qty for lot in self.lots)
        return -n if self.short else n

    def cost(self) -> int:
        c = sum(lot.qty * lot.price_cc for lot in self.lots)
        return -c if self.short else c

    def trade(self, strategy: str | None, opening_short: bool, qty: int, price_cc: int) -> int:
        """Close opposite lots FIFO (own strategy first), open the rest; returns realized cc."""
        realized = 0
        if self.lots and self.short != opening_short:
            ordered = [lot for lot in self.lots if lot.strategy == strategy]
            ordered += [lot for lot in self.lots if lot.strategy != strategy]
            for lot in ordered:
                if qty == 0:
                    break
                n = min(qty, lot.qty)
                gain = (price_cc - lot.price_cc) * n
                realized += gain if opening_short else -gain
                lot.qty -= n
                qty -= n
            self.lots = deque(lot for lot in self.lots if lot.qty > 0)
        if qty > 0:
            if not self.lots:
                self.short = opening_short
            self.lots.append(_Lot(strategy, qty, price_cc))
        return realized


@attrs.frozen
class TickerLedger:
    ticker: str
    entries: tuple[PnlEntry, ...]
    position: Position
    yes_held_at_settlement: int
    no_held_at_settlement: int
    derived_revenue_cc: int | None  # what the journal expects the settlement to pay; None if unsettled


def _fill_key(f: Fill) -> tuple[datetime, str]:
    return (f.ts, f.fill_id)


def ticker_ledger(ticker: str, fills: Iterable[Fill], settlement: Settlement | None) -> TickerLedger:
    """Replay one market's fills (in time order) and optional settlement into P&L entries.

    Raises :class:`ValueError` if a fill or the settlement belongs to another ticker.
    """
    books = {Side.YES: _Book(), Side.NO: _Book()}
    entries: list[PnlEntry] = []
    fees = 0
    updated: datetime | None = None
    for f in sorted(fills, key=_fill_key):
        if f.ticker != ticker:
            raise ValueError(f"fill {f.fill_id}: ticker {f.ticker!r} is not {ticker!r}")
        # a sell closes a long lot (realized = sell - cost); the selling side's book goes short past zero
        realized = books[f.side].trade(f.strategy, f.action is Action.SELL, f.count, f.price_cc)
        entries.append(PnlEntry(f.ts, ticker, f.strategy, realized, f.fee_cc, 1, f.count))
        fees += f.fee_cc
        updated = f.ts if updated is None else max(updated, f.ts)
    yes_held, no_held = books[Side.YES].net(), books[Side.NO].net()
    derived: int | None = None
    if settlement is not None:
        if settlement.ticker != ticker:
            raise ValueError(f"settlement ticker {settlement.ticker!r} is not {ticker!r}")
        derived = _settle(books, settlement, entries)
        updated = settlement.settled_ts if updated is None else max(updated, settlement.settled_ts)
    position = Position(
        ticker=ticker,
        yes_count=books[Side.YES].net(),
        no_count=books[Side.NO].net(),
        cost_basis_cc=books[Side.YES].cost() + books[Side.NO].cost(),
        fees_cc=fees,
        realized_cc=sum(e.realized_cc for e in entries),
        settled=settlement is not None,
        updated=updated if updated is not None else datetime.fromtimestamp(0, UTC),
    )
    return TickerLedger(ticker, tuple(entries), position, yes_held, no_held, derived)


def _settle(books: dict[Side, _Book], s: Settlement, entries: list[PnlEntry]) -> int:
    """Close every lot at its payout; book the exchange-vs-journal difference unattributed."""
    yes_value = s.yes_payout_cc
    per_strategy: dict[str | None, int] = defaultdict(int)
    derived = 0
    for side, book in books.items():
        sign = -1 if book.short else 1
        for lot in book.lots:
            if yes_value is None:  # void: refunded at cost
                value = lot.price_cc
            else:
                value = yes_value if side is Side.YES else PAYOUT_CC - yes_value
            per_strategy[lot.strategy] += sign * (value - lot.price_cc) * lot.qty
            derived += sign * value * lot.qty
        book.lots.clear()
        book.short = False
    for strategy, realized in per_strategy.items():
        entries.append(PnlEntry(s.settled_ts, s.ticker, strategy, realized, 0, 0, 0))
    if s.revenue_cc != derived:
        entries.append(PnlEntry(s.settled_ts, s.ticker, None, s.revenue_cc - derived, 0, 0, 0))
    return derived


def check_settlement(ledger: TickerLedger, s: Settlement) -> tuple[JournalCheck, str]:
    """Compare the exchange's settlement with what the journal's fills imply.

    Counts must match the journal's holdings; revenue must equal the derived payout, except for a
    void market, whose refund terms are not documented (only counts are checked there).
    """
    problems: list[str] = []
    if s.yes_count != ledger.yes_held_at_settlement:
        problems.append(f"yes_count exchange={s.yes_count} journal={ledger.yes_held_at_settlement}")
    if s.no_count != ledger.no_held_at_settlement:
        problems.append(f"no_count exchange={s.no_count} journal={ledger.no_held_at_settlement}")
    if s.result is not SettlementResult.VOID and s.revenue_cc != ledger.derived_revenue_cc:
        problems.append(f"revenue_cc exchange={s.revenue_cc} journal={ledger.derived_revenue_cc}")
    if problems:
        return JournalCheck.MISMATCH, "; ".join(problems)
    return JournalCheck.OK, "void: counts checked, revenue not" if s.result is SettlementResult.VOID else ""


def day_key(e: PnlEntry) -> str:
    return e.ts.astimezone(UTC).date().isoformat()


def strategy_key(e: PnlEntry) -> str:
    return e.strategy if e.strategy is not None else UNATTRIBUTED


def ticker_key(e: PnlEntry) -> str:
    return e.ticker


def aggregate(entries: Sequence[PnlEntry], key: Callable[[PnlEntry], str]) -> list[PnlRow]:
    """Sum entries by ``key`` (sorted by key): realized, fees, net = realized - fees, fills, contracts."""
    acc: dict[str, list[int]] = {}
    for e in entries:
        a = acc.setdefault(key(e), [0, 0, 0, 0])
        a[0] += e.realized_cc
        a[1] += e.fees_cc
        a[2] += e.fill_count
        a[3] += e.contracts
    return [PnlRow(k, r, f, r - f, n, c) for k, (r, f, n, c) in sorted(acc.items())]
