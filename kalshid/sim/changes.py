"""Changes to resting orders on the simulated exchange: cancel, decrease, amend, cancel-all, expiry.

A decrease, or an amend that keeps the price and does not grow the order, keeps queue priority; any
other amend takes the order off the book and enters it again (it may trade at once). Holds move with
the order, so an account's reservations always match what it has resting.
"""

from __future__ import annotations

import attrs

from kalshid.core.matching import book_price_of, book_side_of
from kalshid.sim.counts import format_count
from kalshid.sim.entry import OrderEntry
from kalshid.sim.model import BookEvent, ExchangeError, Order


class OrderChanges(OrderEntry):
    """Cancelling, shrinking, amending and expiring resting orders (see the module docstring)."""

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
                f"cannot reduce {format_count(order.remaining_count)} remaining contracts by {format_count(by)}",
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
                f"count {format_count(total)} does not exceed the {format_count(old.fill_count)} already filled",
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

