"""Dry run against the simulator: real market data in, not one order out."""

from __future__ import annotations

import trio
from cryptography.hazmat.primitives.asymmetric import rsa

from kalshid.exchange.base import BookUpdated, FeedEvent, FillReceived, OrderUpdated, TradePrinted
from kalshid.exchange.kalshi.ws import FeedConfig, KalshiFeed
from kalshid.exchange.paper import PaperExchange
from kalshid.exchange.paper_feed import paper_feed_task
from kalshid.exchange.types import OrderRequest
from kalshid.sim.counts import contracts
from kalshid.sim.model import OrderRequest as SimOrderRequest
from kalshid.sim.server import TAKER_USER, TRADER_USER
from tests.exchange.kalshi.contract_fixtures import (
    BALANCE_CC,
    CountingTransport,
    current_ticker,
    rest_client,
    seed_liquidity,
    signer,
    sim_now,
    start_sim,
)


async def test_paper_orders_never_reach_the_exchange(nursery: trio.Nursery,
                                                     rsa_key: rsa.RSAPrivateKey) -> None:
    sim = await start_sim(nursery, rsa_key)
    ticker = current_ticker(sim)
    seed_liquidity(sim, ticker, no=((4400, 500), (4500, 500)))
    transport = CountingTransport()
    async with rest_client(sim, rsa_key, transport=transport) as rest:
        paper = PaperExchange(rest, starting_balance_cc=BALANCE_CC, now=lambda: sim_now(sim))
        with trio.fail_after(20):
            for i in range(40):
                taker = await paper.create_order(OrderRequest(
                    ticker, "yes", "buy", 2, 5600, f"ioc-{i}", time_in_force="immediate_or_cancel"))
                assert taker.fill_count == 2
                resting = await paper.create_order(OrderRequest(ticker, "no", "buy", 3, 2000 + i * 100,
                                                                f"rest-{i}"))
                await paper.decrease_order(resting.order_id, ticker=ticker, reduce_by=1)
                assert (await paper.cancel_order(resting.order_id, ticker=ticker)).reduced_by == 2
            await paper.get_balance()
            await paper.list_orders()
            assert len(await paper.list_fills()) == 40
    sent = transport.requests
    assert sent, "the paper exchange read real market data"
    assert all(method == "GET" for method, _ in sent), sent
    assert not [p for _, p in sent if p.startswith("/trade-api/v2/portfolio")], sent
    assert not [o for o in sim.venue.exchange.orders.values() if o.user_id == TRADER_USER]
    sim.stop()


async def test_stage_over_the_real_feed(nursery: trio.Nursery, rsa_key: rsa.RSAPrivateKey) -> None:
    """Book and trades from the simulator's WebSocket drive a resting paper order to a maker fill."""
    sim = await start_sim(nursery, rsa_key)
    ticker = current_ticker(sim)
    seed_liquidity(sim, ticker)
    raw_send, raw_recv = trio.open_memory_channel[FeedEvent](64)
    out_send, out_recv = trio.open_memory_channel[FeedEvent](64)
    config = FeedConfig(ws_url=sim.ws_url, index_ids=())
    feed = KalshiFeed(config, signer(rsa_key), raw_send, markets=[ticker])
    async with rest_client(sim, rsa_key) as rest:
        paper = PaperExchange(rest, starting_balance_cc=BALANCE_CC, feed=feed, now=lambda: sim_now(sim))
        with trio.fail_after(10):
            await nursery.start(feed.run)
            await nursery.start(paper_feed_task, paper, raw_recv, out_send)
            async for ev in out_recv:  # wait until the paper side has seen the live book
                if isinstance(ev, BookUpdated) and ev.book.ticker == ticker and not ev.book.stale:
                    break
            bid = await paper.create_order(OrderRequest(ticker, "yes", "buy", 2, 4200, "paper-bid"))
            assert bid.status == "resting"
            # Someone buys 6 NO at 60c on the real exchange, hitting the 40c YES bids: a trade at
            # YES 40c, through our (virtual) 42c bid.
            sim.venue.exchange.place_order(TAKER_USER, SimOrderRequest(
                ticker, "no", "buy", contracts(6), 6000, time_in_force="immediate_or_cancel"), sim.venue.now())
            sim.venue.publish()
            seen: list[type] = []
            async for ev in out_recv:
                if isinstance(ev, TradePrinted | FillReceived) or (
                        isinstance(ev, OrderUpdated) and ev.order.order_id == bid.order_id):
                    seen.append(type(ev))
                if isinstance(ev, FillReceived):
                    assert (ev.fill.order_id, ev.fill.count, ev.fill.is_taker) == (bid.order_id, 2, False)
                    assert ev.fill.yes_price_cc == 4200
                    break
    assert seen[:2] == [OrderUpdated, TradePrinted]  # the trade before the fill it caused
    assert (await paper.get_order(bid.order_id)).status == "executed"
    sim.stop()
