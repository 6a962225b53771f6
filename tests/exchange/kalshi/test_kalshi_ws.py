"""The WebSocket feed against a loopback fake Kalshi server: auth, subscriptions, books, seq-gap
resync, reconnect + resubscribe, watchdog, backpressure."""

from __future__ import annotations

import functools
from collections.abc import AsyncIterator
from decimal import Decimal
from typing import Any, TypeVar

import attrs
import pytest
import trio
import trio_websocket
from cryptography.hazmat.primitives.asymmetric import rsa

from kalshid.exchange import base, wsclient
from kalshid.exchange.kalshi import auth
from kalshid.exchange.kalshi.ws import FeedBackpressure, FeedConfig, KalshiFeed
from tests.exchange.kalshi.kalshi_fakes import NEXT_TICKER, TICKER, fill_json, order_json
from tests.exchange.kalshi.ws_fakes import FakeKalshiWs

E = TypeVar("E")


@attrs.define
class Rig:
    fake: FakeKalshiWs
    feed: KalshiFeed
    events: trio.MemoryReceiveChannel[base.FeedEvent]
    seen: list[Any] = attrs.Factory(list)

    async def next(self, kind: type[E], pred: Any = None) -> E:
        """The next event of ``kind`` (matching ``pred``), under a deadline."""
        with trio.fail_after(5):
            async for ev in self.events:
                self.seen.append(ev)
                if isinstance(ev, kind) and (pred is None or pred(ev)):
                    return ev
        raise AssertionError("feed ended")


@pytest.fixture
async def fake_url(
    nursery: trio.Nursery, rsa_key: rsa.RSAPrivateKey
) -> AsyncIterator[tuple[FakeKalshiWs, str]]:
    fake = FakeKalshiWs(rsa_key.public_key())
    server = await nursery.start(
        functools.partial(trio_websocket.serve_websocket, fake.handler, "127.0.0.1", 0, None)
    )
    yield fake, f"ws://127.0.0.1:{server.port}/trade-api/ws/v2"


async def start(
    nursery: trio.Nursery,
    fake_url: tuple[FakeKalshiWs, str],
    rsa_key: rsa.RSAPrivateKey,
    buffer: int = 100,
    **cfg: Any,
) -> Rig:
    fake, url = fake_url
    send, recv = trio.open_memory_channel[base.FeedEvent](buffer)
    config = FeedConfig(ws_url=url, backoff_base_s=0.01, backoff_max_s=0.05, **cfg)
    feed = KalshiFeed(config, auth.Signer("key-123", rsa_key), send, markets=[TICKER], rng=lambda: 0.5)
    with trio.fail_after(5):
        await nursery.start(feed.run)
    return Rig(fake, feed, recv)


async def test_signed_handshake_one_subscribe_per_channel(
    nursery: trio.Nursery, fake_url: Any, rsa_key: rsa.RSAPrivateKey
) -> None:
    rig = await start(nursery, fake_url, rsa_key)
    conn = rig.fake.connections[0]
    subs = {c["params"]["channels"][0]: c["params"] for c in conn.commands if c["cmd"] == "subscribe"}
    assert set(subs) == {
        "orderbook_delta",
        "ticker",
        "trade",
        "fill",
        "user_orders",
        "market_positions",
        "market_lifecycle_v2",
        "cfbenchmarks_value",
    }
    assert subs["orderbook_delta"]["market_tickers"] == [TICKER]
    assert subs["orderbook_delta"]["use_yes_price"] is False  # the scale is always asked for explicitly
    assert subs["cfbenchmarks_value"] == {"channels": ["cfbenchmarks_value"], "index_ids": ["SOLUSD_RTI"]}
    assert "market_tickers" not in subs["fill"]
    assert len({c["id"] for c in conn.commands}) == len(conn.commands)  # ids unique per session
    assert rig.fake.rejected == 0


async def test_bad_key_is_rejected_and_retried(
    nursery: trio.Nursery, fake_url: Any, rsa_key: rsa.RSAPrivateKey
) -> None:
    fake, url = fake_url
    other = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    send, _recv = trio.open_memory_channel[base.FeedEvent](10)
    feed = KalshiFeed(
        FeedConfig(ws_url=url, backoff_base_s=0.01, backoff_max_s=0.02), auth.Signer("key-123", other), send
    )
    nursery.start_soon(feed.run)
    with trio.fail_after(5):  # rejected, backed off, tried again with fresh headers
        await fake.wait_until(lambda: fake.rejected >= 2)
    assert not fake.connections


async def test_snapshot_delta_and_typed_events(
    nursery: trio.Nursery, fake_url: Any, rsa_key: rsa.RSAPrivateKey
) -> None:
    rig = await start(nursery, fake_url, rsa_key)
    first = await rig.next(base.BookUpdated)
    assert first.book.best_yes_bid == (4200, 35) and first.book.yes_ask == (4400, 10) and not first.book.stale
    conn = rig.fake.connections[0]
    await conn.delta(TICKER, "no", 5700, 4)
    upd = await rig.next(base.BookUpdated)
    assert upd.book.yes_ask == (4300, 4) and upd.book.exchange_ts is not None
    assert upd.book.exchange_ts.microsecond == 500_000 and upd.local_time > 0
    await conn.push("fill", "fill", {**fill_json(), "client_order_id": "c-1", "post_position_fp": "5.00"})
    fill = await rig.next(base.FillReceived)
    assert fill.fill.count == 5 and fill.fill.client_order_id == "c-1" and fill.fill.post_position == 5
    uo = order_json(created_ts_ms=1783551000123)
    del uo["no_price_dollars"]
    await conn.push("user_orders", "user_order", {**uo, "status": "unknown"})  # skipped, not fatal
    await conn.push("user_orders", "user_order", uo)
    order = (await rig.next(base.OrderUpdated)).order
    assert order.book_side == "bid" and order.no_price_cc == 5800 and order.remaining_count == 3
    await conn.push(
        "market_positions",
        "market_position",
        {
            "user_id": "u",
            "market_ticker": TICKER,
            "position_fp": "100.00",
            "position_cost_dollars": "50.0000",
            "realized_pnl_dollars": "10.0000",
            "fees_paid_dollars": "1.0000",
            "position_fee_cost_dollars": "1.0000",
            "volume_fp": "15.00",
        },
    )
    pos = await rig.next(base.PositionUpdated)
    assert pos.position == 100 and pos.position_cost_cc == 500_000 and pos.fees_paid_cc == 10_000
    await conn.push(
        "cfbenchmarks_value",
        "cfbenchmarks_value",
        {
            "index_id": "SOLUSD_RTI",
            "received_at": 1783551000250,
            "data": '{"type":"value","time":1783551000000,"id":"SOLUSD_RTI","value":"187.1234"}',
            "avg_60s_data": {"value": "187.0001", "window_size": 60, "window_start_ts_ms": 1783550940000,
                             "window_end_ts_exclusive": 1783551000000},
        },
    )
    idx = (await rig.next(base.IndexPrinted)).print
    assert idx.value == Decimal("187.1234") and idx.avg_60s == Decimal("187.0001")
    assert idx.exchange_ts is not None and idx.exchange_ts.timestamp() == 1783551000
    await conn.push(
        "market_lifecycle_v2",
        "market_lifecycle_v2",
        {
            "market_ticker": TICKER,
            "event_type": "determined",
            "result": "yes",
            "determination_ts": 1783551610,
            "settlement_value": "1.0000",
        },
    )
    lc = await rig.next(base.MarketLifecycle)
    assert lc.result == "yes" and lc.settlement_value_cc == 10_000


@pytest.mark.parametrize("code", [10, 25])
async def test_terminal_error_resubscribes_the_channel(
    nursery: trio.Nursery, fake_url: Any, rsa_key: rsa.RSAPrivateKey, code: int
) -> None:
    rig = await start(nursery, fake_url, rsa_key)
    await rig.next(base.BookUpdated)
    conn = rig.fake.connections[0]
    fill_sid, book_sid = conn.sid_of["fill"], conn.sid_of["orderbook_delta"]
    await conn.send({"type": "error", "sid": fill_sid, "msg": {"code": code, "msg": "Subscription buffer overflow"}})
    await conn.wait_command(lambda c: c["cmd"] == "subscribe" and c["params"]["channels"] == ["fill"]
                            and conn.sid_of["fill"] != fill_sid)
    await conn.send({"type": "error", "sid": book_sid, "msg": {"code": code, "msg": "Channel error"}})
    assert (await rig.next(base.FeedStale)).ticker == TICKER
    await rig.next(base.FeedResynced)
    assert rig.feed.statistics()["resubscribes"] == 2
    await conn.push("fill", "fill", fill_json())  # on the new sid
    assert (await rig.next(base.FillReceived)).fill.fill_id == "f-1"


async def test_seq_gap_resubscribes_for_fresh_snapshot(
    nursery: trio.Nursery, fake_url: Any, rsa_key: rsa.RSAPrivateKey
) -> None:
    rig = await start(nursery, fake_url, rsa_key)
    await rig.next(base.BookUpdated)
    conn = rig.fake.connections[0]
    old_sid = conn.sid_of["orderbook_delta"]
    await conn.delta(TICKER, "yes", 4200, -35, skip=True)  # lost: the client never sees it
    await conn.delta(TICKER, "yes", 4100, -20)  # arrives with a seq gap
    stale = await rig.next(base.FeedStale)
    assert stale.ticker == TICKER and "gap" in stale.reason
    assert rig.feed.book(TICKER).stale  # type: ignore[union-attr]
    await rig.next(base.FeedResynced)
    fresh = await rig.next(base.BookUpdated)
    # The fresh snapshot includes both deltas (the lost one too): best YES bid is now 0.41 x 100.
    assert fresh.book.best_yes_bid == (4100, 100) and not fresh.book.stale
    unsub = [c for c in conn.commands if c["cmd"] == "unsubscribe"]
    assert unsub and unsub[0]["params"] == {"sids": [old_sid]}
    assert (
        sum(
            1
            for c in conn.commands
            if c["cmd"] == "subscribe" and c["params"]["channels"] == ["orderbook_delta"]
        )
        == 2
    )
    # Deltas on the new sid apply normally.
    await conn.delta(TICKER, "yes", 4300, 1)
    assert (await rig.next(base.BookUpdated)).book.best_yes_bid == (4300, 1)


async def test_added_market_and_reconnect_resubscribe_everything(
    nursery: trio.Nursery, fake_url: Any, rsa_key: rsa.RSAPrivateKey
) -> None:
    rig = await start(nursery, fake_url, rsa_key)
    await rig.next(base.BookUpdated)
    conn = rig.fake.connections[0]
    await rig.feed.set_markets([TICKER, NEXT_TICKER])
    added = await rig.next(base.BookUpdated, lambda e: e.book.ticker == NEXT_TICKER)
    assert added.book.best_no_bid == (5600, 10)

    def updates_sent() -> list[dict[str, Any]]:
        return [c["params"] for c in conn.commands if c["cmd"] == "update_subscription"]

    with trio.fail_after(5):
        await rig.fake.wait_until(lambda: len(updates_sent()) >= 3)
    updates = updates_sent()
    assert {u["action"] for u in updates} == {"add_markets"} and len(updates) == 3  # book, ticker, trade
    assert all(u["market_tickers"] == [NEXT_TICKER] and len(u["sids"]) == 1 for u in updates)

    await conn.ws.aclose()  # the exchange drops us
    stale = {(await rig.next(base.FeedStale)).ticker for _ in range(2)}
    assert stale == {TICKER, NEXT_TICKER}
    await rig.next(base.Reconnected)
    resynced = {(await rig.next(base.FeedResynced)).ticker for _ in range(2)}
    assert resynced == {TICKER, NEXT_TICKER}
    conn2 = rig.fake.connections[1]
    book_sub = next(
        c
        for c in conn2.commands
        if c["cmd"] == "subscribe" and c["params"]["channels"] == ["orderbook_delta"]
    )
    assert sorted(book_sub["params"]["market_tickers"]) == sorted([TICKER, NEXT_TICKER])
    with trio.fail_after(5):
        await rig.fake.wait_until(lambda: len([c for c in conn2.commands if c["cmd"] == "subscribe"]) >= 8)

    await rig.feed.set_markets([NEXT_TICKER])
    await conn2.wait_command(
        lambda c: c["cmd"] == "update_subscription" and c["params"]["action"] == "delete_markets"
    )
    assert rig.feed.book(TICKER) is None


async def test_watchdog_reconnects_when_pings_go_unanswered(
    nursery: trio.Nursery, fake_url: Any, rsa_key: rsa.RSAPrivateKey, monkeypatch: pytest.MonkeyPatch
) -> None:
    async def swallow_ping(self: Any, event: Any) -> None:  # a peer that has gone silent
        return None

    # Patched before connecting: trio-websocket binds its event handlers when a connection starts.
    monkeypatch.setattr(trio_websocket._impl.WebSocketConnection, "_handle_ping_event", swallow_ping)
    rig = await start(nursery, fake_url, rsa_key, watchdog_s=0.05, pong_timeout_s=0.05)
    await rig.next(base.BookUpdated)
    await rig.next(base.FeedStale)
    await rig.next(base.Reconnected)
    assert len(rig.fake.connections) >= 2 and rig.feed.statistics()["pings"] >= 1


async def test_watchdog_still_runs_while_books_are_held_back(
    nursery: trio.Nursery, fake_url: Any, rsa_key: rsa.RSAPrivateKey, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A consumer that has stopped reading (books held back for it) must not hide a dead connection."""
    async def swallow_ping(self: Any, event: Any) -> None:
        return None

    monkeypatch.setattr(trio_websocket._impl.WebSocketConnection, "_handle_ping_event", swallow_ping)
    rig = await start(nursery, fake_url, rsa_key, buffer=1, watchdog_s=0.05, pong_timeout_s=0.05)
    conn = rig.fake.connections[0]
    for price in (4100, 4200, 4300):  # the snapshot fills the buffer: these are held back
        await conn.delta(TICKER, "yes", price, 1)
    with trio.fail_after(5):
        # Polling the feed's counters under a deadline (nothing is read from its channel meanwhile).
        while not (rig.feed.statistics()["undelivered_books"] and rig.feed.statistics()["pings"]):  # noqa: ASYNC110
            await trio.sleep(0.01)


async def test_quiet_but_alive_connection_is_kept(
    nursery: trio.Nursery, fake_url: Any, rsa_key: rsa.RSAPrivateKey
) -> None:
    rig = await start(nursery, fake_url, rsa_key, watchdog_s=0.02, pong_timeout_s=1.0)
    await rig.next(base.BookUpdated)
    with trio.fail_after(5):
        # Polling the feed's counter under a deadline (it has no event to wait on).
        while rig.feed.statistics()["pings"] < 3:  # noqa: ASYNC110
            await trio.sleep(0.01)
    assert len(rig.fake.connections) == 1


async def test_book_updates_coalesce_but_fills_never_drop(
    nursery: trio.Nursery, fake_url: Any, rsa_key: rsa.RSAPrivateKey
) -> None:
    rig = await start(nursery, fake_url, rsa_key, buffer=1, max_block_s=5.0)
    conn = rig.fake.connections[0]
    for _ in range(20):
        await conn.delta(TICKER, "yes", 4200, 1)
    await conn.push("fill", "fill", fill_json())
    fill_seen = False
    last_book = None
    with trio.fail_after(5):
        while not fill_seen or last_book is None or last_book.best_yes_bid != (4200, 55):
            ev = await rig.events.receive()
            if isinstance(ev, base.FillReceived):
                fill_seen = True
            elif isinstance(ev, base.BookUpdated):
                last_book = ev.book
    assert rig.feed.statistics()["coalesced"] > 0


async def test_consumer_that_stops_reading_fails_loudly(fake_url: Any, rsa_key: rsa.RSAPrivateKey) -> None:
    fake, url = fake_url
    send, recv = trio.open_memory_channel[base.FeedEvent](1)
    feed = KalshiFeed(
        FeedConfig(ws_url=url, max_block_s=0.2), auth.Signer("key-123", rsa_key), send, markets=[TICKER]
    )
    with pytest.RaisesGroup(FeedBackpressure, flatten_subgroups=True), trio.fail_after(5):
        async with trio.open_nursery() as n:
            await n.start(feed.run)
            conn = fake.connections[-1]
            for i in range(3):  # the first fills the buffer, the second blocks until max_block_s
                await conn.push("fill", "fill", fill_json(fill_id=f"f-{i}"))
    recv.close()


async def test_set_markets_on_a_closing_connection_waits_for_the_next_one(
    nursery: trio.Nursery, fake_url: Any, rsa_key: rsa.RSAPrivateKey
) -> None:
    rig = await start(nursery, fake_url, rsa_key)
    await rig.next(base.BookUpdated)
    conn = rig.feed._conn
    assert conn is not None

    async def refuse(message: object) -> None:
        raise wsclient.WsClosed(1000, "closing")

    conn.ws.send_message = refuse  # type: ignore[method-assign]  # the connection is closing
    await rig.feed.set_markets([TICKER, NEXT_TICKER])  # no error: the next connection subscribes
    assert rig.feed.statistics()["markets"] == 2


async def test_unreadable_fill_reconnects_instead_of_ending_the_feed(
    nursery: trio.Nursery, fake_url: Any, rsa_key: rsa.RSAPrivateKey
) -> None:
    rig = await start(nursery, fake_url, rsa_key)
    await rig.next(base.BookUpdated)
    conn = rig.fake.connections[0]
    await conn.push("fill", "fill", {**fill_json(), "count_fp": "lots"})
    stale = await rig.next(base.FeedStale)
    assert "FeedDesync" in stale.reason and "count_fp" in stale.reason
    await rig.next(base.Reconnected)  # the consumer reconciles fills over REST on this event
    assert rig.feed.statistics()["bad_frames"] == 1
    await rig.fake.connections[1].push("fill", "fill", fill_json())
    assert (await rig.next(base.FillReceived)).fill.fill_id == "f-1"
