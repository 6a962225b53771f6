"""The WebSocket side of the contract, against Kalshi's AsyncAPI (``../shared/kalshi/asyncapi.yaml``, found
relative to the repository; a missing spec fails): every command the feed protocol sends validates against
the spec's command schema, every example message the spec gives of a type the client reads is read, and
against the simulator the client's book is the REST book on either ``use_yes_price`` scale."""

from __future__ import annotations

import json
from decimal import Decimal
from functools import cache
from typing import Any

import jsonschema
import pytest
import trio
import yaml
from cryptography.hazmat.primitives.asymmetric import rsa

from kalshid.core.book import OrderBook
from kalshid.exchange import base
from kalshid.exchange.errors import ProtocolError
from kalshid.exchange.kalshi.feedconfig import FeedConfig
from kalshid.exchange.kalshi.feedprotocol import Command, FeedProtocol
from kalshid.exchange.kalshi.wire import feed
from kalshid.exchange.kalshi.wire.fields import loads
from kalshid.exchange.kalshi.ws import KalshiFeed
from kalshid.exchange.types import OrderRequest
from tests.exchange.kalshi.client_drive import load_schemas
from tests.exchange.kalshi.contract_fixtures import (
    NO_BIDS,
    YES_BIDS,
    current_ticker,
    rest_client,
    seed_liquidity,
    signer,
    start_sim,
)
from tests.exchange.kalshi.kalshi_fakes import NEXT_TICKER, TICKER

schemas = load_schemas()
COMMAND_SCHEMAS = {"subscribe": "subscribeCommandPayload", "unsubscribe": "unsubscribeCommandPayload",
                   "update_subscription": "updateSubscriptionCommandPayload"}
NOW = 5.0


def asyncapi() -> dict[str, Any]:
    return schemas.load_spec(schemas.ASYNCAPI)  # type: ignore[no-any-return]


def validate_command(command: Command) -> None:
    body = json.loads(command.encode())
    schemas._validate(asyncapi(), {"$ref": f"#/components/schemas/{COMMAND_SCHEMAS[command.cmd]}"}, body)


def every_command(use_yes_price: bool) -> list[Command]:
    """Subscribing, acknowledgements, markets added and dropped, a book resync, a terminal error."""
    proto = FeedProtocol(FeedConfig(ws_url="ws://x", use_yes_price=use_yes_price), [TICKER])
    sent = proto.connected()
    for sid, command in enumerate(list(sent), start=1):
        channel = command.params["channels"][0]
        proto.receive(json.dumps({"id": command.id, "type": "subscribed", "msg": {"channel": channel, "sid": sid}}),
                      NOW)
    sent += proto.set_markets([TICKER, NEXT_TICKER]) + proto.set_markets([NEXT_TICKER])
    proto.receive(json.dumps({"type": "orderbook_snapshot", "sid": 1, "seq": 1, "msg": {"market_ticker": NEXT_TICKER}}),
                  NOW)
    proto.receive(json.dumps({"type": "orderbook_delta", "sid": 1, "seq": 9, "msg": {}}), NOW)  # a gap: resync
    proto.receive(json.dumps({"type": "error", "sid": 4, "msg": {"code": 25, "msg": "overflow"}}), NOW)
    sent += [o for o in proto.take_outputs() if isinstance(o, Command)]
    return sent


@pytest.mark.parametrize("use_yes_price", [False, True])
def test_every_command_the_feed_sends_validates_against_the_asyncapi(use_yes_price: bool) -> None:
    sent = every_command(use_yes_price)
    assert {c.cmd for c in sent} == set(COMMAND_SCHEMAS)
    for command in sent:
        validate_command(command)
    books = [c for c in sent if c.cmd == "subscribe" and c.params["channels"] == ["orderbook_delta"]]
    assert len(books) == 2 and all(c.params["use_yes_price"] is use_yes_price for c in books)


def test_a_command_off_the_spec_would_fail_the_contract() -> None:
    """The check has teeth: two sids in one update, or a channel the spec does not list."""
    with pytest.raises(jsonschema.ValidationError, match=r"too long|is not valid"):
        validate_command(Command(1, "update_subscription", {"sids": [1, 2], "action": "add_markets",
                                                             "market_tickers": [TICKER]}))
    with pytest.raises(jsonschema.ValidationError, match=r"is not one of"):
        validate_command(Command(2, "subscribe", {"channels": ["ticker_v2"]}))


READ_TYPES = ("ticker", "trade", "fill", "user_order", "market_position", "market_lifecycle_v2",
              "event_fee_update", "cfbenchmarks_value", "cfbenchmarks_value_5hz")


@cache
def raw_asyncapi() -> dict[str, Any]:
    """The AsyncAPI as published, examples included (the validator's copy drops them)."""
    schemas.load_spec(schemas.ASYNCAPI)  # fails, naming the path, when the spec is missing
    with schemas.ASYNCAPI.open(encoding="utf-8") as fh:
        return yaml.safe_load(fh)  # type: ignore[no-any-return]


def examples(kind: str) -> list[dict[str, Any]]:
    found = [ex["payload"] for message in raw_asyncapi()["components"]["messages"].values()
             for ex in message.get("examples") or [] if isinstance(ex.get("payload"), dict)
             and ex["payload"].get("type") == kind]
    assert found, f"the AsyncAPI gives no example of a {kind!r} message"
    return found


@pytest.mark.parametrize("kind", READ_TYPES)
def test_the_spec_examples_of_every_message_the_client_reads_are_read(kind: str) -> None:
    for payload in examples(kind):
        event = feed.event_of(kind, payload["msg"], NOW)
        assert event is not None and event.local_time == NOW, payload
        if isinstance(event, base.FillReceived):
            assert (event.fill.order_id, event.fill.ticker) == (payload["msg"]["order_id"],
                                                                payload["msg"]["market_ticker"])
        elif isinstance(event, base.OrderUpdated):
            assert (event.order.order_id, event.order.book_side) == (payload["msg"]["order_id"],
                                                                     payload["msg"]["book_side"])


def test_the_strike_of_a_lifecycle_message_is_read_where_the_spec_puts_it() -> None:
    """``created`` carries it in ``additional_metadata``, ``metadata_updated`` at the top level."""
    strikes = {}
    for payload in examples("market_lifecycle_v2"):
        event = feed.event_of("market_lifecycle_v2", payload["msg"], NOW)
        assert isinstance(event, base.MarketLifecycle)
        strikes[(event.event_type, event.ticker)] = event.floor_strike
    assert strikes[("created", "INXD-23SEP14-B4487")] == 4487
    assert strikes[("metadata_updated", "KXBTC-25APR30-T0915-B95000")] == 95000
    assert strikes[("metadata_updated", "KXBTC15M-26APR160100-00")] is None  # a subtitle alone


def test_an_event_fee_update_is_read_exactly_and_a_missing_override_is_not_a_clearing() -> None:
    set_, cleared = examples("event_fee_update")
    event = feed.event_of("event_fee_update", set_["msg"], NOW)
    assert event == base.EventFeeUpdated("KXBTCD-26MAY2018", "quadratic", Decimal(1), NOW)
    assert feed.event_of("event_fee_update", cleared["msg"], NOW) == base.EventFeeUpdated(
        "KXBTCD-26MAY2018", None, None, NOW)
    exact = feed.event_of("event_fee_update", loads('{"event_ticker": "E", "fee_type_override": null, '
                                                    '"fee_multiplier_override": 1.25}'), NOW)
    assert isinstance(exact, base.EventFeeUpdated) and exact.fee_multiplier_override == Decimal("1.25")
    # the event named, its overrides unreadable: an update saying so (the event's structure is unknown)
    for bad, said in (({"event_ticker": "E", "fee_type_override": None}, "fee_multiplier_override is missing"),
                      ({"event_ticker": "E", "fee_type_override": "", "fee_multiplier_override": None}, "empty"),
                      ({"event_ticker": "E", "fee_type_override": None, "fee_multiplier_override": "2"},
                       "expected a number")):
        unreadable = feed.event_of("event_fee_update", bad, NOW)
        assert isinstance(unreadable, base.EventFeeUpdated) and unreadable.event_ticker == "E"
        assert unreadable.error is not None and said in unreadable.error
        assert (unreadable.fee_type_override, unreadable.fee_multiplier_override) == (None, None)
    with pytest.raises(ProtocolError, match="missing field 'event_ticker'"):
        feed.event_of("event_fee_update", {"fee_type_override": None, "fee_multiplier_override": None}, NOW)


def test_the_spec_examples_of_the_book_messages_are_read() -> None:
    [snap] = examples("orderbook_snapshot")
    ticker, yes, no, _ = feed.parse_snapshot(snap["msg"])
    assert ticker == snap["msg"]["market_ticker"] and yes and no
    [change] = examples("orderbook_delta")
    assert feed.parse_delta(change["msg"])[1:4] == ("yes", 9600, -5400)


@pytest.mark.parametrize("use_yes_price", [False, True])
async def test_the_feeds_book_is_the_rest_book_on_either_scale(
    nursery: trio.Nursery, rsa_key: rsa.RSAPrivateKey, use_yes_price: bool
) -> None:
    """The client's WebSocket book of a market, after its snapshot and after a delta on the NO side, is
    the book ``GET /markets/{ticker}/orderbook`` gives, whichever ``use_yes_price`` scale it asked for."""
    sim = await start_sim(nursery, rsa_key)
    ticker = current_ticker(sim)
    seed_liquidity(sim, ticker)
    send, receive = trio.open_memory_channel[base.FeedEvent](100)
    config = FeedConfig(ws_url=sim.ws_url, use_yes_price=use_yes_price, user_channels=(), lifecycle=False,
                        index_ids=(), market_channels=("orderbook_delta",))
    feed_ = KalshiFeed(config, signer(rsa_key), send, markets=[ticker])

    async def next_book(pred: Any) -> OrderBook:
        async for event in receive:
            if isinstance(event, base.BookUpdated) and not event.book.stale and pred(event.book):
                return event.book
        raise AssertionError("the feed ended")

    async with rest_client(sim, rsa_key) as rest:
        with trio.fail_after(10):
            await nursery.start(feed_.run)
            first = await next_book(lambda b: True)
            assert (first.yes, first.no) == (YES_BIDS, NO_BIDS)
            rested = await rest.create_order(OrderRequest(ticker, "no", "buy", 3, 4300, "c-no-bid"))
            assert rested.status == "resting"
            after = await next_book(lambda b: len(b.no) == 3)
            book = await rest.get_orderbook(ticker)
    sim.stop()
    assert (after.yes, after.no) == (book.yes, book.no) == (YES_BIDS, ((4300, 3), *NO_BIDS))
