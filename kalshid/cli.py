"""The ``kalshid`` command: ``run``, ``config check``, ``keygen``, ``backup``, plus pluggable subcommands
(``sim``, ``ctl``, ``check``).

Exit status: 0 success; 1 runtime failure; 2 usage error, bad configuration or unusable credentials
(nothing was started). Pluggable subcommands (``sim``, ``ctl``) live in their own modules, exposing
``add_arguments(parser)`` and ``run(args) -> int``; they are imported only when invoked, so
``kalshid run`` does not pay for the simulator's imports.
"""

import argparse
import importlib
import importlib.util
import os
import sys
from collections.abc import Sequence
from pathlib import Path

from kalshid import __version__
from kalshid.config import ConfigError, LoadedConfig, load_config
from kalshid.config.render import render_json, render_text

EXIT_USAGE = 2
EXIT_BROKEN_PIPE = 141  # 128 + SIGPIPE, what a shell reports for a command whose reader went away

# name -> (module, one-line help). A plugin whose module is not installed is simply not offered.
PLUGINS: dict[str, tuple[str, str]] = {
    "sim": ("kalshid.sim.main", "run the Kalshi-compatible exchange simulator"),
    "ctl": ("kalshid.control.cli", "talk to a running kalshid over its control socket"),
    "journal": ("kalshid.control.journal_cli", "read a journal without a daemon: orders, trades, P&L, events"),
    "check": ("kalshid.exchange.kalshi.check", "check a Kalshi account read-only before trading (places no order)"),
    "backtest": ("kalshid.research.cli_backtest", "replay market data through the daemon's strategies and risk"),
    "sweep": ("kalshid.research.cli_sweep", "walk-forward parameter search (Optuna trials as Dask tasks)"),
    "record": ("kalshid.research.cli_record", "record market data and own fills to Parquet, without trading"),
}


def _fail(lines: Sequence[str]) -> int:
    for line in lines:
        print(f"kalshid: {line}", file=sys.stderr)
    return EXIT_USAGE


def _load(args: argparse.Namespace, *, machine: bool = False) -> LoadedConfig | int:
    """The configuration, or the exit status after printing every problem. ``machine`` also checks
    it against this machine (:mod:`kalshid.config.preflight`), as a start needs."""
    from kalshid.config.preflight import machine_problems

    loaded: LoadedConfig | None = None
    try:
        loaded = load_config(config_path=args.config)
        problems = machine_problems(loaded) if machine else []
    except ConfigError as exc:
        problems = exc.problems
    lines = [str(p) for p in problems]
    # the alert targets Apprise must understand (an unreadable alerts.urls_file is reported above already)
    if machine and loaded is not None and all(p.key != "alerts.urls_file" for p in problems):
        from kalshid.alerts import alert_urls_problem

        if (why := alert_urls_problem(loaded.config.alerts)) is not None:
            lines.append(why)
    if lines or loaded is None:
        return _fail([f"config error: {line}" for line in lines]
                     + [f"{len(lines)} configuration problem(s); nothing was started"])
    return loaded


def _cmd_config_check(args: argparse.Namespace) -> int:
    from kalshid.credentials import CredentialError, load_signer

    loaded = _load(args, machine=True)
    if isinstance(loaded, int):
        return loaded
    print(render_json(loaded) if args.json else render_text(loaded))
    try:
        signer = load_signer(loaded.config.exchange)
    except CredentialError as exc:
        return _fail([f"credential error: {exc}"])
    if not args.json:
        print(f"# credentials: {repr(signer) + ' (private key loads)' if signer else 'none configured'}")
    return 0


def _cmd_keygen(args: argparse.Namespace) -> int:
    from kalshid.credentials import generate_keypair

    try:
        pair = generate_keypair(Path(args.out), force=args.force, key_type=args.type)
    except (FileExistsError, OSError) as exc:
        return _fail([str(exc)])
    (Path(args.out) / "kalshi.key_id").write_text(pair.key_id + "\n")
    print(pair.key_id)
    print(f"# {args.type} private key (PKCS#8, mode 0600): {pair.private_path}", file=sys.stderr)
    print(f"# public key: {pair.public_path}", file=sys.stderr)
    print(f"# use: KALSHI_API_KEY={pair.key_id} KALSHI_PRIVATE_KEY_PATH={pair.private_path}", file=sys.stderr)
    return 0


def _cmd_backup(args: argparse.Namespace) -> int:
    from datetime import UTC, datetime

    from kalshid.store.backup import BackupError, backup_journal, prune_backups

    if args.journal:
        journal = Path(args.journal)
    else:
        loaded = _load(args)
        if isinstance(loaded, int):
            return loaded
        journal = Path(loaded.config.journal_path)
    out = Path(args.out) if args.out else journal.parent / "backups"
    if args.keep is not None and args.keep < 1:
        return _fail([f"backup: --keep must be at least 1, got {args.keep}"])
    try:
        copy, log_copy = backup_journal(journal, out, now=datetime.now(UTC))
    except BackupError as exc:
        print(f"kalshid backup: {exc}", file=sys.stderr)
        return 1
    print(copy)
    if log_copy is not None:
        print(log_copy)
    if args.keep is not None:
        for stale in prune_backups(journal, out, args.keep):
            print(f"# deleted the older copy {stale}", file=sys.stderr)
    return 0


def _cmd_run(args: argparse.Namespace) -> int:
    import trio

    from kalshid import logs
    from kalshid.credentials import CredentialError, load_signer
    from kalshid.daemon.supervisor import Runtime, Supervisor
    from kalshid.daemon.tuning import run_tuned
    from kalshid.trading.app import components_for

    loaded = _load(args, machine=True)
    if isinstance(loaded, int):
        return loaded
    cfg = loaded.config
    ex = cfg.exchange
    logs.register_secret(ex.api_key, keep_prefix=True)
    logs.register_secret(ex.private_key_passphrase)
    logs.register_secret(cfg.api.token)
    try:
        signer = load_signer(ex)
    except CredentialError as exc:
        return _fail([f"credential error: {exc}"])
    problems = []
    if args.live and cfg.dry_run:
        problems.append("--live contradicts trading.dry_run=true (DRY_RUN_MODE); set DRY_RUN_MODE=false too")
    if signer is None and ex.env in ("demo", "prod") and not cfg.dry_run:
        problems.append(f"live trading on {ex.env} needs credentials: set KALSHI_API_KEY and "
                        "KALSHI_PRIVATE_KEY_PATH (or keep DRY_RUN_MODE=true)")
    elif signer is None and ex.env in ("demo", "prod"):
        problems.append(f"a dry run on {ex.env} needs credentials too, for its market data (a signed WebSocket "
                        "handshake): set KALSHI_API_KEY and KALSHI_PRIVATE_KEY_PATH")
    elif signer is None and ex.api_base_url:
        problems.append(f"the exchange at {ex.api_base_url} needs credentials: set KALSHI_API_KEY and "
                        "KALSHI_PRIVATE_KEY_PATH to a key it knows (kalshid sim --key)")
    if not cfg.dry_run and ex.env == "prod" and not args.live:
        problems.append("real orders on prod need both DRY_RUN_MODE=false and `kalshid run --live`")
    if problems:
        return _fail(problems)
    try:
        logs.configure_logging(level=cfg.log.level, fmt=cfg.log.format, file=cfg.log.file,
                               file_dir=cfg.log.file_dir)
    except OSError as exc:
        return _fail([f"cannot open the log file under log.file_dir={cfg.log.file_dir!r}: {exc}"])
    log = logs.get_logger("kalshid")
    if signer is not None and ex.env == "sim" and not ex.api_base_url:  # external simulator: they are used
        log.warning("credentials are configured but exchange.env is sim: they are not used; "
                    "set KALSHI_ENV=demo or prod to use them")
    runtime = Runtime(loaded=loaded, signer=signer, live=args.live, stopped=args.stopped)
    config_path = args.config

    def reload() -> LoadedConfig:
        return load_config(config_path=config_path)

    supervisor = Supervisor(runtime, components_for(runtime), reload=reload)
    return trio.run(run_tuned, supervisor)


def _config_option(p: argparse.ArgumentParser) -> None:
    p.add_argument("--config", metavar="PATH", default=None,
                   help="TOML config file (default: $KALSHID_CONFIG; else built-in defaults, .env and env)")


def _chosen_command(argv: Sequence[str]) -> str | None:
    return next((a for a in argv if not a.startswith("-")), None)


def build_parser(argv: Sequence[str] = ()) -> argparse.ArgumentParser:
    """The argument parser. ``argv`` decides which plugin (if any) is imported to add its options."""
    parser = argparse.ArgumentParser(
        prog="kalshid", description="Trading daemon for Kalshi's 15-minute Solana markets (KXSOL15M).")
    parser.add_argument("--version", action="version", version=f"kalshid {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)

    run = sub.add_parser("run", help="run the trading daemon (until SIGTERM/SIGINT)",
                         description="Run the daemon. On the embedded simulator (the default) orders go to the "
                                     "simulator; on demo and prod it is a dry run unless DRY_RUN_MODE=false, "
                                     "and real orders on prod also need --live.")
    _config_option(run)
    run.add_argument("--live", action="store_true",
                     help="allow real orders on prod (also needs DRY_RUN_MODE=false)")
    run.add_argument("--stopped", action="store_true",
                     help="start with trading stopped (reconcile, follow the markets, send nothing) until "
                          "`kalshid ctl start`; e.g. after restoring a journal")
    run.set_defaults(func=_cmd_run)

    config = sub.add_parser("config", help="inspect the configuration")
    config_sub = config.add_subparsers(dest="config_command", metavar="ACTION", required=True)
    check = config_sub.add_parser(
        "check", help="validate and print the effective configuration with sources (secrets redacted)")
    _config_option(check)
    check.add_argument("--json", action="store_true", help="print JSON instead of text")
    check.set_defaults(func=_cmd_config_check)

    keygen = sub.add_parser("keygen", help="write a fresh API key pair (RSA-2048 or Ed25519) and print a key id")
    keygen.add_argument("--out", metavar="DIR", default="keys", help="output directory (default: keys)")
    keygen.add_argument("--type", choices=("rsa", "ed25519"), default="rsa",
                        help="key type (default: rsa); ed25519 signs about ten times faster. "
                             "Upload the public key to Kalshi")
    keygen.add_argument("--force", action="store_true", help="replace existing key files")
    keygen.set_defaults(func=_cmd_keygen)

    backup = sub.add_parser(
        "backup", help="copy the journal and its intent log consistently, also while the daemon runs",
        description="Copy the journal (SQLite's online backup, checked) and its intent log to DIR as "
                    "<journal>.<UTC time>.backup.sqlite3 (mode 0600). Safe while the daemon runs. Restore: stop "
                    "the daemon, put both files back under the journal's name, start it.")
    _config_option(backup)
    backup.add_argument("--journal", metavar="PATH", default=None,
                        help="the journal database (default: the configuration's, e.g. var/kalshid-sim.sqlite3)")
    backup.add_argument("--out", metavar="DIR", default=None,
                        help="where the copies go (default: backups/ beside the journal)")
    backup.add_argument("--keep", metavar="N", type=int, default=None,
                        help="then delete all but the newest N copies of this journal in DIR (default: keep all)")
    backup.set_defaults(func=_cmd_backup)

    chosen = _chosen_command(argv)
    for name, (module_name, help_text) in PLUGINS.items():
        try:
            if importlib.util.find_spec(module_name) is None:
                continue
        except ImportError:  # its parent package is missing or broken: not offered
            continue
        plugin = sub.add_parser(name, help=help_text)
        if name == chosen:
            module = importlib.import_module(module_name)
            module.add_arguments(plugin)
            plugin.set_defaults(func=module.run)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``kalshid`` console script and ``python -m kalshid``."""
    argv = list(sys.argv[1:] if argv is None else argv)
    args = build_parser(argv).parse_args(argv)
    try:
        status: int = args.func(args)
        sys.stdout.flush()
    except KeyboardInterrupt:  # Ctrl-C outside trio.run (e.g. while loading): no traceback
        status = 130
    except BrokenPipeError:  # the reader left (`kalshid ctl orders | head`): stop quietly, as `cat` would
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())  # so the exit-time flush is silent too
        status = EXIT_BROKEN_PIPE
    return status


if __name__ == "__main__":
    sys.exit(main())
