"""Positions, cash and P&L from fills and settlements, in exact integer centi-cents.

Each market's YES and NO holdings are kept separately (``Position``), each with its cost basis, by
kalshid's P&L policy (:mod:`kalshid.core.pnl`: average cost, fees excluded from the basis and expensed
when paid, reducing cash and realised P&L at the fill). Settlement pays $1 per winning contract,
realises ``payout − basis`` and removes the position.

Holding YES and NO of one market at once is allowed here (Kalshi nets them into one signed position
and releases $1 per pair immediately; keeping both is the conservative view: the pair's dollar arrives
at settlement). The worst-case loss of a position at settlement is ``max(0, basis − min(yes, no)·$1)``.

The type is frozen; every operation returns a new :class:`Portfolio`. The portfolio records what the
exchange reports; it does not enforce limits (that is :mod:`kalshid.core.risk`), but it refuses
impossible input (selling more than held, non-positive counts) with :class:`PortfolioError`.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping
from datetime import datetime

import attrs

from kalshid.core.markets import parse_market_ticker
from kalshid.core.pnl import settlement_realized_cc, trade, unrealized_cc
from kalshid.core.units import ONE_DOLLAR_CC, check_price_cc
from kalshid.core.vocab import Action, Side


class PortfolioError(ValueError):
    """A fill or settlement cannot apply to the portfolio as it stands."""


@attrs.frozen
class Fill:
    """One execution. ``price_cc`` is in ``side``'s terms (a NO fill at 3 800 cc cost $0.38 each);
    ``fee_cc`` is the fee charged for this fill (0 for makers)."""

    ticker: str
    side: Side
    action: Action
    count: int
    price_cc: int
    fee_cc: int
    ts: datetime

    def __attrs_post_init__(self) -> None:
        if self.count <= 0:
            raise PortfolioError(f"fill count must be > 0, got {self.count}")
        check_price_cc(self.price_cc, what="fill price_cc")
        if self.fee_cc < 0:
            raise PortfolioError(f"fill fee_cc must be >= 0, got {self.fee_cc}")


@attrs.frozen
class Position:
    """What we hold in one market."""

    ticker: str
    yes_count: int = 0
    yes_cost_cc: int = 0
    no_count: int = 0
    no_cost_cc: int = 0
    fees_cc: int = 0
    realized_pnl_cc: int = 0

    @property
    def is_open(self) -> bool:
        return self.yes_count > 0 or self.no_count > 0

    @property
    def cost_basis_cc(self) -> int:
        return self.yes_cost_cc + self.no_cost_cc

    def payout_cc(self, result: Side) -> int:
        return (self.yes_count if result is Side.YES else self.no_count) * ONE_DOLLAR_CC

    @property
    def worst_case_loss_cc(self) -> int:
        """The most this position can still lose at settlement (fees already paid are realised)."""
        # max(0, cost basis − min(yes, no) × $1), written out: risk reads it several times per check
        yes, no = self.yes_count, self.no_count
        loss = self.cost_basis_cc - (no if no < yes else yes) * ONE_DOLLAR_CC
        return loss if loss > 0 else 0

    def value_cc(self, yes_mark_cc: int | None) -> int:
        """Marked value: YES at the mark, NO at $1 − mark; at cost basis when there is no mark."""
        if yes_mark_cc is None:
            return self.cost_basis_cc
        return self.yes_count * yes_mark_cc + self.no_count * (ONE_DOLLAR_CC - yes_mark_cc)

    def unrealized_cc(self, yes_mark_cc: int | None) -> int:
        """Open P&L at the YES mark (:func:`kalshid.core.pnl.unrealized_cc`; 0 without a mark)."""
        no_mark = None if yes_mark_cc is None else ONE_DOLLAR_CC - yes_mark_cc
        return (unrealized_cc(self.yes_count, self.yes_cost_cc, yes_mark_cc)
                + unrealized_cc(self.no_count, self.no_cost_cc, no_mark))

    def count(self, side: Side) -> int:
        return self.yes_count if side is Side.YES else self.no_count


def holding_after_trade(held: int, basis_cc: int, action: Action | str, count: int, price_cc: int
                        ) -> tuple[int, int, int]:
    """One side's ``(held, basis_cc, realized_cc)`` after buying or selling ``count`` contracts at
    ``price_cc`` (fees not included), by kalshid's average-cost rule (:func:`kalshid.core.pnl.trade`).
    Raises :class:`PortfolioError` for a sale of more than is held."""
    if action != Action.BUY and count > held:
        raise PortfolioError(f"selling {count} but only {held} held")
    return trade(held, basis_cc, action, count, price_cc)


def _positions_dict(value: Mapping[str, Position]) -> dict[str, Position]:
    return dict(value)


@attrs.frozen
class Portfolio:
    """Cash, open positions by ticker, and lifetime realised P&L and fees (all cc)."""

    cash_cc: int
    positions: Mapping[str, Position] = attrs.field(factory=dict, converter=_positions_dict)
    realized_pnl_cc: int = 0
    fees_paid_cc: int = 0

    def position(self, ticker: str) -> Position:
        return self.positions.get(ticker) or _no_position(ticker)

    def apply_fill(self, fill: Fill) -> Portfolio:
        """The portfolio after ``fill``. Raises :class:`PortfolioError` when selling more than held."""
        pos, cash_delta, realized_delta = self.position_after(fill.ticker, fill.side, fill.action, fill.count,
                                                              fill.price_cc, fill.fee_cc)
        return self._with_position(pos, cash_delta=cash_delta, realized_delta=realized_delta,
                                   fee=fill.fee_cc)

    def apply_settled_fill(self, fill: Fill, result: Side) -> Portfolio:
        """The portfolio after ``fill``, reported only once its market had settled at ``result``: the
        trade happened before the settlement, which paid out the holding as it was booked then. A
        purchase adds contracts the settlement pays too; a sale took contracts the settlement paid:
        they were sold at the fill's price instead, so cash and realised P&L move by count × (price −
        value), less the fee. Raises :class:`PortfolioError` only for a malformed fill."""
        if fill.action is Action.BUY:
            return self.apply_fill(fill).settle(fill.ticker, result)
        delta = fill.count * (fill.price_cc - _value_cc(fill.side, result)) - fill.fee_cc
        return attrs.evolve(self, cash_cc=self.cash_cc + delta, realized_pnl_cc=self.realized_pnl_cc + delta,
                            fees_paid_cc=self.fees_paid_cc + fill.fee_cc)

    def position_after(self, ticker: str, side: Side, action: Action, count: int, price_cc: int,
                       fee_cc: int) -> tuple[Position, int, int]:
        """``(position, cash_delta, realized_delta)``: ``ticker``'s position and the changes to cash and
        realised P&L that a fill of ``count`` at ``price_cc`` paying ``fee_cc`` would make, without
        building the new portfolio (what :meth:`apply_fill` applies; the risk engine's what-if). The
        position may be closed (:attr:`Position.is_open` false): the portfolio would drop it. Raises
        :class:`PortfolioError` when selling more than held."""
        pos = self.position(ticker)
        yes = side is Side.YES
        held = pos.yes_count if yes else pos.no_count
        basis = pos.yes_cost_cc if yes else pos.no_cost_cc
        notional = count * price_cc
        try:
            new_count, new_basis, realized = holding_after_trade(held, basis, action, count, price_cc)
        except PortfolioError as exc:
            raise PortfolioError(f"{ticker} {side.value}: {exc}") from None
        buying = action is Action.BUY
        cash_delta = (-notional if buying else notional) - fee_cc
        realized_delta = realized - fee_cc
        if yes:
            pos = Position(ticker, new_count, new_basis, pos.no_count, pos.no_cost_cc, pos.fees_cc + fee_cc,
                           pos.realized_pnl_cc + realized_delta)
        else:
            pos = Position(ticker, pos.yes_count, pos.yes_cost_cc, new_count, new_basis, pos.fees_cc + fee_cc,
                           pos.realized_pnl_cc + realized_delta)
        return pos, cash_delta, realized_delta

    def settle(self, ticker: str, result: Side) -> Portfolio:
        """Pay out ``ticker``: $1 per ``result`` contract; realise payout − basis; drop the position.
        Settling a market we hold nothing in returns the portfolio unchanged."""
        pos = self.positions.get(ticker)
        if pos is None:
            return self
        payout = pos.payout_cc(result)
        realized_delta = (settlement_realized_cc(pos.yes_count, pos.yes_cost_cc, _value_cc(Side.YES, result))
                          + settlement_realized_cc(pos.no_count, pos.no_cost_cc, _value_cc(Side.NO, result)))
        positions = dict(self.positions)
        del positions[ticker]
        return attrs.evolve(self, cash_cc=self.cash_cc + payout, positions=positions,
                            realized_pnl_cc=self.realized_pnl_cc + realized_delta)

    def _with_position(self, pos: Position, *, cash_delta: int, realized_delta: int, fee: int) -> Portfolio:
        positions = dict(self.positions)
        if pos.is_open:
            positions[pos.ticker] = pos
        else:
            positions.pop(pos.ticker, None)
        return attrs.evolve(self, cash_cc=self.cash_cc + cash_delta, positions=positions,
                            realized_pnl_cc=self.realized_pnl_cc + realized_delta,
                            fees_paid_cc=self.fees_paid_cc + fee)

    def open_tickers(self) -> frozenset[str]:
        return frozenset(t for t, p in self.positions.items() if p.is_open)

    def worst_case_loss_cc(self) -> int:
        """Σ worst-case settlement loss over open positions."""
        total = 0
        for p in self.positions.values():  # a loop: a generator costs more than the few positions it sums
            total += p.worst_case_loss_cc
        return total

    def exposure_by_window(self) -> dict[datetime, int]:
        """Worst-case settlement loss per window, keyed by the window's close time (from the ticker)."""
        out: dict[datetime, int] = {}
        for ticker, pos in self.positions.items():
            close = window_close(ticker)
            out[close] = out.get(close, 0) + pos.worst_case_loss_cc
        return out

    def equity_cc(self, yes_marks_cc: Mapping[str, int] | None = None) -> int:
        """Cash plus positions marked at ``yes_marks_cc`` (ticker → YES price); unmarked ones at cost."""
        marks = yes_marks_cc or {}
        return self.cash_cc + sum(p.value_cc(marks.get(t)) for t, p in self.positions.items())


def _value_cc(side: Side, result: Side) -> int:
    return ONE_DOLLAR_CC if side is result else 0


@functools.lru_cache(maxsize=4096)
def _no_position(ticker: str) -> Position:
    """``Position(ticker)``, nothing held: frozen, so one is shared per ticker (risk asks for the
    position of the order's market on every check, and most are of a market not held)."""
    return Position(ticker)


@functools.lru_cache(maxsize=4096)
def window_close(ticker: str) -> datetime:
    """The close time of the window a market ticker names (raises ``TickerError`` if malformed).
    Cached: risk asks it of every held and resting ticker on every check, and parsing a ticker (a
    regular expression and two time-zone conversions) cost more than the rest of a check."""
    return parse_market_ticker(ticker)[1].close_time
