"""Positions and realized P&L derived from fills and settlements, exactly, by kalshid's P&L policy.

The cost rule is :mod:`kalshid.core.pnl` (average cost per market side, the same rule as the risk
stage's portfolio and the paper exchange), so ``/api/pnl``, the journal's positions and ``/api/status``
agree. Fills are booked as Kalshi applied them (netted: :mod:`kalshid.core.netting`), so a market has at
most one side open. Selling more than is held opens a short holding (not possible on Kalshi, kept so the
arithmetic stays exact if the exchange ever reports it). Every amount is an integer number of
centi-cents, so there is no rounding anywhere: the P&L of a crafted sequence is exact to the centi-cent.

At settlement every holding is paid its side's per-contract value. The amount credited is the
exchange's ``revenue``; any difference (exchange minus journal) is booked to no strategy, as
``(unattributed)``, and flagged by :func:`check_settlement`. A void market refunds holdings at cost
(realized 0).

Attribution: each side's contracts are owned by the strategies that bought them. A closing sale's
realized P&L goes to the selling fill's strategy, and the contracts it takes are the seller's own first,
then other strategies' in the order they bought. Settlement P&L goes to each owner, on its share of the
side's cost (:func:`kalshid.core.pnl.allocate_cost`), so the shares add up to the market's figure.
Fees are booked on the fill, on the fill's day; ``realized`` is before fees and ``net`` after them.

Pure: no I/O, no clock.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Iterable, Sequence
from datetime import UTC, datetime

import attrs

from kalshid.core.pnl import allocate_cost, settlement_realized_cc, trade
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
class _Holding:
    """One side of one market: ``held`` contracts costing ``cost_cc``, and how many each strategy owns
    (signed like ``held``; the owners' counts add up to ``held``)."""

    held: int = 0
    cost_cc: int = 0
    owners: dict[str | None, int] = attrs.field(factory=dict)

    def trade(self, strategy: str | None, action: Action, count: int, price_cc: int) -> int:
        """Book one fill part (:func:`kalshid.core.pnl.trade`); returns realized cc."""
        sign = 1 if action is Action.BUY else -1
        closing = min(count, abs(self.held)) if self.held * sign < 0 else 0
        self.held, self.cost_cc, realized = trade(self.held, self.cost_cc, action, count, price_cc)
        left = closing
        for owner in sorted(self.owners, key=lambda o: o != strategy):  # the seller's own contracts first
            taken = min(left, abs(self.owners[owner]))
            self.owners[owner] += sign * taken
            left -= taken
        self.owners = {o: n for o, n in self.owners.items() if n}
        if count > closing:
            self.owners[strategy] = self.owners.get(strategy, 0) + sign * (count - closing)
        return realized

    def settle(self, value_cc: int | None) -> dict[str | None, int]:
        """Realized P&L per owner when each contract pays ``value_cc`` (None: void, refunded at cost);
        empties the holding."""
        owners = list(self.owners.items())
        shares = allocate_cost(self.cost_cc, abs(self.held), [abs(n) for _, n in owners])
        out = {o: 0 if value_cc is None else settlement_realized_cc(n, share, value_cc)
               for (o, n), share in zip(owners, shares, strict=True)}
        self.held, self.cost_cc, self.owners = 0, 0, {}
        return out


@attrs.frozen
class TickerLedger:
    ticker: str
    entries: tuple[PnlEntry, ...]
    position: Position
    yes_held_at_settlement: int
    no_held_at_settlement: int
    derived_revenue_cc: int | None  # what the journal expects the settlement to pay; None if unsettled


def _fill_key(f: Fill) -> datetime:
    return f.ts


def ticker_ledger(ticker: str, fills: Iterable[Fill], settlement: Settlement | None) -> TickerLedger:
    """Replay one market's fills (in time order) and optional settlement into P&L entries. Fills of
    the same time are replayed in the order given: the journal gives them in the order it booked them
    (the sort is stable), which is the order the daemon applied them in.

    Raises :class:`ValueError` if a fill or the settlement belongs to another ticker.
    """
    books = {Side.YES: _Holding(), Side.NO: _Holding()}
    entries: list[PnlEntry] = []
    fees = 0
    updated: datetime | None = None
    for f in sorted(fills, key=_fill_key):
        if f.ticker != ticker:
            raise ValueError(f"fill {f.fill_id}: ticker {f.ticker!r} is not {ticker!r}")
        realized = books[f.side].trade(f.strategy, f.action, f.count, f.price_cc)
        entries.append(PnlEntry(f.ts, ticker, f.strategy, realized, f.fee_cc, 1, f.count))
        fees += f.fee_cc
        updated = f.ts if updated is None else max(updated, f.ts)
    yes_held, no_held = books[Side.YES].held, books[Side.NO].held
    derived: int | None = None
    if settlement is not None:
        if settlement.ticker != ticker:
            raise ValueError(f"settlement ticker {settlement.ticker!r} is not {ticker!r}")
        derived = _settle(books, settlement, entries)
        updated = settlement.settled_ts if updated is None else max(updated, settlement.settled_ts)
    position = Position(
        ticker=ticker,
        yes_count=books[Side.YES].held,
        no_count=books[Side.NO].held,
        cost_basis_cc=books[Side.YES].cost_cc + books[Side.NO].cost_cc,
        fees_cc=fees,
        realized_cc=sum(e.realized_cc for e in entries),
        settled=settlement is not None,
        updated=updated if updated is not None else datetime.fromtimestamp(0, UTC),
    )
    return TickerLedger(ticker, tuple(entries), position, yes_held, no_held, derived)


def _settle(books: dict[Side, _Holding], s: Settlement, entries: list[PnlEntry]) -> int:
    """Pay every holding its value; book the exchange-vs-journal difference unattributed."""
    per_strategy: dict[str | None, int] = defaultdict(int)
    derived = 0
    for side, book in books.items():
        value = None if s.yes_payout_cc is None else (
            s.yes_payout_cc if side is Side.YES else PAYOUT_CC - s.yes_payout_cc)
        derived += book.cost_cc if value is None else book.held * value
        for strategy, realized in book.settle(value).items():
            per_strategy[strategy] += realized
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
