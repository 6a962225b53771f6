"""Order writes: the V2 routes under ``/portfolio/events/orders``, the retired V1 writes, account limits.

V2 (Kalshi's OpenAPI v3.31): create 201 and batch create 201 (per-order failures inside, in ``error``),
cancel 200 (``market_ticker`` routes it), amend 200, decrease 200, batch cancel 200, cancel-all 204.
Answers are the spec's flat objects, never an Order (an amend's counts only when it filled or
changed the resting size): fills so far (``fill_count``, ``remaining_count``
after any IOC/FoK cancel), ``average_fill_price`` (YES price) and ``average_fee_paid`` (per contract)
only when something filled, ``ts_ms`` the simulated matching time. Errors use only the codes each
route declares: a missing market is a 400 on create, a reused ``client_order_id`` 409 on create (a
400 on amend); an order that does not rest cannot be decreased or amended (400).

V1 writes (``POST|DELETE /portfolio/orders…``, amend, decrease, batched) answer 410
``deprecated_v1_order_endpoint`` with Kalshi's body, whoever asks; V1 reads stay.
"""

from __future__ import annotations

from decimal import ROUND_HALF_EVEN, Decimal
from typing import Any

from quart import request

from kalshid.core.units import ONE_DOLLAR_CC
from kalshid.sim.counts import CONTRACT, format_count, notional_cc
from kalshid.sim.model import ExchangeError, Order
from kalshid.sim.ratelimit import CANCEL_COST, DEFAULT_COST
from kalshid.sim.requests import (
    bad,
    parse_amend,
    parse_batch,
    parse_create_order,
    parse_decrease,
)
from kalshid.sim.routing import Result, Router, per_item_cost, user_id

V2 = "/portfolio/events/orders"
DEPRECATED_V1 = {
    "error": {
        "code": "deprecated_v1_order_endpoint",
        "message": "Please switch to the V2 endpoints",
        "details": "https://docs.kalshi.com/api-reference/orders/create-order-v2",
    }
}
V1_WRITES = (
    ("/portfolio/orders", "POST"),
    ("/portfolio/orders/batched", "POST"),
    ("/portfolio/orders/batched", "DELETE"),
    ("/portfolio/orders/<order_id>", "DELETE"),
    ("/portfolio/orders/<order_id>/amend", "POST"),
    ("/portfolio/orders/<order_id>/decrease", "POST"),
)
_AVG = Decimal("0.000001")


def avg_dollars(total_cc: int, count: int) -> str:
    """``total_cc`` per contract (``count`` in hundredths) as a dollar string with 4 to 6 decimals."""
    per_contract = Decimal(total_cc * CONTRACT) / Decimal(count * ONE_DOLLAR_CC)
    text = f"{per_contract.quantize(_AVG, rounding=ROUND_HALF_EVEN):f}"
    while len(text.rsplit(".", 1)[1]) > 4 and text.endswith("0"):
        text = text[:-1]
    return text


def fill_summary(before: Order | None, after: Order) -> dict[str, str]:
    """``fill_count`` and, when the request filled anything, its average YES price and fee per contract."""
    filled = after.fill_count - (before.fill_count if before else 0)
    cost = after.taker_fill_cost_cc - (before.taker_fill_cost_cc if before else 0)
    fees = after.taker_fees_cc - (before.taker_fees_cc if before else 0)
    out = {"fill_count": format_count(filled)}
    if filled:
        yes_cost = cost if after.side == "yes" else notional_cc(filled, ONE_DOLLAR_CC) - cost
        out["average_fill_price"] = avg_dollars(yes_cost, filled)
        out["average_fee_paid"] = avg_dollars(fees, filled)
    return out


def ts_ms(now: float) -> int:
    return round(now * 1000)


def create_json(order: Order, now: float) -> dict[str, Any]:
    body: dict[str, Any] = {"order_id": order.order_id}
    if order.client_order_id:
        body["client_order_id"] = order.client_order_id
    body.update(fill_summary(None, order))
    body["remaining_count"] = format_count(order.remaining_count)
    body["ts_ms"] = ts_ms(now)
    return body


def amend_json(old: Order, new: Order, now: float) -> dict[str, Any]:
    """``AmendOrderV2Response``: ``remaining_count`` and ``fill_count`` only when the amend filled or
    changed the resting size, the averages only when it filled; absent ones are null (the spec's
    ``nullable``, ``x-omitempty: false``). A price or expiry change alone answers with neither."""
    summary = fill_summary(old, new)
    changed = new.fill_count != old.fill_count or new.remaining_count != old.remaining_count
    out: dict[str, Any] = {"order_id": new.order_id}
    if new.client_order_id:
        out["client_order_id"] = new.client_order_id
    out.update(
        remaining_count=format_count(new.remaining_count) if changed else None,
        fill_count=summary["fill_count"] if changed else None,
        average_fill_price=summary.get("average_fill_price"),
        average_fee_paid=summary.get("average_fee_paid"),
        ts_ms=ts_ms(now),
    )
    return out


def error_item(exc: ExchangeError) -> dict[str, Any]:
    item: dict[str, Any] = {"code": exc.code, "message": exc.message}
    if exc.field:
        item["details"] = exc.field
    return item


def _with_status(exc: ExchangeError, status: int) -> ExchangeError:
    return ExchangeError(status, exc.code, exc.message, field=exc.field)


def register(router: Router) -> None:
    route, venue = router.route, router.venue
    ex = venue.exchange

    def place(user: str, raw: Any) -> Order:
        try:
            return ex.place_order(user, parse_create_order(raw), venue.now())
        except ExchangeError as exc:
            raise _with_status(exc, 400) if exc.status == 404 else exc from None

    def routed_order(user: str, order_id: Any, market_ticker: Any, shard: Any) -> Order:
        """The order a cancel or decrease names, as Kalshi's router finds it (404 when it cannot)."""
        if not isinstance(order_id, str) or not order_id:
            raise bad("order_id", f"expected an order id string, got {order_id!r}")
        if shard not in (None, 0, -1, "", "0", "-1"):
            raise ExchangeError(404, "order_not_found", f"order {order_id!r} not found on shard {shard}")
        order = ex.get_order(user, order_id)
        if market_ticker not in (None, "") and market_ticker != order.ticker:
            raise ExchangeError(404, "order_not_found", f"order {order_id!r} not found in {market_ticker}")
        return order

    def cancel_json(user: str, order: Order) -> dict[str, Any]:
        now = venue.now()
        cancelled, reduced = ex.cancel_order(user, order.order_id, now)
        body: dict[str, Any] = {"order_id": order.order_id}
        if cancelled.client_order_id:
            body["client_order_id"] = cancelled.client_order_id
        body.update(reduced_by=format_count(reduced), ts_ms=ts_ms(now))
        return body

    @route(V2, "POST", auth=True)
    async def create_order(user: str | None, body: Any) -> Result:
        return create_json(place(user_id(user), body), venue.now()), 201

    @route(V2, "DELETE", auth=True, tokens=CANCEL_COST)
    async def cancel_all(user: str | None, body: Any) -> Result:
        if request.args.get("subaccount") not in (None, "", "0"):
            return None, 204  # no other subaccount holds orders
        ex.cancel_all(user_id(user), venue.now())
        return None, 204

    @route(V2 + "/batched", "POST", auth=True, cost=per_item_cost(DEFAULT_COST))
    async def batch_create(user: str | None, body: Any) -> Result:
        results: list[dict[str, Any]] = []
        for item in parse_batch(body, venue.limiter.limits.bucket("write")[1] // DEFAULT_COST):
            coid = item.get("client_order_id") if isinstance(item, dict) else None
            try:
                results.append({**create_json(place(user_id(user), item), venue.now()), "error": None})
            except ExchangeError as exc:
                results.append(
                    {
                        "client_order_id": coid if isinstance(coid, str) else None,
                        "fill_count": None,
                        "remaining_count": None,
                        "average_fill_price": None,
                        "average_fee_paid": None,
                        "ts_ms": None,
                        "error": error_item(exc),
                    }
                )
        return {"orders": results}, 201

    @route(V2 + "/batched", "DELETE", auth=True, cost=per_item_cost(CANCEL_COST), tokens=CANCEL_COST)
    async def batch_cancel(user: str | None, body: Any) -> Result:
        results: list[dict[str, Any]] = []
        for item in parse_batch(body, venue.limiter.limits.bucket("write")[1] // CANCEL_COST):
            entry = item if isinstance(item, dict) else {}
            order_id = entry.get("order_id")
            try:
                order = routed_order(user_id(user), order_id, entry.get("market_ticker"), entry.get("exchange_index"))
                results.append({**cancel_json(user_id(user), order), "error": None})
            except ExchangeError as exc:
                results.append(
                    {"order_id": str(order_id), "reduced_by": "0.00", "ts_ms": None, "error": error_item(exc)}
                )
        return {"orders": results}, 200

    @route(V2 + "/<order_id>", "DELETE", auth=True, tokens=CANCEL_COST)
    async def cancel_order(user: str | None, body: Any, order_id: str) -> Result:
        args = request.args
        if args.get("subaccount") not in (None, "", "0"):
            raise ExchangeError(404, "order_not_found", f"order {order_id!r} not found in that subaccount")
        order = routed_order(user_id(user), order_id, args.get("market_ticker"), args.get("exchange_index"))
        return cancel_json(user_id(user), order), 200

    @route(V2 + "/<order_id>/amend", "POST", auth=True)
    async def amend_order(user: str | None, body: Any, order_id: str) -> Result:
        req = parse_amend(body)
        old = ex.get_order(user_id(user), order_id)
        if req.client_order_id is not None and req.client_order_id != old.client_order_id:
            raise bad("client_order_id", f"{req.client_order_id!r} is not this order's client_order_id")
        now = venue.now()
        try:
            old, new = ex.amend_order(
                user_id(user),
                order_id,
                ticker=req.ticker,
                side=req.side,
                action="buy",
                price_cc=req.price_cc,
                count=req.count,
                updated_client_order_id=req.updated_client_order_id,
                now=now,
                expiration=req.expiration,
            )
        except ExchangeError as exc:
            raise _with_status(exc, 400) if exc.status == 409 else exc from None
        return amend_json(old, new, now), 200

    @route(V2 + "/<order_id>/decrease", "POST", auth=True)
    async def decrease_order(user: str | None, body: Any, order_id: str) -> Result:
        by, to, market_ticker = parse_decrease(body)
        order = routed_order(user_id(user), order_id, market_ticker, None)
        now = venue.now()
        new = ex.decrease_order(user_id(user), order.order_id, reduce_by=by, reduce_to=to, now=now)
        out: dict[str, Any] = {"order_id": order_id}
        if new.client_order_id:
            out["client_order_id"] = new.client_order_id
        out.update(remaining_count=format_count(new.remaining_count), ts_ms=ts_ms(now))
        return out, 200

    for path, method in V1_WRITES:
        _deprecated(router, path, method)

    @route("/account/limits", "GET", auth=True)
    async def account_limits(user: str | None, body: Any) -> Result:
        limits = venue.limiter.limits
        tier = "basic" if limits.read_per_s == 200 and limits.write_per_s == 100 else "prestige"
        read, write = limits.bucket("read"), limits.bucket("write")
        return {
            "usage_tier": tier,
            "read": {"refill_rate": read[0], "bucket_capacity": read[1]},
            "write": {"refill_rate": write[0], "bucket_capacity": write[1]},
            "grants": [],
        }, 200

    @route("/account/endpoint_costs", "GET")
    async def endpoint_costs(user: str | None, body: Any) -> Result:
        return {
            "default_cost": DEFAULT_COST,
            "endpoint_costs": [{"method": m, "path": p, "cost": c} for m, p, c in router.endpoint_costs],
        }, 200


def _deprecated(router: Router, path: str, method: str) -> None:
    async def retired(user: str | None, body: Any, **_: Any) -> Result:
        return DEPRECATED_V1, 410

    retired.__name__ = "v1_" + path.strip("/").replace("/", "_").replace("<", "").replace(">", "")
    router.route(path, method, tokens=DEFAULT_COST)(retired)
