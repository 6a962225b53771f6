"""``kalshid backtest``: replay a source through the daemon's strategy, sizing, risk and fee code.

    kalshid backtest --config etc/kalshid.toml --from 2026-06-01 --to 2026-06-02 --out reports/bt

Exit status 0 on success, 2 on bad arguments, configuration or data (nothing written).
"""

from __future__ import annotations

import argparse
import json
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Any


def parse_date(text: str) -> datetime:
    """``YYYY-MM-DD`` or an ISO time; naive means UTC."""
    try:
        t = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a date or ISO time: {text!r}") from None
    return t if t.tzinfo else t.replace(tzinfo=UTC)


def parse_override(text: str) -> tuple[str, object]:
    key, sep, raw = text.partition("=")
    if not sep or not key:
        raise argparse.ArgumentTypeError(f"expected KEY=VALUE, got {text!r}")
    try:
        value: object = json.loads(raw)
    except json.JSONDecodeError:
        value = raw
    return key.strip(), value


def add_source_arguments(p: argparse.ArgumentParser) -> None:
    """Options shared by ``backtest`` and ``sweep``: config, data source, fill model, overrides."""
    p.add_argument("--config", metavar="PATH", default=None,
                   help="the daemon's TOML config: strategies, parameters, risk limits, bankroll "
                        "(default: $KALSHID_CONFIG, else built-in defaults)")
    p.add_argument("--source", choices=("shared", "recorded"), default="shared",
                   help="shared: the public data in shared/data; recorded: kalshid's own recordings")
    p.add_argument("--data", metavar="DIR", type=Path, default=None,
                   help="shared data directory (default: $KALSHID_DATA_DIR, else shared/data beside the repo)")
    p.add_argument("--recordings", metavar="DIR", type=Path, default=None,
                   help="recording directory for --source recorded (kalshid record / record.dir)")
    p.add_argument("--underlying", choices=("perp", "none"), default="perp",
                   help="shared data: perp = markets inside the SOL perpetual file, with index prints; "
                        "none = every ladder market, no index (index strategies silent)")
    p.add_argument("--depth", type=int, default=100, metavar="N",
                   help="shared data: contracts assumed at every quote (the data has no sizes; default 100)")
    p.add_argument("--latency", type=float, default=None, metavar="SECONDS",
                   help="order latency for taker fills (default 0.25)")
    p.add_argument("--seed", type=int, default=None, help="seed of the resting-fill draw (default 0)")
    p.add_argument("--evaluation", choices=("timestamp", "event"), default=None,
                   help="ask the strategies once per exchange timestamp, or after every triggering event (an "
                        "accepted index print or a change at the current market's touch) as the daemon does when "
                        "it keeps up (default: event for recordings, timestamp for the shared data)")
    p.add_argument("--fills-as-recorded", action="store_true",
                   help="recorded source: apply the account's recorded fills instead of the fill model")
    p.add_argument("--set", dest="overrides", action="append", type=parse_override, default=[], metavar="K=V",
                   help="override a parameter: <strategy>.<param>, risk.<limit>, fills.<setting> (repeatable)")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.description = ("Replay market data through the daemon's own strategies, sizing, risk engine and fees, "
                     "with a stated fill model, and write a report. Deterministic.")
    add_source_arguments(p)
    p.add_argument("--from", dest="start", type=parse_date, default=None, metavar="DATE",
                   help="first market close to include (UTC date or ISO time)")
    p.add_argument("--to", dest="end", type=parse_date, default=None, metavar="DATE",
                   help="markets closing before this are included (UTC date or ISO time)")
    p.add_argument("--out", metavar="DIR", type=Path, default=None,
                   help="write trades.csv, signals.csv, summary.json, PNG charts and report.html here")
    p.add_argument("--no-charts", action="store_true", help="skip the PNG charts and HTML page")
    from kalshid.research.edge.cli import add_edge_arguments

    add_edge_arguments(p)


def _fail(msg: str) -> int:
    print(f"kalshid backtest: {msg}", file=sys.stderr)
    return 2


def build(args: argparse.Namespace) -> tuple[Any, Any]:
    """(source, settings) from the parsed arguments; raises ``ValueError`` with a clear message."""
    import attrs

    from kalshid.config import ConfigError, load_config
    from kalshid.research.settings import BacktestSettings
    from kalshid.research.sources.base import SourceError

    try:
        cfg = load_config(config_path=args.config).config
    except ConfigError as exc:
        raise ValueError("config error: " + "; ".join(str(p) for p in exc.problems)) from None
    settings = BacktestSettings.from_config(cfg)
    fills = {}
    if args.latency is not None:
        fills["latency_seconds"] = args.latency
    if args.seed is not None:
        fills["seed"] = args.seed
    try:
        evaluation = args.evaluation or ("event" if args.source == "recorded" else "timestamp")
        settings = attrs.evolve(settings, fills=attrs.evolve(settings.fills, **fills),
                                fills_as_recorded=args.fills_as_recorded, evaluation=evaluation)
        settings = settings.with_params(dict(args.overrides))
    except (TypeError, ValueError) as exc:
        raise ValueError(str(exc)) from None
    try:
        source: Any
        if args.source == "recorded":
            from kalshid.research.sources.recorded import RecordedSource

            if args.recordings is None:
                raise ValueError("--source recorded needs --recordings DIR")
            source = RecordedSource(args.recordings)
        else:
            from kalshid.research.sources.shared import SharedDataSource

            source = SharedDataSource(args.data, assumed_depth=args.depth, underlying=args.underlying)
    except SourceError as exc:
        raise ValueError(str(exc)) from None
    return source, settings


def progress_bar(enabled: bool, desc: str, unit: str = " events") -> Any:
    from tqdm import tqdm

    return tqdm(total=None, unit=unit, unit_scale=unit == " events", desc=desc, disable=not enabled, delay=2.0,
                file=sys.stderr, leave=False)


def run(args: argparse.Namespace) -> int:
    from kalshid.research.backtest import run_backtest
    from kalshid.research.edge import cli as edge
    from kalshid.research.report import summarize, write_report
    from kalshid.research.sources.base import SourceError, check_period

    if edge.wants_study(args):
        return edge.run_study(args)
    try:
        source, settings = build(args)
        settings = edge.check_run(args, settings)
        check_period(source, args.start, args.end)
    except ValueError as exc:
        return _fail(str(exc))
    with progress_bar(not args.no_progress, "backtest") as bar:
        try:
            result = run_backtest(source, settings, start=args.start, end=args.end, progress=bar.update)
        except SourceError as exc:
            return _fail(str(exc))
    summary = write_report(result, args.out, charts=not args.no_charts) if args.out else summarize(result)
    ci_m, ci_d = summary["pnl_per_dollar_staked_ci95_markets"], summary["pnl_per_dollar_staked_ci95_days"]
    print(f"markets settled {summary['markets_settled']}  traded {summary['markets_traded']}  "
          f"fills {summary['trades']}  contracts {summary['contracts']}")
    print(f"P&L net of fees ${summary['pnl']}  fees ${summary['fees']}  hit rate {_f(summary['hit_rate'])} "
          f"({summary['positions_won']} of {summary['positions_settled']} settled positions made money after fees)  "
          f"max drawdown ${summary['max_drawdown']}")
    if summary["unsettled_markets"]:
        print(f"open at the end, not in the P&L: {len(summary['unsettled_markets'])} market(s) without a "
              f"settlement in the data ({', '.join(summary['unsettled_markets'])})")
    print(f"P&L per $ staked {_f(summary['pnl_per_dollar_staked'])}  95% CI markets {_ci(ci_m)}  days {_ci(ci_d)}")
    print(f"fill model: latency {settings.fills.latency_seconds}s; source: {summary['source'].get('name')}")
    if args.out:
        print(f"report: {args.out}")
    try:
        edge.after_run(args, result)
    except ValueError as exc:
        return _fail(str(exc))
    return 0


def _f(v: float | None) -> str:
    return "n/a" if v is None else f"{v:+.4f}"


def _ci(v: list[float] | tuple[float, float] | None) -> str:
    return "n/a" if v is None else f"[{v[0]:+.4f}, {v[1]:+.4f}]"
