"""``kalshid record``: record the market (and the account's own orders and fills) without trading.

    kalshid record --config etc/kalshid.toml             # sim (embedded), demo or prod, per exchange.env
    kalshid record --out var/recordings

Runs the daemon's exchange connection, feed and market discovery only: no strategy, risk or execution
stage runs, so no order can be sent; credentials are used only to sign the reads and the WebSocket
login. Recording settings come from ``record.*`` (``--out`` overrides ``record.dir``). Stops on
SIGTERM/SIGINT after writing what it holds.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.description = ("Record every market-data event (books, trades, index prints, lifecycle, own orders and "
                     "fills) to Parquet, without trading. Replay with `kalshid backtest --source recorded`.")
    p.add_argument("--config", metavar="PATH", default=None, help="TOML config (default: $KALSHID_CONFIG)")
    p.add_argument("--out", metavar="DIR", type=Path, default=None, help="recording directory (record.dir)")


def run(args: argparse.Namespace) -> int:
    import functools

    import attrs
    import trio

    from kalshid import logs
    from kalshid.config import ConfigError, load_config
    from kalshid.credentials import CredentialError, load_signer
    from kalshid.daemon.supervisor import Runtime, Supervisor
    from kalshid.daemon.tuning import run_tuned
    from kalshid.trading.wiring import TradingDaemon

    try:
        loaded = load_config(config_path=args.config)
    except ConfigError as exc:
        for problem in exc.problems:
            print(f"kalshid record: config error: {problem}", file=sys.stderr)
        return 2
    cfg = loaded.config
    record = attrs.evolve(cfg.record, enabled=True, dir=str(args.out) if args.out else cfg.record.dir)
    # a dry run: the paper exchange stands in front of the real one, so nothing could be sent anyway
    cfg = attrs.evolve(cfg, record=record, trading=attrs.evolve(cfg.trading, dry_run=True))
    loaded = attrs.evolve(loaded, config=cfg)
    logs.register_secret(cfg.exchange.api_key, keep_prefix=True)
    logs.register_secret(cfg.exchange.private_key_passphrase)
    try:
        signer = load_signer(cfg.exchange)
    except CredentialError as exc:
        print(f"kalshid record: credential error: {exc}", file=sys.stderr)
        return 2
    logs.configure_logging(level=cfg.log.level, fmt=cfg.log.format, file="off", file_dir=cfg.log.file_dir)
    runtime = Runtime(loaded=loaded, signer=signer)
    daemon = TradingDaemon(runtime)
    from kalshid.research.recorder import recording_dir

    logs.get_logger("kalshid.record").info("recording", dir=str(recording_dir(cfg)), env=cfg.exchange.env)
    return trio.run(functools.partial(run_tuned, Supervisor(runtime, daemon.market_data_components()), freeze=False))
