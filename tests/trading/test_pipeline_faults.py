"""The daemon through every fault the simulator can inject, under MockClock: dropped WebSockets,
skipped sequence numbers, 5xx and 429 answers, and order responses that never arrive.

Afterwards: each client_order_id is on the exchange at most once, every exchange fill is booked
exactly once, cash and positions equal the exchange's to the centi-cent, and the live book equals
the exchange's own book.
"""

from __future__ import annotations

from pathlib import Path

from daemonkit import running_daemon, wait_for

from kalshid.sim.counts import whole
from kalshid.sim.server import TRADER_USER
from kalshid.trading.netting import OPEN_SUFFIX

FAULTS = ("ws_drop_every=240,seq_gap_rate=0.01,http_5xx_rate=0.04,http_429_rate=0.04,"
          "lost_response_rate=0.04")


async def test_books_and_positions_stay_right_through_every_fault(tmp_path: Path, autojump_clock: object) -> None:
    async with running_daemon(tmp_path, KALSHID_SIM__FAULTS=FAULTS, MAX_DAILY_LOSS="100000",
                              KALSHID_RISK__BREAKER_DAILY_LOSS_FRACTION="0.9",
                              KALSHID_RISK__BREAKER_DRAWDOWN_FRACTION="0.9") as (daemon, _sup):
        venue = daemon.p.sim_handle.venue
        injected = venue.faults

        async def enough() -> bool:
            journal = daemon.p.journal
            counts = injected.counts
            return (journal is not None and len(await journal.settlements()) >= 2
                    and all(counts.get(k, 0) > 0 for k in ("ws_drop", "seq_gap", "lost_response")))

        await wait_for(enough, limit_s=8 * 900, every_s=30)

        # The live book equals the exchange's book (polled: the feed may be mid-resync).
        current = daemon.p.state.current_market
        assert current is not None and daemon.p.feed is not None
        feed = daemon.p.feed

        async def book_matches() -> bool:
            ours = feed.book(current.ticker)
            book = venue.exchange.books[current.ticker]
            return (ours is not None and not ours.stale  # the engine counts hundredths of a contract
                    and list(ours.yes) == [(p, whole(n)) for p, n in book.levels("yes")]
                    and list(ours.no) == [(p, whole(n)) for p, n in book.levels("no")])

        await wait_for(book_matches, limit_s=120, every_s=0.5)

    counts = injected.counts
    assert counts.get("http_500", 0) + counts.get("http_503", 0) > 0 and counts.get("http_429", 0) > 0
    engine = venue.exchange
    account = engine.accounts[TRADER_USER]
    cids = [o.client_order_id for o in engine.orders.values() if o.user_id == TRADER_USER]
    assert cids and len(cids) == len(set(cids))

    from kalshid.store import open_journal
    cfg = daemon.cfg
    async with open_journal(cfg.journal_path, cfg.journal_mode, inline=True) as journal:
        fills = await journal.all_fills()
        known = [await journal.get_order_by_client_id(c) for c in cids]
    assert all(k is not None and not k.external for k in known)  # no unexplained order
    # a fill that closed the opposite holding and opened the rest is journaled in two parts (Kalshi nets)
    assert sorted({f.fill_id.removesuffix(OPEN_SUFFIX) for f in fills}) == sorted(f.fill_id for f in account.fills)
    assert daemon.p.state.portfolio.cash_cc == account.cash_cc
    open_exchange = {t: (whole(p.yes), whole(p.no)) for t, p in account.positions.items() if p.yes or p.no}
    assert {t: (p.yes_count, p.no_count) for t, p in daemon.p.state.portfolio.positions.items()} == open_exchange
