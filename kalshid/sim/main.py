"""``kalshid sim``: run the Kalshi-compatible exchange simulator from the command line.

The CLI wires ``kalshid sim`` to :func:`add_arguments` and :func:`run`. Exit codes: 0 after a
clean stop (SIGINT/SIGTERM), 2 for bad arguments (the message names the argument).
"""

from __future__ import annotations

import argparse
import signal
import sys
from datetime import datetime
from decimal import Decimal, InvalidOperation
from typing import Any

import trio

from kalshid.core.units import UnitError, dollars_to_cc
from kalshid.sim.authn import load_public_key, parse_key_arg
from kalshid.sim.counts import SIM_FEE_TYPES
from kalshid.sim.faults import parse_faults
from kalshid.sim.lifecycle_ops import KEEP_FINALIZED
from kalshid.sim.ratelimit import RateLimits
from kalshid.sim.server import DEFAULT_LISTING_DELAY_S, SimHandle, SimSettings, serve_simulator

DEFAULT_PORT = 8765


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--host", default="127.0.0.1", help="loopback address to bind (default 127.0.0.1)")
    parser.add_argument(
        "--port", type=int, default=DEFAULT_PORT, help=f"port (default {DEFAULT_PORT}; 0 = any)"
    )
    parser.add_argument(
        "--speed", type=float, default=1.0, help="simulated seconds per real second (default 1)"
    )
    parser.add_argument("--seed", type=int, default=0, help="seed for the index, makers, takers and ids (default 0)")
    parser.add_argument(
        "--start", default=None, help="simulated start time, ISO 8601 with a UTC offset (default: now)"
    )
    parser.add_argument(
        "--key",
        action="append",
        default=[],
        metavar="KEY_ID=PUBLIC_KEY.pem",
        help="register an API key (repeatable); all keys trade one account",
    )
    parser.add_argument("--balance", default="1000", metavar="DOLLARS", help="opening balance (default 1000)")
    parser.add_argument(
        "--faults",
        default="",
        metavar="SPEC",
        help="fault injection, e.g. ws_drop_every=60,http_5xx_rate=0.01",
    )
    parser.add_argument(
        "--rate-limit",
        choices=("basic", "off"),
        default="basic",
        help="token buckets: Kalshi Basic tier (200 read / 100 write tokens/s; the default) or off",
    )
    parser.add_argument(
        "--max-skew",
        type=float,
        default=30.0,
        metavar="SECONDS",
        help="accepted signature timestamp skew vs the wall clock (default 30; 0 = no check)",
    )
    parser.add_argument(
        "--history-markets",
        type=int,
        default=KEEP_FINALIZED,
        metavar="N",
        help=f"settled markets whose orders, fills and settlements are kept (default {KEEP_FINALIZED}, two days)",
    )
    parser.add_argument(
        "--listing-delay",
        type=float,
        default=DEFAULT_LISTING_DELAY_S,
        metavar="SECONDS",
        help="simulated seconds after a market opens before GET /markets lists it (default "
        f"{DEFAULT_LISTING_DELAY_S:g}; 0 = list every market at once); GET /markets/{{ticker}} answers at once",
    )
    parser.add_argument(
        "--no-liquidity", action="store_true", help="run without the simulated makers and takers"
    )
    parser.add_argument("--fee-type", choices=SIM_FEE_TYPES, default="quadratic",
                        help="the series' fee_type, published and charged (default quadratic, as KXSOL15M)")
    parser.add_argument("--fee-multiplier", default="1", metavar="NUMBER",
                        help="the series' fee_multiplier, published and charged (default 1, as KXSOL15M)")
    parser.add_argument("--event-fee-type", choices=SIM_FEE_TYPES, default=None,
                        help="every event's fee_type_override (default: none)")
    parser.add_argument("--event-fee-multiplier", default=None, metavar="NUMBER",
                        help="every event's fee_multiplier_override (default: none)")


def settings_from_args(args: argparse.Namespace) -> SimSettings:
    """Validated settings; raises ``ValueError`` naming the bad argument."""
    start = None
    if args.start:
        try:
            parsed = datetime.fromisoformat(args.start.replace("Z", "+00:00"))
        except ValueError:
            raise ValueError(f"--start: {args.start!r} is not an ISO 8601 time") from None
        if parsed.tzinfo is None:
            raise ValueError(f"--start: {args.start!r} has no UTC offset (add Z or +00:00)")
        start = parsed.timestamp()
    try:
        balance_cc = dollars_to_cc(Decimal(args.balance))
    except (InvalidOperation, UnitError):
        raise ValueError(f"--balance: {args.balance!r} is not a dollar amount") from None
    if balance_cc < 0:
        raise ValueError("--balance must not be negative")
    if not args.speed > 0:
        raise ValueError(f"--speed must be positive, got {args.speed}")
    if args.listing_delay < 0:
        raise ValueError(f"--listing-delay must not be negative, got {args.listing_delay}")
    if args.history_markets < 1:
        raise ValueError(f"--history-markets must be at least 1, got {args.history_markets}")
    fee_multiplier = _multiplier(args.fee_multiplier, "--fee-multiplier")
    event_multiplier = _multiplier(args.event_fee_multiplier, "--event-fee-multiplier") \
        if args.event_fee_multiplier is not None else None
    keys = []
    for arg in args.key:
        key_id, path = parse_key_arg(arg)
        try:
            keys.append((key_id, load_public_key(path)))
        except OSError as exc:
            raise ValueError(f"--key {key_id}: cannot read {path}: {exc.strerror}") from None
    try:
        faults = parse_faults(args.faults)
    except ValueError as exc:
        raise ValueError(f"--faults: {exc}") from None
    return SimSettings(
        host=args.host,
        port=args.port,
        speed=args.speed,
        seed=args.seed,
        start=start,
        keys=tuple(keys),
        balance_cc=balance_cc,
        faults=faults,
        rate_limits=RateLimits() if args.rate_limit == "basic" else RateLimits(None, None),
        max_skew_s=args.max_skew or None,
        history_markets=args.history_markets,
        listing_delay_s=args.listing_delay,
        makers=not args.no_liquidity,
        takers=not args.no_liquidity,
        fee_type=args.fee_type,
        fee_multiplier=fee_multiplier,
        event_fee_type_override=args.event_fee_type,
        event_fee_multiplier_override=event_multiplier,
    )


def _multiplier(text: str, flag: str) -> Decimal:
    try:
        value = Decimal(text)
    except InvalidOperation:
        raise ValueError(f"{flag}: {text!r} is not a number") from None
    if not value.is_finite() or value < 0:
        raise ValueError(f"{flag} must be a number >= 0, got {text!r}")
    return value


async def _main(settings: SimSettings) -> None:
    async with trio.open_nursery() as nursery:
        handle: SimHandle = await nursery.start(serve_simulator, settings)
        print(f"kalshid sim: REST {handle.rest_base_url}  WS {handle.ws_url}", flush=True)
        with trio.open_signal_receiver(signal.SIGINT, signal.SIGTERM) as signals:
            async for _ in signals:
                handle.stop()
                break


def run(args: argparse.Namespace) -> int:
    try:
        settings = settings_from_args(args)
    except ValueError as exc:
        print(f"kalshid sim: {exc}", file=sys.stderr)
        return 2
    if not settings.keys:
        print("kalshid sim: warning: no --key given; every /portfolio request will get 401", file=sys.stderr)
    trio.run(_main, settings)
    return 0


def main(argv: Any = None) -> int:
    """Stand-alone entry (``python -m kalshid.sim.main``)."""
    parser = argparse.ArgumentParser(prog="kalshid sim", description=__doc__)
    add_arguments(parser)
    return run(parser.parse_args(argv))


if __name__ == "__main__":
    sys.exit(main())
