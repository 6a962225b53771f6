"""Simulated accounts: cash, reservations, positions, fills and settlements, to the centi-cent.

Counts are hundredths of a contract (:mod:`kalshid.sim.counts`); a fractional holding nets, sells and
settles like a whole one, and every amount it moves is a whole number of centi-cents.

Balance model (our choice; Kalshi does not document its own):

* ``cash_cc`` is the money the user owns. Resting *buy* orders reserve ``remaining × limit``
  (plus the maker fee when the series charges one) in ``reserved_cc``; the reported balance is
  ``cash − reserved`` ("available"), in whole cents rounded down.
* A buy is accepted only if available ≥ ``count × limit + taker_fee(count, limit)``. Any taker
  fill at a better price costs no more than that (cost + fee is increasing in the price), so the
  remainder's reservation is always covered and ``cash ≥ reserved`` holds.
* One signed position per market, as Kalshi keeps it: a buy nets against the other side's held
  contracts first (buying NO at q while holding YES sells that YES at $1 − q), then opens.
* A sell needs contracts: held − contracts locked by the user's other resting sells ≥ count. A
  sell never opens an opposite position (sell YES with no YES is refused, not turned into a NO buy).
* Fees go to the exchange's fee ledger; settlement pays $1 per winning contract held.

Conservation: Σ users' cash + fees collected + $1 × outstanding YES/NO pairs = Σ deposits.
"""

from __future__ import annotations

import attrs

from kalshid.core.pnl import trade
from kalshid.core.units import ONE_DOLLAR_CC
from kalshid.core.vocab import Action, Side
from kalshid.sim.counts import format_count, notional_cc
from kalshid.sim.model import ExchangeError, Fill, Position, Settlement


@attrs.define
class Account:
    user_id: str
    cash_cc: int
    reserved_cc: int = 0
    positions: dict[str, Position] = attrs.Factory(dict)
    locked_sells: dict[tuple[str, Side], int] = attrs.Factory(dict)
    fills: list[Fill] = attrs.Factory(list)
    settlements: list[Settlement] = attrs.Factory(list)

    @property
    def available_cc(self) -> int:
        return self.cash_cc - self.reserved_cc

    def position(self, ticker: str) -> Position:
        return self.positions.get(ticker) or Position(self.user_id, ticker)

    def sellable(self, ticker: str, side: Side) -> int:
        pos = self.position(ticker)
        held = pos.yes if side == "yes" else pos.no
        return held - self.locked_sells.get((ticker, side), 0)

    def require_available(self, needed_cc: int) -> None:
        if needed_cc > self.available_cc:
            raise ExchangeError(
                400,
                "insufficient_balance",
                f"order needs ${needed_cc / 10_000:.4f} (cost plus worst-case fee) but only "
                f"${self.available_cc / 10_000:.4f} is available",
            )

    def require_sellable(self, ticker: str, side: Side, count: int) -> None:
        have = self.sellable(ticker, side)
        if count > have:
            raise ExchangeError(
                400,
                "insufficient_position",
                f"cannot sell {format_count(count)} {side.upper()} contracts of {ticker}: "
                f"{format_count(have)} held and not already offered",
                field="count",
            )

    def lock_sell(self, ticker: str, side: Side, delta: int) -> None:
        key = (ticker, side)
        value = self.locked_sells.get(key, 0) + delta
        if value < 0:
            raise AssertionError(f"negative sell lock on {key}")
        if value:
            self.locked_sells[key] = value
        else:
            self.locked_sells.pop(key, None)

    def apply_fill(
        self, ticker: str, side: Side, action: Action, count: int, price_cc: int, fee_cc: int, now: float
    ) -> tuple[Position, int]:
        """Move cash and contracts for one fill (fee included): ``(new position, contracts closed)``.

        A buy first nets against the other side's contracts not locked by resting sells (Kalshi keeps
        one signed position: buying NO at q while holding YES is selling that YES at $1 − q); the rest
        opens. A sell closes its own side. ``closed`` is how many contracts left the market for this
        user, so the engine can keep open interest exact."""
        pos = self.position(ticker)
        if action == "buy":
            other = Side(side).other
            free = (pos.no if other == "no" else pos.yes) - self.locked_sells.get((ticker, other), 0)
            netted = min(count, max(0, free))
            if netted:
                pos = self._close(pos, other, netted, ONE_DOLLAR_CC - price_cc)
            pos = self._open(pos, side, count - netted, price_cc)
            closed = netted
        else:
            pos = self._close(pos, side, count, price_cc)
            closed = count
        self.cash_cc -= fee_cc
        pos = attrs.evolve(
            pos,
            realized_pnl_cc=pos.realized_pnl_cc - fee_cc,
            fees_paid_cc=pos.fees_paid_cc + fee_cc,
            total_traded_cc=pos.total_traded_cc + notional_cc(count, price_cc),
            volume=pos.volume + count,
            updated_ts=now,
        )
        self.positions[ticker] = pos
        return pos, closed

    def _open(self, pos: Position, side: Side, count: int, price_cc: int) -> Position:
        notional = notional_cc(count, price_cc)
        self.cash_cc -= notional
        if side == "yes":
            return attrs.evolve(pos, yes=pos.yes + count, yes_cost_cc=pos.yes_cost_cc + notional)
        return attrs.evolve(pos, no=pos.no + count, no_cost_cc=pos.no_cost_cc + notional)

    def _close(self, pos: Position, side: Side, count: int, price_cc: int) -> Position:
        held = pos.yes if side == "yes" else pos.no
        cost = pos.yes_cost_cc if side == "yes" else pos.no_cost_cc
        if count > held:
            raise AssertionError(f"closing {count} exceeds {held} held")
        self.cash_cc += notional_cc(count, price_cc)
        # kalshid's average cost; a hundredth's price is a whole cc on the $0.01 grid
        held, cost, gain = trade(held, cost, Action.SELL, count, notional_cc(1, price_cc))
        realized = pos.realized_pnl_cc + gain
        if side == "yes":
            return attrs.evolve(pos, yes=held, yes_cost_cc=cost, realized_pnl_cc=realized)
        return attrs.evolve(pos, no=held, no_cost_cc=cost, realized_pnl_cc=realized)

    def set_resting_count(self, ticker: str, delta: int, now: float) -> Position:
        pos = self.position(ticker)
        pos = attrs.evolve(pos, resting_orders=pos.resting_orders + delta, updated_ts=now)
        self.positions[ticker] = pos
        return pos

    def settle(self, ticker: str, event_ticker: str, result: str, now: float) -> Settlement | None:
        """Pay $1 per winning contract and close the position; ``None`` if nothing was ever held."""
        pos = self.positions.get(ticker)
        if pos is None or (pos.yes == 0 and pos.no == 0 and pos.volume == 0):
            return None
        winners = pos.yes if result == "yes" else pos.no
        revenue = notional_cc(winners, ONE_DOLLAR_CC)
        self.cash_cc += revenue
        record = Settlement(
            user_id=self.user_id,
            ticker=ticker,
            event_ticker=event_ticker,
            market_result=Side.YES if result == "yes" else Side.NO,
            yes_count=pos.yes,
            yes_total_cost_cc=pos.yes_cost_cc,
            no_count=pos.no,
            no_total_cost_cc=pos.no_cost_cc,
            revenue_cc=revenue,
            fee_cost_cc=pos.fees_paid_cc,
            settled_ts=now,
        )
        self.positions[ticker] = attrs.evolve(
            pos,
            yes=0,
            no=0,
            yes_cost_cc=0,
            no_cost_cc=0,
            realized_pnl_cc=pos.realized_pnl_cc + revenue - pos.exposure_cc,
            updated_ts=now,
        )
        self.settlements.append(record)
        return record
