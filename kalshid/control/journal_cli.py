"""``kalshid journal``: read a journal without a daemon (:mod:`kalshid.store.inspect`), shown as
``kalshid ctl`` shows a live one. For when there is no daemon to ask: it is stopped, it will not start
(a reconciliation that names a market), or the file is a backup."""

from __future__ import annotations

import argparse
import json
import sqlite3
import sys
from pathlib import Path
from typing import Any

from kalshid.config import ConfigError, load_config
from kalshid.control.api import DEFAULT_PAGE_LIMIT, MAX_PAGE_LIMIT, ORDER_STATUSES, PNL_GROUPS
from kalshid.control.render import key_values, render_decisions_page, render_orders, render_pnl, render_trades, table
from kalshid.store import CursorError, inspect
from kalshid.store.views import STATUS_STATES

VIEWS = ("summary", "decisions", "orders", "trades", "pnl", "positions", "breaker", "order")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.description = ("Read a journal without a daemon (read-only: a stopped daemon's, a running one's, or a "
                          "backup copy), shown as `kalshid ctl` shows a live one. Exit status: 0 shown, 1 the "
                          "journal cannot be read (or has no such order), 2 usage error.")
    parser.add_argument("--config", metavar="PATH", default=None,
                        help="TOML config file, for the journal's path (default: $KALSHID_CONFIG, else built-in "
                             "defaults: var/kalshid-sim.sqlite3)")
    parser.add_argument("--journal", metavar="PATH", default=None,
                        help="the journal database (a backup copy too); overrides the configuration's")
    parser.add_argument("--json", action="store_true", help="print JSON (the control API's shapes)")
    parser.add_argument("view", nargs="?", default="summary", choices=VIEWS,
                        help="summary (default): rows, P&L, breaker, operator state, intent log; decisions: "
                             "signals, the verdicts on them, their orders; orders; trades; pnl; positions; breaker: "
                             "every transition; order CLIENT_ORDER_ID: one order with its events and fills")
    parser.add_argument("client_order_id", nargs="?", default=None, help="for `order`")
    parser.add_argument("--ticker", default=None, help="decisions, orders, trades: one market")
    parser.add_argument("--strategy", default=None, help="decisions: one strategy")
    parser.add_argument("--refused", action="store_true", help="decisions: only those risk refused")
    parser.add_argument("--status", default=None, choices=ORDER_STATUSES, help="orders: one status")
    parser.add_argument("--limit", type=int, default=DEFAULT_PAGE_LIMIT,
                        help=f"decisions, orders, trades: rows, 1 to {MAX_PAGE_LIMIT} ({DEFAULT_PAGE_LIMIT})")
    parser.add_argument("--cursor", default=None, help="decisions, orders, trades: the next page")
    parser.add_argument("--by", default="day", choices=PNL_GROUPS, help="pnl: day (default), strategy or window")


def _fail(message: str, status: int) -> int:
    print(f"kalshid journal: {message}", file=sys.stderr)
    return status


def run(args: argparse.Namespace) -> int:
    """Exit status: 0 shown, 1 the journal cannot be read (or has no such order), 2 usage error."""
    if args.view == "order" and not args.client_order_id:
        return _fail("order needs a client order id (kalshid journal orders lists them)", 2)
    if args.view != "order" and args.client_order_id:
        return _fail(f"unexpected argument {args.client_order_id!r} for {args.view}", 2)
    if not 1 <= args.limit <= MAX_PAGE_LIMIT:
        return _fail(f"--limit must be from 1 to {MAX_PAGE_LIMIT}, got {args.limit}", 2)
    if args.journal:
        path = Path(args.journal)
    else:
        try:
            path = Path(load_config(config_path=args.config).config.journal_path)
        except ConfigError as exc:
            return _fail("; ".join(str(p) for p in exc.problems), 2)
    try:
        with inspect.read_only(path) as conn:
            result = _view(args, conn, path)
    except (inspect.InspectError, CursorError) as exc:
        return _fail(str(exc), 1)
    except sqlite3.Error as exc:  # a journal this version cannot read (its start would migrate it first)
        return _fail(f"{path}: cannot be read ({type(exc).__name__}: {exc})", 1)
    print(json.dumps(result, indent=2) if args.json else _text(args.view, result))
    return 0


def _view(args: argparse.Namespace, conn: Any, path: Path) -> Any:
    if args.view == "decisions":
        return inspect.decisions(conn, ticker=args.ticker, strategy=args.strategy, refused=args.refused,
                                 limit=args.limit, cursor=args.cursor)
    if args.view == "orders":
        states = list(STATUS_STATES[args.status]) if args.status else None
        return inspect.orders(conn, ticker=args.ticker, states=states, limit=args.limit, cursor=args.cursor)
    if args.view == "trades":
        return inspect.trades(conn, ticker=args.ticker, limit=args.limit, cursor=args.cursor)
    if args.view == "pnl":
        return inspect.pnl(conn, args.by)
    if args.view == "positions":
        return inspect.positions(conn)
    if args.view == "breaker":
        return inspect.breaker(conn)
    if args.view == "order":
        return inspect.order(conn, args.client_order_id)
    return inspect.summary(conn, path)


def _text(view: str, result: Any) -> str:
    if view == "decisions":
        return render_decisions_page(result)
    if view == "orders":
        return render_orders(result)
    if view == "trades":
        return render_trades(result)
    if view == "pnl":
        return render_pnl(result)
    if view in ("positions", "breaker"):
        return table(result)
    if view == "order":
        return "\n\n".join([key_values(result["order"]), "events\n" + table(result["events"]),
                            "fills\n" + table(result["fills"])])
    return key_values(result)
