"""PaperExchange order entry and fill model against a strict fake of the real exchange's market data.

The fake answers only market-data calls; any portfolio or order call on it fails the test, which
proves the paper account never delegates one."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
import trio

from kalshid.core.fees import TAKER_RATE, fee_terms, order_fee_increment_cc, taker_fee_cc
from kalshid.exchange.base import BookUpdated, MarketLifecycle, TradePrinted
from kalshid.exchange.errors import BadRequest, Conflict, InsufficientBalance, NotFound
from kalshid.exchange.paper import Holding, PaperExchange
from kalshid.exchange.types import AmendRequest, OrderBook, OrderRequest
from tests.exchange.paperkit import OPEN, TICKER, StrictMarketData

NOW = OPEN + timedelta(minutes=3)


def book(yes: tuple[tuple[int, int], ...] = ((4000, 10),),
         no: tuple[tuple[int, int], ...] = ((4400, 5), (4500, 5))) -> OrderBook:
    """Default: YES bids 40c×10; NO bids 44c×5, 45c×5 → YES asks 55c×5, 56c×5."""
    return OrderBook(ticker=TICKER, yes=yes, no=no)


def make(balance: int = 100 * 10_000, b: OrderBook | None = None) -> tuple[PaperExchange, StrictMarketData]:
    md = StrictMarketData(b or book())
    clock = {"now": NOW}
    paper = PaperExchange(md, starting_balance_cc=balance, now=lambda: clock["now"])
    return paper, md


def req(coid: str, side: str = "yes", action: str = "buy", count: int = 1, price: int = 3000,
        **kw: Any) -> OrderRequest:
    return OrderRequest(TICKER, side, action, count, price, coid, **kw)  # type: ignore[arg-type]


def trade(yes_price: int, count: int, taker_side: str) -> TradePrinted:
    return TradePrinted(TICKER, f"t-{yes_price}-{count}", count, yes_price, 10_000 - yes_price, taker_side,
                        None, 0.0)


async def test_taker_walks_visible_book_with_exchange_fees() -> None:
    paper, _ = make()
    order = await paper.create_order(req("a", count=8, price=5600, time_in_force="immediate_or_cancel"))
    assert (order.status, order.fill_count, order.remaining_count) == ("executed", 8, 0)
    fills = sorted(await paper.list_fills(ticker=TICKER), key=lambda f: f.yes_price_cc)
    assert [(f.count, f.yes_price_cc, f.is_taker) for f in fills] == [(5, 5500, True), (3, 5600, True)]
    expected_fee = order_fee_increment_cc(0, fee_terms(5, 5500) + fee_terms(3, 5600), rate=TAKER_RATE)
    assert sum(f.fee_cc for f in fills) == order.taker_fees_cc == expected_fee
    assert order.taker_fill_cost_cc == 5 * 5500 + 3 * 5600
    assert paper.cash_cc == 100 * 10_000 - order.taker_fill_cost_cc - expected_fee
    assert {f.fill_id for f in fills}.__len__() == 2


async def test_partial_ioc_is_canceled_and_fok_all_or_nothing() -> None:
    paper, _ = make()
    ioc = await paper.create_order(req("ioc", count=20, price=5600, time_in_force="immediate_or_cancel"))
    assert (ioc.status, ioc.fill_count, ioc.remaining_count) == ("canceled", 10, 0)
    paper2, _ = make()
    fok = await paper2.create_order(req("fok", count=11, price=5600, time_in_force="fill_or_kill"))
    assert (fok.status, fok.fill_count) == ("canceled", 0)
    assert paper2.cash_cc == 100 * 10_000 and await paper2.list_fills() == []
    ok = await paper2.create_order(req("fok2", count=5, price=5600, time_in_force="fill_or_kill"))
    assert ok.status == "executed" and ok.fill_count == 5


async def test_consumed_liquidity_stays_consumed_while_the_real_book_shows_it() -> None:
    paper, _ = make()

    async def take(coid: str) -> int:
        order = await paper.create_order(req(coid, count=9, price=5500, time_in_force="immediate_or_cancel"))
        return order.fill_count

    assert await take("a") == 5  # the whole 45c NO level (YES ask 55c × 5)
    assert await take("b") == 0  # the same 5 contracts cannot fill twice
    paper.on_book(book(no=((4400, 5), (4500, 4))))  # someone took or pulled one: the 4 shown are ours
    assert await take("c") == 0
    paper.on_book(book(no=((4400, 5), (4500, 7))))  # 3 new contracts joined the level
    assert await take("d") == 3
    paper.on_book(book(no=((4400, 5),)))  # the level emptied: everything we took there is gone
    paper.on_book(book(no=((4400, 5), (4500, 6))))
    assert await take("e") == 6


async def test_resting_order_fills_only_on_trade_through() -> None:
    paper, _ = make()
    order = await paper.create_order(req("r", count=4, price=3000))
    assert order.status == "resting"
    paper.on_trade(trade(3100, 10, "no"))   # above our price: not us
    paper.on_trade(trade(3000, 10, "yes"))  # a YES taker hits NO bids, not ours
    assert (await paper.get_order(order.order_id)).fill_count == 0
    paper.on_trade(trade(2900, 3, "no"))    # through our bid
    got = await paper.get_order(order.order_id)
    assert (got.status, got.fill_count, got.remaining_count) == ("resting", 3, 1)
    fill = (await paper.list_fills())[0]
    assert (fill.is_taker, fill.fee_cc, fill.yes_price_cc, fill.count) == (False, 0, 3000, 3)
    assert got.maker_fill_cost_cc == 9000


async def test_a_touch_never_fills_a_resting_order() -> None:
    """A trade at our price may have taken real orders queued ahead of ours: however the market then
    moves, and when the window ends, the resting order has not filled."""
    paper, _ = make()
    order = await paper.create_order(req("r", count=2, price=3000))
    paper.on_book(book())
    paper.on_trade(trade(3000, 50, "no"))  # a touch at our price
    paper.on_book(book(no=((4400, 5), (4500, 5), (4600, 1))))  # the market moves against us
    paper.on_book(book(no=((4400, 5),)))  # and in our favour
    assert (await paper.get_order(order.order_id)).fill_count == 0
    paper.observe(MarketLifecycle(TICKER, "determined", 0.0, result="no"))
    got = await paper.get_order(order.order_id)
    assert (got.status, got.fill_count) == ("canceled", 0) and await paper.list_fills() == []


async def test_resting_sell_rests_as_opposite_bid() -> None:
    paper, _ = make()
    await paper.create_order(req("buy", count=3, price=5600, time_in_force="immediate_or_cancel"))
    sell = await paper.create_order(req("sell", action="sell", count=3, price=6000))
    assert sell.status == "resting"
    with pytest.raises(BadRequest) as exc:  # all 3 are already offered
        await paper.create_order(req("sell2", action="sell", count=1, price=6500))
    assert exc.value.code == "insufficient_position"
    paper.on_trade(trade(6100, 2, "yes"))  # a YES buyer paid 61c: through our 60c offer
    got = await paper.get_order(sell.order_id)
    assert (got.fill_count, got.remaining_count) == (2, 1)
    assert paper.holding(TICKER).yes == 1


async def test_rejections_match_the_exchange() -> None:
    paper, _ = make(balance=10_000)
    with pytest.raises(BadRequest) as po:
        await paper.create_order(req("po", price=5500, post_only=True))
    assert po.value.code == "post_only_cross"
    with pytest.raises(InsufficientBalance):
        await paper.create_order(req("big", count=100, price=5000))
    with pytest.raises(BadRequest) as grid:
        await paper.create_order(req("grid", price=3050))
    assert grid.value.code == "invalid_price"
    with pytest.raises(NotFound):
        await paper.get_order("nope")
    assert await paper.list_orders() == []  # rejected orders leave nothing behind


async def test_duplicate_client_order_id_never_makes_a_second_order() -> None:
    paper, _ = make()
    first = await paper.create_order(req("dup", count=2, price=3000))
    again = await paper.create_order(req("dup", count=2, price=3000))
    assert again.order_id == first.order_id and len(await paper.list_orders()) == 1
    with pytest.raises(Conflict):
        await paper.create_order(req("dup", side="no", count=2, price=3000))


async def test_cancel_decrease_and_reservation() -> None:
    paper, _ = make()
    order = await paper.create_order(req("r", count=5, price=3000))
    assert paper.available_cc == paper.cash_cc - 5 * 3000
    smaller = await paper.decrease_order(order.order_id, ticker=order.ticker, reduce_by=2)
    assert smaller.remaining_count == 3 and paper.available_cc == paper.cash_cc - 3 * 3000
    amended = await paper.amend_order(AmendRequest(order.order_id, req("r", count=4, price=2900), total_count=4))
    assert amended.remaining_count == 4 and paper.available_cc == paper.cash_cc - 4 * 2900
    assert (await paper.get_order(order.order_id)).price_cc == 2900
    with pytest.raises(NotFound):
        await paper.cancel_order(order.order_id, ticker="KXSOL15M-OTHER")
    result = await paper.cancel_order(order.order_id, ticker=order.ticker)
    assert result.order is not None and (result.order.status, result.reduced_by) == ("canceled", 4)
    assert (await paper.cancel_order(order.order_id, ticker=order.ticker)).reduced_by == 0
    with pytest.raises(Conflict):
        await paper.decrease_order(order.order_id, ticker=order.ticker, reduce_by=1)
    assert paper.available_cc == paper.cash_cc == 100 * 10_000
    await paper.create_order(req("r2", count=1, price=3000))
    await paper.cancel_all_orders()
    assert [o.status for o in await paper.list_orders(status="resting")] == []


async def test_settlement_pays_winners_once_and_closes_the_window() -> None:
    paper, _ = make()
    await paper.create_order(req("y", count=4, price=5600, time_in_force="immediate_or_cancel"))
    await paper.create_order(req("n", side="no", count=2, price=6000, time_in_force="immediate_or_cancel"))
    resting = await paper.create_order(req("rest", count=1, price=1000))
    cash = paper.cash_cc
    paper.observe(MarketLifecycle(TICKER, "determined", 0.0, result="yes"))
    paper.observe(MarketLifecycle(TICKER, "settled", 0.0, result="yes"))
    [s] = await paper.list_settlements()
    # the 2 NO bought while 4 YES were held closed 2 of them: 2 YES are left to win
    assert (s.market_result, s.yes_count, s.no_count, s.revenue_cc) == ("yes", 2, 0, 2 * 10_000)
    assert paper.cash_cc == cash + 2 * 10_000
    assert (await paper.get_order(resting.order_id)).status == "canceled"
    [pos] = await paper.list_positions()
    assert pos.position == 0 and pos.market_exposure_cc == 0
    with pytest.raises(BadRequest) as closed:
        await paper.create_order(req("late"))
    assert closed.value.code == "market_closed"


async def test_a_buy_closes_the_opposite_holding_first_as_on_kalshi() -> None:
    paper, _ = make()  # YES asks 55c×5, 56c×5; NO asks 60c×10
    no = await paper.create_order(req("n", side="no", count=4, price=6000, time_in_force="immediate_or_cancel"))
    assert no.fill_count == 4 and paper.holding(TICKER).no == 4
    fee_no = taker_fee_cc(4, 6000)  # ceil_to_cent(0.07 × 4 × 0.6 × 0.4) = 7c
    assert fee_no == 700
    yes = await paper.create_order(req("y", count=6, price=5600, time_in_force="immediate_or_cancel"))
    assert (yes.fill_count, yes.taker_fees_cc) == (6, 1100)  # ceil(0.07 × (5 × .55 × .45 + .56 × .44)) = 11c
    h = paper.holding(TICKER)
    # 5 YES at 55c: the 4 NO held are sold at 45c first, then 1 YES opens; 1 more YES at 56c opens
    assert (h.yes, h.no, h.yes_cost_cc, h.no_cost_cc) == (2, 0, 5500 + 5600, 0)
    assert h.realized_pnl_cc == 4 * 4500 - 4 * 6000 - fee_no - 1100 == -7_800
    assert paper.cash_cc == 100 * 10_000 - 4 * 6000 - fee_no + 4 * 4500 - 5500 - 5600 - 1100 == 981_100
    assert paper.cash_cc + h.yes_cost_cc - 100 * 10_000 == h.realized_pnl_cc
    [pos] = await paper.list_positions()
    assert (pos.position, pos.market_exposure_cc, pos.realized_pnl_cc) == (2, 11_100, -7_800)
    fills = list(reversed(await paper.list_fills(ticker=TICKER)))  # oldest first
    assert [(f.side, f.action, f.count, f.post_position) for f in fills] == [
        ("no", "buy", 4, -4), ("yes", "buy", 5, 1), ("yes", "buy", 1, 2)]
    assert paper.nets_positions  # the journal splits these fills with the same rule (kalshid.core.netting)


async def test_stale_feed_book_falls_back_to_rest() -> None:
    paper, md = make()
    paper.on_book(OrderBook(TICKER, yes=(), no=((4000, 100),), stale=True))  # ignored
    order = await paper.create_order(req("x", count=1, price=5600, time_in_force="immediate_or_cancel"))
    assert order.fill_count == 1 and md.book_reads == 1
    paper.on_book(book(no=((4900, 3),)))
    await paper.create_order(req("y", count=1, price=5600, time_in_force="immediate_or_cancel"))
    assert md.book_reads == 1  # the stage's fresh book was used
    assert (await paper.list_fills())[0].yes_price_cc == 5100


async def test_expired_orders_are_canceled() -> None:
    paper, _ = make()
    ts = int((NOW + timedelta(seconds=30)).timestamp())
    order = await paper.create_order(req("e", count=1, price=3000, expiration_ts=ts))
    paper._now = lambda: NOW + timedelta(seconds=31)
    paper.observe(BookUpdated(book(), trio.current_time()))
    assert (await paper.get_order(order.order_id)).status == "canceled"


def test_fee_assumption_matches_core() -> None:
    # The fee of a single-level fill is exactly the exchange's taker fee.
    assert order_fee_increment_cc(0, fee_terms(5, 5500), rate=TAKER_RATE) == taker_fee_cc(5, 5500)


async def test_reduce_only_is_capped_at_the_position_it_reduces_as_on_the_simulator() -> None:
    """Kalshi (and kalshid's simulator, tests/sim/test_engine.py) caps a reduce-only order at the part
    that reduces the net position and cancels the rest; it never refuses it."""
    paper, _ = make()  # YES asks 55c×5, 56c×5; YES bids 40c×10 (NO asks 60c×10)
    ioc = {"time_in_force": "immediate_or_cancel", "reduce_only": True}
    flat = await paper.create_order(req("flat", count=2, price=5600, **ioc))
    assert (flat.status, flat.fill_count, flat.remaining_count, flat.initial_count) == ("canceled", 0, 0, 2)
    assert await paper.list_fills() == [] and paper.cash_cc == 100 * 10_000
    await paper.create_order(req("no", side="no", count=3, price=6000, time_in_force="immediate_or_cancel"))
    assert paper.holding(TICKER).no == 3
    capped = await paper.create_order(req("cap", count=5, price=5600, **ioc))
    assert (capped.status, capped.fill_count, capped.remaining_count, capped.initial_count) == (
        "executed", 3, 0, 5)
    h = paper.holding(TICKER)
    assert (h.yes, h.no) == (0, 0)
    sell = await paper.create_order(req("sell", side="no", action="sell", count=1, price=4000, **ioc))
    assert (sell.status, sell.fill_count) == ("canceled", 0)  # nothing held: nothing to sell


SelfCross = tuple[int, str, int, list[tuple[int, int]], str]


def sim_self_cross(stp: str) -> SelfCross:
    """The self-crossing scenario on kalshid's simulator: ``(filled, taker status, taker fees, fills
    (count, YES price), our resting NO bid's status)``."""
    from kalshid.sim.counts import CONTRACT
    from tests.sim.simfakes import T0, exchange_with_market
    from tests.sim.simfakes import req as sim_req

    ex = exchange_with_market(("book", 100), ("us", 100))
    ex.place_order("book", sim_req("no", "buy", 5, 45), T0)
    ex.place_order("book", sim_req("no", "buy", 5, 43), T0)
    ours = ex.place_order("us", sim_req("no", "buy", 2, 44), T0)
    taker = ex.place_order("us", sim_req("yes", "buy", 8, 57, self_trade_prevention_type=stp), T0)
    fills = sorted((f.count // CONTRACT, f.price_cc) for f in ex.accounts["us"].fills
                   if f.order_id == taker.order_id)
    return (taker.fill_count // CONTRACT, taker.status, taker.taker_fees_cc, fills,
            ex.orders[ours.order_id].status)


@pytest.mark.parametrize("stp", ["taker_at_cross", "maker"])
async def test_an_order_meeting_our_own_resting_order_follows_self_trade_prevention(stp: str) -> None:
    """Our resting paper orders are on Kalshi's book: a new order that would trade with one stops there
    (``taker_at_cross``: the rest is cancelled, not rested) or cancels it and goes on (``maker``),
    exactly as on the simulator."""
    paper, _ = make(b=book(no=((4300, 5), (4500, 5))))  # YES asks 55c×5, 57c×5
    ours = await paper.create_order(req("ours", side="no", count=2, price=4400))  # YES ask 56c, ours
    assert ours.status == "resting"
    taker = await paper.create_order(req("t", count=8, price=5700, self_trade_prevention=stp))
    fills = sorted((f.count, f.yes_price_cc) for f in await paper.list_fills() if f.order_id == taker.order_id)
    got = (taker.fill_count, taker.status, taker.taker_fees_cc, fills,
           (await paper.get_order(ours.order_id)).status)
    assert got == sim_self_cross(stp)
    assert (got[0], got[1], got[4]) == {"taker_at_cross": (5, "canceled", "resting"),
                                        "maker": (8, "executed", "canceled")}[stp]


async def test_post_only_meeting_our_own_resting_order_is_refused() -> None:
    paper, _ = make(b=book(no=((4300, 5),)))  # the book's YES ask is 57c
    await paper.create_order(req("ours", side="no", count=2, price=4400))  # our YES ask at 56c
    with pytest.raises(BadRequest) as po:  # on Kalshi our order is on the book: 56c is marketable
        await paper.create_order(req("po", count=1, price=5600, post_only=True))
    assert po.value.code == "post_only_cross"


async def test_a_market_whose_lifecycle_event_was_missed_settles_when_settlements_are_read() -> None:
    """The feed can miss a market's ``determined`` event (a reconnect); Kalshi settles it anyway, so the
    paper account settles it from the market's published result when the daemon reads settlements."""
    import attrs

    md = StrictMarketData(book())
    clock = {"now": NOW}
    paper = PaperExchange(md, starting_balance_cc=100 * 10_000, now=lambda: clock["now"])
    await paper.create_order(req("y", count=4, price=5600, time_in_force="immediate_or_cancel"))
    cash = paper.cash_cc
    assert await paper.list_settlements() == []  # open: nothing to settle, the market is not re-read
    clock["now"] = md.market.close_time + timedelta(seconds=30)
    assert await paper.list_settlements() == []  # closed, no result yet
    md.market = attrs.evolve(md.market, status="determined", result="yes")
    paper._holdings["KXSOL15M-26JUL081915-15"] = Holding(yes=1, volume=1)  # a market the exchange won't show
    [s] = await paper.list_settlements()  # ... holds up no other market's settlement
    assert (s.ticker, s.market_result, s.yes_count, s.revenue_cc) == (TICKER, "yes", 4, 4 * 10_000)
    assert paper.cash_cc == cash + 4 * 10_000
    [pos] = await paper.list_positions(ticker=TICKER)
    assert (pos.position, pos.market_exposure_cc) == (0, 0)
    assert len(await paper.list_settlements()) == 1  # once


async def test_post_only_against_a_fractional_level_is_refused_as_on_kalshi() -> None:
    """A fractional level (another trader's 2.50 contracts) is not takeable by kalshid, but it is on
    Kalshi's book: a post-only order reaching it would take liquidity there, so it is refused."""
    fractional = OrderBook.from_exact(TICKER, yes=((4000, 1000),), no=((4500, 250), (4400, 500)))
    paper, _ = make(b=fractional)  # takeable NO ladder: empty (its best level is fractional)
    with pytest.raises(BadRequest) as po:
        await paper.create_order(req("po", count=1, price=5500, post_only=True))
    assert po.value.code == "post_only_cross"
    taker = await paper.create_order(req("t", count=1, price=5600, time_in_force="immediate_or_cancel"))
    assert taker.fill_count == 0  # what the live path would take of it: nothing past a fractional level


async def test_resting_orders_are_canceled_at_the_market_close_as_on_kalshi() -> None:
    """Kalshi cancels what still rests when trading stops (the simulator's close, ``CloseCancel``), not when
    the result comes: from the close the order holds no cash and shows as canceled."""
    md = StrictMarketData(book())
    clock = {"now": NOW}
    paper = PaperExchange(md, starting_balance_cc=100 * 10_000, now=lambda: clock["now"])
    order = await paper.create_order(req("r", count=5, price=3000))
    paper.observe(BookUpdated(book(), 0.0))
    assert (await paper.get_order(order.order_id)).status == "resting"
    clock["now"] = md.market.close_time
    paper.observe(BookUpdated(book(), 0.0))  # any event after the close; no result yet
    assert (await paper.get_order(order.order_id)).status == "canceled"
    assert paper.available_cc == paper.cash_cc == 100 * 10_000


@pytest.mark.parametrize(("side", "count", "limit"), [("yes", 8, 5700), ("yes", 3, 5500), ("no", 7, 6300),
                                                      ("no", 13, 6500), ("yes", 1, 5400)])
async def test_taker_fills_fees_and_cash_are_the_simulators(side: str, count: int, limit: int) -> None:
    """The same book on kalshid's simulator and under the paper exchange: an IOC order gets the same fills
    at the same prices, the same per-order fee and leaves the same cash."""
    from kalshid.sim.counts import CONTRACT
    from tests.sim.simfakes import T0, exchange_with_market
    from tests.sim.simfakes import req as sim_req

    ex = exchange_with_market(("book", 1000), ("us", 100))
    for s, n, cents in (("no", 5, 45), ("no", 5, 43), ("yes", 4, 40), ("yes", 6, 37)):
        ex.place_order("book", sim_req(s, "buy", n, cents), T0)
    sim_order = ex.place_order("us", sim_req(side, "buy", count, limit // 100,
                                             time_in_force="immediate_or_cancel"), T0)
    sim_fills = sorted((f.count // CONTRACT, f.price_cc, f.fee_cc) for f in ex.accounts["us"].fills)

    paper, _ = make(b=book(yes=((3700, 6), (4000, 4)), no=((4300, 5), (4500, 5))))
    order = await paper.create_order(req("t", side=side, count=count, price=limit,
                                         time_in_force="immediate_or_cancel"))
    fills = sorted((f.count, f.yes_price_cc if side == "yes" else f.no_price_cc, f.fee_cc)
                   for f in await paper.list_fills())
    assert fills == sim_fills
    assert order.fill_count == sim_order.fill_count // CONTRACT and order.status == sim_order.status
    assert order.taker_fees_cc == sim_order.taker_fees_cc == sum(fee for *_, fee in sim_fills)
    assert 100 * 10_000 - paper.cash_cc == 100 * 10_000 - ex.accounts["us"].cash_cc


async def test_a_moved_close_moves_when_resting_orders_are_canceled() -> None:
    import attrs

    md = StrictMarketData(book())
    clock = {"now": NOW}
    paper = PaperExchange(md, starting_balance_cc=100 * 10_000, now=lambda: clock["now"])
    order = await paper.create_order(req("r", count=5, price=3000))
    later = md.market.close_time + timedelta(minutes=5)
    md.market = attrs.evolve(md.market, close_time=later)
    paper.observe(MarketLifecycle(TICKER, "close_date_updated", 0.0, close_ts=later))
    clock["now"] = later - timedelta(minutes=1)  # past the old close, before the new one
    paper.observe(BookUpdated(book(), 0.0))
    assert (await paper.get_order(order.order_id)).status == "resting"
    again = await paper.create_order(req("r2", count=1, price=3000))  # still open for orders
    assert again.status == "resting"
    clock["now"] = later
    paper.observe(BookUpdated(book(), 0.0))
    assert {o.status for o in await paper.list_orders()} == {"canceled"}
