"""The strategy evaluation's fast paths against the straightforward computations, bit for bit.

Each fast path (an inlined helper, a cheaper input check, a memo, a constructor without re-checks) must
give the same floats and the same errors as the plain composition of the public helpers it replaces:
the replay and the daemon share these functions, and a recorded session must replay to the cent.
"""

from __future__ import annotations

import math
from datetime import UTC, datetime, timedelta

import attrs
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from kalshid.core.calibration import logit, sigmoid
from kalshid.core.markets import market_ticker
from kalshid.core.pooling import LogitPool
from kalshid.core.pricing import (
    AVERAGING_PRINTS,
    PRINT_SPACING_SECONDS,
    PricingError,
    fair_yes_probability,
    normal_cdf,
    remaining_average_log_variance,
)
from kalshid.core.rolling import RollingWindow
from kalshid.core.signals import BookTop, IndexPrint, MarketView, PricePoint, Signal
from kalshid.core.sizing import (
    ONE_DOLLAR_CC,
    SizeDecision,
    all_in_cost_cc,
    kelly_full_fraction,
    max_count_within,
    size_binary,
)
from kalshid.core.strategies import KellyVolatility, MeanReversion, PriceHistory, StrategyRegistry
from kalshid.core.vocab import Action, Side
from kalshid.core.vol import EwmaVol

T0 = datetime(2026, 7, 1, 12, 0, tzinfo=UTC)
CLOSE = T0 + timedelta(minutes=15)
TICKER = market_ticker(CLOSE)

probabilities = st.floats(0.0, 1.0)


# --- pricing ----------------------------------------------------------------------------------


def reference_fair_yes(spot: float, strike: float, sigma: float, tau: float, observed_sum: float,
                       observed_count: int) -> float:
    """fair_yes_probability's formula through the public helpers, without its input checks."""
    required = AVERAGING_PRINTS * strike - observed_sum
    remaining = AVERAGING_PRINTS - observed_count
    if remaining == 0:
        return 1.0 if required <= 0 else 0.0
    if required <= 0:
        return 1.0
    variance = remaining_average_log_variance(sigma, tau - remaining * PRINT_SPACING_SECONDS, remaining)
    log_moneyness, sd = math.log(remaining * spot / required), math.sqrt(variance)
    if sd <= 0.0 or not math.isfinite(log_moneyness / sd):
        return 1.0 if log_moneyness >= 0 else 0.0
    return min(1.0, max(0.0, normal_cdf(log_moneyness / sd)))


@settings(max_examples=400, deadline=None)
@given(spot=st.floats(50.0, 300.0), moneyness=st.floats(0.97, 1.03), sigma=st.floats(0.0, 1e-3),
       tau=st.floats(0.0, 900.0), count=st.integers(0, 60), mean=st.floats(50.0, 300.0))
def test_fair_yes_probability_is_the_plain_formula(spot: float, moneyness: float, sigma: float, tau: float,
                                                   count: int, mean: float) -> None:
    strike = spot * moneyness
    if tau > 60.0:
        count = 0
    observed_sum = mean * count
    got = fair_yes_probability(spot, strike, sigma, tau, observed_sum=observed_sum, observed_count=count)
    assert got == reference_fair_yes(spot, strike, sigma, tau, observed_sum, count)


@pytest.mark.parametrize(("args", "kw", "match"), [
    ((math.nan, 100.0, 1e-4, 60.0), {}, "spot"),
    ((100.0, math.inf, 1e-4, 60.0), {}, "strike"),
    ((100.0, 100.0, -1e-4, 60.0), {}, "sigma_per_sqrt_second"),
    ((100.0, 100.0, 1e-4, math.nan), {}, "seconds_to_close"),
    ((100.0, 100.0, 1e-4, 30.0), {"observed_count": True}, "observed_count must be an int"),
    ((100.0, 100.0, 1e-4, 30.0), {"observed_count": 61}, r"in \[0, 60\]"),
    ((100.0, 100.0, 1e-4, 30.0), {"observed_sum": math.inf, "observed_count": 3}, "observed_sum must be finite"),
    ((100.0, 100.0, 1e-4, 30.0), {"observed_sum": 5.0}, "observed_count is 0"),
    ((100.0, 100.0, 1e-4, 90.0), {"observed_sum": 100.0, "observed_count": 1}, "window starts in"),
])
def test_fair_yes_probability_still_refuses_what_it_refused(args: tuple[float, ...], kw: dict[str, object],
                                                            match: str) -> None:
    with pytest.raises(PricingError, match=match):
        fair_yes_probability(*args, **kw)  # type: ignore[arg-type]


# --- pooling ----------------------------------------------------------------------------------

weights = st.floats(-3.0, 3.0)


@settings(max_examples=400, deadline=None)
@given(bias=weights, mc=weights, mo=weights, qc=weights, qo=weights, model=probabilities,
       mid=probabilities, minutes=st.floats(-1.0, 16.0))
def test_pool_is_the_plain_formula(bias: float, mc: float, mo: float, qc: float, qo: float, model: float,
                                   mid: float, minutes: float) -> None:
    pool = LogitPool(bias, mc, mo, qc, qo)
    w_model, w_mid = pool.weights(minutes)
    z = bias + w_model * logit(model)
    if pool.uses_mid:
        z += w_mid * logit(mid)
    assert pool(model, mid, minutes) == sigmoid(z)


# --- sizing -----------------------------------------------------------------------------------


@settings(max_examples=400, deadline=None)
@given(fair=probabilities, price=st.integers(1, ONE_DOLLAR_CC - 1), bankroll=st.integers(0, 10**9),
       fraction=st.floats(0.01, 1.0), cap=st.integers(0, 10_000))
def test_size_binary_is_the_plain_composition(fair: float, price: int, bankroll: int, fraction: float,
                                              cap: int) -> None:
    kelly = kelly_full_fraction(fair, all_in_cost_cc(1, price) / ONE_DOLLAR_CC)
    expected: SizeDecision | None = None
    if kelly > 0.0:
        stake = math.floor(fraction * kelly * bankroll)
        count = max_count_within(stake, price, cap)
        if count > 0:
            cost = all_in_cost_cc(count, price)
            expected = SizeDecision(count, price, cost - count * price, cost,
                                    fair - cost / (count * ONE_DOLLAR_CC), kelly, stake)
    assert size_binary(fair, price, bankroll, kelly_fraction=fraction, max_count=cap) == expected


# --- volatility ---------------------------------------------------------------------------------


@settings(max_examples=200, deadline=None)
@given(steps=st.lists(st.tuples(st.floats(0.0, 400.0), st.floats(0.98, 1.02)), min_size=1, max_size=30),
       half_life=st.floats(1.0, 7200.0), floor=st.floats(0.0, 0.01))
def test_vol_update_builds_the_value_the_constructor_would(steps: list[tuple[float, float]], half_life: float,
                                                           floor: float) -> None:
    vol = EwmaVol(half_life_seconds=half_life, microstructure_floor=floor)
    ts, price = T0, 100.0
    for dt, move in steps:
        ts, price = ts + timedelta(seconds=dt), price * move
        new = vol.update(ts, price)
        assert type(new) is EwmaVol
        rebuilt = EwmaVol(**attrs.asdict(new, recurse=False))  # every field, through the checks
        assert new == rebuilt and hash(new) == hash(rebuilt)
        assert new.sigma_per_sqrt_second == rebuilt.sigma_per_sqrt_second
        vol = new


# --- the strategies' memo and fast paths ------------------------------------------------------


def _view(now: datetime, closing_sum: float = 0.0, closing_count: int = 0) -> MarketView:
    return MarketView(TICKER, T0, CLOSE, now, 100.0, 10**8, 1_000, closing_sum, closing_count)


@settings(max_examples=60, deadline=None)
@given(moves=st.lists(st.tuples(st.booleans(), st.floats(0.997, 1.003), st.integers(-3, 3),
                                st.integers(1, 400)), min_size=40, max_size=120),
       mid_weight=st.sampled_from([0.0, 0.4]))
def test_kelly_memo_changes_no_decision(moves: list[tuple[bool, float, int, int]], mid_weight: float) -> None:
    """A Kelly strategy that remembers its last pricing says exactly what one that prices every call
    says, on a stream of index prints and book-only changes (the memo's hits), pooled with and without
    the mid."""
    params = {"pool_mid_at_close": mid_weight, "warmup_seconds": 5.0}
    memo = KellyVolatility.from_mapping(params)
    fresh = KellyVolatility.from_mapping(params)
    now, price, yes_bid = T0, 100.0, 4_800
    last = IndexPrint(now, price)
    for is_print, move, step, size in moves:
        now += timedelta(milliseconds=500)
        if is_print:
            price *= move
            last = IndexPrint(now, price)
        else:
            yes_bid = min(9_000, max(1_000, yes_bid + 100 * step))
        top = BookTop(TICKER, yes_bid, size, ONE_DOLLAR_CC - yes_bid - 200, 401 - size, now)
        fresh._priced_vol = None  # defeat the memo: every call prices afresh
        a = memo.analyze(_view(now), last, PriceHistory(), top)
        b = fresh.analyze(_view(now), last, PriceHistory(), top)
        assert a == b
        assert (memo.last_fair_yes, memo.last_model_yes) == (fresh.last_fair_yes, fresh.last_model_yes)


@settings(max_examples=100, deadline=None)
@given(mids=st.lists(st.tuples(st.integers(0, 3_000), st.one_of(st.none(), probabilities)), max_size=60))
def test_mean_reversion_folds_a_lone_mid_as_a_point(mids: list[tuple[int, float | None]]) -> None:
    """The call with no history points and a book mid keeps the same window as the general path
    given the mid as a point of its own."""
    fast, general = MeanReversion(), MeanReversion()
    now = T0
    for step_ms, mid in mids:
        now += timedelta(milliseconds=step_ms)
        fast._update(_view(now), (), mid)
        general._update(_view(now), () if mid is None else (PricePoint(now, mid),), None)
        assert list(fast.history._points) == list(general.history._points)
        assert (fast.history.mean(), fast.history.variance()) == (general.history.mean(), general.history.variance())


@settings(max_examples=100, deadline=None)
@given(ticks=st.lists(st.tuples(st.integers(0, 1_500), st.integers(1, 98), st.integers(1, 98)),
                      min_size=1, max_size=120))
def test_mean_reversion_answers_within_a_second_as_a_fresh_update_would(ticks: list[tuple[int, int, int]]) -> None:
    """Within an exchange second the window does not change, so its remembered answer is what
    bringing it up to date on every call gives: the same signals, z-scores and points."""
    params = {"min_samples": 3, "zscore_threshold_medium": 0.5, "zscore_threshold_high": 1.0, "min_edge": 0.0,
              "lookback_window": 20}
    lazy, eager = MeanReversion.from_mapping(params), MeanReversion.from_mapping(params)
    now = T0
    for step_ms, yes_cents, no_cents in ticks:
        now += timedelta(milliseconds=step_ms)
        top = BookTop(TICKER, yes_cents * 100, 10, no_cents * 100, 10, now) if yes_cents + no_cents < 100 else None
        eager._second_end = datetime.min.replace(tzinfo=UTC)  # every call brings the window up to date
        a = lazy.analyze(_view(now), None, PriceHistory(), top)
        b = eager.analyze(_view(now), None, PriceHistory(), top)
        assert a == b and lazy.last_z == eager.last_z
        assert list(lazy.history._points) == list(eager.history._points)


@settings(max_examples=200, deadline=None)
@given(ops=st.lists(st.tuples(st.floats(0.0, 30.0), probabilities, st.floats(0.0, 60.0)), max_size=80))
def test_rolling_moments_are_the_separate_reads(ops: list[tuple[float, float, float]]) -> None:
    window, t = RollingWindow(), 0.0
    assert window.moments() is None
    for dt, x, keep in ops:
        t += dt
        window.append(t, x)
        window.drop_before(t - keep)
        assert window.moments() == (len(window), window.mean(), window.variance(), window.last_value)


def test_reasons_are_formatted_on_read() -> None:
    s = MeanReversion.from_mapping({"min_samples": 2, "zscore_threshold_medium": 0.5,
                                    "zscore_threshold_high": 0.6, "min_edge": 0.0})
    now, sig = T0, None
    for yes_bid in (5_000, 5_000, 5_000, 5_100, 5_000, 4_000):
        now += timedelta(seconds=1)
        sig = s.analyze(_view(now), None, PriceHistory(), BookTop(TICKER, yes_bid, 10, 9_800 - yes_bid, 10, now))
    assert sig is not None and sig.side is Side.YES
    assert sig.reason.startswith("z=-") and " points mean_yes=" in sig.reason and "yes_ask=" in sig.reason


def test_registry_active_follows_enable_disable_and_new_params() -> None:
    reg = StrategyRegistry([KellyVolatility(), MeanReversion()], enabled=["kelly_volatility"])
    first = reg.active()
    assert [s.name for s in first] == ["kelly_volatility"]
    first.clear()  # a caller's copy: the registry is unchanged
    assert [s.name for s in reg.active()] == ["kelly_volatility"]
    reg.enable("mean_reversion")
    assert [s.name for s in reg.active()] == ["kelly_volatility", "mean_reversion"]
    new = reg.with_params("kelly_volatility", {"min_edge": 0.05})
    assert reg.active()[0] is new
    reg.disable("kelly_volatility")
    assert [s.name for s in reg.active()] == ["mean_reversion"]


# --- value types: the checks that moved into the post-init ---------------------------------------


def test_value_types_still_refuse_naive_times() -> None:
    naive = datetime(2026, 7, 1, 12, 0)
    with pytest.raises(ValueError, match="now must be timezone-aware"):
        MarketView(TICKER, T0, CLOSE, naive, 100.0, 1, 1)
    with pytest.raises(ValueError, match="open_time must be timezone-aware"):
        MarketView(TICKER, naive, CLOSE, T0, 100.0, 1, 1)
    with pytest.raises(ValueError, match="ts must be timezone-aware"):
        IndexPrint(naive, 100.0)
    with pytest.raises(ValueError, match="created_at must be timezone-aware"):
        Signal("k", TICKER, Side.YES, Action.BUY, 5_000, 1, 0.6, 0.1, 1.0, "r", naive)
    with pytest.raises(ValueError, match="floor_strike must be finite"):
        MarketView(TICKER, T0, CLOSE, T0, math.nan, 1, 1)
    with pytest.raises(ValueError, match="index price must be finite"):
        IndexPrint(T0, math.inf)
    with pytest.raises(ValueError, match="outside"):
        Signal("k", TICKER, Side.YES, Action.BUY, ONE_DOLLAR_CC, 1, 0.6, 0.1, 1.0, "r", T0)
