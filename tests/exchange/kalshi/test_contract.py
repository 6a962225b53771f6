"""One contract, two exchanges: ``KalshiRest`` against the in-process simulator, and ``PaperExchange``
wrapping that same simulator's market data. Every test runs against both and asserts the same.

On the Kalshi venue every answer the simulator gives is validated against Kalshi's OpenAPI v3.31.0
(:class:`contract_fixtures.SpecCheckingTransport`, strict: unknown or removed fields fail, statuses
must be declared by the operation); a test fails if any answer did not match, and the spec file
must be present (it is looked for relative to the repository; a missing spec fails, never skips).

What the contract guarantees on a duplicate ``client_order_id``: **never a second order**. When the
order matches, ``create_order`` returns the existing order (``KalshiRest`` resolves the exchange's 409
by looking the id up; the paper exchange does the same lookup locally); otherwise :class:`Conflict`.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import attrs
import pytest
import trio
from cryptography.hazmat.primitives.asymmetric import rsa

from kalshid.core.fees import TAKER_RATE, fee_terms, order_fee_increment_cc
from kalshid.exchange.base import Exchange
from kalshid.exchange.errors import BadRequest, Conflict, InsufficientBalance, NotFound
from kalshid.exchange.paper import PaperExchange
from kalshid.exchange.types import AmendRequest, OrderRequest
from kalshid.sim.server import SimHandle
from tests.exchange.kalshi.contract_fixtures import (
    BALANCE_CC,
    SpecCheckingTransport,
    current_ticker,
    load_schemas,
    rest_client,
    seed_liquidity,
    sim_now,
    start_sim,
)


@attrs.frozen
class Venue:
    name: str
    exchange: Exchange
    ticker: str
    sim: SimHandle
    spec: SpecCheckingTransport


@pytest.fixture(params=["kalshi", "paper"])
async def venue(
    request: pytest.FixtureRequest, nursery: trio.Nursery, rsa_key: rsa.RSAPrivateKey
) -> AsyncIterator[Venue]:
    sim = await start_sim(nursery, rsa_key)
    ticker = current_ticker(sim)
    seed_liquidity(sim, ticker)
    spec = SpecCheckingTransport()
    async with rest_client(sim, rsa_key, transport=spec) as rest:
        exchange: Exchange = rest
        if request.param == "paper":
            exchange = PaperExchange(rest, starting_balance_cc=BALANCE_CC, now=lambda: sim_now(sim))
        yield Venue(request.param, exchange, ticker, sim, spec)
    sim.stop()
    assert spec.violations == [], "\n".join(spec.violations)
    assert sum(spec.checked.values()) > 0


def order(
    v: Venue, coid: str, *, side: str = "yes", action: str = "buy", count: int = 1, price: int = 3000, **kw: Any
) -> OrderRequest:
    return OrderRequest(v.ticker, side, action, count, price, coid, **kw)  # type: ignore[arg-type]


def ioc(v: Venue, coid: str, **kw: Any) -> OrderRequest:
    return order(v, coid, time_in_force="immediate_or_cancel", **kw)


def test_the_contract_is_kalshi_v3_31() -> None:
    assert load_schemas().openapi_version() == "3.31.0"


async def test_ioc_buy_that_crosses_executes_with_consistent_fills(venue: Venue) -> None:
    ex = venue.exchange
    with trio.fail_after(10):
        placed = await ex.create_order(ioc(venue, "c-ioc", count=8, price=5600))
        o = await ex.get_order(placed.order_id)
        fills = [f for f in await ex.list_fills(ticker=venue.ticker) if f.order_id == o.order_id]
    assert (placed.status, placed.fill_count, placed.remaining_count) == ("executed", 8, 0)
    assert (o.status, o.fill_count, o.remaining_count, o.initial_count, o.book_side) == ("executed", 8, 0, 8, "bid")
    assert sorted((f.yes_price_cc, f.count) for f in fills) == [(5500, 5), (5600, 3)]
    assert all(f.is_taker and f.book_side == "bid" for f in fills)
    expected_fee = order_fee_increment_cc(0, fee_terms(5, 5500) + fee_terms(3, 5600), rate=TAKER_RATE)
    assert sum(f.fee_cc for f in fills) == o.taker_fees_cc == expected_fee
    assert o.taker_fill_cost_cc == sum(f.count * f.yes_price_cc for f in fills) == 5 * 5500 + 3 * 5600
    assert len({f.fill_id for f in fills}) == len(fills)


async def test_ioc_that_does_not_cross_is_canceled_unfilled(venue: Venue) -> None:
    with trio.fail_after(10):
        o = await venue.exchange.create_order(ioc(venue, "c-miss", count=2, price=5000))
        fills = await venue.exchange.list_fills(ticker=venue.ticker)
    assert (o.status, o.fill_count, o.remaining_count) == ("canceled", 0, 0)
    assert fills == []


async def test_resting_limit_then_cancel(venue: Venue) -> None:
    ex = venue.exchange
    with trio.fail_after(10):
        o = await ex.create_order(order(venue, "c-rest", count=3, price=3000))
        assert (o.status, o.remaining_count, o.fill_count) == ("resting", 3, 0)
        assert (await ex.get_order(o.order_id)).status == "resting"
        result = await ex.cancel_order(o.order_id, ticker=venue.ticker)
        assert result.reduced_by == 3
        assert result.order is None or (result.order.status, result.order.remaining_count) == ("canceled", 0)
        assert (await ex.get_order(o.order_id)).status == "canceled"
        assert (await ex.cancel_order(o.order_id, ticker=venue.ticker)).reduced_by == 0  # nothing left


async def test_amend_decrease_and_cancel_all(venue: Venue) -> None:
    ex = venue.exchange
    with trio.fail_after(10):
        o = await ex.create_order(order(venue, "c-mod", count=5, price=3000))
        change = await ex.decrease_order(o.order_id, ticker=venue.ticker, reduce_by=2)
        assert change.remaining_count == 3
        moved = await ex.amend_order(AmendRequest(o.order_id, order(venue, "c-mod", count=4, price=3100), 4))
        assert moved.remaining_count == 4
        now = await ex.get_order(o.order_id)
        assert (now.yes_price_cc, now.remaining_count, now.status) == (3100, 4, "resting")
        other = await ex.create_order(order(venue, "c-mod2", side="no", count=1, price=3000))
        assert other.status == "resting"
        await ex.cancel_all_orders()
        assert await ex.list_orders(ticker=venue.ticker, status="resting") == []


async def test_duplicate_client_order_id_never_creates_a_second_order(venue: Venue) -> None:
    ex = venue.exchange
    with trio.fail_after(10):
        first = await ex.create_order(order(venue, "c-dup", count=2, price=3000))
        again = await ex.create_order(order(venue, "c-dup", count=2, price=3000))
        assert again.order_id == first.order_id
        with pytest.raises(Conflict):
            await ex.create_order(order(venue, "c-dup", side="no", count=2, price=3000))
        mine = [o for o in await ex.list_orders(ticker=venue.ticker) if o.client_order_id == "c-dup"]
    assert len(mine) == 1


async def test_post_only_marketable_is_rejected(venue: Venue) -> None:
    with trio.fail_after(10):
        with pytest.raises(BadRequest) as exc:
            await venue.exchange.create_order(order(venue, "c-po", price=5500, post_only=True))
        assert exc.value.code == "post_only_cross"
        assert await venue.exchange.find_order_by_client_id("c-po", ticker=venue.ticker) is None
        ok = await venue.exchange.create_order(order(venue, "c-po2", price=5400, post_only=True))
    assert ok.status == "resting"


async def test_insufficient_balance(venue: Venue) -> None:
    with trio.fail_after(10):
        with pytest.raises(InsufficientBalance):
            await venue.exchange.create_order(order(venue, "c-big", count=100_000, price=5000))
        assert await venue.exchange.find_order_by_client_id("c-big", ticker=venue.ticker) is None
        assert (await venue.exchange.get_balance()).balance_cc == BALANCE_CC


async def test_get_list_find(venue: Venue) -> None:
    ex = venue.exchange
    with trio.fail_after(10):
        a = await ex.create_order(order(venue, "c-a", count=1, price=2000))
        b = await ex.create_order(ioc(venue, "c-b", count=1, price=5500))
        got = await ex.get_order(a.order_id)
        assert (got.order_id, got.client_order_id, got.status, got.yes_price_cc) == (a.order_id, "c-a", "resting", 2000)
        resting = await ex.list_orders(ticker=venue.ticker, status="resting")
        executed = await ex.list_orders(ticker=venue.ticker, status="executed")
        assert ([o.order_id for o in resting], [o.order_id for o in executed]) == ([a.order_id], [b.order_id])
        assert {o.order_id for o in await ex.list_orders(ticker=venue.ticker)} == {a.order_id, b.order_id}
        found = await ex.find_order_by_client_id("c-b", ticker=venue.ticker)
        assert found is not None and found.order_id == b.order_id and found.status == "executed"
        assert await ex.find_order_by_client_id("c-none", ticker=venue.ticker) is None


async def test_positions_and_balance_after_fills_to_the_cent(venue: Venue) -> None:
    ex = venue.exchange
    with trio.fail_after(10):
        buy = await ex.get_order((await ex.create_order(ioc(venue, "c-buy", count=8, price=5600))).order_id)
        cash = BALANCE_CC - buy.taker_fill_cost_cc - buy.taker_fees_cc
        assert (await ex.get_balance()).balance_cc == cash
        [pos] = await ex.list_positions(ticker=venue.ticker)
        assert (pos.position, pos.market_exposure_cc, pos.total_traded_cc, pos.fees_paid_cc) == (
            8,
            buy.taker_fill_cost_cc,
            buy.taker_fill_cost_cc,
            buy.taker_fees_cc,
        )

        rest = await ex.create_order(order(venue, "c-res", count=2, price=3000))
        assert rest.status == "resting"
        assert (await ex.get_balance()).balance_cc == cash - 2 * 3000  # reserved for the resting buy

        # selling YES is an ask on the one book; against a held YES position it closes contracts
        placed = await ex.create_order(ioc(venue, "c-sell", action="sell", count=2, price=4000))
        sell = await ex.get_order(placed.order_id)
        assert (sell.status, sell.fill_count, sell.book_side) == ("executed", 2, "ask")
        cash += 2 * 4000 - sell.taker_fees_cc
        assert (await ex.get_balance()).balance_cc == cash - 2 * 3000
        [pos] = await ex.list_positions(ticker=venue.ticker)
        basis_left = buy.taker_fill_cost_cc - buy.taker_fill_cost_cc * 2 // 8
        assert (pos.position, pos.market_exposure_cc) == (6, basis_left)
        assert pos.fees_paid_cc == buy.taker_fees_cc + sell.taker_fees_cc
        assert pos.realized_pnl_cc == (
            2 * 4000 - buy.taker_fill_cost_cc * 2 // 8 - buy.taker_fees_cc - sell.taker_fees_cc
        )


async def test_resolve_in_flight_of_an_unknown_id_is_none(venue: Venue) -> None:
    with trio.fail_after(10):
        assert await venue.exchange.resolve_in_flight("never-sent", ticker=venue.ticker) is None
        placed = await venue.exchange.create_order(order(venue, "c-known", price=2000))
        resolved = await venue.exchange.resolve_in_flight("c-known", ticker=venue.ticker)
    assert resolved is not None and (resolved.order_id, resolved.status) == (placed.order_id, "resting")


async def test_market_data_is_the_real_markets(venue: Venue) -> None:
    with trio.fail_after(10):
        market = await venue.exchange.get_market(venue.ticker)
        book = await venue.exchange.get_orderbook(venue.ticker)
    assert market.status == "active" and market.open_time <= sim_now(venue.sim) < market.close_time
    assert (book.yes, book.no) == (((4000, 10),), ((4400, 5), (4500, 5)))


async def test_batch_cancel_against_the_simulator_reads_a_missing_order_as_not_found(
    nursery: trio.Nursery, rsa_key: rsa.RSAPrivateKey
) -> None:
    """The same batch cancel answer the exchange gives for an order it does not have, read by the client
    as :class:`NotFound` (not a refusal of the cancel), the one it cancelled as the contracts removed."""
    sim = await start_sim(nursery, rsa_key)
    ticker = current_ticker(sim)
    spec = SpecCheckingTransport()
    async with rest_client(sim, rsa_key, transport=spec) as rest:
        with trio.fail_after(10):
            placed = await rest.create_order(OrderRequest(ticker, "yes", "buy", 3, 2000, "c-batch"))
            results = await rest.cancel_orders([(placed.order_id, ticker), ("no-such-order", ticker)])
    sim.stop()
    assert spec.violations == [], "\n".join(spec.violations)
    cancelled, missing = results
    assert cancelled == 3
    assert isinstance(missing, NotFound), missing
