"""Query/path parameter and body parsing for the REST API. Pure apart from the JSON it reads.

Every parser takes the raw string and the parameter's name and either returns a typed value or raises
`ApiError(422, ..., field=name)`. Unknown or repeated query parameters are refused too, so a typo
(``?tickr=...``) never silently returns unfiltered data.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from datetime import datetime
from typing import Any, Literal

import attrs

from kalshid.control.api import MAX_PAGE_LIMIT, ORDER_STATUSES, PNL_GROUPS
from kalshid.control.commands import CommandError, check_cursor, check_strategy_name, check_ticker
from kalshid.control.protocol import strict_json_loads
from kalshid.server.errors import ApiError

Parser = Callable[[str, str], Any]


def _from_command_check(check: Callable[[object, str], Any]) -> Parser:
    def parse(raw: str, field: str) -> Any:
        try:
            return check(raw, field)
        except CommandError as exc:
            raise ApiError(422, "invalid_parameter", exc.message, field) from None

    return parse


def parse_limit(raw: str, field: str) -> int:
    # ASCII digits only (str.isdigit takes full-width and superscript ones), bounded before int()
    if not (raw.isascii() and raw.isdigit()) or len(raw) > len(str(MAX_PAGE_LIMIT)) \
            or not 1 <= int(raw) <= MAX_PAGE_LIMIT:
        raise ApiError(
            422, "invalid_parameter", f"{field} must be an integer from 1 to {MAX_PAGE_LIMIT}", field
        )
    return int(raw)


def parse_time(raw: str, field: str) -> datetime:
    """An ISO-8601 timestamp with a timezone (``2024-10-01T12:00:00Z``)."""
    try:
        value = datetime.fromisoformat(raw)
    except ValueError:
        raise ApiError(
            422, "invalid_parameter", f"{field} must be an ISO-8601 time such as 2024-10-01T12:00:00Z", field
        ) from None
    if value.tzinfo is None:
        raise ApiError(422, "invalid_parameter", f"{field} must include a timezone, e.g. a trailing Z", field)
    return value


def one_of(choices: Sequence[str]) -> Parser:
    def parse(raw: str, field: str) -> str:
        if raw not in choices:
            raise ApiError(422, "invalid_parameter", f"{field} must be one of {', '.join(choices)}", field)
        return raw

    return parse


parse_ticker = _from_command_check(check_ticker)
parse_cursor = _from_command_check(check_cursor)
parse_strategy_name = _from_command_check(check_strategy_name)
parse_order_status = one_of(ORDER_STATUSES)
parse_pnl_group = one_of(PNL_GROUPS)


@attrs.frozen
class Param:
    """One documented parameter: where it lives, its OpenAPI schema, and its parser."""

    name: str
    location: Literal["query", "path"]
    parse: Parser
    schema: Mapping[str, Any]
    description: str
    required: bool = False


def parse_query(params: Sequence[Param], args: Any) -> dict[str, Any]:
    """Parse a request's query multidict against the route's declared query parameters."""
    declared = {p.name: p for p in params if p.location == "query"}
    out: dict[str, Any] = {}
    for key in args:
        if key not in declared:
            expected = ", ".join(declared) or "none"
            raise ApiError(
                422, "unknown_parameter", f"unknown query parameter {key!r} (expected: {expected})", key
            )
        values = args.getlist(key)
        if len(values) != 1:
            raise ApiError(422, "invalid_parameter", f"{key} may be given only once", key)
        out[key] = declared[key].parse(values[0], key)
    for p in declared.values():
        if p.required and p.name not in out:
            raise ApiError(422, "missing_parameter", f"query parameter {p.name!r} is required", p.name)
    return out


def parse_path(params: Sequence[Param], view_args: Mapping[str, str]) -> dict[str, Any]:
    return {p.name: p.parse(view_args[p.name], p.name) for p in params if p.location == "path"}


def parse_json_object(raw: bytes, field: str = "body") -> dict[str, Any]:
    """A request body that must be a JSON object: 400 if it is not JSON, 422 if it is not an object."""
    if not raw.strip():
        raise ApiError(400, "bad_request", "request body must be a JSON object", field)
    try:
        value = strict_json_loads(raw)
    except ValueError as exc:
        raise ApiError(400, "bad_json", f"request body is not valid JSON: {exc}", field) from None
    if not isinstance(value, dict):
        raise ApiError(422, "invalid", "request body must be a JSON object", field)
    return value
