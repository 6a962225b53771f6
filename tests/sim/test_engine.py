"""The pure exchange engine: crossing, fees, partial fills, TIF, errors, amend/decrease, STP."""

from __future__ import annotations

import pytest
from simfakes import T0, TICKER, exchange_with_market, req

from kalshid.core.fees import taker_fee_cc
from kalshid.sim.counts import CONTRACT as C
from kalshid.sim.model import ExchangeError, FillEvent, OrderEvent, PositionEvent, TradeEvent


def test_yes_buy_crosses_no_bid_at_complement_and_maker_price() -> None:
    ex = exchange_with_market(("a", 100), ("b", 100))
    maker = ex.place_order("a", req("no", "buy", 10, 60), T0)  # NO bid 0.60 = YES ask 0.40
    assert maker.status == "resting"
    assert ex.best_prices(TICKER) == (None, 4000)
    taker = ex.place_order("b", req("yes", "buy", 10, 45), T0)  # willing to pay 0.45, pays 0.40
    assert taker.status == "executed" and taker.fill_count == 10 * C
    assert taker.taker_fill_cost_cc == 10 * 4000
    fee = taker_fee_cc(10, 4000)
    assert fee == 1700  # 0.07 × 10 × 0.4 × 0.6 = 0.168 → $0.17
    assert taker.taker_fees_cc == fee
    b, a = ex.accounts["b"], ex.accounts["a"]
    assert b.cash_cc == 100 * 10_000 - 40_000 - fee
    assert a.cash_cc == 100 * 10_000 - 60_000  # maker: no fee under quadratic
    assert b.position(TICKER).yes == 10 * C and a.position(TICKER).no == 10 * C
    assert ex.markets[TICKER].open_interest == 10 * C
    trade = ex.trades[-1]
    assert (trade.yes_price_cc, trade.taker_side, trade.count) == (4000, "yes", 10 * C)
    assert ex.orders[maker.order_id].status == "executed"
    assert ex.conservation_gap_cc() == 0


def test_no_buy_crosses_yes_bid() -> None:
    ex = exchange_with_market(("a", 100), ("b", 100))
    ex.place_order("a", req("yes", "buy", 5, 30), T0)
    taker = ex.place_order("b", req("no", "buy", 5, 75), T0)  # crosses YES bid 0.30 ≥ 0.25; pays 0.70
    assert taker.taker_fill_cost_cc == 5 * 7000
    assert ex.trades[-1].yes_price_cc == 3000 and ex.trades[-1].taker_side == "no"


def test_no_cross_when_prices_do_not_meet() -> None:
    ex = exchange_with_market(("a", 100), ("b", 100))
    ex.place_order("a", req("no", "buy", 5, 55), T0)  # YES ask 0.45
    o = ex.place_order("b", req("yes", "buy", 5, 44), T0)
    assert o.status == "resting" and o.fill_count == 0
    assert ex.best_prices(TICKER) == (4400, 4500)


def test_sell_consumes_same_side_bids_best_first() -> None:
    ex = exchange_with_market(("a", 100), ("b", 100), ("c", 100))
    ex.place_order("c", req("no", "buy", 5, 50), T0)
    ex.place_order("a", req("yes", "buy", 5, 50), T0)  # a now holds 5 YES (bought at 0.50)
    ex.place_order("b", req("yes", "buy", 3, 55), T0)
    ex.place_order("b", req("yes", "buy", 3, 52), T0)
    sell = ex.place_order("a", req("yes", "sell", 5, 50), T0)
    assert sell.status == "executed"
    fills = [f for f in ex.accounts["a"].fills if f.action == "sell"]
    assert [(f.count, f.price_cc) for f in fills] == [(3 * C, 5500), (2 * C, 5200)]
    pos = ex.accounts["a"].position(TICKER)
    assert pos.yes == 0 and pos.yes_cost_cc == 0
    fees = sum(f.fee_cc for f in ex.accounts["a"].fills)
    assert pos.realized_pnl_cc == 3 * 500 + 2 * 200 - fees
    assert ex.markets[TICKER].open_interest == 5 * C  # YES moved from a to b; c still holds the NO side
    assert ex.conservation_gap_cc() == 0


def test_sell_without_position_is_refused() -> None:
    ex = exchange_with_market(("a", 100))
    with pytest.raises(ExchangeError) as err:
        ex.place_order("a", req("yes", "sell", 1, 50), T0)
    assert (err.value.status, err.value.code) == (400, "insufficient_position")


def test_price_time_priority_and_partial_fills() -> None:
    ex = exchange_with_market(("a", 100), ("b", 100), ("c", 100))
    first = ex.place_order("a", req("no", "buy", 4, 60), T0)
    second = ex.place_order("b", req("no", "buy", 4, 60), T0 + 1)
    taker = ex.place_order("c", req("yes", "buy", 6, 40), T0 + 2)
    assert taker.status == "executed"
    assert ex.orders[first.order_id].status == "executed"
    b_order = ex.orders[second.order_id]
    assert (b_order.status, b_order.fill_count, b_order.remaining_count) == ("resting", 2 * C, 2 * C)
    # taker rests its remainder when the book runs out
    big = ex.place_order("c", req("yes", "buy", 5, 40), T0 + 3)
    assert (big.status, big.fill_count, big.remaining_count) == ("resting", 2 * C, 3 * C)
    assert ex.best_prices(TICKER) == (4000, None)


def test_fee_accumulates_per_order_across_fills() -> None:
    ex = exchange_with_market(("a", 100), ("b", 100))
    for _ in range(3):
        ex.place_order("a", req("no", "buy", 1, 50), T0)
    taker = ex.place_order("b", req("yes", "buy", 3, 50), T0)
    # three fills at 0.50: per fill 0.0175 → one order's fee ceil(0.0525) = $0.06, not 3 × $0.02
    assert taker.taker_fees_cc == 600
    assert sum(f.fee_cc for f in ex.accounts["b"].fills) == 600
    ex2 = exchange_with_market(("a", 100), ("b", 100))
    ex2.place_order("a", req("no", "buy", 10, 50), T0)
    assert ex2.place_order("b", req("yes", "buy", 10, 50), T0).taker_fees_cc == 1800  # $0.175 → $0.18


def test_ioc_cancels_remainder_and_fok_all_or_nothing() -> None:
    ex = exchange_with_market(("a", 100), ("b", 100))
    ex.place_order("a", req("no", "buy", 3, 60), T0)
    fok = ex.place_order("b", req("yes", "buy", 5, 40, time_in_force="fill_or_kill"), T0)
    assert (fok.status, fok.fill_count, fok.remaining_count) == ("canceled", 0, 0)
    assert ex.accounts["b"].cash_cc == 100 * 10_000
    ioc = ex.place_order("b", req("yes", "buy", 5, 40, time_in_force="immediate_or_cancel"), T0)
    assert (ioc.status, ioc.fill_count, ioc.remaining_count) == ("canceled", 3 * C, 0)
    assert ex.accounts["b"].reserved_cc == 0


def test_buy_max_cost_is_fill_or_kill_on_cost() -> None:
    ex = exchange_with_market(("a", 100), ("b", 100))
    ex.place_order("a", req("no", "buy", 5, 60), T0)  # YES at 0.40
    too_cheap = ex.place_order("b", req("yes", "buy", 5, 50, buy_max_cost_cc=199), T0)
    assert too_cheap.status == "canceled" and too_cheap.fill_count == 0 and too_cheap.order_type == "market"
    ok = ex.place_order("b", req("yes", "buy", 5, 50, buy_max_cost_cc=200), T0)
    assert ok.status == "executed" and ok.taker_fill_cost_cc == 20_000


def test_post_only_rejects_marketable() -> None:
    ex = exchange_with_market(("a", 100), ("b", 100))
    ex.place_order("a", req("no", "buy", 5, 60), T0)
    with pytest.raises(ExchangeError) as err:
        ex.place_order("b", req("yes", "buy", 1, 40, post_only=True), T0)
    assert err.value.code == "post_only_cross" and err.value.status == 400
    assert ex.place_order("b", req("yes", "buy", 1, 39, post_only=True), T0).status == "resting"


def test_insufficient_balance_and_reservation() -> None:
    ex = exchange_with_market(("a", 1))
    with pytest.raises(ExchangeError) as err:
        ex.place_order("a", req("yes", "buy", 2, 50), T0)  # $1.00 + fee $0.04 > $1
    assert (err.value.status, err.value.code) == (400, "insufficient_balance")
    ex.place_order("a", req("yes", "buy", 1, 50), T0)
    acct = ex.accounts["a"]
    assert acct.reserved_cc == 5000 and acct.available_cc == 5000
    with pytest.raises(ExchangeError):
        ex.place_order("a", req("yes", "buy", 1, 50), T0)  # needs $0.52 with fee


def test_duplicate_client_order_id_is_409() -> None:
    ex = exchange_with_market(("a", 100))
    ex.place_order("a", req("yes", "buy", 1, 10, client_order_id="x1"), T0)
    with pytest.raises(ExchangeError) as err:
        ex.place_order("a", req("yes", "buy", 1, 10, client_order_id="x1"), T0)
    assert err.value.status == 409


def test_cancel_decrease_amend() -> None:
    ex = exchange_with_market(("a", 100), ("b", 100))
    o = ex.place_order("a", req("yes", "buy", 10, 30), T0)
    o = ex.decrease_order("a", o.order_id, reduce_by=3 * C, now=T0)
    assert o.remaining_count == 7 * C and ex.accounts["a"].reserved_cc == 7 * 3000
    old, new = ex.amend_order(
        "a",
        o.order_id,
        ticker=TICKER,
        side="yes",
        action="buy",
        price_cc=3500,
        count=None,
        updated_client_order_id=None,
        now=T0,
    )
    assert old.price_cc == 3000 and new.price_cc == 3500 and new.remaining_count == 7 * C
    assert ex.accounts["a"].reserved_cc == 7 * 3500
    canceled, reduced = ex.cancel_order("a", o.order_id, T0)
    assert (canceled.status, reduced) == ("canceled", 7 * C)
    assert ex.accounts["a"].reserved_cc == 0
    assert ex.cancel_order("a", o.order_id, T0)[1] == 0
    with pytest.raises(ExchangeError) as err:
        ex.cancel_order("b", o.order_id, T0)
    assert err.value.status == 404


def test_amend_to_marketable_price_trades() -> None:
    ex = exchange_with_market(("a", 100), ("b", 100))
    ex.place_order("b", req("no", "buy", 4, 60), T0)
    o = ex.place_order("a", req("yes", "buy", 10, 30), T0)
    _, new = ex.amend_order(
        "a",
        o.order_id,
        ticker=TICKER,
        side="yes",
        action="buy",
        price_cc=4000,
        count=None,
        updated_client_order_id=None,
        now=T0,
    )
    assert (new.fill_count, new.remaining_count, new.status) == (4 * C, 6 * C, "resting")
    assert ex.conservation_gap_cc() == 0


def test_self_trade_prevention() -> None:
    ex = exchange_with_market(("a", 100))
    rest = ex.place_order("a", req("no", "buy", 5, 60), T0)
    taker = ex.place_order("a", req("yes", "buy", 5, 40), T0)
    assert taker.status == "canceled" and taker.fill_count == 0
    assert ex.orders[rest.order_id].status == "resting"
    maker_mode = ex.place_order("a", req("yes", "buy", 5, 40, self_trade_prevention_type="maker"), T0)
    assert ex.orders[rest.order_id].status == "canceled" and maker_mode.status == "resting"


def test_fill_emits_fill_order_position_events_for_both_sides() -> None:
    ex = exchange_with_market(("a", 100), ("b", 100))
    ex.place_order("a", req("no", "buy", 2, 60), T0)
    ex.drain_events()
    ex.place_order("b", req("yes", "buy", 2, 40), T0)
    events = ex.drain_events()
    for user in ("a", "b"):
        assert any(isinstance(e, FillEvent) and e.fill.user_id == user for e in events)
        assert any(isinstance(e, OrderEvent) and e.order.user_id == user for e in events)
        assert any(isinstance(e, PositionEvent) and e.position.user_id == user for e in events)
    assert sum(isinstance(e, TradeEvent) for e in events) == 1


def test_reduce_only_is_capped_at_the_position_it_reduces() -> None:
    ex = exchange_with_market(("a", 100), ("b", 100), ("c", 100))
    ex.place_order("b", req("no", "buy", 10, 58), T0)  # YES asks 0.42 × 10
    flat = ex.place_order("a", req("yes", "buy", 2, 45, time_in_force="immediate_or_cancel", reduce_only=True), T0)
    assert (flat.status, flat.fill_count, flat.remaining_count, flat.initial_count) == ("canceled", 0, 0, 2 * C)
    assert ex.accounts["a"].fills == [] and ex.accounts["a"].position(TICKER).yes == 0
    ex.place_order("c", req("yes", "buy", 3, 40), T0)
    ex.place_order("a", req("no", "buy", 3, 60, time_in_force="immediate_or_cancel"), T0)  # a holds 3 NO
    assert ex.accounts["a"].position(TICKER).no == 3 * C
    capped = ex.place_order("a", req("yes", "buy", 5, 45, time_in_force="immediate_or_cancel", reduce_only=True), T0)
    # the cap is a decrease at placement: the capped count filled, so the order executed (as a decreased one does)
    assert (capped.status, capped.fill_count, capped.remaining_count, capped.initial_count) == (
        "executed", 3 * C, 0, 5 * C)
    pos = ex.accounts["a"].position(TICKER)
    assert pos.yes == pos.no == 0
    assert ex.conservation_gap_cc() == 0


def test_expiry() -> None:
    ex = exchange_with_market(("a", 100), ("b", 100))
    o = ex.place_order("a", req("yes", "buy", 1, 30, expiration_ts=int(T0) + 5), T0)
    assert ex.expire_orders(T0 + 4) == 0
    assert ex.expire_orders(T0 + 5) == 1
    assert ex.orders[o.order_id].status == "canceled"


def test_closed_market_refuses_orders() -> None:
    ex = exchange_with_market(("a", 100))
    ex.place_order("a", req("yes", "buy", 1, 30), T0)
    ex.close_market(TICKER, T0 + 1)
    assert ex.accounts["a"].reserved_cc == 0
    with pytest.raises(ExchangeError) as err:
        ex.place_order("a", req("yes", "buy", 1, 30), T0 + 2)
    assert err.value.code == "market_closed"


def test_each_order_state_is_announced_once_and_an_ask_nets_a_held_yes_position() -> None:
    ex = exchange_with_market(("a", 100), ("b", 100))
    ex.place_order("a", req("no", "buy", 4, 60), T0)
    ex.place_order("a", req("no", "buy", 6, 59), T0)
    ex.drain_events()
    taker = ex.place_order("b", req("yes", "buy", 10, 45), T0)  # two fills, then executed
    states = [
        (e.order.fill_count, e.order.status)
        for e in ex.drain_events()
        if isinstance(e, OrderEvent) and e.order.order_id == taker.order_id
    ]
    assert states == [(4 * C, "resting"), (10 * C, "executed")]
    # b holds 10 YES; a NO buy (a V2 ask) against a's YES bid sells 4 of them back: one signed position
    ex.place_order("a", req("yes", "buy", 4, 50), T0)
    cash = ex.accounts["b"].cash_cc
    sold = ex.place_order("b", req("no", "buy", 4, 50), T0)
    fee = taker_fee_cc(4, 5000)
    pos = ex.accounts["b"].position(TICKER)
    assert (sold.status, pos.yes, pos.no, pos.signed) == ("executed", 6 * C, 0, 6 * C)
    assert ex.accounts["b"].cash_cc == cash + 4 * 5000 - fee  # the sale pays; no NO was bought
    # a's YES bid netted a's NO too: both sides closed 4, so 4 YES/NO pairs were redeemed
    assert ex.markets[TICKER].open_interest == 6 * C and ex.accounts["a"].position(TICKER).signed == -6 * C
    assert ex.conservation_gap_cc() == 0
