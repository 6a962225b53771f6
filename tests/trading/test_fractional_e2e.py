"""The whole daemon against its embedded simulator while another trader rests fractional orders (2.50
contracts) in the book, under Trio's MockClock.

What must hold: the daemon's book holds the fractional sizes exactly and stays in sync with the exchange
(no bad frame, no resync); the strategies keep trading the whole-contract part of the book (the levels
above the fractional ones), every fill of the daemon is whole, and none is against a fractional order.
"""

from __future__ import annotations

from pathlib import Path

import trio
from daemonkit import running_daemon, wait_for

from kalshid.core.vocab import Action, Side
from kalshid.exchange.kalshi.ws import KalshiFeed
from kalshid.sim.counts import CONTRACT
from kalshid.sim.model import OrderRequest
from kalshid.sim.server import TRADER_USER
from kalshid.sim.wire import user_uuid

WINDOW_S = 900
FRACTIONAL = 250  # 2.50 contracts, in the engine's hundredths


async def test_fractional_orders_keep_the_book_in_sync_and_the_whole_part_is_traded(
        tmp_path: Path, autojump_clock: trio.testing.MockClock) -> None:
    async with running_daemon(tmp_path, MAX_DAILY_LOSS="100000", DEFAULT_BANKROLL="10000",
                              KALSHID_RISK__BREAKER_DAILY_LOSS_FRACTION="0.9",
                              KALSHID_RISK__BREAKER_DRAWDOWN_FRACTION="0.9") as (daemon, _sup):
        venue = daemon.p.sim_handle.venue
        ex = venue.exchange
        other = user_uuid("fractional-trader")
        ex.open_account(other, 10_000_000)
        ours: set[str] = set()  # the fractional orders
        feed = daemon.p.feed
        assert isinstance(feed, KalshiFeed)

        placed: dict[str, int] = {}  # market → the daemon's fill count when its fractional orders went in

        def rest_fractional_behind_the_top(ticker: str) -> None:
            """2.50 one cent below each best bid of ``ticker``: the top stays whole."""
            book = ex.books[ticker]
            for side in (Side.YES, Side.NO):
                best = book.best_bid(side)
                if best is not None and best[0] > 100:
                    order = ex.place_order(other, OrderRequest(ticker, side, Action.BUY, FRACTIONAL, best[0] - 100),
                                           venue.now())
                    ours.add(order.order_id)
            venue.publish()
            placed[ticker] = len(ex.accounts[TRADER_USER].fills)

        def current() -> str | None:
            market = daemon.p.state.current_market
            return market.ticker if market is not None and market.ticker in ex.books else None

        async def traded_beside_fractional_levels() -> bool:
            ticker = current()
            if ticker is None:
                return False
            if ticker not in placed:
                rest_fractional_behind_the_top(ticker)
                return False
            return len(ex.accounts[TRADER_USER].fills) > placed[ticker]

        await wait_for(traded_beside_fractional_levels, limit_s=6 * WINDOW_S, every_s=5)

        # fresh fractional orders, then the daemon's book equals the engine's to the hundredth
        ticker = current()
        assert ticker is not None
        rest_fractional_behind_the_top(ticker)

        async def book_matches() -> bool:
            mine, engine = feed.book(ticker), ex.books[ticker]
            return (mine is not None and not mine.stale and mine.fractional
                    and list(mine.exact("yes")) == engine.levels(Side.YES)
                    and list(mine.exact("no")) == engine.levels(Side.NO))

        await wait_for(book_matches, limit_s=300, every_s=0.5)
        stats = feed.statistics()
        assert stats["bad_frames"] == 0 and stats["resyncs"] == 0, stats
        assert daemon.p.state.reconciliation.get("ok") is True

    fills = ex.accounts[TRADER_USER].fills
    assert all(f.count % CONTRACT == 0 for f in fills), [f.count for f in fills]  # every fill whole
    against_ours = {m.trade_id for m in ex.accounts[other].fills if m.order_id in ours}
    assert not [f for f in fills if f.trade_id in against_ours]
    assert len(ours) >= 2
