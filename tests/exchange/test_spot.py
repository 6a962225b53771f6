"""The Coinbase spot feed against a loopback fake of Coinbase Exchange's public WebSocket: subscribe,
ticker → IndexPrinted, tolerant parsing, sequence checks, reconnect + resubscribe, watchdog,
fatal errors, coalescing; plus the pure message parser and config validation."""

from __future__ import annotations

import functools
import json
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import attrs
import pytest
import trio
import trio_websocket

from kalshid.exchange import base
from kalshid.exchange.errors import ProtocolError
from kalshid.exchange.spot import CoinbaseSpotFeed, SpotFeedBroken, SpotFeedConfig, SpotSubscriptionRefused
from kalshid.exchange.spotwire import ErrorMessage, Heartbeat, Ignored, Subscriptions, Ticker, parse_message

PRODUCT = "SOL-USD"
SUBSCRIBE = {"type": "subscribe", "product_ids": [PRODUCT], "channels": ["ticker", "heartbeat"]}
T0 = datetime(2026, 3, 2, 14, 30, 0, 123456, tzinfo=UTC)


def iso(seconds: float) -> str:
    t = T0.timestamp() + seconds
    return datetime.fromtimestamp(t, UTC).isoformat(timespec="microseconds").replace("+00:00", "Z")


def ticker(seq: int, price: str, at: float = 0.0, product: str = PRODUCT) -> dict[str, Any]:
    return {"type": "ticker", "sequence": seq, "product_id": product, "price": price, "open_24h": "148.00",
            "volume_24h": "912345.1", "best_bid": price, "best_ask": str(Decimal(price) + Decimal("0.01")),
            "side": "buy", "time": iso(at), "trade_id": 1000 + seq, "last_size": "1.5"}


def heartbeat(seq: int) -> dict[str, Any]:
    return {"type": "heartbeat", "sequence": seq, "last_trade_id": 0, "product_id": PRODUCT, "time": iso(0)}


SUBSCRIPTIONS = {"type": "subscriptions", "channels": [{"name": "ticker", "product_ids": [PRODUCT]},
                                                       {"name": "heartbeat", "product_ids": [PRODUCT]}]}


class ServerConn:
    def __init__(self, ws: trio_websocket.WebSocketConnection) -> None:
        self.ws = ws
        self.subscribe: dict[str, Any] | None = None

    async def send(self, *msgs: dict[str, Any] | str) -> None:
        for m in msgs:
            await self.ws.send_message(m if isinstance(m, str) else json.dumps(m))


Script = Callable[[ServerConn], Awaitable[None]]


class FakeCoinbase:
    """Accepts connections; reads the subscribe message, then runs ``scripts[i]`` for the i-th
    connection (the last script repeats). When a script returns, the connection is closed."""

    def __init__(self) -> None:
        self.scripts: list[Script] = []
        self.connections: list[ServerConn] = []

    async def handler(self, request: trio_websocket.WebSocketRequest) -> None:
        conn = ServerConn(await request.accept())
        self.connections.append(conn)
        script = self.scripts[min(len(self.connections), len(self.scripts)) - 1]
        try:
            conn.subscribe = json.loads(await conn.ws.get_message())
            await script(conn)
        except trio_websocket.ConnectionClosed:
            pass


@attrs.define
class Rig:
    fake: FakeCoinbase
    feed: CoinbaseSpotFeed
    events: trio.MemoryReceiveChannel[base.FeedEvent]

    async def prints(self, n: int) -> list[base.IndexPrinted]:
        out: list[base.IndexPrinted] = []
        with trio.fail_after(5):
            while len(out) < n:
                ev = await self.events.receive()
                assert isinstance(ev, base.IndexPrinted)
                out.append(ev)
        return out


@pytest.fixture
async def fake_url(nursery: trio.Nursery) -> AsyncIterator[tuple[FakeCoinbase, str]]:
    fake = FakeCoinbase()
    server = await nursery.start(functools.partial(trio_websocket.serve_websocket, fake.handler, "127.0.0.1", 0,
                                                   None, disconnect_timeout=1))
    yield fake, f"ws://127.0.0.1:{server.port}/"


def make(fake_url: tuple[FakeCoinbase, str], *scripts: Script, buffer: int = 100,
         **cfg: Any) -> Rig:
    fake, url = fake_url
    fake.scripts = list(scripts)
    send, recv = trio.open_memory_channel[base.FeedEvent](buffer)
    config = SpotFeedConfig(url=url, backoff_base_s=0.01, backoff_max_s=0.05, connect_timeout_s=1, **cfg)
    return Rig(fake, CoinbaseSpotFeed(config, send, rng=lambda: 0.5), recv)


async def start(nursery: trio.Nursery, rig: Rig) -> Rig:
    with trio.fail_after(5):
        await nursery.start(rig.feed.run)
    return rig


# ---------------------------------------------------------------------- the feed


async def test_ticker_prints_with_bad_messages_skipped_and_sequence_checked(
    nursery: trio.Nursery, fake_url: Any
) -> None:
    async def script(c: ServerConn) -> None:
        await c.send(SUBSCRIPTIONS, ticker(10, "150.12", at=1.5))
        await c.send(
            {**ticker(11, "151"), "price": "abc"},  # malformed price
            "not json at all",
            {**ticker(11, "151"), "time": None},  # missing time
            ticker(11, "151", product="BTC-USD"),  # not our product
            {"type": "status", "products": []},  # an unknown type is ignored, not bad
            heartbeat(12),
            ticker(15, "150.20", at=2.0),  # gap 10 -> 15 (normal on this channel): counted
            ticker(13, "199.99", at=1.9),  # older than 15: dropped
            ticker(16, "150.30", at=2.25),
        )
        await trio.sleep_forever()

    rig = await start(nursery, make(fake_url, script))
    prints = await rig.prints(3)
    assert [p.print.value for p in prints] == [Decimal("150.12"), Decimal("150.20"), Decimal("150.30")]
    assert [p.print.exchange_ts for p in prints] == [datetime.fromisoformat(iso(s)) for s in (1.5, 2.0, 2.25)]
    assert all(p.print.index_id == "COINBASE:SOL-USD" and p.local_time == p.print.local_time for p in prints)
    assert prints[0].local_time <= prints[1].local_time <= prints[2].local_time <= trio.current_time()
    assert rig.fake.connections[0].subscribe == SUBSCRIBE
    stats = rig.feed.statistics()
    assert stats["bad_messages"] == 4 and stats["bad_streak"] == 0  # the good ticker ended the streak
    assert stats["sequence_gaps"] == 1 and stats["out_of_order"] == 1
    assert stats["heartbeats"] == 1 and stats["prints"] == 3 and stats["reconnects"] == 0
    assert rig.feed.last_print == prints[-1].print


async def test_dropped_connection_reconnects_and_resubscribes(nursery: trio.Nursery, fake_url: Any) -> None:
    async def first(c: ServerConn) -> None:
        await c.send(SUBSCRIPTIONS, ticker(500, "150.00"))
        # returning closes the connection

    async def second(c: ServerConn) -> None:
        # Sequence tracking is per connection: a lower number on a new connection is accepted.
        await c.send(SUBSCRIPTIONS, ticker(7, "151.00", at=60))
        await trio.sleep_forever()

    rig = await start(nursery, make(fake_url, first, second))
    prints = await rig.prints(2)
    assert [p.print.value for p in prints] == [Decimal("150.00"), Decimal("151.00")]
    assert len(rig.fake.connections) == 2
    assert all(c.subscribe == SUBSCRIBE for c in rig.fake.connections)
    stats = rig.feed.statistics()
    assert stats["connects"] == 2 and stats["reconnects"] == 1 and stats["out_of_order"] == 0


async def test_watchdog_reconnects_a_silent_connection(nursery: trio.Nursery, fake_url: Any) -> None:
    async def silent(c: ServerConn) -> None:
        await c.send(SUBSCRIPTIONS, ticker(1, "150.00"))
        await trio.sleep_forever()  # TCP alive, pings answered by trio-websocket, but no data

    rig = await start(nursery, make(fake_url, silent, watchdog_s=0.1))
    await rig.prints(2)  # the second print comes from the second connection
    assert len(rig.fake.connections) >= 2 and rig.fake.connections[1].subscribe == SUBSCRIBE
    assert rig.feed.statistics()["watchdog_timeouts"] >= 1


async def test_heartbeats_keep_a_quiet_connection(nursery: trio.Nursery, fake_url: Any) -> None:
    async def quiet(c: ServerConn) -> None:
        await c.send(SUBSCRIPTIONS)
        for seq in range(1, 9):  # 8 × 0.06 s = 0.48 s of no trades, > 2 watchdog periods
            await trio.sleep(0.06)  # the fake's own cadence (Coinbase sends one per second)
            await c.send(heartbeat(seq))
        await c.send(ticker(9, "150.50"))
        await trio.sleep_forever()

    rig = await start(nursery, make(fake_url, quiet, watchdog_s=0.2))
    [p] = await rig.prints(1)
    assert p.print.value == Decimal("150.50")
    assert len(rig.fake.connections) == 1 and rig.feed.statistics()["watchdog_timeouts"] == 0
    assert rig.feed.statistics()["heartbeats"] == 8


async def test_unacknowledged_subscription_reconnects(nursery: trio.Nursery, fake_url: Any) -> None:
    async def mute(c: ServerConn) -> None:
        await trio.sleep_forever()

    async def good(c: ServerConn) -> None:
        await c.send(SUBSCRIPTIONS, ticker(1, "150.00"))
        await trio.sleep_forever()

    rig = await start(nursery, make(fake_url, mute, good, subscribe_timeout_s=0.2))
    await rig.prints(1)
    assert len(rig.fake.connections) >= 2
    assert rig.feed.statistics()["reconnects"] == 0  # first acknowledged subscription: not a reconnect


async def test_refused_subscription_is_fatal(fake_url: Any) -> None:
    async def refuse(c: ServerConn) -> None:
        await c.send({"type": "error", "message": "Failed to subscribe", "reason": "SOL-USD is not a valid product"})
        await trio.sleep_forever()

    rig = make(fake_url, refuse)
    with pytest.raises(SpotSubscriptionRefused, match="not a valid product"), trio.fail_after(5):
        await rig.feed.run()
    with pytest.raises(trio.EndOfChannel):  # the feed closed its channel on the way out
        rig.events.receive_nowait()


async def test_confirmation_without_our_ticker_is_fatal(fake_url: Any) -> None:
    async def wrong(c: ServerConn) -> None:
        await c.send({"type": "subscriptions", "channels": [{"name": "heartbeat", "product_ids": [PRODUCT]}]})
        await trio.sleep_forever()

    with pytest.raises(SpotSubscriptionRefused, match="without the ticker"), trio.fail_after(5):
        await make(fake_url, wrong).feed.run()


async def test_server_error_on_live_subscription_reconnects(nursery: trio.Nursery, fake_url: Any) -> None:
    async def then_error(c: ServerConn) -> None:
        await c.send(SUBSCRIPTIONS, ticker(1, "150.00"), {"type": "error", "message": "slow consumer"})
        await trio.sleep_forever()

    rig = await start(nursery, make(fake_url, then_error))
    await rig.prints(2)
    assert rig.feed.statistics()["server_errors"] >= 1 and len(rig.fake.connections) >= 2


async def test_a_stream_of_only_bad_messages_fails_loudly(fake_url: Any) -> None:
    async def garbage(c: ServerConn) -> None:
        await c.send(SUBSCRIPTIONS, heartbeat(1))
        while True:
            await c.send({**ticker(2, "150"), "price": None})
            await trio.sleep(0.01)

    rig = make(fake_url, garbage, bad_window_s=0.1, bad_min_count=5)
    with pytest.raises(SpotFeedBroken, match="malformed messages") as info, trio.fail_after(5):
        await rig.feed.run()
    assert "ticker: missing field 'price'" in str(info.value)
    assert rig.feed.statistics()["bad_messages"] >= 5


async def test_slow_consumer_gets_the_latest_print(nursery: trio.Nursery, fake_url: Any) -> None:
    async def burst(c: ServerConn) -> None:
        await c.send(SUBSCRIPTIONS, ticker(1, "150.01"), ticker(2, "150.02"), ticker(3, "150.03"),
                     ticker(4, "150.04"))
        await trio.sleep_forever()

    rig = await start(nursery, make(fake_url, burst, buffer=1))
    with trio.fail_after(5):
        # Polling the feed's counter under a deadline (the feed has no event to wait on).
        while rig.feed.statistics()["tickers"] < 4:  # noqa: ASYNC110
            await trio.sleep(0.01)
    assert rig.feed.statistics()["coalesced"] == 2  # 150.02 replaced by .03, .03 by .04
    prints = await rig.prints(2)
    assert [p.print.value for p in prints] == [Decimal("150.01"), Decimal("150.04")]
    assert rig.feed.statistics()["pending"] == 0


# ---------------------------------------------------------------------- parsing and config


def test_parse_ticker_exactly() -> None:
    m = parse_message(json.dumps(ticker(42, "150.123456", at=0)))
    assert m == Ticker(sequence=42, product_id=PRODUCT, price=Decimal("150.123456"), time=T0,
                       best_bid=Decimal("150.123456"), best_ask=Decimal("150.133456"))
    assert isinstance(parse_message(b'{"type":"ticker","sequence":1,"product_id":"SOL-USD","price":150.5,'
                                    b'"time":"2026-03-02T14:30:00Z"}'), Ticker)  # JSON number -> Decimal


@pytest.mark.parametrize(("change", "error"), [
    ({"price": "-1"}, "ticker.price: expected a price > 0"),
    ({"price": "NaN"}, "ticker.price: not a finite number"),
    ({"price": None}, "ticker: missing field 'price'"),
    ({"sequence": True}, "ticker.sequence: expected a non-negative integer"),
    ({"sequence": "12"}, "ticker.sequence: expected a non-negative integer"),
    ({"time": "yesterday"}, "ticker.time: not an RFC 3339 time"),
    ({"time": "2026-03-02T14:30:00"}, "ticker.time: time has no UTC offset"),
    ({"product_id": ""}, "ticker.product_id: expected a non-empty string"),
    ({"best_bid": "x"}, "ticker.best_bid: not a decimal number"),
])
def test_parse_ticker_rejects_with_the_field_named(change: dict[str, Any], error: str) -> None:
    with pytest.raises(ProtocolError, match=error.replace(".", r"\.").replace("(", r"\(")):
        parse_message(json.dumps({**ticker(1, "150"), **change}))


def test_parse_other_messages() -> None:
    assert parse_message(json.dumps(heartbeat(9))) == Heartbeat(9, PRODUCT, T0)
    assert parse_message(json.dumps(SUBSCRIPTIONS)) == Subscriptions({"ticker": (PRODUCT,), "heartbeat": (PRODUCT,)})
    assert parse_message('{"type":"subscriptions","channels":["status"]}') == Subscriptions({"status": ()})
    assert parse_message('{"type":"error","message":"Failed","reason":"bad"}') == ErrorMessage("Failed", "bad")
    assert parse_message('{"type":"l2update","changes":[]}') == Ignored("l2update")
    for raw, error in [("[]", "expected a JSON object"), ("{", "not JSON"), ('{"x":1}', "missing field 'type'"),
                       ('{"type":"subscriptions","channels":{}}', "'channels' is not a list"),
                       ('{"type":"subscriptions","channels":[{"name":"t","product_ids":[1]}]}', "list of strings")]:
        with pytest.raises(ProtocolError, match=error):
            parse_message(raw)


def test_config_validates_and_names_the_field() -> None:
    cfg = SpotFeedConfig()
    assert cfg.url == "wss://ws-feed.exchange.coinbase.com" and cfg.index_id == "COINBASE:SOL-USD"
    assert cfg.subscribe_message() == SUBSCRIBE
    assert SpotFeedConfig(heartbeat=False).subscribe_message()["channels"] == ["ticker"]
    bad: list[tuple[dict[str, Any], str]] = [
        ({"product_id": "sol-usd"}, "product_id"), ({"product_id": "SOLUSD"}, "product_id"),
        ({"url": "https://x"}, "url"), ({"watchdog_s": 0}, "watchdog_s"), ({"bad_min_count": -1}, "bad_min_count"),
    ]
    for kwargs, field in bad:
        with pytest.raises(ValueError, match=field):
            SpotFeedConfig(**kwargs)
