"""Kalshi's order-entry wire shapes (the V2 routes under ``/portfolio/events/orders``, Trade API v3.31).

Every order write goes to one YES-quoted book: ``side`` is ``bid`` (buy YES) or ``ask`` (sell YES, the
same trade as buying NO at 1 − p), ``price`` is the YES price as a dollar string, ``count`` a count
string. The daemon's (side, action, price of that side) converts here and only here:

=============  ===============
ours           on the wire
=============  ===============
buy YES @ p    ``bid`` @ p
sell YES @ p   ``ask`` @ p
buy NO @ q     ``ask`` @ 1 − q
sell NO @ q    ``bid`` @ 1 − q
=============  ===============

``time_in_force``, ``self_trade_prevention_type`` and ``client_order_id`` are always sent. Answers are
flat objects, not Orders: :func:`order_from_create` builds the daemon's view of a placed order from the
request and the answer, and a 2xx answer without an ``order_id`` is not a placed order (``None``).
An answer that cannot be read leaves the outcome unknown: :class:`OrderInFlight` for a create,
:class:`CancelInFlight` for a change to an existing order.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from datetime import datetime
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

import attrs

from kalshid.core import wire as w
from kalshid.core.units import format_count, format_dollars
from kalshid.exchange.errors import CancelInFlight, ExchangeError, OrderInFlight, ProtocolError, error_from_response
from kalshid.exchange.kalshi.wire.fields import Obj, counts, opt, string
from kalshid.exchange.types import AmendRequest, Order, OrderChange, OrderRequest, OrderStatus

ORDERS_V2_PATH = "/portfolio/events/orders"
BATCH_V2_PATH = ORDERS_V2_PATH + "/batched"
ORDER_TEMPLATE = ORDERS_V2_PATH + "/{order_id}"


# as httpx encodes json= bodies; one encoder for every order (json.dumps with options builds one per call)
_JSON = json.JSONEncoder(ensure_ascii=False, separators=(",", ":"), allow_nan=False)


def body_bytes(body: Mapping[str, Any]) -> bytes:
    """A request body as the bytes httpx would send for ``json=body``."""
    return _JSON.encode(body).encode()


def order_path(order_id: str) -> str:
    return f"{ORDERS_V2_PATH}/{order_id}"


def encode_create(req: OrderRequest) -> dict[str, Any]:
    """The ``CreateOrderV2Request`` body for ``req``. Optional fields are omitted rather than null."""
    body: dict[str, Any] = {
        "ticker": req.ticker, "client_order_id": req.client_order_id, "side": req.book_side,
        "count": format_count(req.count), "price": format_dollars(req.yes_price_cc),
        "time_in_force": req.tif, "self_trade_prevention_type": req.self_trade_prevention,
    }
    if req.post_only:
        body["post_only"] = True
    if req.reduce_only:
        body["reduce_only"] = True
    if req.expiration_ts is not None:
        body["expiration_time"] = req.expiration_ts
    if req.cancel_order_on_pause is not None:
        body["cancel_order_on_pause"] = req.cancel_order_on_pause
    return body


def encode_amend(amend: AmendRequest) -> dict[str, Any]:
    req = amend.request
    if amend.total_count <= 0:
        raise ValueError(f"amend count must be positive, got {amend.total_count}")
    body: dict[str, Any] = {"ticker": req.ticker, "side": req.book_side,
                            "price": format_dollars(req.yes_price_cc), "count": format_count(amend.total_count),
                            "client_order_id": req.client_order_id}
    if amend.updated_client_order_id:
        body["updated_client_order_id"] = amend.updated_client_order_id
    return body


def encode_decrease(*, ticker: str, reduce_by: int | None = None, reduce_to: int | None = None) -> dict[str, Any]:
    """``DecreaseOrderV2Request``: exactly one of ``reduce_by`` (> 0) / ``reduce_to`` (≥ 0), with the
    market ticker so the exchange routes it to the order's shard."""
    if (reduce_by is None) == (reduce_to is None):
        raise ValueError("decrease: give exactly one of reduce_by / reduce_to")
    if reduce_by is not None and reduce_by <= 0:
        raise ValueError(f"reduce_by must be positive, got {reduce_by}")
    if reduce_to is not None and reduce_to < 0:
        raise ValueError(f"reduce_to must not be negative, got {reduce_to}")
    body: dict[str, Any] = {"market_ticker": ticker}
    if reduce_by is not None:
        body["reduce_by"] = format_count(reduce_by)
    else:
        assert reduce_to is not None
        body["reduce_to"] = format_count(reduce_to)
    return body


def encode_batch_create(requests: Sequence[OrderRequest]) -> dict[str, Any]:
    return {"orders": [encode_create(r) for r in requests]}


def encode_batch_cancel(orders: Sequence[tuple[str, str]]) -> dict[str, Any]:
    """``BatchCancelOrdersV2Request`` for ``(order_id, market_ticker)`` pairs."""
    return {"orders": [{"order_id": oid, "market_ticker": ticker} for oid, ticker in orders]}


# ------------------------------------------------------------------ answers


@attrs.frozen
class OrderAck:
    """The flat answer to a create, amend, decrease or cancel. ``order_id`` None: no order was placed.
    Counts are None when the answer did not say; ``average_fee_cc`` is per contract."""

    order_id: str | None
    client_order_id: str | None
    fill_count: int | None = None
    remaining_count: int | None = None
    reduced_by: int | None = None
    average_fill_price_cc: Decimal | None = None
    average_fee_cc: Decimal | None = None
    ts: datetime | None = None


def _cc_decimal(v: object, where: str) -> Decimal:
    """A dollar string as exact (possibly fractional) centi-cents: averages need not sit on a tick."""
    return w.decimal(v, where) * 10_000


def parse_ack(body: Any, ctx: str) -> OrderAck:
    """Any V2 write answer (create, amend, decrease, cancel, a batch item). Raises
    :class:`ProtocolError` if it is not an object or a present field is malformed."""
    if not isinstance(body, Mapping):
        raise ProtocolError(f"{ctx}: expected an object, got {type(body).__name__}")
    oid = body.get("order_id")
    return OrderAck(
        order_id=oid if isinstance(oid, str) and oid else None,
        client_order_id=opt(body, "client_order_id", ctx, string),
        fill_count=counts(body, "fill_count", None, ctx, required=False),
        remaining_count=counts(body, "remaining_count", None, ctx, required=False),
        reduced_by=counts(body, "reduced_by", None, ctx, required=False),
        average_fill_price_cc=opt(body, "average_fill_price", ctx, _cc_decimal),
        average_fee_cc=opt(body, "average_fee_paid", ctx, _cc_decimal),
        ts=opt(body, "ts_ms", ctx, w.timestamp),
    )


def require_counts(ack: OrderAck, ctx: str, *names: str) -> None:
    for name in names:
        if getattr(ack, name) is None:
            raise ProtocolError(f"{ctx}: missing field {name!r}")


def order_from_create(req: OrderRequest, ack: OrderAck) -> Order | None:
    """The daemon's view of the order ``req`` made, from the create answer: resting while some of it
    rests, executed when all filled, else canceled (the IOC/FOK remainder, a post-only cross). Fees
    are the per-contract average times the fills (the fills themselves carry the exact fee). ``None``
    when the answer names no ``order_id``: not a placed order (resolve it by ``client_order_id``)."""
    if ack.order_id is None:
        return None
    require_counts(ack, "create order response", "fill_count", "remaining_count")
    filled, remaining = ack.fill_count or 0, ack.remaining_count or 0
    status: OrderStatus = "resting" if remaining > 0 else "executed" if filled >= req.count else "canceled"
    fees = 0
    if ack.average_fee_cc is not None and filled:
        fees = int((ack.average_fee_cc * filled).to_integral_value(ROUND_HALF_UP))
    yes = req.yes_price_cc
    return Order(order_id=ack.order_id, client_order_id=ack.client_order_id or req.client_order_id,
                 ticker=req.ticker, side=req.side, action=req.action, book_side=req.book_side, status=status,
                 yes_price_cc=yes, no_price_cc=10_000 - yes, fill_count=filled, remaining_count=remaining,
                 initial_count=req.count, taker_fees_cc=fees, created_time=ack.ts, last_update_time=ack.ts,
                 type="limit")


def batch_items(body: Any, ctx: str) -> list[Obj]:
    """The ``orders`` list of a batch answer."""
    items = body.get("orders") if isinstance(body, Mapping) else None
    if not isinstance(items, list) or not all(isinstance(i, Mapping) for i in items):
        raise ProtocolError(f"{ctx}: expected an 'orders' list of objects")
    return items


def is_not_found(code: str) -> bool:
    """Whether a batch item's error ``code`` says the order is not there. Kalshi publishes no list of
    codes; both ``not_found`` and the ``<thing>_not_found`` form (``order_not_found``) are read so."""
    return code == "not_found" or code.endswith("_not_found")


def item_error(item: Obj, ctx: str) -> tuple[str, str] | None:
    """A batch item's ``error`` as (code, message), or None when it succeeded."""
    err = item.get("error")
    if err in (None, {}):
        return None
    if not isinstance(err, Mapping):
        return "unknown", str(err)
    return str(err.get("code") or "unknown"), str(err.get("message") or "")


def order_change(order_id: str, body: Any, ctx: str, *required: str) -> OrderChange:
    """An amend or decrease answer as an :class:`OrderChange`; ``required`` counts must be present.
    An unreadable answer leaves the change's outcome unknown: :class:`CancelInFlight`."""
    try:
        ack = parse_ack(body, ctx)
        require_counts(ack, ctx, *required)
    except ProtocolError as exc:
        raise CancelInFlight(order_id, exc) from exc
    return OrderChange(order_id=ack.order_id or order_id, client_order_id=ack.client_order_id,
                       remaining_count=ack.remaining_count, fill_count=ack.fill_count, ts=ack.ts)


def batch_create_results(chunk: Sequence[OrderRequest], items: list[Obj]) -> list[Order | ExchangeError]:
    """One result per request of a batch create, matched by ``client_order_id`` (else by position):
    the placed order, the item's error, or :class:`OrderInFlight` when the item does not say."""
    by_cid = {str(i.get("client_order_id")): i for i in items if i.get("client_order_id")}
    return [_create_item(req, by_cid.get(req.client_order_id) or (items[n] if n < len(items) else None))
            for n, req in enumerate(chunk)]


def _create_item(req: OrderRequest, item: Obj | None) -> Order | ExchangeError:
    if item is None:
        return OrderInFlight(req.client_order_id, req.ticker, "batch answer has no item for it")
    failed = item_error(item, "batch create item")
    if failed is not None:
        # a duplicate client_order_id (``order_already_exists``, a 409 on its own) may name an order an
        # earlier attempt placed: a Conflict, as the single create's, never a plain refusal
        status = 409 if failed[0].endswith("already_exists") else 400
        return error_from_response(status, {"error": {"code": failed[0], "message": failed[1]}})
    try:
        order = order_from_create(req, parse_ack(item, "batch create item"))
    except ProtocolError as exc:
        return OrderInFlight(req.client_order_id, req.ticker, exc)
    return order if order is not None else OrderInFlight(req.client_order_id, req.ticker,
                                                         "batch item without an order_id")


def batch_cancel_result(order_id: str, item: Obj | None) -> int | ExchangeError:
    """A batch cancel item: the contracts it removed, its error (:class:`NotFound` when it names an
    order that is not there), or :class:`CancelInFlight` when it cannot be read or the answer has no
    item for the order (the cancel may have been done)."""
    if item is None:
        return CancelInFlight(order_id, "batch cancel answer has no item for it")
    failed = item_error(item, "batch cancel item")
    if failed is not None:
        return error_from_response(404 if is_not_found(failed[0]) else 400,
                                   {"error": {"code": failed[0], "message": failed[1]}})
    try:
        ack = parse_ack(item, "batch cancel item")
    except ProtocolError as exc:
        return CancelInFlight(order_id, exc)
    return ack.reduced_by or 0
