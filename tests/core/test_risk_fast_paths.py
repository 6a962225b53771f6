"""The risk check's fast paths against the plain computations: a refusal's detail formatted when read
is the text formatted at once, the concurrent-markets limit skipped below the count that could reach it
decides as the set it skips, and a market not held reads the empty position."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from functools import partial

from hypothesis import given, settings
from hypothesis import strategies as st

from kalshid.core.markets import market_ticker
from kalshid.core.portfolio import Fill, Portfolio, Position
from kalshid.core.risk import (
    DayLedger,
    OrderIntent,
    ReasonCode,
    RestingOrder,
    RiskEngine,
    RiskLimits,
    RiskState,
    Verdict,
)
from kalshid.core.units import format_dollars
from kalshid.core.vocab import Action, Side

CLOSE = datetime(2026, 7, 1, 12, 15, tzinfo=UTC)
NOW = CLOSE - timedelta(minutes=10)
TICKERS = [market_ticker(CLOSE + timedelta(minutes=15 * k)) for k in range(6)]


def test_a_refusal_s_detail_is_formatted_when_read_and_is_the_text() -> None:
    limits = RiskLimits(max_position_size_cc=10_000_000, max_concurrent_positions=5, max_daily_loss_cc=5_000_000,
                        max_window_exposure_cc=10_000_000)
    # the day has lost 600 $ against a 500 $ limit: one contract already breaks it
    state = RiskState(Portfolio(100_000_000), DayLedger(NOW.date(), 6_000_000), book_age_seconds=0.1,
                      index_age_seconds=0.1)
    verdict = RiskEngine(limits).check(OrderIntent(TICKERS[0], Side.YES, Action.BUY, 40, 4_000), state, NOW)
    assert verdict.reason is ReasonCode.MAX_DAILY_LOSS and not verdict.approved
    assert not isinstance(verdict._detail, str)  # not formatted yet
    # one contract at 40¢ with its 2¢ fee: 600 $ realised + 0.40 $ at stake + 0.02 $ paid
    text = f"day's loss measure {format_dollars(6_004_200)} > {format_dollars(5_000_000)}"
    plain = Verdict(False, ReasonCode.MAX_DAILY_LOSS, text)
    # the value stands for its text before it is read, and after
    assert verdict == plain and hash(verdict) == hash(plain) and repr(verdict) == repr(plain)
    assert verdict.detail == text and verdict._detail == text  # formatted once, kept
    assert verdict == plain and hash(verdict) == hash(plain)


def test_a_verdict_with_a_detail_function_is_the_verdict_with_its_text() -> None:
    lazy = Verdict(True, ReasonCode.REDUCED, partial(str, "reduced"), adjusted_count=3)
    plain = Verdict(True, ReasonCode.REDUCED, "reduced", adjusted_count=3)
    assert lazy == plain and hash(lazy) == hash(plain) and repr(lazy) == repr(plain)
    assert lazy.detail == "reduced"
    assert Verdict(False, ReasonCode.STALE_BOOK, "x").detail == "x"


def _plain_concurrent_breach(intent: OrderIntent, state: RiskState, limit: int) -> bool:
    """The concurrent-markets rule as it reads: a buy in a market not held open is refused when the
    markets with open positions or resting buys, counting it, would exceed the limit."""
    held = state.portfolio.positions.get(intent.ticker)
    if held is not None and held.is_open:
        return False
    open_markets = state.portfolio.open_tickers() | {
        r.ticker for r in state.resting if r.action is Action.BUY and r.count > 0}
    return intent.ticker not in open_markets and len(open_markets) >= limit


@settings(max_examples=500, deadline=None)
@given(held=st.lists(st.tuples(st.sampled_from(TICKERS), st.integers(0, 3)), max_size=5),
       resting=st.lists(st.tuples(st.sampled_from(TICKERS), st.sampled_from(list(Action)), st.integers(0, 3)),
                        max_size=4),
       limit=st.integers(0, 7))
def test_the_concurrent_markets_limit_decides_as_the_set_of_open_markets(
        held: list[tuple[str, int]], resting: list[tuple[str, Action, int]], limit: int) -> None:
    # positions with contracts, and closed ones a portfolio may still list (counted by the fast path's
    # bound, never by the rule)
    positions = {t: Position(t, yes_count=n, yes_cost_cc=n * 1_000) for t, n in held}
    state = RiskState(Portfolio(100_000_000, positions), DayLedger(NOW.date(), 0),
                      resting=[RestingOrder(t, Side.NO, a, n, 1_000) for t, a, n in resting],
                      book_age_seconds=0.1, index_age_seconds=0.1)
    limits = RiskLimits(max_position_size_cc=10**9, max_concurrent_positions=limit, max_daily_loss_cc=10**9,
                        max_window_exposure_cc=10**9, entry_cutoff_seconds=0.0)
    intent = OrderIntent(TICKERS[0], Side.YES, Action.BUY, 1, 5_000)  # the market open at NOW
    verdict = RiskEngine(limits).check(intent, state, NOW)
    assert (verdict.reason is ReasonCode.MAX_CONCURRENT_POSITIONS) == _plain_concurrent_breach(intent, state, limit)
    assert verdict.approved != (verdict.reason is ReasonCode.MAX_CONCURRENT_POSITIONS)


def test_a_market_not_held_reads_the_empty_position() -> None:
    p = Portfolio(1_000_000).apply_fill(Fill(TICKERS[0], Side.YES, Action.BUY, 3, 4_000, 0, NOW))
    assert p.position(TICKERS[1]) == Position(TICKERS[1]) and not p.position(TICKERS[1]).is_open
    assert p.position(TICKERS[0]) == Position(TICKERS[0], yes_count=3, yes_cost_cc=12_000)
