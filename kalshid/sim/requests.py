"""Parsing and validating V2 order request bodies and query strings into typed requests.

Every failure is an :class:`~kalshid.sim.model.ExchangeError` with status 400, code
``invalid_parameter`` (or ``missing_parameter``) and a message naming the field and the value, so a
bad request never turns into a 500.

V2 orders are quoted on one YES book: ``side`` is ``bid`` (buy YES at ``price``) or
``ask`` (sell YES at ``price`` ≡ buy NO at ``$1 − price``); ``price`` is a YES dollar string on the
market's $0.01 grid, ``count`` a count string with at most 2 decimals (0.01 granularity), kept in
hundredths of a contract (:mod:`kalshid.sim.counts`).
The engine books an order as (outcome side, buy) at its own-side price, so ``bid @p`` becomes
``(yes, buy, p)`` and ``ask @p`` becomes ``(no, buy, $1 − p)``; a NO buy against a held YES position nets
(see :mod:`kalshid.sim.accounts`). Fields of the retired V1 body (``action``, ``yes_price``, ``count_fp``,
``buy_max_cost``…) are refused by name, so a client still speaking V1 learns it at once.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from typing import Any, TypeVar, cast

import attrs

from kalshid.core.units import ONE_DOLLAR_CC, UnitError, dollars_to_cc
from kalshid.core.vocab import Action, Side, TimeInForce
from kalshid.sim.counts import CountError, format_count, parse_count
from kalshid.sim.model import ExchangeError, OrderRequest, Stp

T = TypeVar("T")
_PRICE = re.compile(r"[0-9]+\.[0-9]{2,4}", re.ASCII)
TICK_CC = 100  # linear_cent: $0.01 ticks
TIME_IN_FORCE = ("fill_or_kill", "good_till_canceled", "immediate_or_cancel")
STP = ("taker_at_cross", "maker")
V1_FIELDS = (
    "action",
    "yes_price",
    "no_price",
    "yes_price_dollars",
    "no_price_dollars",
    "count_fp",
    "buy_max_cost",
    "sell_position_floor",
    "expiration_ts",
    "type",
)


def bad(field: str, message: str) -> ExchangeError:
    return ExchangeError(400, "invalid_parameter", f"{field}: {message}", field=field)


def missing(field: str, what: str = "") -> ExchangeError:
    return ExchangeError(400, "missing_parameter", f"{field} is required{what}", field=field)


def _body(raw: object) -> Mapping[str, Any]:
    if not isinstance(raw, dict):
        raise ExchangeError(400, "invalid_body", "request body must be a JSON object")
    return raw


def _choice(body: Mapping[str, Any], field: str, choices: tuple[str, ...]) -> str:
    value = body.get(field)
    if value is None:
        raise missing(field, f" (one of {', '.join(choices)})")
    if value not in choices:
        raise bad(field, f"{value!r} is not one of {', '.join(choices)}")
    return str(value)


def _int(body: Mapping[str, Any], field: str, *, lo: int | None = None) -> int | None:
    value = body.get(field)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int):
        raise bad(field, f"expected an integer, got {value!r}")
    if lo is not None and value < lo:
        raise bad(field, f"{value} is below {lo}")
    return value


def _bool(body: Mapping[str, Any], field: str) -> bool:
    value = body.get(field, False)
    if value is None:
        return False
    if not isinstance(value, bool):
        raise bad(field, f"expected true or false, got {value!r}")
    return value


def _str(body: Mapping[str, Any], field: str) -> str | None:
    value = body.get(field)
    if value is None:
        return None
    if not isinstance(value, str) or not value:
        raise bad(field, f"expected a non-empty string, got {value!r}")
    return value


def parse_count_field(body: Mapping[str, Any], field: str, *, required: bool, minimum: int = 1) -> int | None:
    """A ``FixedPointCount`` string (``"10"``, ``"2.5"``, ``"0.01"``) in hundredths of a contract, at
    least ``minimum`` hundredths; a number that is not a string, a negative, non-numeric or
    zero count and a third decimal are each refused with a message naming the fault."""
    value = body.get(field)
    if value is None:
        if required:
            raise missing(field, ' (a count string such as "10.00")')
        return None
    if not isinstance(value, str):
        raise bad(field, f'expected a count string such as "10.00", got {value!r}')
    try:
        count = parse_count(value)
    except CountError as exc:
        raise bad(field, str(exc)) from None
    if count < minimum:
        raise bad(field, f"{value!r} must be at least {format_count(minimum)}")
    return count


def parse_yes_price(body: Mapping[str, Any], field: str = "price") -> int:
    """A YES ``FixedPointDollars`` string in ($0, $1) on the $0.01 grid, as centi-cents. Requests take
    2 to 4 decimal places (``"0.56"``, ``"0.5600"``; the spec's ``FixedPointDollars``): a plain decimal,
    so one decimal, five or more, an exponent, a sign or spaces are refused."""
    value = body.get(field)
    if value is None:
        raise missing(field, ' (a YES dollar string such as "0.5600")')
    if not isinstance(value, str):
        raise bad(field, f'expected a dollar string such as "0.5600", got {value!r}')
    if not _PRICE.fullmatch(value):
        raise bad(field, f'{value!r} is not a dollar string with 2 to 4 decimal places (such as "0.56" or "0.5600")')
    try:
        cc = dollars_to_cc(value)
    except UnitError as exc:
        raise bad(field, str(exc)) from None
    if not 0 < cc < ONE_DOLLAR_CC:
        raise bad(field, f"{value!r} is outside ($0, $1)")
    if cc % TICK_CC:
        raise bad(field, f"{value!r} is not on this market's $0.01 tick grid")
    return cc


def engine_terms(book_side: str, yes_price_cc: int) -> tuple[Side, int]:
    """(outcome side bought, own-side price) of a V2 order: ``bid`` buys YES, ``ask`` buys NO at 1 − p."""
    if book_side == "bid":
        return Side.YES, yes_price_cc
    return Side.NO, ONE_DOLLAR_CC - yes_price_cc


def check_shard(body: Mapping[str, Any], field: str = "exchange_index") -> None:
    """The simulator runs one shard (0); −1 asks for auto-routing, which lands there too."""
    shard = _int(body, field)
    if shard not in (None, 0, -1):
        raise bad(field, f"exchange shard {shard} does not exist (only 0)")


def _check_subaccount(body: Mapping[str, Any]) -> None:
    if body.get("subaccount") not in (None, 0):
        raise bad("subaccount", "the simulator has only the primary account (0)")


def parse_create_order(raw: object) -> OrderRequest:
    """A ``CreateOrderV2Request`` as an engine :class:`OrderRequest`."""
    body = _body(raw)
    legacy = [f for f in V1_FIELDS if f in body]
    if legacy:
        raise bad(legacy[0], "is a V1 order field; V2 orders take side bid|ask, a YES price string and count")
    ticker = _str(body, "ticker")
    if ticker is None:
        raise missing("ticker")
    book_side = _choice(body, "side", ("bid", "ask"))
    count = parse_count_field(body, "count", required=True)
    assert count is not None
    yes_price = parse_yes_price(body)
    tif = _choice(body, "time_in_force", TIME_IN_FORCE)
    stp = _choice(body, "self_trade_prevention_type", STP)
    expiration = _int(body, "expiration_time", lo=0)
    # The spec refuses only this pairing; a fill-or-kill with an expiry is accepted (it never rests).
    if expiration is not None and tif == "immediate_or_cancel":
        raise bad("expiration_time", "cannot be combined with time_in_force immediate_or_cancel")
    reduce_only = _bool(body, "reduce_only")
    if reduce_only and tif != "immediate_or_cancel":
        raise bad("reduce_only", f"reduce_only orders must be immediate_or_cancel, not {tif}")
    if body.get("order_group_id") is not None:
        raise bad("order_group_id", "order groups are not simulated")
    _check_subaccount(body)
    check_shard(body)
    side, price = engine_terms(book_side, yes_price)
    return OrderRequest(
        ticker=ticker,
        side=side,
        action=Action.BUY,
        count=count,
        price_cc=price,
        client_order_id=_str(body, "client_order_id"),
        time_in_force=cast(TimeInForce, tif),
        expiration_ts=expiration,
        post_only=_bool(body, "post_only"),
        reduce_only=reduce_only,
        self_trade_prevention_type=cast(Stp, stp),
        cancel_order_on_pause=_bool(body, "cancel_order_on_pause"),
    )


@attrs.frozen
class AmendRequest:
    """An ``AmendOrderV2Request``: ``count`` is the new total (already filled + desired remainder);
    ``expiration``: ``None`` keeps the expiry, ``0`` clears it, anything else replaces it."""

    ticker: str
    side: Side
    price_cc: int
    count: int
    client_order_id: str | None
    updated_client_order_id: str | None
    expiration: int | None


def parse_amend(raw: object) -> AmendRequest:
    body = _body(raw)
    ticker = _str(body, "ticker")
    if ticker is None:
        raise missing("ticker")
    book_side = _choice(body, "side", ("bid", "ask"))
    yes_price = parse_yes_price(body)
    count = parse_count_field(body, "count", required=True)
    assert count is not None
    check_shard(body)
    side, price = engine_terms(book_side, yes_price)
    return AmendRequest(
        ticker=ticker,
        side=side,
        price_cc=price,
        count=count,
        client_order_id=_str(body, "client_order_id"),
        updated_client_order_id=_str(body, "updated_client_order_id"),
        expiration=_int(body, "expiration_time", lo=0),
    )


def parse_decrease(raw: object) -> tuple[int | None, int | None, str | None]:
    """``(reduce_by, reduce_to, market_ticker)`` of a ``DecreaseOrderV2Request`` (exactly one reduce)."""
    body = _body(raw)
    by = parse_count_field(body, "reduce_by", required=False)
    to = parse_count_field(body, "reduce_to", required=False, minimum=0)
    if (by is None) == (to is None):
        raise bad("reduce_by", "give exactly one of reduce_by or reduce_to")
    check_shard(body)
    return by, to, _str(body, "market_ticker")


def parse_batch(raw: object, max_items: int) -> list[Any]:
    """The ``orders`` array of a batch body: non-empty, at most ``max_items`` (the write budget)."""
    body = _body(raw)
    items = body.get("orders")
    if not isinstance(items, list) or not items:
        raise bad("orders", "expected a non-empty array")
    if len(items) > max_items:
        raise bad("orders", f"{len(items)} items; this key's write budget allows at most {max_items} per batch")
    return items


def query_limit(args: Mapping[str, str], *, default: int = 100, maximum: int = 1000, minimum: int = 1) -> int:
    """The page size: ``limit`` within [``minimum``, ``maximum``] (the operation's bounds), else 400.
    Where the spec allows 0 (``GET /markets``, ``GET /markets/trades``: ``omitempty,gte=0``), 0 is
    the default, as an omitted limit."""
    raw = args.get("limit")
    if raw is None or raw == "":
        return default
    try:
        value = int(raw)
    except ValueError:
        raise bad("limit", f"{raw!r} is not an integer") from None
    if not minimum <= value <= maximum:
        raise bad("limit", f"{value} is outside [{minimum}, {maximum}]")
    return value or default


def query_cursor(args: Mapping[str, str]) -> int:
    """Cursors are opaque to clients; ours are decimal offsets."""
    raw = args.get("cursor") or "0"
    if not raw.isdigit():
        raise bad("cursor", f"{raw!r} is not a cursor this server issued")
    return int(raw)


def query_int(args: Mapping[str, str], field: str) -> int | None:
    raw = args.get(field)
    if raw is None or raw == "":
        return None
    try:
        return int(raw)
    except ValueError:
        raise bad(field, f"{raw!r} is not an integer") from None


def query_shard(args: Mapping[str, str]) -> None:
    """Reads filter by ``exchange_index``; only shard 0 exists (a filter for another one is refused)."""
    shard = query_int(args, "exchange_index")
    if shard not in (None, 0):
        raise bad("exchange_index", f"exchange shard {shard} does not exist (only 0)")


def page(
    items: list[T], args: Mapping[str, str], *, default: int = 100, maximum: int = 1000, minimum: int = 1
) -> tuple[list[T], str]:
    """One page of ``items`` and the next cursor (``""`` on the last page)."""
    limit = query_limit(args, default=default, maximum=maximum, minimum=minimum)
    start = query_cursor(args)
    chunk = items[start : start + limit]
    nxt = start + limit
    return chunk, (str(nxt) if nxt < len(items) else "")


def time_filter(items: list[T], args: Mapping[str, str], ts_of: Callable[[T], float]) -> list[T]:
    """``items`` whose time lies within the ``min_ts``/``max_ts`` query bounds (Unix seconds)."""
    lo, hi = query_int(args, "min_ts"), query_int(args, "max_ts")
    if lo is not None:
        items = [i for i in items if ts_of(i) >= lo]
    if hi is not None:
        items = [i for i in items if ts_of(i) <= hi]
    return items
