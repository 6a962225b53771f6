"""The simulated exchange's state: markets, books, orders, accounts, ids, events and order holds.

:class:`ExchangeState` owns the data every operation works on and the bookkeeping they share: seeded
ids, the event list the shell drains, account lookup, read-only queries, and the holds a resting order
puts on its owner's account (a buy's reservation of cash and fee, a sell's lock on contracts). Order
entry (:mod:`kalshid.sim.entry`), order changes (:mod:`kalshid.sim.changes`) and the lifecycle
(:mod:`kalshid.sim.lifecycle_ops`) build on it; :class:`kalshid.sim.engine.Exchange` joins them.
"""

from __future__ import annotations

import random
import uuid
from decimal import Decimal
from fractions import Fraction

from kalshid.core.fees import FeeStructure, effective_fee_structure, fee_terms
from kalshid.core.matching import MatchingBook
from kalshid.core.units import ONE_DOLLAR_CC
from kalshid.core.vocab import Side
from kalshid.sim.accounts import Account
from kalshid.sim.counts import (
    COMBO_MAKER_RATE_H,
    MAKER_RATE_H,
    SIM_FEE_TYPES,
    TAKER_RATE_H,
    fee_increment_cc,
    notional_cc,
)
from kalshid.sim.lifecycle_ops import KEEP_FINALIZED
from kalshid.sim.model import Event, ExchangeError, Market, Order, OrderEvent, PositionEvent, TickerEvent, Trade

_MAKER_RATES = {"quadratic_with_maker_fees": MAKER_RATE_H, "quadratic_with_combo_maker_fees": COMBO_MAKER_RATE_H}


def _quadratic_ceil_cc(rate: Fraction, terms: int) -> int:
    return fee_increment_cc(0, terms, rate) if terms else 0


class ExchangeState:
    """All simulated markets and accounts; see :mod:`kalshid.sim.engine` for the rules."""

    def __init__(
        self,
        *,
        seed: int = 0,
        settlement_timer_seconds: int = 60,
        fee_type: str = "quadratic",
        series: str = "KXSOL15M",
        keep_finalized: int = KEEP_FINALIZED,
        fee_multiplier: Decimal = Decimal(1),
        event_fee_type_override: str | None = None,
        event_fee_multiplier_override: Decimal | None = None,
    ) -> None:
        if keep_finalized < 1:
            raise ValueError(f"keep_finalized must be >= 1, got {keep_finalized}")
        self._rng = random.Random(seed)
        self.series = series
        # the series' fee structure, and the override every event publishes (None: none)
        self.fee_type = fee_type
        self.fee_multiplier = fee_multiplier
        self.event_fee_type_override = event_fee_type_override
        self.event_fee_multiplier_override = event_fee_multiplier_override
        # what every market is charged: the series' structure with every event's override applied, as
        # GET /series and GET /events publish them (fixed for the simulator's life: its rates are too)
        fee = self.fee = effective_fee_structure(FeeStructure(fee_type, fee_multiplier), event_fee_type_override,
                                                 event_fee_multiplier_override)
        if fee.fee_type not in SIM_FEE_TYPES:
            raise ValueError(f"the simulator charges fee types {', '.join(SIM_FEE_TYPES)}; not {fee.fee_type!r}")
        if not fee.multiplier.is_finite() or fee.multiplier < 0:
            raise ValueError(f"fee multiplier must be a number >= 0, got {fee.multiplier}")
        # per hundredth of a contract, the multiplier applied; no maker rate: makers pay nothing
        factor = Fraction(fee.multiplier)
        maker = _MAKER_RATES.get(fee.fee_type)
        self._taker_rate_h = TAKER_RATE_H * factor
        self._maker_rate_h = None if maker is None else maker * factor
        self.settlement_timer_seconds = settlement_timer_seconds
        self.markets: dict[str, Market] = {}
        self.books: dict[str, MatchingBook] = {}
        self.orders: dict[str, Order] = {}
        self.accounts: dict[str, Account] = {}
        self.trades: list[Trade] = []
        self.fees_collected_cc = 0
        self.deposits_cc = 0
        self._client_ids: set[tuple[str, str]] = set()
        self._events: list[Event] = []
        self._dirty: set[str] = set()
        # users whose history is dropped once a market settles (the simulator's own makers and takers):
        # without this a long run keeps every maker order forever and memory grows without bound
        self.internal_users: set[str] = set()
        # finalized markets kept with everyone's history in them (older ones are forgotten whole)
        self.keep_finalized = keep_finalized

    # --- ids, events, accounts ------------------------------------------------------------

    def new_id(self) -> str:
        return str(uuid.UUID(int=self._rng.getrandbits(128), version=4))

    def drain_events(self) -> list[Event]:
        """Events since the last drain, with one ticker update per market whose book/trades changed."""
        for ticker in sorted(self._dirty):
            book = self.books[ticker]
            yes, no = book.best_bid(Side.YES), book.best_bid(Side.NO)
            market = self.markets[ticker]
            self._events.append(
                TickerEvent(
                    market,
                    yes[0] if yes else None,
                    ONE_DOLLAR_CC - no[0] if no else None,
                    market.updated_ts,
                    yes_bid_size=yes[1] if yes else 0,
                    yes_ask_size=no[1] if no else 0,
                )
            )
        self._dirty.clear()
        events, self._events = self._events, []
        return events

    def open_account(self, user_id: str, balance_cc: int) -> Account:
        if user_id in self.accounts:
            raise ValueError(f"account {user_id!r} already exists")
        if balance_cc < 0:
            raise ValueError(f"negative opening balance for {user_id!r}")
        self.accounts[user_id] = account = Account(user_id, balance_cc)
        self.deposits_cc += balance_cc
        return account

    def account(self, user_id: str) -> Account:
        try:
            return self.accounts[user_id]
        except KeyError:
            raise ExchangeError(404, "account_not_found", f"no account {user_id!r}") from None

    # --- queries --------------------------------------------------------------------------

    def market(self, ticker: str) -> Market:
        market = self.markets.get(ticker)
        if market is None:
            raise ExchangeError(404, "market_not_found", f"market {ticker!r} not found", field="ticker")
        return market

    def markets_by_open(self) -> list[Market]:
        return sorted(self.markets.values(), key=lambda m: m.window.open_time)

    def get_order(self, user_id: str, order_id: str) -> Order:
        order = self.orders.get(order_id)
        if order is None or order.user_id != user_id:
            raise ExchangeError(404, "order_not_found", f"order {order_id!r} not found", field="order_id")
        return order

    def best_prices(self, ticker: str) -> tuple[int | None, int | None]:
        """``(yes_bid_cc, yes_ask_cc)``; the ask is $1 − the best NO bid."""
        book = self.books[ticker]
        yes, no = book.best_bid(Side.YES), book.best_bid(Side.NO)
        return (yes[0] if yes else None), (ONE_DOLLAR_CC - no[0] if no else None)

    def portfolio_value_cc(self, user_id: str) -> int:
        """Held contracts marked at their side's best bid (or the result once determined)."""
        total = 0
        for ticker, pos in self.account(user_id).positions.items():
            market = self.markets[ticker]
            for side, held in (("yes", pos.yes), ("no", pos.no)):
                if not held:
                    continue
                if market.result:
                    total += notional_cc(held, ONE_DOLLAR_CC if market.result == side else 0)
                else:
                    best = self.books[ticker].best_bid(side)  # type: ignore[arg-type]
                    total += notional_cc(held, best[0] if best else 0)
        return total

    def conservation_gap_cc(self) -> int:
        """Σ cash + fees + $1 × open interest − deposits: zero unless money leaked."""
        cash = sum(a.cash_cc for a in self.accounts.values())
        pairs = sum(m.open_interest for m in self.markets.values())
        return cash + self.fees_collected_cc + notional_cc(pairs, ONE_DOLLAR_CC) - self.deposits_cc

    # --- holds: what a resting order reserves --------------------------------------------

    def _taker_rate(self) -> Fraction:
        """The taker rate per hundredth of a contract, the fee multiplier applied."""
        return self._taker_rate_h

    def _maker_rate(self) -> Fraction | None:
        """The maker rate per hundredth of a contract (None: makers pay nothing), the multiplier applied."""
        return self._maker_rate_h

    def _reservation_cc(self, order: Order) -> int:
        if order.status != "resting" or order.action != "buy":
            return 0
        reserve = notional_cc(order.remaining_count, order.price_cc)
        rate = self._maker_rate()
        if rate is not None:
            terms = order.maker_fee_terms + fee_terms(order.remaining_count, order.price_cc)
            reserve += _quadratic_ceil_cc(rate, terms) - order.maker_fees_cc
        return reserve

    def _set_holds(self, old: Order | None, new: Order | None, now: float) -> None:
        """Move reservations, sell locks and the resting-order count from ``old`` to ``new``."""
        ref = new or old
        assert ref is not None
        acct = self.accounts[ref.user_id]
        for order, sign in ((old, -1), (new, 1)):
            if order is None or order.status != "resting":
                continue
            acct.reserved_cc += sign * self._reservation_cc(order)
            if order.action == "sell":
                acct.lock_sell(order.ticker, order.side, sign * order.remaining_count)
        was = old is not None and old.status == "resting"
        is_ = new is not None and new.status == "resting"
        if was != is_:
            self._events.append(PositionEvent(acct.set_resting_count(ref.ticker, 1 if is_ else -1, now)))

    def _store(self, old: Order | None, new: Order, now: float) -> Order:
        self._set_holds(old, new, now)
        self.orders[new.order_id] = new
        last = self._events[-1] if self._events else None
        if not (isinstance(last, OrderEvent) and last.order == new):  # a taker's last fill already said it
            self._events.append(OrderEvent(new))
        return new

