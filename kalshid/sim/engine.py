"""The simulated exchange: markets, orders, matching, fees, accounts and the market lifecycle.

Pure and synchronous: no trio, no clock reads (``now`` is simulated Unix seconds, passed in), ids
from a seeded RNG, so a seed and a request sequence give the same results. Every operation
either succeeds completely or raises :class:`~kalshid.sim.model.ExchangeError` having changed
nothing. Operations append :data:`~kalshid.sim.model.Event` values; the shell takes them with
:meth:`Exchange.drain_events` and fans them out.

Order semantics: limit orders rest until cancelled or
``expiration_ts`` (GTC); IOC/FoK never rest; ``buy_max_cost`` (cents, contract cost excluding fees)
makes an order fill-or-kill; ``post_only`` is refused (400) when marketable; ``reduce_only`` is
refused (400) when it could grow the net position; self-trades are prevented (default
``taker_at_cross``: the incoming order's remainder is cancelled; ``maker``: own resting orders are
cancelled). Taker fees accumulate per order (``order_fee_increment_cc``); makers pay nothing under
``fee_type`` quadratic. Balance rules: :mod:`kalshid.sim.accounts`.
"""

from __future__ import annotations

import random
import uuid
from fractions import Fraction

import attrs

from kalshid.core.fees import MAKER_RATE, TAKER_RATE, fee_terms, order_fee_increment_cc, taker_fee_cc
from kalshid.core.markets import Window, event_ticker, market_ticker
from kalshid.core.matching import MatchingBook, RestingOrder, book_price_of, book_side_of
from kalshid.core.units import ONE_DOLLAR_CC
from kalshid.core.vocab import Side
from kalshid.sim.accounts import Account
from kalshid.sim.lifecycle_ops import KEEP_FINALIZED, LifecycleOps
from kalshid.sim.model import (
    BookEvent,
    Event,
    ExchangeError,
    FillEvent,
    Market,
    Order,
    OrderEvent,
    OrderRequest,
    PositionEvent,
    TickerEvent,
    Trade,
    TradeEvent,
)
from kalshid.sim.model import Fill as FillRecord


def _quadratic_ceil_cc(rate: Fraction, terms: int) -> int:
    return order_fee_increment_cc(0, terms, rate=rate) if terms else 0


class Exchange(LifecycleOps):
    """All simulated markets and accounts. See the module docstring for the rules."""

    def __init__(
        self,
        *,
        seed: int = 0,
        settlement_timer_seconds: int = 60,
        fee_type: str = "quadratic",
        series: str = "KXSOL15M",
        keep_finalized: int = KEEP_FINALIZED,
    ) -> None:
        if keep_finalized < 1:
            raise ValueError(f"keep_finalized must be >= 1, got {keep_finalized}")
        self._rng = random.Random(seed)
        self.series = series
        self.fee_type = fee_type
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
                    total += held * (ONE_DOLLAR_CC if market.result == side else 0)
                else:
                    best = self.books[ticker].best_bid(side)  # type: ignore[arg-type]
                    total += held * (best[0] if best else 0)
        return total

    def conservation_gap_cc(self) -> int:
        """Σ cash + fees + $1 × open interest − deposits: zero unless money leaked."""
        cash = sum(a.cash_cc for a in self.accounts.values())
        pairs = sum(m.open_interest for m in self.markets.values())
        return cash + self.fees_collected_cc + pairs * ONE_DOLLAR_CC - self.deposits_cc

    # --- holds: what a resting order reserves --------------------------------------------

    def _maker_rate(self) -> Fraction | None:
        return MAKER_RATE if self.fee_type == "quadratic_with_maker_fees" else None

    def _reservation_cc(self, order: Order) -> int:
        if order.status != "resting" or order.action != "buy":
            return 0
        reserve = order.remaining_count * order.price_cc
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

    # --- order entry ----------------------------------------------------------------------

    def _check_tradable(self, ticker: str, now: float) -> Market:
        market = self.market(ticker)
        w = market.window
        if market.status != "active" or not w.open_time.timestamp() <= now < w.close_time.timestamp():
            raise ExchangeError(
                400,
                "market_closed",
                f"market {ticker} is {market.status}, not open for trading",
                field="ticker",
            )
        return market

    def _check_client_order_id(self, user_id: str, client_order_id: str | None) -> None:
        if client_order_id and (user_id, client_order_id) in self._client_ids:
            raise ExchangeError(
                409,
                "order_already_exists",
                f"client_order_id {client_order_id!r} was already used",
                field="client_order_id",
            )

    def _check_funds(
        self, user_id: str, ticker: str, side: str, action: str, count: int, price_cc: int
    ) -> None:
        acct = self.account(user_id)
        if action == "buy":
            acct.require_available(count * price_cc + taker_fee_cc(count, price_cc))
        else:
            acct.require_sellable(ticker, side, count)  # type: ignore[arg-type]

    def place_order(self, user_id: str, req: OrderRequest, now: float) -> Order:
        """Validate, match and (for GTC) rest an order. Returns the order's state after matching."""
        self._check_tradable(req.ticker, now)
        self._check_client_order_id(user_id, req.client_order_id)
        if req.expiration_ts is not None and req.expiration_ts <= now:
            raise ExchangeError(
                400,
                "invalid_expiration",
                f"expiration_time {req.expiration_ts} is not in the future",
                field="expiration_time",
            )
        if req.buy_max_cost_cc is not None and req.action != "buy":
            raise ExchangeError(
                400, "invalid_parameter", "buy_max_cost applies to buy orders only", field="buy_max_cost"
            )
        if req.reduce_only:
            self._check_reduce_only(user_id, req)
        self._check_funds(user_id, req.ticker, req.side, req.action, req.count, req.price_cc)
        book = self.books[req.ticker]
        bside, bprice = book_side_of(req.side, req.action), book_price_of(req.action, req.price_cc)
        if req.post_only and book.is_marketable(bside, bprice):
            raise ExchangeError(
                400, "post_only_cross", "post_only order would take liquidity", field="post_only"
            )
        order = Order(
            order_id=self.new_id(),
            user_id=user_id,
            client_order_id=req.client_order_id or "",
            ticker=req.ticker,
            side=req.side,
            action=req.action,
            order_type="market" if req.buy_max_cost_cc is not None else "limit",
            price_cc=req.price_cc,
            initial_count=req.count,
            fill_count=0,
            remaining_count=req.count,
            status="resting",
            created_ts=now,
            updated_ts=now,
            expiration_ts=req.expiration_ts,
            time_in_force=req.time_in_force,
            self_trade_prevention_type=req.self_trade_prevention_type,
            cancel_order_on_pause=req.cancel_order_on_pause,
        )
        if req.client_order_id:
            self._client_ids.add((user_id, req.client_order_id))
        fok = req.time_in_force == "fill_or_kill" or req.buy_max_cost_cc is not None
        if fok and not self._fok_fillable(order, req.buy_max_cost_cc):
            return self._store(None, attrs.evolve(order, status="canceled", remaining_count=0), now)
        order, stopped = self._match(order, now)
        if order.remaining_count and (stopped or fok or req.time_in_force == "immediate_or_cancel"):
            order = attrs.evolve(order, status="canceled", remaining_count=0, updated_ts=now)
        if order.status == "resting":
            self._events.extend(
                BookEvent(order.ticker, d, now, order.client_order_id or None, user_id)
                for d in book.add(order.order_id, user_id, bside, bprice, order.remaining_count)
            )
            self._dirty.add(order.ticker)
        return self._store(None, order, now)

    def _check_reduce_only(self, user_id: str, req: OrderRequest) -> None:
        pos = self.account(user_id).position(req.ticker)
        if req.action == "sell":
            allowed = pos.yes if req.side == "yes" else pos.no
        else:  # buying one side only reduces the net position while the other side is larger
            allowed = max(0, (pos.no - pos.yes) if req.side == "yes" else (pos.yes - pos.no))
        if req.count > allowed:
            raise ExchangeError(
                400,
                "reduce_only_violation",
                f"reduce_only order for {req.count} could increase the position "
                f"(at most {allowed} reduces it)",
                field="reduce_only",
            )

    def _walk(self, order: Order) -> list[tuple[RestingOrder, int]]:
        """The fills ``order`` would get now, honouring self-trade prevention; no mutation."""
        book = self.books[order.ticker]
        left, plan = order.remaining_count, []
        for maker in book.crossing(
            book_side_of(order.side, order.action), book_price_of(order.action, order.price_cc)
        ):
            if left == 0:
                break
            if maker.owner == order.user_id:
                if (order.self_trade_prevention_type or "taker_at_cross") == "maker":
                    continue
                break
            n = min(left, maker.remaining)
            plan.append((maker, n))
            left -= n
        return plan

    def _fok_fillable(self, order: Order, max_cost_cents: int | None) -> bool:
        plan = self._walk(order)
        if sum(n for _, n in plan) < order.remaining_count:
            return False
        if max_cost_cents is None:
            return True
        cost = sum(n * (ONE_DOLLAR_CC - m.price_cc) for m, n in plan)
        return cost <= max_cost_cents * 100

    def _match(self, order: Order, now: float) -> tuple[Order, bool]:
        """Trade ``order`` (not on the book) against the book; ``stopped`` if self-trade prevention cut it."""
        book = self.books[order.ticker]
        bside = book_side_of(order.side, order.action)
        for maker in book.crossing(bside, book_price_of(order.action, order.price_cc)):
            if order.remaining_count == 0:
                break
            if maker.owner == order.user_id:
                if (order.self_trade_prevention_type or "taker_at_cross") == "maker":
                    self._cancel_resting(self.orders[maker.order_id], now)
                    continue
                return order, True
            order = self._execute(order, maker, min(order.remaining_count, maker.remaining), now)
        return order, False

    def _execute(self, taker: Order, maker_rest: RestingOrder, n: int, now: float) -> Order:
        """One trade of ``n`` contracts at the maker's price; returns the taker's new state."""
        maker = self.orders[maker_rest.order_id]
        taker_book_price = ONE_DOLLAR_CC - maker_rest.price_cc
        taker_price = book_price_of(
            taker.action, taker_book_price
        )  # own-side price (the map is an involution)
        taker_bside = book_side_of(taker.side, taker.action)
        yes_price = taker_book_price if taker_bside == "yes" else maker_rest.price_cc
        trade = Trade(self.new_id(), taker.ticker, n, yes_price, taker_bside, now)
        self.trades.append(trade)
        self._events.append(TradeEvent(trade))
        self._events.extend(
            BookEvent(taker.ticker, d, now, maker.client_order_id or None, maker.user_id)
            for d in self.books[taker.ticker].reduce(maker.order_id, n)
        )
        new_maker, maker_closed = self._fill(maker, n, maker.price_cc, False, trade, now)
        self._store(maker, new_maker, now)
        new_taker, taker_closed = self._fill(taker, n, taker_price, True, trade, now)
        self._events.append(OrderEvent(new_taker))
        pairs = n - maker_closed - taker_closed  # YES/NO pairs created (both open) or redeemed (both close)
        market = self.markets[taker.ticker]
        self.markets[taker.ticker] = attrs.evolve(
            market,
            last_price_cc=yes_price,
            last_trade_size=n,
            volume=market.volume + n,
            traded_notional_cc=market.traded_notional_cc + n * yes_price,
            open_interest=market.open_interest + pairs,
            updated_ts=now,
        )
        self._dirty.add(taker.ticker)
        return new_taker

    def _fill(
        self, order: Order, n: int, price_cc: int, is_taker: bool, trade: Trade, now: float
    ) -> tuple[Order, int]:
        """Book one side of a trade: ``(order's new state, contracts this fill closed)``."""
        terms = fee_terms(n, price_cc)
        if is_taker:
            fee = order_fee_increment_cc(order.taker_fee_terms, terms, rate=TAKER_RATE)
        else:
            rate = self._maker_rate()
            fee = order_fee_increment_cc(order.maker_fee_terms, terms, rate=rate) if rate is not None else 0
        acct = self.accounts[order.user_id]
        pos, closed = acct.apply_fill(order.ticker, order.side, order.action, n, price_cc, fee, now)
        self.fees_collected_cc += fee
        remaining = order.remaining_count - n
        cost = n * price_cc
        new = attrs.evolve(
            order,
            fill_count=order.fill_count + n,
            remaining_count=remaining,
            status="executed" if remaining == 0 else order.status,
            updated_ts=now,
            taker_fill_cost_cc=order.taker_fill_cost_cc + (cost if is_taker else 0),
            maker_fill_cost_cc=order.maker_fill_cost_cc + (0 if is_taker else cost),
            taker_fees_cc=order.taker_fees_cc + (fee if is_taker else 0),
            maker_fees_cc=order.maker_fees_cc + (0 if is_taker else fee),
            taker_fee_terms=order.taker_fee_terms + (terms if is_taker else 0),
            maker_fee_terms=order.maker_fee_terms + (0 if is_taker else terms),
        )
        fill = FillRecord(
            fill_id=trade.trade_id,  # Kalshi: a fill's fill_id and trade_id are the same
            trade_id=trade.trade_id,
            order_id=order.order_id,
            user_id=order.user_id,
            client_order_id=order.client_order_id,
            ticker=order.ticker,
            side=order.side,
            action=order.action,
            count=n,
            price_cc=price_cc,
            is_taker=is_taker,
            fee_cc=fee,
            ts=now,
            post_position=pos.signed,
        )
        acct.fills.append(fill)
        self._events.append(FillEvent(fill))
        self._events.append(PositionEvent(pos))
        return new, closed

    # --- cancel, decrease, amend, expiry ---------------------------------------------------

    def _cancel_resting(self, order: Order, now: float) -> Order:
        self._events.extend(
            BookEvent(order.ticker, d, now, order.client_order_id or None, order.user_id)
            for d in self.books[order.ticker].remove(order.order_id)
        )
        self._dirty.add(order.ticker)
        return self._store(
            order, attrs.evolve(order, status="canceled", remaining_count=0, updated_ts=now), now
        )

    def cancel_order(self, user_id: str, order_id: str, now: float) -> tuple[Order, int]:
        """Cancel a resting order: ``(order, reduced_by)``; ``reduced_by`` is 0 if it no longer rested."""
        order = self.get_order(user_id, order_id)
        if order.status != "resting":
            return order, 0
        return self._cancel_resting(order, now), order.remaining_count

    def decrease_order(
        self,
        user_id: str,
        order_id: str,
        *,
        reduce_by: int | None = None,
        reduce_to: int | None = None,
        now: float,
    ) -> Order:
        """Shrink a resting order's remaining count, keeping its queue priority (0 left = cancel)."""
        order = self.get_order(user_id, order_id)
        if order.status != "resting":
            raise ExchangeError(400, "order_not_resting", f"order {order_id} is {order.status}")
        if (reduce_by is None) == (reduce_to is None):
            raise ExchangeError(
                400, "invalid_parameter", "give exactly one of reduce_by or reduce_to", field="reduce_by"
            )
        by = reduce_by if reduce_by is not None else order.remaining_count - (reduce_to or 0)
        if by <= 0 or by > order.remaining_count:
            raise ExchangeError(
                400,
                "invalid_parameter",
                f"cannot reduce {order.remaining_count} remaining contracts by {by}",
                field="reduce_by" if reduce_by is not None else "reduce_to",
            )
        if by == order.remaining_count:
            return self._cancel_resting(order, now)
        self._events.extend(
            BookEvent(order.ticker, d, now, order.client_order_id or None, user_id)
            for d in self.books[order.ticker].reduce(order_id, by)
        )
        self._dirty.add(order.ticker)
        new = attrs.evolve(order, remaining_count=order.remaining_count - by, updated_ts=now)
        return self._store(order, new, now)

    def amend_order(
        self,
        user_id: str,
        order_id: str,
        *,
        ticker: str,
        side: str,
        action: str,
        price_cc: int,
        count: int | None,
        updated_client_order_id: str | None,
        now: float,
        expiration: int | None = None,
    ) -> tuple[Order, Order]:
        """Change a resting order's price, max fillable count (filled + remaining) and/or expiry
        (``expiration``: ``None`` keeps it, ``0`` clears it, else a future Unix second).

        Keeps queue priority only when the price is unchanged and the size does not grow; otherwise
        the order goes to the back of the queue and may trade immediately. Returns ``(old, new)``."""
        old = self.get_order(user_id, order_id)
        if expiration is not None and expiration != 0 and expiration <= now:
            raise ExchangeError(
                400,
                "invalid_expiration",
                f"expiration_time {expiration} is not in the future",
                field="expiration_time",
            )
        expiry = old.expiration_ts if expiration is None else (expiration or None)
        for name, given, actual in (
            ("ticker", ticker, old.ticker),
            ("side", side, old.side),
            ("action", action, old.action),
        ):
            if given != actual:
                raise ExchangeError(
                    400,
                    "invalid_parameter",
                    f"{name} {given!r} does not match the order's {actual!r}",
                    field=name,
                )
        if old.status != "resting":
            raise ExchangeError(400, "order_not_resting", f"order {order_id} is {old.status}")
        self._check_tradable(ticker, now)
        total = count if count is not None else old.fill_count + old.remaining_count
        remaining = total - old.fill_count
        if remaining <= 0:
            raise ExchangeError(
                400,
                "invalid_parameter",
                f"count {total} does not exceed the {old.fill_count} already filled",
                field="count",
            )
        if updated_client_order_id and updated_client_order_id != old.client_order_id:
            self._check_client_order_id(user_id, updated_client_order_id)
        if price_cc == old.price_cc and remaining <= old.remaining_count:
            if remaining < old.remaining_count:
                self.decrease_order(user_id, order_id, reduce_to=remaining, now=now)
            new = attrs.evolve(
                self.orders[order_id],
                client_order_id=updated_client_order_id or old.client_order_id,
                initial_count=total,
                expiration_ts=expiry,
                updated_ts=now,
            )
            if updated_client_order_id:
                self._client_ids.add((user_id, updated_client_order_id))
            return old, self._store(self.orders[order_id], new, now)
        self._set_holds(old, None, now)  # release first so the new size is checked against free funds
        try:
            self._check_funds(user_id, ticker, side, action, remaining, price_cc)
        except ExchangeError:
            self._set_holds(None, old, now)
            raise
        if updated_client_order_id:
            self._client_ids.add((user_id, updated_client_order_id))
        book = self.books[ticker]
        self._events.extend(
            BookEvent(ticker, d, now, old.client_order_id or None, user_id) for d in book.remove(order_id)
        )
        moving = attrs.evolve(
            old,
            price_cc=price_cc,
            initial_count=total,
            remaining_count=remaining,
            client_order_id=updated_client_order_id or old.client_order_id,
            expiration_ts=expiry,
            updated_ts=now,
        )
        moving, stopped = self._match(moving, now)
        if moving.remaining_count and stopped:
            moving = attrs.evolve(moving, status="canceled", remaining_count=0)
        if moving.status == "resting":
            self._events.extend(
                BookEvent(ticker, d, now, moving.client_order_id or None, user_id)
                for d in book.add(
                    order_id,
                    user_id,
                    book_side_of(old.side, old.action),
                    book_price_of(old.action, price_cc),
                    moving.remaining_count,
                )
            )
        self._dirty.add(ticker)
        return old, self._store(None, moving, now)

    def cancel_all(self, user_id: str, now: float) -> list[Order]:
        """Cancel every resting order of ``user_id`` (the kill switch); returns the cancelled orders."""
        resting = [o for o in self.orders.values() if o.user_id == user_id and o.status == "resting"]
        return [self._cancel_resting(o, now) for o in resting]

    def expire_orders(self, now: float) -> int:
        """Cancel resting orders whose ``expiration_ts`` has passed; returns how many."""
        due = [
            o
            for o in self.orders.values()
            if o.status == "resting" and o.expiration_ts is not None and o.expiration_ts <= now
        ]
        for order in due:
            self._cancel_resting(order, now)
        return len(due)

    # --- lifecycle hooks used by LifecycleOps ----------------------------------------------

    def _new_market(self, window: Window, now: float) -> Market:
        ticker = market_ticker(window.close_time, self.series)
        market = Market(ticker, event_ticker(window.close_time, self.series), window, now, now)
        self.markets[ticker] = market
        self.books[ticker] = MatchingBook()
        return market
