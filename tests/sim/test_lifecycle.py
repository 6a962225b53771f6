"""The KXSOL15M schedule: listing ahead, strike, close, determination, settlement, DST fall-back."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime
from decimal import Decimal

from simfakes import FnIndex, req

from kalshid.core.markets import market_ticker, window_containing
from kalshid.sim import lifecycle
from kalshid.sim.counts import CONTRACT
from kalshid.sim.engine import Exchange
from kalshid.sim.model import LifecycleEvent


def _ts(year: int, month: int, day: int, hour: int, minute: int) -> float:
    return datetime(year, month, day, hour, minute, tzinfo=UTC).timestamp()


def test_full_window_lifecycle_and_settlement() -> None:
    open_ts = int(_ts(2026, 7, 8, 22, 45))
    close_ts = open_ts + 900
    # 60 prints before open average 100.5; 60 prints before close average exactly 100.5 → tie → YES
    index = FnIndex(lambda t: 100 if t % 2 else 101)
    ex = Exchange(seed=3)
    ex.open_account("u", 100 * 10_000)
    ex.open_account("m", 100 * 10_000)
    nxt = lifecycle.step(ex, index, open_ts - 30)
    assert nxt == open_ts
    tickers = [m.ticker for m in ex.markets_by_open()]
    assert tickers == ["KXSOL15M-26JUL081845-45", "KXSOL15M-26JUL081900-00", "KXSOL15M-26JUL081915-15"]
    target = ex.markets["KXSOL15M-26JUL081900-00"]
    assert target.status == "initialized" and target.floor_strike is None
    assert lifecycle.step(ex, index, open_ts) == open_ts + 60  # the previous window settles next
    target = ex.markets[target.ticker]
    assert target.status == "active" and target.floor_strike == Decimal("100.5000")
    ex.place_order("m", req("no", "buy", 10, 60, ticker=target.ticker), open_ts + 10)
    ex.place_order("u", req("yes", "buy", 10, 40, ticker=target.ticker), open_ts + 11)
    ex.place_order(
        "u", req("yes", "buy", 3, 20, ticker=target.ticker), open_ts + 12
    )  # rests; cancelled at close
    assert lifecycle.step(ex, index, close_ts) == close_ts + 60
    target = ex.markets[target.ticker]
    assert (target.status, target.result, target.expiration_value) == (
        "determined",
        "yes",
        Decimal("100.5000"),
    )
    assert ex.accounts["u"].reserved_cc == 0
    # the next window opened at the instant this one closed; a new one is listed ahead
    assert ex.markets["KXSOL15M-26JUL081915-15"].status == "active"
    assert "KXSOL15M-26JUL081930-30" in ex.markets
    lifecycle.step(ex, index, close_ts + 60)
    target = ex.markets[target.ticker]
    assert target.status == "finalized"
    settlement = ex.accounts["u"].settlements[-1]
    assert (settlement.market_result, settlement.yes_count, settlement.revenue_cc) == ("yes", 10 * CONTRACT, 100_000)
    assert ex.accounts["m"].settlements[-1].revenue_cc == 0
    assert ex.conservation_gap_cc() == 0
    kinds = [(e.market.ticker, e.event_type) for e in ex.drain_events() if isinstance(e, LifecycleEvent)]
    assert [k for t, k in kinds if t == target.ticker] == ["created", "activated", "metadata_updated", "determined",
                                                           "settled"]


def test_no_result_when_close_average_below_strike() -> None:
    open_ts = int(_ts(2026, 7, 8, 22, 45))
    index = FnIndex(lambda t: Decimal(100) - Decimal(t - open_ts) / 1000)
    ex = Exchange()
    lifecycle.step(ex, index, open_ts)
    lifecycle.step(ex, index, open_ts + 900)
    assert ex.markets["KXSOL15M-26JUL081900-00"].result == "no"


def test_dst_fall_back_skips_second_pass_of_repeated_hour() -> None:
    # 2026-11-01: 01:00–02:00 ET happens twice (EDT 05:00–06:00 UTC, then EST 06:00–07:00 UTC).
    index = FnIndex(lambda t: 100)
    ex = Exchange()
    start = _ts(2026, 11, 1, 4, 30)
    now = start
    while now < _ts(2026, 11, 1, 7, 30):
        now = lifecycle.step(ex, index, now)
    tickers = [m.ticker for m in ex.markets_by_open()]
    assert len(tickers) == len(set(tickers))
    closes = sorted(m.window.close_time for m in ex.markets.values())
    # 06:00 UTC = 01:00 EST reuses the ticker of 05:00 UTC = 01:00 EDT, which closed before the fold
    skipped = [
        c for c in (datetime(2026, 11, 1, 6, m, tzinfo=UTC) for m in (0, 15, 30, 45)) if c not in closes
    ]
    assert len(skipped) == 4  # 01:00, 01:15, 01:30, 01:45 EST reuse the EDT tickers
    assert datetime(2026, 11, 1, 7, 0, tzinfo=UTC) in closes  # 02:00 EST is new again
    for m in ex.markets.values():
        assert market_ticker(m.window.close_time) == m.ticker
    # every listed market that closed was determined and settled
    assert all(
        m.status == "finalized" for m in ex.markets.values() if m.window.close_time.timestamp() + 60 <= now
    )


def test_spring_forward_windows_continue() -> None:
    index = FnIndex(lambda t: 100)
    ex = Exchange()
    now = _ts(2026, 3, 8, 6, 30)
    while now < _ts(2026, 3, 8, 7, 30):
        now = lifecycle.step(ex, index, now)
    closes = sorted(m.window.close_time for m in ex.markets.values())
    gaps = {(b - a).total_seconds() for a, b in itertools.pairwise(closes)}
    assert gaps == {900.0}
    assert window_containing(datetime(2026, 3, 8, 7, 0, tzinfo=UTC)).close_time in closes


def test_settlement_forgets_internal_users_history_but_keeps_the_traders() -> None:
    open_ts = int(_ts(2026, 7, 8, 22, 45))
    close_ts = open_ts + 900
    index = FnIndex(lambda t: 100)
    ex = Exchange(seed=3)
    ex.open_account("u", 100 * 10_000)
    ex.open_account("maker", 100 * 10_000)
    ex.internal_users = {"maker"}
    lifecycle.step(ex, index, open_ts - 30)
    lifecycle.step(ex, index, open_ts)
    ticker = "KXSOL15M-26JUL081900-00"
    ex.place_order("maker", req("no", "buy", 10, 60, ticker=ticker), open_ts + 10)
    ex.place_order("maker", req("no", "buy", 5, 55, ticker=ticker), open_ts + 11)  # rests; cancelled at close
    ex.place_order("u", req("yes", "buy", 10, 40, ticker=ticker), open_ts + 12)
    lifecycle.step(ex, index, close_ts)
    lifecycle.step(ex, index, close_ts + 60)
    assert ex.markets[ticker].status == "finalized"
    assert not [o for o in ex.orders.values() if o.user_id == "maker" and o.ticker == ticker]
    assert not [f for f in ex.accounts["maker"].fills if f.ticker == ticker]
    assert [o.ticker for o in ex.orders.values() if o.user_id == "u"] == [ticker]
    assert len(ex.accounts["u"].fills) == 1 and ex.accounts["u"].settlements[-1].ticker == ticker
    assert ex.conservation_gap_cc() == 0


def test_markets_beyond_the_history_kept_are_forgotten_whole_balances_untouched() -> None:
    index = FnIndex(lambda t: 100)
    ex = Exchange(seed=3, keep_finalized=2)
    ex.open_account("u", 100 * 10_000)
    ex.open_account("maker", 100 * 10_000)
    ex.internal_users = {"maker"}
    now = _ts(2026, 7, 8, 22, 44)
    traded: list[str] = []
    while len(traded) < 4:
        now = lifecycle.step(ex, index, now)
        for m in ex.markets.values():
            w = m.window
            trading = w.open_time.timestamp() <= now < w.close_time.timestamp()
            if m.status == "active" and m.ticker not in traded and trading:
                ex.place_order("maker", req("no", "buy", 10, 60, ticker=m.ticker), now)
                ex.place_order("u", req("yes", "buy", 10, 40, ticker=m.ticker, client_order_id=m.ticker), now)
                traded.append(m.ticker)
    while any(ex.markets[t].status != "finalized" for t in traded if t in ex.markets):
        now = lifecycle.step(ex, index, now)
    cash = ex.accounts["u"].cash_cc
    # two finalized markets are kept with their history; the two older ones are gone with all of theirs
    kept = [t for t in traded if t in ex.markets]
    assert kept == traded[2:] and all(ex.markets[t].status == "finalized" for t in kept)
    assert {o.ticker for o in ex.orders.values()} == set(kept)
    assert {f.ticker for f in ex.accounts["u"].fills} == set(kept)
    assert {s.ticker for s in ex.accounts["u"].settlements} == set(kept)
    assert not set(ex.accounts["u"].positions) & set(traded[:2])
    assert traded[0] not in ex.books
    assert ex.accounts["u"].cash_cc == cash and ex.conservation_gap_cc() == 0
    # a forgotten market's client order id is free again; a kept one's is still refused
    assert ("u", traded[0]) not in ex._client_ids and ("u", traded[3]) in ex._client_ids
