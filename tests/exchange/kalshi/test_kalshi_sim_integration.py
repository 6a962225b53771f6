"""The unchanged Kalshi client (REST + WS feed) against the in-process simulator on loopback."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

import trio
from cryptography.hazmat.primitives.asymmetric import rsa

from kalshid.core.markets import parse_market_ticker
from kalshid.exchange import base
from kalshid.exchange.kalshi import auth
from kalshid.exchange.kalshi.discovery import find_open_market
from kalshid.exchange.kalshi.rest import KalshiRest
from kalshid.exchange.kalshi.ws import FeedConfig, KalshiFeed
from kalshid.exchange.types import OrderRequest
from kalshid.sim.server import SimHandle, SimSettings, serve_simulator


async def test_rest_and_feed_against_simulator(nursery: trio.Nursery, rsa_key: rsa.RSAPrivateKey) -> None:
    settings = SimSettings(keys=(("key-123", rsa_key.public_key()),), seed=3)
    with trio.fail_after(10):
        sim: SimHandle = await nursery.start(serve_simulator, settings)
    signer = auth.Signer("key-123", rsa_key)
    now = datetime.fromtimestamp(sim.venue.clock.now(), UTC)
    async with KalshiRest(sim.rest_base_url, signer) as rest:
        with trio.fail_after(10):
            status = await rest.get_exchange_status()
            market = await find_open_market(rest, now)
            assert status.exchange_active and market is not None
            parse_market_ticker(market.ticker)  # a well-formed KXSOL15M ticker
            assert market.open_time <= now < market.close_time
            book = await rest.get_orderbook(market.ticker)
            balance = await rest.get_balance()
            assert balance.balance_cc > 0
            coid = str(uuid.uuid4())
            order = await rest.create_order(
                OrderRequest(market.ticker, "yes", "buy", 1, 100, coid, time_in_force="good_till_canceled")
            )
            assert order.client_order_id == coid and order.status in ("resting", "executed")
            assert (await rest.resolve_in_flight(coid, ticker=market.ticker)) == await rest.get_order(
                order.order_id
            )
            if order.status == "resting":
                cancel = await rest.cancel_order(order.order_id, ticker=market.ticker)
                assert cancel.order is not None and cancel.order.status == "canceled"

    send, recv = trio.open_memory_channel[base.FeedEvent](1000)
    feed = KalshiFeed(FeedConfig(ws_url=sim.ws_url), signer, send, markets=[market.ticker])
    with trio.fail_after(10):
        await nursery.start(feed.run)
        got_book = got_index = False
        async for ev in recv:
            if isinstance(ev, base.BookUpdated) and ev.book.ticker == market.ticker:
                assert not ev.book.stale
                got_book = True
            elif isinstance(ev, base.IndexPrinted):
                assert ev.print.index_id == "SOLUSD_RTI" and ev.print.value > 0
                got_index = True
            if got_book and got_index:
                break
    assert book.ticker == market.ticker
    sim.stop()
