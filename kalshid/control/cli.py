"""``kalshid ctl``: talk to a running daemon over its local control socket.

``kalshid/cli.py`` adds it as a subcommand: ``add_arguments(subparser)`` then ``run(args)``. Exit
codes: 0 ok, 1 the daemon refused the command, 2 usage error (or two daemons' sockets found without
``--socket``), 3 cannot reach the daemon (the message names the socket path). No token: the socket's
0600 mode is the authentication, so run it as the daemon's user or root (``sudo kalshid ctl status``
under ``DynamicUser=yes``).
"""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any, Final

import trio

from kalshid.control.commands import SOCKET_COMMANDS, CommandError, parse_command
from kalshid.control.protocol import LineSplitter, Response, decode_response, encode_request
from kalshid.control.render import render_view
from kalshid.control.server import AmbiguousSocket, default_socket_path

EXIT_OK: Final = 0
EXIT_COMMAND_ERROR: Final = 1
EXIT_USAGE: Final = 2
EXIT_CANNOT_CONNECT: Final = 3

# CLI spelling → wire command name.
CLI_COMMANDS: Final = {
    "status": "status",
    "start": "start",
    "stop": "stop",
    "stop-entry": "stop_entry",
    "cancel-all": "cancel_all",
    "reset-breaker": "reset_breaker",
    "positions": "positions",
    "orders": "orders",
    "strategies": "strategies",
    "enable": "enable_strategy",
    "disable": "disable_strategy",
    "reload": "reload",
    "pnl": "pnl",
    "trades": "trades",
    "risk": "risk",
    "markets": "markets",
    "decisions": "decisions",
}


class CannotConnect(Exception):
    """The daemon's socket is missing, refuses connections, or does not answer in time."""


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Add ``ctl``'s options and sub-commands to ``parser``."""
    parser.add_argument(
        "--socket",
        metavar="PATH",
        help="control socket (default: $KALSHID_SOCKET, $KALSHID_CONTROL__SOCKET_PATH, "
        "$RUNTIME_DIRECTORY/kalshid.sock, else whichever of /run/kalshid/kalshid.sock and "
        "var/kalshid.sock is present)",
    )
    parser.add_argument("--json", action="store_true", help="print the raw JSON result")
    parser.add_argument("--timeout", type=float, default=10.0, metavar="S", help="seconds to wait (10)")
    sub = parser.add_subparsers(dest="ctl_command", metavar="COMMAND", required=True)
    sub.add_parser("status", help="state, mode, market, equity, breaker")
    sub.add_parser("start", help="resume trading")
    sub.add_parser("stop", help="stop trading and cancel resting orders")
    sub.add_parser("stop-entry", help="no new entries; exits continue")
    sub.add_parser("cancel-all", help="kill switch: cancel every resting order of the account now; "
                                      "no order for the next minute")
    sub.add_parser("reset-breaker", help="clear a tripped circuit breaker")
    sub.add_parser("positions", help="open positions")
    orders = sub.add_parser("orders", help="recent orders")
    orders.add_argument("--status", help="resting, in_flight, executed, canceled or rejected")
    orders.add_argument("--ticker", help="market ticker")
    orders.add_argument("--limit", type=int, help="rows (1-1000, default 50)")
    orders.add_argument("--cursor", help="cursor printed by a previous page")
    sub.add_parser("strategies", help="strategies and their parameters")
    for verb in ("enable", "disable"):
        p = sub.add_parser(verb, help=f"{verb} a strategy")
        p.add_argument("name", metavar="NAME")
    sub.add_parser("reload", help="re-read the configuration file")
    pnl = sub.add_parser("pnl", help="realised P&L, fees and net by day, strategy or window")
    pnl.add_argument("--by", dest="group_by", choices=("day", "strategy", "window"), default="day")
    trades = sub.add_parser("trades", help="fills, newest first")
    trades.add_argument("--ticker", help="market ticker")
    trades.add_argument("--strategy", help="strategy name")
    trades.add_argument("--limit", type=int, help="rows (1-1000, default 50)")
    trades.add_argument("--cursor", help="cursor printed by a previous page")
    sub.add_parser("risk", help="each risk limit, its usage, and the circuit breaker")
    sub.add_parser("markets", help="current and next window: strike, book top, fair value, edge, index")
    sub.add_parser("decisions", help="why (not) trading: last signal and risk verdict per strategy")


def build_request(args: argparse.Namespace) -> tuple[str, dict[str, Any]]:
    """The wire command and arguments for parsed CLI ``args``; CommandError if they are invalid."""
    command = CLI_COMMANDS[args.ctl_command]
    cmd_args: dict[str, Any] = {}
    if command in ("enable_strategy", "disable_strategy"):
        cmd_args["name"] = args.name
    if command == "pnl":
        cmd_args["group_by"] = args.group_by
    if command in ("orders", "trades"):
        for key in ("status", "ticker", "strategy", "limit", "cursor"):
            if getattr(args, key, None) is not None:
                cmd_args[key] = getattr(args, key)
    parse_command(command, cmd_args, SOCKET_COMMANDS)  # same checks the daemon applies
    return command, cmd_args


async def call(path: str, command: str, args: dict[str, Any], *, timeout_s: float = 10.0) -> Response:
    """Send one request to the daemon at ``path`` and return its response.

    Raises CannotConnect (socket absent/refused/no answer) or CommandError(``bad_response``).
    """
    try:
        with trio.fail_after(timeout_s):
            try:
                stream = await trio.open_unix_socket(path)
            except OSError as exc:
                raise CannotConnect(f"cannot connect to {path}: {exc.strerror or exc}") from None
            async with stream:
                await stream.send_all(encode_request(command, args, request_id=1))
                splitter = LineSplitter()
                while chunk := await stream.receive_some(65536):
                    lines = splitter.feed(bytes(chunk))
                    if lines:
                        return decode_response(lines[0])
                raise CannotConnect(f"daemon at {path} closed the connection without answering")
    except trio.TooSlowError:
        raise CannotConnect(f"no answer from {path} within {timeout_s:g} s") from None
    except (trio.BrokenResourceError, trio.ClosedResourceError) as exc:
        raise CannotConnect(f"connection to {path} broke: {exc}") from None


async def run_async(args: argparse.Namespace) -> int:
    """The body of ``kalshid ctl``; prints the result and returns the exit code."""
    try:
        path = args.socket or default_socket_path()
    except AmbiguousSocket as exc:
        print(f"kalshid ctl: {exc}", file=sys.stderr)
        return EXIT_USAGE
    try:
        command, cmd_args = build_request(args)
    except CommandError as exc:
        print(f"kalshid ctl: {exc.message}", file=sys.stderr)
        return EXIT_USAGE
    try:
        response = await call(path, command, cmd_args, timeout_s=args.timeout)
    except CannotConnect as exc:
        print(f"kalshid ctl: {exc} (is kalshid running? use --socket PATH)", file=sys.stderr)
        return EXIT_CANNOT_CONNECT
    except CommandError as exc:
        print(f"kalshid ctl: {exc.message}", file=sys.stderr)
        return EXIT_COMMAND_ERROR
    if not response.ok:
        error = response.error or {}
        if args.json:
            print(json.dumps({"error": error}, indent=2))
        else:
            field = f" ({error['field']})" if error.get("field") else ""
            print(f"kalshid ctl: {args.ctl_command} refused: {error.get('message')}{field}", file=sys.stderr)
        return EXIT_COMMAND_ERROR
    print(json.dumps(response.result, indent=2) if args.json else render_view(command, response.result))
    return EXIT_OK


def run(args: argparse.Namespace) -> int:
    """Synchronous entry point for ``kalshid ctl`` (runs its own Trio loop)."""
    return trio.run(run_async, args)
