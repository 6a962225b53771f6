"""Tests for the simulated makers and takers (kalshid.sim.makers)."""

from __future__ import annotations

import math
from decimal import Decimal

import numpy as np
import pytest

from kalshid.core.fees import taker_fee_cc
from kalshid.sim.makers import (
    InformedTaker,
    MakerModel,
    MakerParams,
    Quote,
    TakerOrder,
    TakerParams,
    fair_yes,
)

SIGMA = 0.94 / math.sqrt(365 * 86_400)  # per √s, the index default
STRIKE = Decimal("150.0000")


def _best(quotes: list[Quote], side: str) -> int | None:
    prices = [q.price_cc for q in quotes if q.side == side]
    return max(prices) if prices else None


def _spread_cents(quotes: list[Quote]) -> int:
    yes, no = _best(quotes, "yes"), _best(quotes, "no")
    assert yes is not None and no is not None
    return (10_000 - yes - no) // 100


# ---- fair value


def test_fair_yes_basic_shape() -> None:
    assert fair_yes(STRIKE, STRIKE, 600, SIGMA) == pytest.approx(0.5)
    up, down = fair_yes(Decimal("150.3"), STRIKE, 600, SIGMA), fair_yes(Decimal("149.7"), STRIKE, 600, SIGMA)
    assert up > 0.5 > down and up == pytest.approx(1 - down, abs=1e-3)
    # Less time left → the same lead is worth more.
    assert fair_yes(Decimal("150.3"), STRIKE, 120, SIGMA) > up
    # At the close it is decided; ties pay YES.
    assert fair_yes(STRIKE, STRIKE, 0, SIGMA, closing_avg_so_far=STRIKE) == 1.0
    assert fair_yes(STRIKE, STRIKE, 0, SIGMA, closing_avg_so_far=Decimal("149.9999")) == 0.0
    assert fair_yes(Decimal("150.1"), STRIKE, 600, 0.0) == 1.0


def test_fair_yes_uses_the_known_part_of_the_closing_average() -> None:
    # 50 s of the final minute averaged well above the strike; the index now is just below it.
    high_avg = Decimal("150.5")
    assert fair_yes(Decimal("149.99"), STRIKE, 10, SIGMA, closing_avg_so_far=high_avg) == 1.0
    assert fair_yes(Decimal("149.99"), STRIKE, 10, SIGMA) < 0.5
    with pytest.raises(ValueError, match="sigma"):
        fair_yes(STRIKE, STRIKE, 10, -1.0)
    with pytest.raises(ValueError, match="positive"):
        fair_yes(Decimal(0), STRIKE, 10, SIGMA)


@pytest.mark.parametrize(("seconds_left", "index"), [(120, "150.05"), (300, "149.9"), (45, "150.02")])
def test_fair_yes_matches_monte_carlo(seconds_left: int, index: str) -> None:
    """Simulate 1-s log-Brownian prints and average the last 60 before the close."""
    rng = np.random.default_rng(0)
    n = 40_000
    s0 = float(index)
    steps = rng.normal(0.0, SIGMA, size=(n, seconds_left))
    paths = s0 * np.exp(np.cumsum(steps, axis=1))
    if seconds_left >= 60:
        avg = paths[:, -60:].mean(axis=1)
        known = None
    else:  # the first (60 - T) prints of the window sat at s0
        avg = ((60 - seconds_left) * s0 + paths.sum(axis=1)) / 60
        known = Decimal(index)
    mc = float((avg >= float(STRIKE)).mean())
    model = fair_yes(Decimal(index), STRIKE, seconds_left, SIGMA, closing_avg_so_far=known)
    assert model == pytest.approx(mc, abs=0.015)


# ---- makers


def test_quotes_on_grid_bounded_ordered_and_never_crossed() -> None:
    maker = MakerModel(seed=1)
    rng = np.random.default_rng(1)
    for _ in range(2_000):
        index = STRIKE * Decimal(str(round(math.exp(rng.normal(0, 0.004)), 6)))
        t_left = float(rng.uniform(1, 900))
        quotes = maker.quotes(0.0, index, STRIKE, t_left, SIGMA)
        assert quotes
        for side in ("yes", "no"):
            prices = [q.price_cc for q in quotes if q.side == side]
            assert prices == sorted(prices, reverse=True) and len(set(prices)) == len(prices)
            assert all(p % 100 == 0 and 100 <= p <= 9_900 for p in prices)
        yes, no = _best(quotes, "yes"), _best(quotes, "no")
        assert yes is not None and no is not None and yes + no < 10_000
        assert all(q.count >= 1 for q in quotes)


def test_quotes_bracket_fair_value() -> None:
    maker = MakerModel(2, MakerParams(fair_noise_cents=0.0))
    for idx in ("149.8", "150", "150.2"):
        fair = fair_yes(Decimal(idx), STRIKE, 600, SIGMA)
        quotes = maker.quotes(0.0, Decimal(idx), STRIKE, 600, SIGMA)
        yes_bid, no_bid = _best(quotes, "yes"), _best(quotes, "no")
        assert yes_bid is not None and no_bid is not None
        assert yes_bid <= fair * 10_000 + 50 and 10_000 - no_bid >= fair * 10_000 - 50


def test_no_quotes_without_strike_or_after_close() -> None:
    maker = MakerModel(seed=1)
    assert maker.quotes(0.0, STRIKE, None, 600, SIGMA) == []
    assert maker.quotes(0.0, STRIKE, STRIKE, 0, SIGMA) == []
    assert maker.refresh_delay_s == MakerParams().refresh_delay_s > 0


def test_quotes_reproducible_for_a_seed() -> None:
    def run(seed: int) -> list[list[Quote]]:
        m = MakerModel(seed)
        return [m.quotes(float(t), Decimal("150.1"), STRIKE, 900 - t, SIGMA) for t in range(0, 900, 60)]

    assert run(3) == run(3)
    assert run(3) != run(4)


def test_spread_and_depth_follow_the_data() -> None:
    maker = MakerModel(seed=5)

    def mean_spread(index: str, t_left: float) -> float:
        return float(np.mean([_spread_cents(maker.quotes(0, Decimal(index), STRIKE, t_left, SIGMA))
                              for _ in range(1_500)]))

    mid_window = mean_spread("150", 600)
    assert 1.8 <= mid_window <= 2.8           # data: median 2 cents, mean 2.2-2.8
    assert mean_spread("150", 60) >= mid_window + 1.5   # data: 4-5 cents in the last 2 minutes
    extreme = mean_spread("151.2", 600)       # fair ≈ 0.97
    assert fair_yes(Decimal("151.2"), STRIKE, 600, SIGMA) > 0.95
    assert extreme < mid_window - 0.5         # data: 0.9 cents at the extremes
    assert maker.depth_factor(0.5, 600) == pytest.approx(1.0)
    assert maker.depth_factor(0.5, 60) < 0.3 < maker.depth_factor(0.05, 600) / 2


def test_maker_params_validation() -> None:
    with pytest.raises(ValueError, match="levels=6"):
        MakerParams(levels=6)
    with pytest.raises(ValueError, match="spread_weights"):
        MakerParams(spread_weights=())
    with pytest.raises(ValueError, match="price_cc=150"):
        Quote(side="yes", price_cc=150, count=1)


# ---- takers


def _quiet(**kw: object) -> TakerParams:
    return TakerParams(act_probability=1.0, noise_rate_per_s=0.0, **kw)  # type: ignore[arg-type]


def test_informed_taker_picks_off_a_stale_quote_but_not_a_fair_one() -> None:
    maker = MakerModel(seed=7, params=MakerParams(fair_noise_cents=0.0))
    taker = InformedTaker(seed=7, params=_quiet())
    t_left = 400.0
    stale = maker.quotes(0.0, STRIKE, STRIKE, t_left, SIGMA)
    # The index jumps up before the makers' refresh: YES is now worth ~0.75, the YES ask still ~0.51.
    moved = Decimal("150.30")
    fair_now = fair_yes(moved, STRIKE, t_left - 1, SIGMA)
    assert fair_now > 0.7
    orders = taker.decide(1.0, fair_now, _best(stale, "yes"), _best(stale, "no"))
    assert len(orders) == 1 and orders[0].informed
    no_bid = _best(stale, "no")
    assert no_bid is not None
    assert orders[0] == TakerOrder(side="yes", price_cc=10_000 - no_bid, count=500, informed=True)
    # After the refresh the quotes are fair again: nothing worth taking.
    fresh = maker.quotes(5.0, moved, STRIKE, t_left - 5, SIGMA)
    fair_fresh = fair_yes(moved, STRIKE, t_left - 5, SIGMA)
    assert taker.decide(5.0, fair_fresh, _best(fresh, "yes"), _best(fresh, "no")) == []


def test_informed_taker_accounts_for_fees_and_buys_no_when_yes_is_rich() -> None:
    taker = InformedTaker(seed=1, params=_quiet(edge_threshold_cc=0))
    # YES bid 60 → NO ask 40 while NO is worth 0.42: 2 cents gross, minus the ~1.7-cent fee.
    fee_per = taker_fee_cc(500, 4_000) / 500
    assert taker.edge_cc(0.42, 4_000, 500) == pytest.approx(200 - fee_per)
    assert taker.decide(0.0, 0.58, 6_000, None) == [TakerOrder("no", 4_000, 500, informed=True)]
    # An edge smaller than the fee is left alone.
    assert InformedTaker(1, _quiet(edge_threshold_cc=0)).decide(0.0, 0.595, 6_000, None) == []


def test_informed_taker_rate_limit_and_race() -> None:
    taker = InformedTaker(seed=2, params=_quiet(min_interval_s=10.0))
    hits = [bool(taker.decide(float(t), 0.8, 4_000, 4_000)) for t in range(30)]
    assert hits == [t % 10 == 0 for t in range(30)]
    racer = InformedTaker(seed=2, params=TakerParams(act_probability=0.3, min_interval_s=0.0,
                                                     noise_rate_per_s=0.0))
    acted = sum(bool(racer.decide(float(t), 0.8, 4_000, 4_000)) for t in range(5_000))
    assert acted / 5_000 == pytest.approx(0.3, abs=0.03)


def test_noise_flow_trades_at_the_ask_at_the_configured_rate() -> None:
    taker = InformedTaker(seed=3, params=TakerParams(noise_rate_per_s=0.1, noise_size_max=20))
    orders = [o for t in range(20_000) for o in taker.decide(float(t), 0.5, 4_900, 4_900)]
    assert all(not o.informed and o.price_cc == 5_100 and 1 <= o.count <= 20 for o in orders)
    expected = 20_000 * (1 - math.exp(-0.1))
    assert len(orders) == pytest.approx(expected, rel=0.05)
    assert {o.side for o in orders} == {"yes", "no"}
    # No ask on either side → nothing to buy.
    assert InformedTaker(3).decide(0.0, 0.5, None, None) == []
