"""Client-level fault drills against the simulator's own fault injection (the daemon-level drill is
separate): dropped WebSockets, skipped ``seq``, 429 bursts, 5xx and lost order responses.

What they prove: the feed's book after a resync equals the simulator's REST book; reads survive
transient errors; an order POST with an unknown outcome is resolved by ``client_order_id`` and never
duplicated; every fill the exchange recorded is accounted for in the orders' fill counts.
Real time with short timeouts (the simulator is a real server on loopback), each under ``fail_after``.
"""

from __future__ import annotations

from collections import Counter

import trio
from cryptography.hazmat.primitives.asymmetric import rsa

from kalshid.exchange.base import FeedEvent, FeedResynced, FeedStale, Reconnected
from kalshid.exchange.errors import OrderInFlight
from kalshid.exchange.kalshi.rest import KalshiRest, RetryPolicy
from kalshid.exchange.kalshi.ws import FeedConfig, KalshiFeed
from kalshid.exchange.types import Order, OrderRequest
from kalshid.sim.counts import contracts
from kalshid.sim.faults import FaultSpec
from kalshid.sim.model import OrderRequest as SimOrderRequest
from kalshid.sim.server import MAKER_USER, TRADER_USER, SimHandle
from tests.exchange.kalshi.contract_fixtures import current_ticker, rest_client, seed_liquidity, signer, start_sim


def feed_config(sim: SimHandle) -> FeedConfig:
    return FeedConfig(ws_url=sim.ws_url, index_ids=(), lifecycle=False, backoff_base_s=0.01,
                      backoff_max_s=0.05, connect_timeout_s=2.0)


async def books_match(feed: KalshiFeed, rest: KalshiRest, ticker: str) -> None:
    """Poll until the feed's live book equals ``GET /orderbook`` (the caller bounds the wait)."""
    while True:
        book = feed.book(ticker)
        truth = await rest.get_orderbook(ticker)
        if book is not None and not book.stale and (book.yes, book.no) == (truth.yes, truth.no):
            return
        await trio.sleep(0.01)


async def churn(sim: SimHandle, ticker: str, stop: trio.Event) -> None:
    """Keep the simulator's book moving (maker orders added and canceled) until ``stop``."""
    ex, i = sim.venue.exchange, 0
    resting: list[str] = []
    while not stop.is_set():
        i += 1
        side = "yes" if i % 2 else "no"
        price = 1000 + (i * 300) % 2500  # 10c..34c on both sides: never crosses
        resting.append(ex.place_order(MAKER_USER, SimOrderRequest(ticker, side, "buy", contracts(1 + i % 4), price),  # type: ignore[arg-type]
                                      sim.venue.now()).order_id)
        if len(resting) > 6:
            ex.cancel_order(MAKER_USER, resting.pop(0), sim.venue.now())
        sim.venue.publish()
        await trio.sleep(0.005)  # pacing the load generator, not waiting for a result


async def test_ws_drop_reconnects_and_resyncs_to_the_rest_book(nursery: trio.Nursery,
                                                               rsa_key: rsa.RSAPrivateKey) -> None:
    # speed 20: the simulator checks for a due drop every simulated second (= 50 ms here).
    sim = await start_sim(nursery, rsa_key, faults=FaultSpec(ws_drop_every=2.0), speed=20.0)
    ticker = current_ticker(sim)
    seed_liquidity(sim, ticker)
    send, recv = trio.open_memory_channel[FeedEvent](256)
    feed = KalshiFeed(feed_config(sim), signer(rsa_key), send, markets=[ticker])
    async with rest_client(sim, rsa_key) as rest:
        with trio.fail_after(10):
            await nursery.start(feed.run)
            reconnects = 0
            changed_while_down: set[int] = set()
            async for ev in recv:
                if isinstance(ev, FeedStale) and ev.ticker == ticker and "disconnected" in ev.reason:
                    # The connection is down: change the book where only a resync snapshot can show it.
                    price = 2000 + 100 * len(changed_while_down)
                    sim.venue.exchange.place_order(
                        MAKER_USER, SimOrderRequest(ticker, "yes", "buy", contracts(7), price), sim.venue.now())
                    sim.venue.publish()
                    changed_while_down.add(price)
                elif isinstance(ev, Reconnected):
                    reconnects += 1
                elif isinstance(ev, FeedResynced) and reconnects >= 2:
                    break
            book = feed.book(ticker)
            truth = await rest.get_orderbook(ticker)
    assert book is not None and not book.stale
    assert (book.yes, book.no) == (truth.yes, truth.no)
    assert changed_while_down <= {p for p, _ in book.yes}
    assert feed.stats["reconnects"] >= 2 and sim.venue.faults is not None
    assert sim.venue.faults.counts["ws_drop"] >= 2
    sim.stop()


async def test_seq_gap_marks_stale_then_resyncs_to_the_rest_book(nursery: trio.Nursery,
                                                                 rsa_key: rsa.RSAPrivateKey) -> None:
    sim = await start_sim(nursery, rsa_key, faults=FaultSpec(seq_gap_rate=0.05))
    ticker = current_ticker(sim)
    seed_liquidity(sim, ticker)
    send, recv = trio.open_memory_channel[FeedEvent](1024)
    feed = KalshiFeed(feed_config(sim), signer(rsa_key), send, markets=[ticker])
    stop = trio.Event()
    async with rest_client(sim, rsa_key) as rest:
        with trio.fail_after(10):
            await nursery.start(feed.run)
            nursery.start_soon(churn, sim, ticker, stop)
            order: list[str] = []
            async for ev in recv:
                if isinstance(ev, FeedStale) and "seq gap" in ev.reason:
                    order.append("stale")
                elif isinstance(ev, FeedResynced) and order and order[-1] == "stale":
                    order.append("resynced")
                    if order.count("resynced") >= 2:
                        break
            stop.set()
            await books_match(feed, rest, ticker)
    assert order[:2] == ["stale", "resynced"]
    assert feed.stats["resyncs"] >= 2 and sim.venue.faults is not None
    assert sim.venue.faults.counts["seq_gap"] >= 2
    sim.stop()


async def test_reads_survive_429_bursts_and_5xx(nursery: trio.Nursery, rsa_key: rsa.RSAPrivateKey) -> None:
    sim = await start_sim(nursery, rsa_key, faults=FaultSpec(http_429_rate=0.25, http_5xx_rate=0.15))
    ticker = current_ticker(sim)
    seed_liquidity(sim, ticker)
    async with rest_client(sim, rsa_key, retry=RetryPolicy(attempts=12, base_s=0.001, max_s=0.01)) as rest:
        with trio.fail_after(10):
            for _ in range(25):
                assert (await rest.get_market(ticker)).ticker == ticker
                assert (await rest.get_orderbook(ticker)).yes == ((4000, 10),)
                assert (await rest.get_balance()).balance_cc > 0
                assert await rest.list_orders(ticker=ticker) == []
    assert sim.venue.faults is not None
    counts = sim.venue.faults.counts
    assert counts["http_429"] >= 5 and counts.get("http_500", 0) + counts.get("http_503", 0) >= 5
    sim.stop()


async def test_lost_and_failed_order_posts_never_duplicate_or_lose_fills(
        nursery: trio.Nursery, rsa_key: rsa.RSAPrivateKey) -> None:
    sim = await start_sim(nursery, rsa_key, faults=FaultSpec(http_5xx_rate=0.15, lost_response_rate=0.15))
    ticker = current_ticker(sim)
    seed_liquidity(sim, ticker, no=((4400, 1000), (4500, 1000)))
    known: dict[str, Order | None] = {}  # client_order_id → the exchange's answer (None: not created)
    in_flight = 0
    async with rest_client(sim, rsa_key, timeout_s=0.2,
                           retry=RetryPolicy(attempts=12, base_s=0.001, max_s=0.01)) as rest:
        with trio.fail_after(15):
            for i in range(30):
                coid = f"drill-{i}"
                # half cross and fill (IOC), half rest
                request = (OrderRequest(ticker, "yes", "buy", 1 + i % 3, 5600, coid,
                                        time_in_force="immediate_or_cancel") if i % 2 else
                           OrderRequest(ticker, "yes", "buy", 1 + i % 3, 1000 + 100 * (i % 20), coid))
                try:
                    known[coid] = await rest.create_order(request)
                except OrderInFlight as exc:
                    in_flight += 1
                    assert exc.client_order_id == coid
                    known[coid] = await rest.resolve_in_flight(coid, ticker=ticker)  # never a resend
            orders = {o.order_id: o for o in await rest.list_orders(ticker=ticker)}
            fills = await rest.list_fills(ticker=ticker)

    engine_orders = [o for o in sim.venue.exchange.orders.values() if o.user_id == TRADER_USER]
    assert max(Counter(o.client_order_id for o in engine_orders).values()) == 1  # no duplicate order
    created = {coid: o for coid, o in known.items() if o is not None}
    assert {o.client_order_id for o in engine_orders} == set(created)  # resolution matched reality
    assert {o.order_id for o in created.values()} == set(orders)
    assert in_flight >= 3 and sim.venue.faults is not None
    assert sim.venue.faults.counts.get("lost_response", 0) >= 1

    # No lost fill: the fills REST reports add up to every order's fill count, and to the engine's.
    per_order = Counter[str]()
    for f in fills:
        per_order[f.order_id] += f.count
    assert per_order == Counter({oid: o.fill_count for oid, o in orders.items() if o.fill_count})
    assert len({f.fill_id for f in fills}) == len(fills)
    engine_fills = sim.venue.exchange.account(TRADER_USER).fills
    assert sorted(f.fill_id for f in engine_fills) == sorted(f.fill_id for f in fills)
    assert sum(o.fill_count for o in orders.values()) > 0
    sim.stop()
