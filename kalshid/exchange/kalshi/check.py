"""``kalshid check``: is this Kalshi account ready to trade? Read-only, places no order.

It checks, against ``--env demo|prod`` (or any ``--base-url``, e.g. a running ``kalshid sim``):

* the exchange answers and is trading (``GET /exchange/status``);
* the API key signs and is accepted, and the balance (``GET /portfolio/balance``);
* the key's rate-limit buckets (``GET /account/limits``) and the endpoint costs
  (``GET /account/endpoint_costs``), which name the order routes the key will use;
* the order and fill reads answer (``GET /portfolio/orders?limit=1``, ``GET /portfolio/fills?limit=1``);
* no position or resting order has a fractional count in a KXSOL15M market (that fails: kalshid would not
  start); one in another series is listed as left alone (``GET /portfolio/positions``, ``/orders``);
* the current KXSOL15M window, found by its computed ticker (``GET /markets/{ticker}``);
* the fee structure: the series' (``GET /series/KXSOL15M``) and the current window's event override
  (``GET /events/{event_ticker}``); it fails unless the effective one is what kalshid models
  (:func:`kalshid.core.fees.taker_fee_modelled`), since kalshid would refuse every buy otherwise.

Every request goes through :class:`ReadOnlyTransport`, which refuses any method but GET before it
reaches the network: ``check`` *cannot* write, whatever a bug in it might try. The result is a
PASS/FAIL table; the exit status is 0 when every check passed, 1 otherwise, 2 on a usage error.
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime

import attrs
import httpx
import trio

from kalshid.core.fees import MODELLED_FEE, taker_fee_modelled
from kalshid.core.markets import SERIES, event_ticker, market_ticker, window_containing
from kalshid.core.units import format_dollars
from kalshid.exchange.errors import ExchangeError
from kalshid.exchange.kalshi import hosts
from kalshid.exchange.kalshi.auth import Signer
from kalshid.exchange.kalshi.rest import KalshiRest, RetryPolicy
from kalshid.exchange.kalshi.transport import listed
from kalshid.exchange.kalshi.wire.fractional import parse_each
from kalshid.exchange.kalshi.wire.objects import parse_fill, parse_order
from kalshid.exchange.kalshi.wire.orders import ORDERS_V2_PATH

EXIT_OK, EXIT_FAILED, EXIT_USAGE = 0, 1, 2


class WriteRefused(httpx.TransportError):
    """A request other than GET reached the read-only transport."""


class ReadOnlyTransport(httpx.AsyncBaseTransport):
    """An httpx transport that sends GET requests only; anything else raises :class:`WriteRefused`
    without touching the network."""

    def __init__(self, inner: httpx.AsyncBaseTransport | None = None) -> None:
        self._inner = inner or httpx.AsyncHTTPTransport()
        self.refused = 0

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        if request.method != "GET":
            self.refused += 1
            raise WriteRefused(f"kalshid check is read-only: refused {request.method} {request.url.path}")
        return await self._inner.handle_async_request(request)

    async def aclose(self) -> None:
        await self._inner.aclose()


@attrs.frozen
class CheckResult:
    name: str
    ok: bool
    detail: str


async def run_checks(rest: KalshiRest, now: datetime, *, series: str = SERIES) -> list[CheckResult]:
    """Every check, in order; one failing does not stop the others."""
    results: list[CheckResult] = []

    async def step(name: str, fn: Callable[[], Awaitable[str]]) -> None:
        try:
            results.append(CheckResult(name, True, await fn()))
        except (ExchangeError, ValueError, KeyError, TypeError) as exc:
            results.append(CheckResult(name, False, f"{type(exc).__name__}: {exc}"))

    async def status() -> str:
        st = await rest.get_exchange_status()
        if not st.exchange_active:
            raise ValueError("exchange_active is false (maintenance)")
        return f"exchange active, trading {'active' if st.trading_active else 'paused'}"

    async def balance() -> str:
        b = await rest.get_balance()
        return f"signed requests accepted; balance ${format_dollars(b.balance_cc)}"

    async def limits() -> str:
        body = await rest.read("/account/limits")
        r, w = body["read"], body["write"]
        return (f"tier {body.get('usage_tier')}: read {r['refill_rate']}/s (cap {r['bucket_capacity']}), "
                f"write {w['refill_rate']}/s (cap {w['bucket_capacity']})")

    async def costs() -> str:
        body = await rest.read("/account/endpoint_costs")
        listed = {(c["method"], str(c["path"]).removeprefix(hosts.REST_PATH)): c["cost"]
                  for c in body["endpoint_costs"]}
        create = listed.get(("POST", ORDERS_V2_PATH), body["default_cost"])
        cancel = listed.get(("DELETE", ORDERS_V2_PATH + "/{order_id}"), body["default_cost"])
        return f"default {body['default_cost']} tokens; create order {create}, cancel {cancel}"

    async def orders() -> str:
        body = await rest.read("/portfolio/orders", {"limit": 1})
        page, aside = parse_each(listed(body, "orders", "/portfolio/orders"), parse_order, "order", series=series)
        return f"order reads answer ({len(page) + len(aside)} on the first page of 1)"

    async def fills() -> str:
        body = await rest.read("/portfolio/fills", {"limit": 1})
        page, aside = parse_each(listed(body, "fills", "/portfolio/fills"), parse_fill, "fill", series=series)
        return f"fill reads answer ({len(page) + len(aside)} on the first page of 1)"

    async def fractional() -> str:
        positions = await rest.list_positions()
        resting = await rest.list_orders(status="resting")
        aside = [e for e in rest.fractional_elsewhere if e.kind in ("position", "order")]
        read = f"{len(positions)} positions, {len(resting)} resting orders"
        if not aside:
            return f"none ({read})"
        left = ", ".join(f"{e.kind}{' ' + e.ident if e.ident else ''} in {e.ticker}" for e in aside)
        return f"outside {series}, left alone: {left} ({read})"

    async def fees() -> str:
        series_fees = await rest.get_series_fees(series)
        event = await rest.get_event_fees(event_ticker(window_containing(now).close_time, series))
        fee = event.effective(series_fees.fee)
        overrides = [f"{name} {value}" for name, value in (("fee_type", event.fee_type_override),
                                                            ("multiplier", event.fee_multiplier_override))
                     if value is not None]
        said = (f"series {series_fees.fee.describe()}; event {event.event_ticker} "
                f"{'overrides ' + ', '.join(overrides) if overrides else 'no override'}; effective {fee.describe()}")
        if not taker_fee_modelled(fee):
            raise ValueError(f"{said}: not the structure kalshid models ({MODELLED_FEE.describe()}): "
                             f"kalshid would refuse every buy in this window")
        return f"{said} (kalshid's model)"

    async def market() -> str:
        ticker = market_ticker(window_containing(now).close_time, series)
        m = await rest.get_market(ticker)
        return f"{m.ticker} {m.status}, closes {m.close_time.isoformat()}, strike {m.floor_strike}"

    await step("exchange status", status)
    await step("auth and balance", balance)
    await step("rate limits", limits)
    await step("endpoint costs", costs)
    await step("order reads", orders)
    await step("fill reads", fills)
    await step("fractional counts", fractional)
    await step("current window (computed ticker)", market)
    await step("fee structure", fees)
    return results


def render(results: list[CheckResult], base_url: str) -> str:
    width = max(len(r.name) for r in results)
    lines = [f"kalshid check against {base_url} (read-only; no order placed)"]
    lines += [f"{'PASS' if r.ok else 'FAIL'}  {r.name:<{width}}  {r.detail}" for r in results]
    passed = sum(r.ok for r in results)
    lines.append(f"{passed}/{len(results)} checks passed")
    return "\n".join(lines)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.description = ("Check a Kalshi account read-only before trading: auth, balance, rate limits, "
                          "the order routes' costs and reads, the current KXSOL15M window and its fee structure. "
                          "Places no order.")
    parser.add_argument("--env", choices=sorted(hosts.ENVIRONMENTS), default=None,
                        help="Kalshi environment (default: exchange.env from the configuration)")
    parser.add_argument("--base-url", default=None,
                        help="REST base URL instead (e.g. a running kalshid sim's http://127.0.0.1:8765/trade-api/v2)")
    parser.add_argument("--config", metavar="PATH", default=None, help="TOML config file (credentials come "
                        "from it, .env and KALSHI_API_KEY / KALSHI_PRIVATE_KEY_PATH)")


def run(args: argparse.Namespace) -> int:
    from kalshid.config import ConfigError, load_config
    from kalshid.credentials import CredentialError, load_signer

    try:
        cfg = load_config(config_path=args.config).config
        signer = load_signer(cfg.exchange)
    except (ConfigError, CredentialError) as exc:
        print(f"kalshid check: {exc}", file=sys.stderr)
        return EXIT_USAGE
    if signer is None:
        print("kalshid check: no credentials: set KALSHI_API_KEY and KALSHI_PRIVATE_KEY_PATH", file=sys.stderr)
        return EXIT_USAGE
    base = args.base_url or cfg.exchange.api_base_url
    if args.env or not base:
        env = args.env or cfg.exchange.env
        if env not in hosts.ENVIRONMENTS:
            print(f"kalshid check: choose --env demo|prod or --base-url (exchange.env is {env!r})", file=sys.stderr)
            return EXIT_USAGE
        base = hosts.endpoints(env).rest_base
    results = trio.run(check_account, base, signer)
    print(render(results, base))
    return EXIT_OK if all(r.ok for r in results) else EXIT_FAILED


async def check_account(base_url: str, signer: Signer, *, transport: httpx.AsyncBaseTransport | None = None,
                        now: datetime | None = None) -> list[CheckResult]:
    """Run the checks against ``base_url`` through a :class:`ReadOnlyTransport` (around ``transport``)."""
    readonly = ReadOnlyTransport(transport)
    when = now or datetime.fromtimestamp(time.time(), UTC)
    async with KalshiRest(base_url, signer, transport=readonly, retry=RetryPolicy(attempts=2)) as rest:
        return await run_checks(rest, when)


__all__ = ["ReadOnlyTransport", "WriteRefused", "add_arguments", "check_account", "run", "run_checks"]
