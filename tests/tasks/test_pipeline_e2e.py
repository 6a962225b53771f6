"""The whole daemon against its embedded simulator, under Trio's MockClock: two simulated hours of
KXSOL15M windows in seconds of wall time.

What must hold, to the centi-cent: every fill the exchange made for us is in the journal exactly once;
the daemon's cash equals the exchange's; the journal's open positions equal the exchange's; every
settlement the exchange paid us was booked and checks out against the journal's fills.
"""

from __future__ import annotations

from pathlib import Path

import trio

from kalshid.config import load_config
from kalshid.sim.server import TRADER_USER
from kalshid.tasks.pipeline import TradingDaemon
from kalshid.tasks.supervisor import Runtime, Supervisor

WINDOW_S = 900


def _env(tmp_path: Path, **extra: str) -> dict[str, str]:
    return {
        "KALSHID_SIM__SEED": "11",
        "KALSHID_SIM__START": "2026-07-08T22:44:00+00:00",
        "KALSHID_JOURNAL__DIR": str(tmp_path / "var"),
        "KALSHID_CONTROL__SOCKET_PATH": str(tmp_path / "kalshid.sock"),
        "KALSHID_API__PORT": "0",
        "KALSHID_API__TOKEN": "t" * 40,
        "KALSHID_LOG__FILE": "off",
        "KALSHID_LOG__FORMAT": "json",
        **extra,
    }


async def _run_until(daemon: TradingDaemon, supervisor: Supervisor, done: object, limit_s: float) -> int:
    status: list[int] = []

    async def run() -> None:
        status.append(await supervisor.run())

    async with trio.open_nursery() as nursery:
        nursery.start_soon(run)
        with trio.fail_after(limit_s):
            await supervisor.wait_ready()
            while not await done():  # type: ignore[operator]  # noqa: ASYNC110 (polling the journal)
                await trio.sleep(30)
        supervisor.request_stop("test finished")
    return status[0]


async def test_daemon_trades_eight_windows_and_its_books_match_the_exchange_to_the_cent(
        tmp_path: Path, autojump_clock: trio.testing.MockClock) -> None:
    loaded = load_config(environ=_env(tmp_path, MAX_DAILY_LOSS="100000", DEFAULT_BANKROLL="10000",
                                      KALSHID_RISK__BREAKER_DAILY_LOSS_FRACTION="0.9",
                                      KALSHID_RISK__BREAKER_DRAWDOWN_FRACTION="0.9",
                                      KALSHID_STRATEGIES__KELLY_VOLATILITY__KELLY_FRACTION="0.02",
                                      KALSHID_STRATEGIES__MEAN_REVERSION__KELLY_FRACTION="0.02"),
                         cwd=tmp_path)
    runtime = Runtime(loaded, None)
    daemon = TradingDaemon(runtime, journal_inline=True)
    supervisor = Supervisor(runtime, daemon.components())

    async def eight_windows_settled() -> bool:
        journal = daemon.p.journal
        return journal is not None and len(await journal.settlements()) >= 8

    status = await _run_until(daemon, supervisor, eight_windows_settled, 12 * WINDOW_S)
    assert status == 0

    venue = daemon.p.sim_handle.venue
    account = venue.exchange.accounts[TRADER_USER]
    state = daemon.p.state

    # Every exchange fill is in the journal once (keyed by trade id), with the same money.
    from kalshid.store import open_journal
    async with open_journal(loaded.config.journal_path, loaded.config.journal_mode, inline=True) as journal:
        fills = []
        cursor = None
        while True:
            page = await journal.list_fills(limit=1000, cursor=cursor)
            fills.extend(page.items)
            cursor = page.next_cursor
            if not cursor:
                break
        settlements = await journal.settlements()
        positions = {p.ticker: (p.yes_count, p.no_count) for p in await journal.positions()}
        orders = (await journal.list_orders(limit=1000)).items
    assert len(fills) == len(account.fills) > 0
    assert {f.fill_id for f in fills} == {f.fill_id for f in account.fills}
    assert sum(f.fee_cc for f in fills) == sum(f.fee_cc for f in account.fills)
    assert sum(f.count * f.price_cc for f in fills) == sum(f.count * f.price_cc for f in account.fills)

    # Signals became orders; no client_order_id was ever used twice on the exchange.
    exchange_cids = [o.client_order_id for o in venue.exchange.orders.values() if o.user_id == TRADER_USER]
    assert len(exchange_cids) == len(set(exchange_cids)) == len(orders)
    assert state.counters.get("signals", 0) > state.counters.get("orders", 0) > 0

    # Settlements: all booked, all consistent with the journal's fills.
    assert len(settlements) == len(account.settlements) >= 8
    assert all(r.check.value == "ok" for r in settlements), [r.check_detail for r in settlements]

    # Money: the daemon's cash and open positions equal the exchange's, exactly.
    assert account.reserved_cc == 0  # resting orders were cancelled on the way out
    assert state.portfolio.cash_cc == account.cash_cc
    open_exchange = {t: (p.yes, p.no) for t, p in account.positions.items() if p.yes or p.no}
    assert {t: c for t, c in positions.items() if c != (0, 0)} == open_exchange
    assert {t: (p.yes_count, p.no_count) for t, p in state.portfolio.positions.items()} == open_exchange
