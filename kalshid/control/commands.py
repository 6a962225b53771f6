"""The command table shared by the WebSocket API and the local control socket.

A command is a name plus a JSON object of arguments. `parse_command` validates both against `COMMANDS`
(pure; raises `CommandError` naming the bad field) and `execute` runs a validated command against a
`DaemonControl`. Each surface restricts which names it accepts (`WS_COMMANDS`, `SOCKET_COMMANDS`), so
the read-only queries stay off the WebSocket (which has REST for them) but are available to
``kalshid ctl``.
"""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable, Mapping
from typing import Any, Final

import attrs

from kalshid.control.api import (
    JSON,
    MAX_PAGE_LIMIT,
    ORDER_STATUSES,
    PNL_GROUPS,
    ControlError,
    DaemonControl,
    OrderQuery,
    TradeQuery,
)
from kalshid.control.decisions import tracker_for

STRATEGY_NAME_RE: Final = re.compile(r"^[A-Za-z0-9_.-]{1,64}$")
_TICKER_RE: Final = re.compile(r"^[A-Z0-9_.-]{1,64}$")
_MAX_CURSOR_LEN: Final = 256


class CommandError(Exception):
    """A malformed request: bad JSON, unknown command, missing or invalid argument.

    ``code`` is one of ``bad_request``, ``unknown_command``, ``missing_argument``, ``invalid_argument``;
    ``field`` names the offending key when there is one. ``request_id`` is the id of the request that
    failed, when it could be read, so a reply can echo it.
    """

    def __init__(self, code: str, message: str, field: str | None = None) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.field = field
        self.request_id: Any = None

    def to_json(self) -> JSON:
        out: JSON = {"code": self.code, "message": self.message}
        if self.field is not None:
            out["field"] = self.field
        return out


def check_strategy_name(value: object, field: str = "name") -> str:
    """A strategy name (letters, digits, ``_.-``, 1–64 chars) or CommandError naming ``field``."""
    if not isinstance(value, str) or not STRATEGY_NAME_RE.match(value):
        raise CommandError(
            "invalid_argument", f"{field} must be 1-64 characters of letters, digits, '_', '.', '-'", field
        )
    return value


def check_ticker(value: object, field: str = "ticker") -> str:
    if not isinstance(value, str) or not _TICKER_RE.match(value):
        raise CommandError("invalid_argument", f"{field} must be an upper-case market ticker", field)
    return value


def check_cursor(value: object, field: str = "cursor") -> str:
    if not isinstance(value, str) or not 0 < len(value) <= _MAX_CURSOR_LEN or not value.isprintable():
        raise CommandError("invalid_argument", f"{field} must be a cursor returned by a previous page", field)
    return value


def check_limit(value: object, field: str = "limit") -> int:
    # bool is an int subclass; true is not a page size.
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= MAX_PAGE_LIMIT:
        raise CommandError(
            "invalid_argument", f"{field} must be an integer from 1 to {MAX_PAGE_LIMIT}", field
        )
    return value


def check_order_status(value: object, field: str = "status") -> str:
    if value not in ORDER_STATUSES:
        raise CommandError("invalid_argument", f"{field} must be one of {', '.join(ORDER_STATUSES)}", field)
    assert isinstance(value, str)
    return value


def check_pnl_group(value: object, field: str = "group_by") -> str:
    if value not in PNL_GROUPS:
        raise CommandError("invalid_argument", f"{field} must be one of {', '.join(PNL_GROUPS)}", field)
    assert isinstance(value, str)
    return value


ArgCheck = Callable[[object, str], object]


@attrs.frozen
class CommandSpec:
    """A command's arguments (required and optional, each with its validator) and how to run it."""

    run: Callable[[DaemonControl, Mapping[str, Any]], Awaitable[Any]]
    required: Mapping[str, ArgCheck] = attrs.field(factory=dict)
    optional: Mapping[str, ArgCheck] = attrs.field(factory=dict)
    summary: str = ""


@attrs.frozen
class Command:
    """A validated command: a known name and arguments that passed their checks."""

    name: str
    args: Mapping[str, Any]


async def _orders(control: DaemonControl, args: Mapping[str, Any]) -> Any:
    return await control.orders(
        OrderQuery(
            status=args.get("status"),
            ticker=args.get("ticker"),
            cursor=args.get("cursor"),
            limit=args.get("limit", 50),
        )
    )


async def _trades(control: DaemonControl, args: Mapping[str, Any]) -> Any:
    return await control.trades(
        TradeQuery(
            ticker=args.get("ticker"),
            strategy=args.get("strategy"),
            cursor=args.get("cursor"),
            limit=args.get("limit", 50),
        )
    )


async def _decisions(control: DaemonControl, args: Mapping[str, Any]) -> Any:
    tracker = tracker_for(control)
    if tracker is None:
        raise ControlError(None, "decisions are tracked by the API server, which is not running", code="conflict")
    return tracker.snapshot()


_NAME: Final[Mapping[str, ArgCheck]] = {"name": check_strategy_name}

COMMANDS: Final[Mapping[str, CommandSpec]] = {
    "status": CommandSpec(lambda c, a: c.status(), summary="daemon state, mode, market, equity, breaker"),
    "positions": CommandSpec(lambda c, a: c.positions(), summary="open positions"),
    "orders": CommandSpec(
        _orders,
        optional={
            "status": check_order_status,
            "ticker": check_ticker,
            "cursor": check_cursor,
            "limit": check_limit,
        },
        summary="recent orders",
    ),
    "strategies": CommandSpec(lambda c, a: c.strategies(), summary="strategies and their parameters"),
    "pnl": CommandSpec(
        lambda c, a: c.pnl(a.get("group_by", "day")),
        optional={"group_by": check_pnl_group},
        summary="realised P&L by day, strategy or window",
    ),
    "trades": CommandSpec(
        _trades,
        optional={
            "ticker": check_ticker,
            "strategy": check_strategy_name,
            "cursor": check_cursor,
            "limit": check_limit,
        },
        summary="fills, newest first",
    ),
    "risk": CommandSpec(lambda c, a: c.risk(), summary="risk limits, usage and breaker"),
    "markets": CommandSpec(lambda c, a: c.markets(), summary="current and next window"),
    "decisions": CommandSpec(_decisions, summary="last signal and risk verdict per strategy"),
    "start": CommandSpec(lambda c, a: c.start(), summary="resume trading"),
    "stop": CommandSpec(lambda c, a: c.stop(), summary="stop trading and cancel resting orders"),
    "stop_entry": CommandSpec(lambda c, a: c.stop_entry(), summary="no new entries; exits continue"),
    "cancel_all": CommandSpec(lambda c, a: c.cancel_all(),
                              summary="kill switch: cancel every resting order now, none placed for 60 s"),
    "reset_breaker": CommandSpec(lambda c, a: c.reset_breaker(), summary="clear a tripped circuit breaker"),
    "enable_strategy": CommandSpec(
        lambda c, a: c.enable_strategy(a["name"]), required=_NAME, summary="enable a strategy"
    ),
    "disable_strategy": CommandSpec(
        lambda c, a: c.disable_strategy(a["name"]), required=_NAME, summary="disable a strategy"
    ),
    "reload": CommandSpec(lambda c, a: c.reload(), summary="re-read the configuration file"),
}

# Alternative spellings accepted on the wire (the WebSocket API's documented name for the breaker reset).
ALIASES: Final[Mapping[str, str]] = {"reset_circuit_breaker": "reset_breaker"}

WS_COMMANDS: Final = frozenset(
    {"start", "stop", "stop_entry", "enable_strategy", "disable_strategy", "reset_circuit_breaker"}
)
SOCKET_COMMANDS: Final = frozenset(COMMANDS)
MUTATING: Final = frozenset(
    {"start", "stop", "stop_entry", "cancel_all", "reset_breaker", "enable_strategy", "disable_strategy", "reload"}
)


def parse_command(name: object, args: object, allowed: frozenset[str]) -> Command:
    """Validate a command name (from ``allowed``) and its ``args`` object; pure.

    ``args`` may be None (no arguments). Unknown argument keys are refused, naming the key, so a typo
    never silently does nothing.
    """
    if not isinstance(name, str):
        raise CommandError("bad_request", "command must be a string", "command")
    if name not in allowed:
        raise CommandError(
            "unknown_command",
            f"unknown command {name!r}; expected one of {', '.join(sorted(allowed))}",
            "command",
        )
    canonical = ALIASES.get(name, name)
    spec = COMMANDS[canonical]
    if args is None:
        args = {}
    if not isinstance(args, Mapping):
        raise CommandError("bad_request", "args must be a JSON object", "args")
    checked: dict[str, Any] = {}
    for key, check in spec.required.items():
        if key not in args:
            raise CommandError("missing_argument", f"command {name!r} requires argument {key!r}", key)
        checked[key] = check(args[key], key)
    for key, value in args.items():
        if key in spec.required:
            continue
        if key not in spec.optional:
            raise CommandError("invalid_argument", f"command {name!r} takes no argument {key!r}", key)
        checked[key] = spec.optional[key](value, key)
    return Command(canonical, checked)


async def execute(control: DaemonControl, command: Command) -> Any:
    """Run a validated command. `kalshid.control.api.ControlError` from the pipeline propagates."""
    return await COMMANDS[command.name].run(control, command.args)
