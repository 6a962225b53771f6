"""Portfolio reads: balance, orders (and their queue positions), positions, fills, settlements.

All need a signed request. ``exchange_index`` filters accept shard 0 (everything) or name a shard
that holds nothing. Queue position = contracts resting ahead of the order at its price level on its
side of the book (price-time priority), the spec's "number of preceding shares".
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

from quart import request

from kalshid.sim import wire
from kalshid.sim.counts import format_count
from kalshid.sim.model import ExchangeError, Order, Position
from kalshid.sim.ratelimit import GET_ORDER_COST
from kalshid.sim.requests import bad, page, query_int, time_filter
from kalshid.sim.routing import Result, Router, user_id

T = TypeVar("T")


def _other_shard(args: Any) -> bool:
    """True when the query filters on a shard other than 0 (nothing lives there)."""
    return query_int(args, "exchange_index") not in (None, 0, -1)


def listing(
    key: str,
    items: list[T],
    args: Any,
    to_json: Callable[[T], wire.JSON],
    *,
    ts_of: Callable[[T], float] | None = None,
    extra: Callable[[list[T]], wire.JSON] | None = None,
) -> Result:
    """One page of a portfolio list: ``items`` (newest first) cut by the ``min_ts``/``max_ts`` bounds
    when ``ts_of`` is given, paged by ``limit``/``cursor``, as ``{key: [...], **extra(page), "cursor"}``."""
    if ts_of is not None:
        items = time_filter(items, args, ts_of)
    chunk, cursor = page(items, args)
    body: wire.JSON = {key: [to_json(i) for i in chunk]}
    if extra is not None:
        body.update(extra(chunk))
    body["cursor"] = cursor
    return body, 200


def queue_position(router: Router, order: Order) -> int:
    """Contracts ahead of ``order`` in its level's queue (raises 404 if it does not rest)."""
    book = router.venue.exchange.books.get(order.ticker)
    mine = book.get(order.order_id) if book is not None else None
    if book is None or mine is None:
        raise ExchangeError(
            404, "order_not_resting", f"order {order.order_id} is {order.status}, not in the book", field="order_id"
        )
    return sum(
        o.remaining
        for o in book.orders()
        if o.book_side == mine.book_side and o.price_cc == mine.price_cc and o.priority < mine.priority
    )


def register(router: Router) -> None:
    route, venue = router.route, router.venue
    ex = venue.exchange

    @route("/portfolio/balance", "GET", auth=True)
    async def balance(user: str | None, body: Any) -> Result:
        acct = ex.account(user_id(user))
        shard_empty = _other_shard(request.args)
        available = 0 if shard_empty else acct.available_cc
        value = 0 if shard_empty else ex.portfolio_value_cc(acct.user_id)
        return wire.balance_json(available, value, venue.now()), 200

    @route("/portfolio/orders", "GET", auth=True)
    async def list_orders(user: str | None, body: Any) -> Result:
        args = request.args
        items = sorted((o for o in ex.orders.values() if o.user_id == user), key=lambda o: o.created_ts, reverse=True)
        if _other_shard(args):
            items = []
        if ticker := args.get("ticker"):
            items = [o for o in items if o.ticker == ticker]
        if events := args.get("event_ticker"):
            wanted = set(events.split(","))
            if len(wanted) > 10:
                raise bad("event_ticker", f"{len(wanted)} event tickers; at most 10")
            items = [o for o in items if ex.markets[o.ticker].event_ticker in wanted]
        if status := args.get("status"):
            if status not in ("resting", "canceled", "executed"):
                raise bad("status", f"{status!r} is not one of resting, canceled, executed")
            items = [o for o in items if o.status == status]
        return listing("orders", items, args, wire.order_json, ts_of=lambda o: o.created_ts)

    @route("/portfolio/orders/queue_positions", "GET", auth=True)
    async def queue_positions(user: str | None, body: Any) -> Result:
        args = request.args
        tickers, event_ticker = args.get("market_tickers"), args.get("event_ticker")
        if not tickers and not event_ticker:
            raise bad("market_tickers", "give market_tickers or event_ticker")
        wanted = set(tickers.split(",")) if tickers else None
        resting = [o for o in ex.orders.values() if o.user_id == user and o.status == "resting"]
        if wanted is not None:
            resting = [o for o in resting if o.ticker in wanted]
        if event_ticker:
            resting = [o for o in resting if ex.markets[o.ticker].event_ticker == event_ticker]
        return {
            "queue_positions": [
                {
                    "order_id": o.order_id,
                    "market_ticker": o.ticker,
                    "queue_position_fp": format_count(queue_position(router, o)),
                }
                for o in sorted(resting, key=lambda o: o.created_ts)
            ]
        }, 200

    @route("/portfolio/orders/<order_id>", "GET", auth=True, tokens=GET_ORDER_COST)
    async def get_order(user: str | None, body: Any, order_id: str) -> Result:
        return {"order": wire.order_json(ex.get_order(user_id(user), order_id))}, 200

    @route("/portfolio/orders/<order_id>/queue_position", "GET", auth=True)
    async def order_queue_position(user: str | None, body: Any, order_id: str) -> Result:
        order = ex.get_order(user_id(user), order_id)
        return {"queue_position_fp": format_count(queue_position(router, order))}, 200

    @route("/portfolio/positions", "GET", auth=True)
    async def positions(user: str | None, body: Any) -> Result:
        args = request.args
        acct = ex.account(user_id(user))
        items = sorted(acct.positions.values(), key=lambda p: p.updated_ts, reverse=True)
        if _other_shard(args):
            items = []
        if ticker := args.get("ticker"):
            items = [p for p in items if p.ticker == ticker]
        if events := args.get("event_ticker"):
            wanted = set(events.split(","))
            items = [p for p in items if ex.markets[p.ticker].event_ticker in wanted]
        if count_filter := args.get("count_filter"):
            keep = set(count_filter.split(","))
            if not keep <= {"position", "total_traded"}:
                raise bad("count_filter", f"{count_filter!r}: allowed values are position, total_traded")
            items = [
                p
                for p in items
                if ("position" in keep and (p.yes or p.no)) or ("total_traded" in keep and p.total_traded_cc)
            ]

        def event_positions(chunk: list[Position]) -> wire.JSON:
            by_event: dict[str, list[Position]] = {}
            for p in chunk:
                by_event.setdefault(ex.markets[p.ticker].event_ticker, []).append(p)
            return {"event_positions": [wire.event_position_json(e, ps) for e, ps in by_event.items()]}

        return listing("market_positions", items, args, wire.position_json, extra=event_positions)

    @route("/portfolio/fills", "GET", auth=True)
    async def fills(user: str | None, body: Any) -> Result:
        args = request.args
        items = list(reversed(ex.account(user_id(user)).fills))
        if _other_shard(args):
            items = []
        if ticker := args.get("ticker"):
            wanted = set(ticker.split(","))
            items = [f for f in items if f.ticker in wanted]
        if order_id := args.get("order_id"):
            items = [f for f in items if f.order_id == order_id]
        return listing("fills", items, args, wire.fill_json, ts_of=lambda f: f.ts)

    @route("/portfolio/settlements", "GET", auth=True)
    async def settlements(user: str | None, body: Any) -> Result:
        args = request.args
        items = list(reversed(ex.account(user_id(user)).settlements))
        if ticker := args.get("ticker"):
            items = [s for s in items if s.ticker == ticker]
        if event_ticker := args.get("event_ticker"):
            items = [s for s in items if s.event_ticker == event_ticker]
        return listing("settlements", items, args, wire.settlement_json, ts_of=lambda s: s.settled_ts)
