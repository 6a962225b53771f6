"""Property: no sequence of orders, fills, settlements, price/time/data-age changes makes the risk
engine approve an order that breaches a limit. Approved orders are applied as worst-case fills (the
whole approved count at the limit, paying the taker fee) and the invariants are checked after every
step."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import attrs
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from kalshid.core.breaker import BreakerStatus
from kalshid.core.fees import taker_fee_cc
from kalshid.core.markets import WINDOW, market_ticker, window_containing
from kalshid.core.portfolio import Fill, Portfolio, window_close
from kalshid.core.risk import DayLedger, OrderIntent, ReasonCode, RiskEngine, RiskLimits, RiskState
from kalshid.core.vocab import Action, Side

START = datetime(2026, 7, 1, 23, 20, tzinfo=UTC)  # close to a UTC day boundary on purpose
SIZE_LIMITS = (ReasonCode.MAX_TRADE_SIZE, ReasonCode.INSUFFICIENT_CASH, ReasonCode.MAX_WINDOW_EXPOSURE,
               ReasonCode.MAX_DAILY_LOSS)

limits_st = st.builds(
    RiskLimits,
    max_position_size_cc=st.integers(0, 600_000),
    max_concurrent_positions=st.integers(1, 3),
    max_daily_loss_cc=st.integers(0, 1_000_000),
    max_window_exposure_cc=st.integers(0, 800_000),
    entry_cutoff_seconds=st.sampled_from([0.0, 30.0, 120.0]),
    max_data_age_seconds=st.sampled_from([1.0, 5.0]),
)

order_st = st.tuples(
    st.just("order"),
    st.sampled_from([0, 0, 0, 0, 1, -1]),  # window offset from the current one (open, next, closed)
    st.sampled_from([Side.YES, Side.NO]),
    st.sampled_from([Action.BUY, Action.BUY, Action.SELL]),
    st.integers(1, 300),
    st.one_of(st.sampled_from([1, 100, 5_000, 9_900, 9_999]), st.integers(1, 9_999)),
)
other_st = st.one_of(
    st.tuples(st.just("advance"), st.integers(1, 600)),
    st.tuples(st.just("ages"), st.floats(0, 6), st.floats(0, 6)),
    st.tuples(st.just("breaker"), st.sampled_from([BreakerStatus.RUNNING] * 4 + list(BreakerStatus))),
    st.tuples(st.just("settle"), st.sampled_from([Side.YES, Side.NO])),
)
# Mostly orders, so that many are approved and the limits are actually approached.
step_st = st.integers(0, 9).flatmap(lambda k: order_st if k < 7 else other_st)


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(limits=limits_st, cash=st.integers(0, 3_000_000), steps=st.lists(step_st, min_size=5, max_size=60))
def test_risk_never_approves_a_breach(limits: RiskLimits, cash: int, steps: list[tuple[object, ...]]) -> None:
    engine = RiskEngine(limits)
    now = START
    portfolio = Portfolio(cash_cc=cash)
    ledger = DayLedger.start(now, portfolio)
    breaker = BreakerStatus.RUNNING
    book_age, index_age = 0.5, 0.5

    for step in steps:
        kind = step[0]
        if kind == "advance":
            now += timedelta(seconds=int(step[1]))  # type: ignore[call-overload]
            ledger = ledger.rolled(now, portfolio)
        elif kind == "ages":
            book_age, index_age = float(step[1]), float(step[2])  # type: ignore[arg-type]
        elif kind == "breaker":
            breaker = step[1]  # type: ignore[assignment]
        elif kind == "settle":
            for ticker in list(portfolio.positions):
                if window_close(ticker) <= now:
                    portfolio = portfolio.settle(ticker, step[1])  # type: ignore[arg-type]
        else:
            _, offset, side, action, count, price = step
            close = window_containing(now).close_time + WINDOW * int(offset)  # type: ignore[call-overload]
            intent = OrderIntent(market_ticker(close), side, action, count, price)  # type: ignore[arg-type]
            state = RiskState(portfolio, ledger, breaker, (), book_age, index_age)
            verdict = engine.check(intent, state, now)
            n = verdict.count_for(intent)
            if not verdict.approved:
                assert n == 0
                if action is Action.BUY and verdict.reason in SIZE_LIMITS:
                    # rejected exactly when one contract breaks a limit, and with that contract's detail
                    one = engine.check(attrs.evolve(intent, count=1), state, now)
                    assert (one.approved, one.reason, one.detail) == (False, verdict.reason, verdict.detail)
                continue
            # Per-order rules, checked against the state the engine saw
            assert 1 <= n <= intent.count
            assert breaker is not BreakerStatus.HALTED
            assert book_age <= limits.max_data_age_seconds and index_age <= limits.max_data_age_seconds
            assert close - WINDOW <= now < close
            fee = taker_fee_cc(n, intent.price_cc)
            if action is Action.BUY:
                assert breaker is BreakerStatus.RUNNING
                assert (close - now).total_seconds() >= limits.entry_cutoff_seconds
                assert n * intent.price_cc + fee <= limits.max_position_size_cc
                was_open = intent.ticker in portfolio.open_tickers()
                assert was_open or len(portfolio.open_tickers()) < limits.max_concurrent_positions
                if verdict.reason is ReasonCode.REDUCED:  # to the most that passes, not merely some
                    assert engine.check(attrs.evolve(intent, count=n), state, now).reason is ReasonCode.APPROVED
                    bigger = attrs.evolve(intent, count=n + 1)
                    assert engine.check(bigger, state, now).count_for(bigger) <= n
            else:
                assert n <= portfolio.position(intent.ticker).count(intent.side)
            portfolio = portfolio.apply_fill(Fill(intent.ticker, intent.side, intent.action, n,
                                                  intent.price_cc, fee, now))

        # Invariants after every step
        assert portfolio.cash_cc >= 0
        assert len(portfolio.open_tickers()) <= limits.max_concurrent_positions
        assert all(v <= limits.max_window_exposure_cc for v in portfolio.exposure_by_window().values())
        realized_today = portfolio.realized_pnl_cc - ledger.start_realized_cc
        assert -realized_today + portfolio.worst_case_loss_cc() <= limits.max_daily_loss_cc
