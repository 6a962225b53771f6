"""kalshid's client against an account holding a fractional count (placed by hand): refused, never rounded.

kalshid trades and books whole contracts. The simulator, like Kalshi, accepts 0.01 granularity; here a
user's fractional trade lands on the account kalshid reads, and every read of it must fail loudly with a
message naming the field, the value and what to do, while reads without a fractional count still work
and reconciliation books nothing from an answer it refused."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path

import httpx
import pytest
import trio
from simfakes import TICKER
from simkit import KalshiAuth, other_rests

from kalshid.exchange.base import FeedEvent, FillReceived, Reconnected
from kalshid.exchange.errors import ExchangeError, ProtocolError
from kalshid.exchange.kalshi.auth import Signer
from kalshid.exchange.kalshi.ratelimit import RateLimits
from kalshid.exchange.kalshi.rest import KalshiRest, RetryPolicy
from kalshid.exchange.kalshi.ws import FeedConfig, KalshiFeed
from kalshid.sim.counts import parse_count
from kalshid.sim.server import SimHandle
from kalshid.store import open_journal
from kalshid.trading.reconcile import reconcile

WHAT_TO_DO = "kalshid trades and books whole contracts and never rounds one"


async def by_hand(sim: SimHandle, signer: Signer, count: str) -> None:
    """The account's owner buys ``count`` YES at 0.40 on the website (here: the simulator's REST)."""
    async with httpx.AsyncClient(base_url=sim.rest_base_url, auth=KalshiAuth(signer)) as web:
        r = await web.post("/portfolio/events/orders", json={
            "ticker": TICKER, "side": "bid", "count": count, "price": "0.40",
            "time_in_force": "immediate_or_cancel", "self_trade_prevention_type": "taker_at_cross"})
        assert r.status_code == 201 and parse_count(r.json()["fill_count"]) == parse_count(count), r.text


@pytest.fixture
async def rest(sim: SimHandle, signer: Signer) -> AsyncIterator[KalshiRest]:
    client = KalshiRest(sim.rest_base_url, signer, timeout_s=5, limits=RateLimits.for_tier(100_000, 100_000),
                        retry=RetryPolicy(attempts=2, base_s=0.01, max_s=0.02))
    async with client:
        yield client


async def test_every_read_of_a_fractional_count_is_refused_by_name(sim: SimHandle, signer: Signer,
                                                                   rest: KalshiRest) -> None:
    other_rests(sim, "no", "10", 6000)
    await by_hand(sim, signer, "2.50")
    with pytest.raises(ProtocolError) as position:
        await rest.list_positions()
    assert f"position_fp: '2.50' is a fractional count; {WHAT_TO_DO}" in str(position.value)
    with pytest.raises(ProtocolError) as fills:
        await rest.list_fills()
    assert f"count_fp: '2.50' is a fractional count; {WHAT_TO_DO}" in str(fills.value)
    with pytest.raises(ProtocolError) as orders:
        await rest.list_orders()
    assert "fill_count_fp: '2.50' is a fractional count" in str(orders.value)
    assert "Keep fractional trades off the account kalshid trades" in str(orders.value)
    balance = await rest.get_balance()  # nothing fractional in it: still read exactly
    assert balance.balance_cc == 1_000 * 10_000 - 10_000 - 500  # $1.00 for 2.5 at 0.40, 5c fee


async def test_reconciliation_refuses_and_books_nothing(sim: SimHandle, signer: Signer, rest: KalshiRest,
                                                        tmp_path: Path) -> None:
    other_rests(sim, "no", "10", 6000)
    await by_hand(sim, signer, "3")
    await by_hand(sim, signer, "0.75")
    async with open_journal(tmp_path / "j.sqlite3", "sim", inline=True) as journal:
        with pytest.raises(ExchangeError) as refused:  # the daemon logs it, alerts, retries, does not trade
            await reconcile(rest, journal, datetime.fromtimestamp(sim.venue.now(), UTC))
        assert "'0.75' is a fractional count" in str(refused.value)
        assert await journal.all_fills() == []  # not the whole fill booked and the fractional one dropped


async def test_a_fractional_fill_on_the_feed_is_never_delivered_and_sends_the_daemon_to_rest(
        sim: SimHandle, signer: Signer) -> None:
    """A fill the feed cannot read exactly is not delivered (never rounded); the feed keeps running,
    counts the bad frame and reconnects, and ``Reconnected`` makes the daemon reconcile over REST, which
    refuses the fractional fill by name (above)."""
    other_rests(sim, "no", "10", 6000)
    send, recv = trio.open_memory_channel[FeedEvent](100)
    config = FeedConfig(ws_url=sim.ws_url, index_ids=(), market_channels=(),
                        user_channels=("fill",), lifecycle=False)
    feed = KalshiFeed(config, signer, send, markets=[TICKER])
    with trio.fail_after(10):
        async with trio.open_nursery() as nursery:
            await nursery.start(feed.run)
            await by_hand(sim, signer, "1")
            async for event in recv:
                if isinstance(event, FillReceived):
                    assert event.fill.count == 1
                    break
            await by_hand(sim, signer, "1.25")
            async for event in recv:
                assert not isinstance(event, FillReceived), f"a fractional fill was delivered: {event}"
                if isinstance(event, Reconnected):
                    break
            assert feed.statistics().get("bad_frames", 0) >= 1
            nursery.cancel_scope.cancel()
