"""Parsing and validating REST request bodies and query strings into typed requests.

Every failure is an :class:`~kalshid.sim.model.ExchangeError` with status 400, code
``invalid_parameter`` (or ``missing_parameter``) and a message naming the field and the value, so a
bad request never turns into a 500. Prices may come as legacy integer cents (``yes_price``,
``no_price``: 1–99) or dollar strings (``*_price_dollars``); exactly one *side* of price must be
given, and when both forms of it are given they must agree. Counts likewise (``count`` /
``count_fp``). Unknown keys are ignored, as Kalshi does (clients still send the removed ``type``).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, TypeVar, cast

from kalshid.core.matching import Action, Side
from kalshid.core.units import ONE_DOLLAR_CC, UnitError, dollars_to_cc, parse_count
from kalshid.sim.model import ExchangeError, OrderRequest, Stp, TimeInForce

T = TypeVar("T")
MAX_BATCH = 20
TICK_CC = 100  # linear_cent: $0.01 ticks


def bad(field: str, message: str) -> ExchangeError:
    return ExchangeError(400, "invalid_parameter", f"{field}: {message}", field=field)


def _body(raw: object) -> Mapping[str, Any]:
    if not isinstance(raw, dict):
        raise ExchangeError(400, "invalid_body", "request body must be a JSON object")
    return raw


def _choice(
    body: Mapping[str, Any], field: str, choices: tuple[str, ...], *, required: bool = True
) -> str | None:
    value = body.get(field)
    if value is None:
        if required:
            raise ExchangeError(
                400, "missing_parameter", f"{field} is required (one of {', '.join(choices)})", field=field
            )
        return None
    if value not in choices:
        raise bad(field, f"{value!r} is not one of {', '.join(choices)}")
    return str(value)


def _int(body: Mapping[str, Any], field: str, *, lo: int | None = None, hi: int | None = None) -> int | None:
    value = body.get(field)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int):
        raise bad(field, f"expected an integer, got {value!r}")
    if (lo is not None and value < lo) or (hi is not None and value > hi):
        raise bad(field, f"{value} is outside [{lo}, {hi}]")
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


def _count(body: Mapping[str, Any], int_field: str, fp_field: str, *, required: bool) -> int | None:
    legacy = _int(body, int_field, lo=1)
    fp = body.get(fp_field)
    parsed: int | None = None
    if fp is not None:
        if not isinstance(fp, str):
            raise bad(fp_field, f'expected a decimal string such as "10.00", got {fp!r}')
        try:
            parsed = parse_count(fp)
        except UnitError as exc:
            raise bad(fp_field, str(exc)) from None
        if parsed < 1:
            raise bad(fp_field, f"{fp!r} must be at least 1")
    if legacy is not None and parsed is not None and legacy != parsed:
        raise bad(fp_field, f"{fp!r} disagrees with {int_field}={legacy}")
    value = parsed if parsed is not None else legacy
    if value is None and required:
        raise ExchangeError(
            400, "missing_parameter", f"{int_field} or {fp_field} is required", field=int_field
        )
    return value


def _price_field(body: Mapping[str, Any], side: str) -> int | None:
    cents = _int(body, f"{side}_price", lo=1, hi=99)
    dollars = body.get(f"{side}_price_dollars")
    cc: int | None = None
    if dollars is not None:
        field = f"{side}_price_dollars"
        if not isinstance(dollars, str):
            raise bad(field, f'expected a dollar string such as "0.5600", got {dollars!r}')
        try:
            cc = dollars_to_cc(dollars)
        except UnitError as exc:
            raise bad(field, str(exc)) from None
        if not 0 < cc < ONE_DOLLAR_CC:
            raise bad(field, f"{dollars!r} is outside ($0, $1)")
        if cc % TICK_CC:
            raise bad(field, f"{dollars!r} is not on this market's $0.01 tick grid")
    if cents is not None and cc is not None and cents * 100 != cc:
        raise bad(f"{side}_price_dollars", f"{dollars!r} disagrees with {side}_price={cents}")
    return cc if cc is not None else (cents * 100 if cents is not None else None)


def parse_price(body: Mapping[str, Any], side: str) -> int:
    """The limit price in the order side's own terms (cc), from exactly one of the YES/NO price fields."""
    yes, no = _price_field(body, "yes"), _price_field(body, "no")
    if yes is not None and no is not None:
        raise bad("no_price", "give a yes price or a no price, not both")
    if yes is None and no is None:
        raise ExchangeError(
            400,
            "missing_parameter",
            "a price is required: one of yes_price, no_price, yes_price_dollars, no_price_dollars",
            field="yes_price",
        )
    if side == "yes":
        return yes if yes is not None else ONE_DOLLAR_CC - no  # type: ignore[operator]
    return no if no is not None else ONE_DOLLAR_CC - yes  # type: ignore[operator]


def parse_create_order(raw: object) -> OrderRequest:
    body = _body(raw)
    ticker = _str(body, "ticker")
    if ticker is None:
        raise ExchangeError(400, "missing_parameter", "ticker is required", field="ticker")
    side = _choice(body, "side", ("yes", "no"))
    action = _choice(body, "action", ("buy", "sell"))
    assert side is not None and action is not None
    count = _count(body, "count", "count_fp", required=True)
    assert count is not None
    tif = _choice(
        body, "time_in_force", ("fill_or_kill", "good_till_canceled", "immediate_or_cancel"), required=False
    )
    stp = _choice(body, "self_trade_prevention_type", ("taker_at_cross", "maker"), required=False)
    order_type = body.get("type")
    if order_type is not None and order_type not in ("limit", "market"):
        raise bad("type", f"{order_type!r} is not one of limit, market")
    max_cost = _int(body, "buy_max_cost", lo=1)
    if body.get("subaccount") not in (None, 0):
        raise bad("subaccount", "the simulator has only the primary account (0)")
    return OrderRequest(
        ticker=ticker,
        side=cast(Side, side),
        action=cast(Action, action),
        count=count,
        price_cc=parse_price(body, side),
        client_order_id=_str(body, "client_order_id"),
        time_in_force=cast(TimeInForce | None, tif),
        expiration_ts=_int(body, "expiration_ts", lo=0),
        buy_max_cost_cc=max_cost,
        post_only=_bool(body, "post_only"),
        reduce_only=_bool(body, "reduce_only"),
        self_trade_prevention_type=cast(Stp | None, stp),
        cancel_order_on_pause=_bool(body, "cancel_order_on_pause"),
    )


def parse_amend(raw: object) -> dict[str, Any]:
    """Keyword arguments for :meth:`Exchange.amend_order` (without user, order id and now)."""
    body = _body(raw)
    ticker = _str(body, "ticker")
    if ticker is None:
        raise ExchangeError(400, "missing_parameter", "ticker is required", field="ticker")
    side = _choice(body, "side", ("yes", "no"))
    action = _choice(body, "action", ("buy", "sell"))
    return {
        "ticker": ticker,
        "side": side,
        "action": action,
        "price_cc": parse_price(body, side or "yes"),
        "count": _count(body, "count", "count_fp", required=False),
        "updated_client_order_id": _str(body, "updated_client_order_id"),
    }


def parse_decrease(raw: object) -> dict[str, int | None]:
    body = _body(raw)
    by = _count(body, "reduce_by", "reduce_by_fp", required=False)
    to_legacy = _int(body, "reduce_to", lo=0)
    to_fp = body.get("reduce_to_fp")
    to: int | None = to_legacy
    if to_fp is not None:
        try:
            to = parse_count(to_fp) if isinstance(to_fp, str) else None
        except UnitError as exc:
            raise bad("reduce_to_fp", str(exc)) from None
        if to is None or (to_legacy is not None and to != to_legacy):
            raise bad("reduce_to_fp", f"{to_fp!r} is not a count string matching reduce_to")
    if (by is None) == (to is None):
        raise bad("reduce_by", "give exactly one of reduce_by(_fp) or reduce_to(_fp)")
    return {"reduce_by": by, "reduce_to": to}


def parse_batch(raw: object, key: str = "orders") -> list[Any]:
    body = _body(raw)
    items = body.get(key)
    if key == "orders" and items is None and "ids" in body:
        items = [{"order_id": i} for i in body["ids"]] if isinstance(body["ids"], list) else None
    if not isinstance(items, list) or not items:
        raise bad(key, "expected a non-empty array")
    if len(items) > MAX_BATCH:
        raise bad(key, f"{len(items)} items; a batch holds at most {MAX_BATCH}")
    return items


def query_limit(args: Mapping[str, str], *, default: int = 100, maximum: int = 1000) -> int:
    raw = args.get("limit")
    if raw is None or raw == "":
        return default
    try:
        value = int(raw)
    except ValueError:
        raise bad("limit", f"{raw!r} is not an integer") from None
    if not 1 <= value <= maximum:
        raise bad("limit", f"{value} is outside [1, {maximum}]")
    return value


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


def page(
    items: list[T], args: Mapping[str, str], *, default: int = 100, maximum: int = 1000
) -> tuple[list[T], str]:
    """One page of ``items`` and the next cursor (``""`` on the last page)."""
    limit = query_limit(args, default=default, maximum=maximum)
    start = query_cursor(args)
    chunk = items[start : start + limit]
    nxt = start + limit
    return chunk, (str(nxt) if nxt < len(items) else "")
