"""The whole daemon against its embedded simulator, under Trio's MockClock: two simulated hours of
KXSOL15M windows in seconds of wall time.

What must hold, to the centi-cent: every fill the exchange made for us is in the journal exactly once;
the daemon's cash equals the exchange's; the journal's open positions equal the exchange's; every
settlement the exchange paid us was booked and checks out against the journal's fills.
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import trio
from daemonkit import running_daemon, wait_for

from kalshid.sim.counts import whole
from kalshid.sim.server import TRADER_USER
from kalshid.store import records
from kalshid.trading.netting import OPEN_SUFFIX

WINDOW_S = 900


async def test_daemon_trades_eight_windows_and_its_books_match_the_exchange_to_the_cent(
        tmp_path: Path, autojump_clock: trio.testing.MockClock) -> None:
    async with running_daemon(tmp_path, MAX_DAILY_LOSS="100000", DEFAULT_BANKROLL="10000",
                              KALSHID_RISK__BREAKER_DAILY_LOSS_FRACTION="0.9",
                              KALSHID_RISK__BREAKER_DRAWDOWN_FRACTION="0.9") as (daemon, _sup):
        async def eight_windows_settled() -> bool:
            journal = daemon.p.journal
            return journal is not None and len(await journal.settlements()) >= 8

        await wait_for(eight_windows_settled, limit_s=12 * WINDOW_S, every_s=30)

    venue = daemon.p.sim_handle.venue
    account = venue.exchange.accounts[TRADER_USER]
    state = daemon.p.state

    # Every exchange fill is in the journal once (keyed by trade id), with the same money.
    from kalshid.store import open_journal
    async with open_journal(daemon.cfg.journal_path, daemon.cfg.journal_mode, inline=True) as journal:
        fills = await journal.all_fills()
        settlements = await journal.settlements()
        positions = {p.ticker: (p.yes_count, p.no_count) for p in await journal.positions()}
        orders = (await journal.list_orders(limit=1000)).items
    # (a fill that closed the opposite holding and opened the rest is booked as two parts, as Kalshi nets)
    assert len(account.fills) > 0
    contracts: Counter[str] = Counter()
    for f in fills:
        contracts[f.fill_id.removesuffix(OPEN_SUFFIX)] += f.count
    assert contracts == Counter({f.fill_id: whole(f.count) for f in account.fills})  # the engine counts 0.01s
    assert sum(f.fee_cc for f in fills) == sum(f.fee_cc for f in account.fills)

    # Signals became orders; no client_order_id was ever used twice on the exchange.
    exchange_cids = [o.client_order_id for o in venue.exchange.orders.values() if o.user_id == TRADER_USER]
    # an order whose create got no definite answer (a 429, a timeout) and that was not found by its
    # client_order_id never reached the exchange: journaled as rejected, without an exchange id
    sent = [o for o in orders if not (o.order_id is None and o.state is records.OrderState.REJECTED)]
    assert len(exchange_cids) == len(set(exchange_cids)) == len(sent)
    assert set(exchange_cids) == {o.client_order_id for o in sent}
    counters = daemon.p.snapshots.counters()
    assert counters.get("signals", 0) > counters.get("orders", 0) > 0

    # Settlements: all booked, all consistent with the journal's fills.
    assert len(settlements) == len(account.settlements) >= 8
    assert all(r.check.value == "ok" for r in settlements), [r.check_detail for r in settlements]

    # Money: the daemon's cash and open positions equal the exchange's, exactly.
    assert account.reserved_cc == 0  # resting orders were cancelled on the way out
    assert state.portfolio.cash_cc == account.cash_cc
    open_exchange = {t: (whole(p.yes), whole(p.no)) for t, p in account.positions.items() if p.yes or p.no}
    assert {t: c for t, c in positions.items() if c != (0, 0)} == open_exchange
    assert {t: (p.yes_count, p.no_count) for t, p in state.portfolio.positions.items()} == open_exchange
