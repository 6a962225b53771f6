"""Property: :class:`RiskEngine` (sums taken once per check, the order's position replaced in them)
reaches exactly the verdict of the literal evaluation in ``risk_reference.py`` (the whole portfolio
after every hypothetical fill): approval, reason, detail and adjusted count, on random portfolios,
resting orders, limits and intents, including hedged positions, sales and reduced buys."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta

from hypothesis import HealthCheck, given, reject, settings
from hypothesis import strategies as st

from kalshid.core.breaker import BreakerStatus
from kalshid.core.fees import taker_fee_cc
from kalshid.core.markets import market_ticker, window_containing
from kalshid.core.portfolio import Fill, Portfolio, PortfolioError, window_close
from kalshid.core.risk import (
    DayLedger,
    OrderIntent,
    ReasonCode,
    RestingOrder,
    RiskEngine,
    RiskLimits,
    RiskState,
    _Totals,
)
from kalshid.core.vocab import Action, Side
from tests.core.risk_reference import ReferenceRiskEngine

NOW = datetime(2026, 7, 1, 23, 5, 30, tzinfo=UTC)
CLOSE = window_containing(NOW).close_time
TICKERS = [market_ticker(CLOSE + timedelta(minutes=15 * k)) for k in (-1, 0, 0, 1, 2)]

limits_st = st.builds(
    RiskLimits,
    max_position_size_cc=st.integers(0, 20_000_000),
    max_concurrent_positions=st.integers(1, 6),
    max_daily_loss_cc=st.integers(0, 20_000_000),
    max_window_exposure_cc=st.integers(0, 20_000_000),
    entry_cutoff_seconds=st.sampled_from([0.0, 0.0, 60.0, 600.0]),
    max_data_age_seconds=st.sampled_from([1.0, 5.0]),
)
price_st = st.one_of(st.sampled_from([1, 100, 5_000, 9_900, 9_999]), st.integers(1, 9_999))
fill_st = st.tuples(st.sampled_from([TICKERS[1]] * 3 + TICKERS), st.sampled_from(list(Side)),
                    st.sampled_from([Action.BUY, Action.BUY, Action.SELL]), st.integers(1, 400), price_st)
resting_st = st.builds(RestingOrder, st.sampled_from(TICKERS), st.sampled_from(list(Side)),
                       st.sampled_from(list(Action)), st.integers(-2, 100), price_st)
# mostly the open window's market, so that most intents reach the size limits
intent_st = st.builds(OrderIntent, st.sampled_from([TICKERS[1]] * 8 + TICKERS), st.sampled_from(list(Side)),
                      st.sampled_from([Action.BUY, Action.BUY, Action.SELL]),
                      st.one_of(st.integers(1, 400), st.integers(1, 20_000)), price_st)


def portfolio_of(cash: int, fills: list[tuple[str, Side, Action, int, int]]) -> Portfolio:
    p = Portfolio(cash_cc=cash)
    for ticker, side, action, count, price in fills:
        try:
            p = p.apply_fill(Fill(ticker, side, action, count, price, taker_fee_cc(count, price), NOW))
        except PortfolioError:
            continue  # a sale of more than is held: not a state the portfolio can reach
    return p


@settings(max_examples=700, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(limits=limits_st, cash=st.one_of(st.integers(0, 5_000_000), st.integers(0, 100_000_000)),
       fills=st.lists(fill_st, max_size=12),
       resting=st.lists(resting_st, max_size=4), intent=intent_st, realized_start=st.integers(-200_000, 200_000),
       breaker=st.sampled_from([BreakerStatus.RUNNING] * 12 + list(BreakerStatus)),
       ages=st.tuples(st.floats(0, 1.5), st.floats(0, 1.5)),
       later=st.one_of(st.integers(0, 400), st.integers(0, 900)))
def test_engine_agrees_with_the_literal_rules(limits: RiskLimits, cash: int,
                                              fills: list[tuple[str, Side, Action, int, int]],
                                              resting: list[RestingOrder], intent: OrderIntent, realized_start: int,
                                              breaker: BreakerStatus, ages: tuple[float, float], later: int) -> None:
    state = RiskState(portfolio=portfolio_of(cash, fills), ledger=DayLedger(NOW.date(), realized_start),
                      breaker_status=breaker, resting=resting, book_age_seconds=ages[0], index_age_seconds=ages[1])
    now = NOW + timedelta(seconds=later)
    got = RiskEngine(limits).check(intent, state, now)
    assert got == ReferenceRiskEngine(limits).check(intent, state, now)


def test_a_reduced_buy_agrees_on_a_hedged_book() -> None:
    """A large buy against a hedged position, bounded by window exposure: both search to one count."""
    cur = TICKERS[1]
    p = portfolio_of(10_000_000, [(cur, Side.YES, Action.BUY, 400, 4_000), (cur, Side.NO, Action.BUY, 300, 5_500),
                                  (TICKERS[3], Side.NO, Action.BUY, 50, 3_000)])
    state = RiskState(portfolio=p, ledger=DayLedger(NOW.date(), 0),
                      resting=[RestingOrder(cur, Side.YES, Action.BUY, 20, 4_100)],
                      book_age_seconds=0.1, index_age_seconds=0.1)
    limits = RiskLimits(max_position_size_cc=9_000_000, max_concurrent_positions=5, max_daily_loss_cc=9_000_000,
                        max_window_exposure_cc=500_000)
    intent = OrderIntent(cur, Side.YES, Action.BUY, 5_000, 4_300)
    got = RiskEngine(limits).check(intent, state, NOW)
    assert got.reason == "reduced" and got.adjusted_count is not None and 0 < got.adjusted_count < 5_000
    assert got == ReferenceRiskEngine(limits).check(intent, state, NOW)


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(caps=st.tuples(st.integers(100_000, 5_000_000), st.integers(0, 5_000_000), st.integers(0, 5_000_000)),
       cash=st.integers(1_000_000, 100_000_000), fills=st.lists(fill_st, max_size=12),
       resting=st.lists(resting_st, max_size=4), side=st.sampled_from(list(Side)), count=st.integers(1, 20_000),
       price=price_st, realized_start=st.integers(-200_000, 200_000))
def test_size_limits_agree_on_a_trading_book(caps: tuple[int, int, int], cash: int,
                                             fills: list[tuple[str, Side, Action, int, int]],
                                             resting: list[RestingOrder], side: Side, count: int, price: int,
                                             realized_start: int) -> None:
    """Buys in the open window with fresh data: the size limits, and the reduction search, decide."""
    limits = RiskLimits(max_position_size_cc=caps[0], max_concurrent_positions=6, max_daily_loss_cc=caps[1],
                        max_window_exposure_cc=caps[2], entry_cutoff_seconds=0.0)
    state = RiskState(portfolio=portfolio_of(cash, fills), ledger=DayLedger(NOW.date(), realized_start),
                      resting=resting, book_age_seconds=0.1, index_age_seconds=0.1)
    intent = OrderIntent(TICKERS[1], side, Action.BUY, count, price)
    assert RiskEngine(limits).check(intent, state, NOW) == ReferenceRiskEngine(limits).check(intent, state, NOW)


def _largest_passing(limits: RiskLimits, intent: OrderIntent, state: RiskState) -> int:
    """The largest count in ``[1, intent.count]`` a buy passes every size limit at, by trying each one
    literally (0 if none does)."""
    reference = ReferenceRiskEngine(limits)
    totals = _Totals(intent.ticker, window_close(intent.ticker), state)
    passing = [n for n in range(1, intent.count + 1) if reference._buy_violation(intent, n, totals) is None]
    return max(passing, default=0)


@settings(max_examples=500, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(held=st.tuples(st.integers(0, 60), st.integers(1, 9_999), st.integers(0, 60), st.integers(1, 9_999)),
       caps=st.tuples(st.integers(0, 600_000), st.integers(0, 600_000)), realized_start=st.integers(-100_000, 100_000),
       side=st.sampled_from(list(Side)), count=st.integers(1, 90), price=price_st)
def test_a_buy_is_reduced_to_the_largest_count_that_passes(held: tuple[int, int, int, int], caps: tuple[int, int],
                                                         realized_start: int, side: Side, count: int,
                                                         price: int) -> None:
    """As the module docstring states the reduction: the whole order if it passes, else the largest
    smaller count that passes every limit, else a rejection with one contract's reason. A buy that
    pairs off the other side's contracts lowers the window's exposure and the day's loss measure until
    the two sides are even, so on a book over its limits a larger count can pass where one contract
    does not (at a price up to 99¢; above it such a buy may be refused, never approved beyond a limit)."""
    cur = TICKERS[1]
    yes, yes_price, no, no_price = held
    fills = [(cur, s, Action.BUY, n, p) for s, n, p in ((Side.YES, yes, yes_price), (Side.NO, no, no_price)) if n]
    state = RiskState(portfolio=portfolio_of(100_000_000, fills), ledger=DayLedger(NOW.date(), realized_start),
                      book_age_seconds=0.1, index_age_seconds=0.1)
    limits = RiskLimits(max_position_size_cc=20_000_000, max_concurrent_positions=6, max_daily_loss_cc=caps[0],
                        max_window_exposure_cc=caps[1], entry_cutoff_seconds=0.0)
    intent = OrderIntent(cur, side, Action.BUY, count, price)
    got = RiskEngine(limits).check(intent, state, NOW)
    best = _largest_passing(limits, intent, state)
    approved = got.count_for(intent)
    reference = ReferenceRiskEngine(limits)
    totals = _Totals(cur, window_close(cur), state)
    assert approved == 0 or reference._buy_violation(intent, approved, totals) is None  # never a breach
    if price <= 9_900:
        assert approved == best, (got, best)
    else:  # above 99¢ a pairing buy is not searched when one contract breaks a limit
        assert approved <= best
    if approved == 0:
        assert (got.reason, got.detail) == reference._buy_violation(intent, 1, totals)


@settings(max_examples=500, deadline=None)
@given(cash=st.integers(0, 100_000_000), fills=st.lists(fill_st, max_size=12), side=st.sampled_from(list(Side)),
       action=st.sampled_from(list(Action)), count=st.integers(1, 20_000), price=price_st)
def test_the_what_if_fill_is_the_portfolio_after_the_fill(cash: int, fills: list[tuple[str, Side, Action, int, int]],
                                                         side: Side, action: Action, count: int, price: int) -> None:
    """The engine's what-if for the order's market (a buy with nothing on the other side to pair off:
    the notional added to the worst case) equals the portfolio :meth:`Portfolio.apply_fill` builds:
    the change in cash and realised P&L, and the market's worst-case loss."""
    cur = TICKERS[1]
    portfolio = portfolio_of(cash, fills)
    state = RiskState(portfolio=portfolio, ledger=DayLedger(NOW.date(), 0))
    fee = taker_fee_cc(count, price)
    try:
        after_fill = portfolio.apply_fill(Fill(cur, side, action, count, price, fee, NOW))
    except PortfolioError:
        reject()  # a sale of more than is held: refused before the what-if (INSUFFICIENT_POSITION)
    got = _Totals(cur, window_close(cur), state).after(OrderIntent(cur, side, action, count, price), count, fee)
    after_pos = after_fill.positions.get(cur)
    assert got == (after_fill.cash_cc - portfolio.cash_cc, after_fill.realized_pnl_cc - portfolio.realized_pnl_cc,
                   after_pos.worst_case_loss_cc if after_pos is not None else 0)


def test_a_reduced_buy_is_the_largest_count_that_passes_with_every_limit_binding() -> None:
    """A seeded brute force: on books with positions in the order's window and others, resting orders,
    a cash balance and a per-trade cap that bind too, the engine's count (whole, reduced or none) is
    the largest count from 1 to the order's that passes every limit, each count tried literally."""
    rng = random.Random(20260708)
    cur = TICKERS[1]
    reasons: set[ReasonCode] = set()
    for _ in range(3000):
        fills = [(rng.choice([cur, cur, TICKERS[2], TICKERS[0], TICKERS[3]]), rng.choice(list(Side)),
                  rng.choice([Action.BUY, Action.BUY, Action.SELL]), rng.randint(1, 80),
                  rng.choice([1, 100, 5_000, 9_900, 9_999, rng.randint(1, 9_999)])) for _ in range(rng.randint(0, 5))]
        cash = rng.choice([rng.randint(0, 300_000), rng.randint(0, 3_000_000)])
        resting = [RestingOrder(rng.choice(TICKERS), rng.choice(list(Side)), rng.choice(list(Action)),
                                rng.randint(0, 40), rng.randint(1, 9_999)) for _ in range(rng.randint(0, 3))]
        limits = RiskLimits(max_position_size_cc=rng.randint(0, 600_000), max_concurrent_positions=6,
                            max_daily_loss_cc=rng.randint(0, 900_000), max_window_exposure_cc=rng.randint(0, 900_000),
                            entry_cutoff_seconds=0.0)
        ledger = DayLedger(NOW.date(), rng.randint(-100_000, 100_000))
        state = RiskState(portfolio=portfolio_of(cash, fills), ledger=ledger, resting=resting,
                          book_age_seconds=0.1, index_age_seconds=0.1)
        price = rng.choice([1, 2, 99, 100, 101, 5_000, 9_800, 9_899, 9_900, rng.randint(1, 9_900)])
        intent = OrderIntent(cur, rng.choice(list(Side)), Action.BUY, rng.randint(1, 120), price)
        got = RiskEngine(limits).check(intent, state, NOW)
        reasons.add(got.reason)
        if got.reason is ReasonCode.MAX_CONCURRENT_POSITIONS:
            continue
        assert got.count_for(intent) == _largest_passing(limits, intent, state), (got, intent, state, limits)
    assert {ReasonCode.APPROVED, ReasonCode.REDUCED, ReasonCode.INSUFFICIENT_CASH, ReasonCode.MAX_TRADE_SIZE,
            ReasonCode.MAX_WINDOW_EXPOSURE, ReasonCode.MAX_DAILY_LOSS} <= reasons  # every limit bound somewhere
