"""Order entry on the simulated exchange: validation, matching, trades and the fills they book.

A new order is checked (market open, client order id unused, expiry, funds; a reduce-only order's
count is first capped at what reduces the position), matched against the book at the makers' prices
with self-trade prevention, and the remainder rests (GTC) or is cancelled (IOC, FoK, a self-trade
stop, the part of a reduce-only order over its cap). Each trade books one fill per side, moves cash and
contracts through :meth:`kalshid.sim.accounts.Account.apply_fill` and charges fees per order.
"""

from __future__ import annotations

import attrs

from kalshid.core.fees import fee_terms
from kalshid.core.matching import RestingOrder, book_price_of, book_side_of
from kalshid.core.netting import reduce_only_cap
from kalshid.core.units import ONE_DOLLAR_CC
from kalshid.sim.counts import fee_increment_cc, notional_cc, taker_fee_cc
from kalshid.sim.model import (
    BookEvent,
    ExchangeError,
    FillEvent,
    Market,
    Order,
    OrderEvent,
    OrderRequest,
    PositionEvent,
    Trade,
    TradeEvent,
)
from kalshid.sim.model import Fill as FillRecord
from kalshid.sim.state import ExchangeState


class OrderEntry(ExchangeState):
    """Placing and matching orders (see the module docstring)."""

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
            acct.require_available(notional_cc(count, price_cc) + taker_fee_cc(count, price_cc, self._taker_rate()))
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
            pos = self.account(user_id).position(req.ticker)
            count = min(req.count, reduce_only_cap(req.side, req.action, pos.yes, pos.no))
        else:
            count = req.count
        self._check_funds(user_id, req.ticker, req.side, req.action, count, req.price_cc)
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
            remaining_count=count,
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
        if count == 0:  # reduce_only with nothing to reduce: capped to nothing, cancelled at placement
            return self._store(None, attrs.evolve(order, status="canceled"), now)
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
        cost = sum(notional_cc(n, ONE_DOLLAR_CC - m.price_cc) for m, n in plan)
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
            traded_notional_cc=market.traded_notional_cc + notional_cc(n, yes_price),
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
            fee = fee_increment_cc(order.taker_fee_terms, terms, self._taker_rate())
        else:
            rate = self._maker_rate()
            fee = fee_increment_cc(order.maker_fee_terms, terms, rate) if rate is not None else 0
        acct = self.accounts[order.user_id]
        pos, closed = acct.apply_fill(order.ticker, order.side, order.action, n, price_cc, fee, now)
        self.fees_collected_cc += fee
        remaining = order.remaining_count - n
        cost = notional_cc(n, price_cc)
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

    def _cancel_resting(self, order: Order, now: float) -> Order:
        self._events.extend(
            BookEvent(order.ticker, d, now, order.client_order_id or None, order.user_id)
            for d in self.books[order.ticker].remove(order.order_id)
        )
        self._dirty.add(order.ticker)
        return self._store(
            order, attrs.evolve(order, status="canceled", remaining_count=0, updated_ts=now), now
        )
