"""Strategies on crafted inputs, and the registry's parameter handling."""

from __future__ import annotations

import math
from datetime import UTC, datetime, timedelta

import attrs
import pytest

from kalshid.core.markets import market_ticker
from kalshid.core.signals import BookTop, IndexPrint, MarketView, PricePoint, Signal
from kalshid.core.strategies import (
    KellyVolatility,
    KellyVolatilityParams,
    MeanReversion,
    ParamError,
    PriceHistory,
    StrategyRegistry,
    build_strategy,
)
from kalshid.core.vocab import Action, Side

CLOSE = datetime(2026, 7, 1, 12, 15, tzinfo=UTC)
OPEN = CLOSE - timedelta(minutes=15)
TICKER = market_ticker(CLOSE)
BANKROLL = 1_000 * 10_000


def view(now: datetime, *, strike: float | None = 100.0, max_count: int = 1_000, **kw: object) -> MarketView:
    return MarketView(ticker=TICKER, open_time=OPEN, close_time=CLOSE, now=now, floor_strike=strike,
                      bankroll_cc=BANKROLL, max_count=max_count, **kw)  # type: ignore[arg-type]


def book(now: datetime, yes_bid: int | None, no_bid: int | None, size: int = 50) -> BookTop:
    return BookTop(TICKER, yes_bid, size if yes_bid else 0, no_bid, size if no_bid else 0, now)


def warm_prints(end: datetime, n: int = 200, level: float = 100.0) -> list[IndexPrint]:
    """n prints 1 s apart ending at ``end``, log-returns alternating ±1e-4 (sigma 1e-4 per sqrt s)."""
    return [IndexPrint(end - timedelta(seconds=n - 1 - i), level * math.exp(1e-4 * (i % 2)))
            for i in range(n)]


# --- KellyVolatility -------------------------------------------------------------------------


def test_kelly_buys_yes_when_index_is_well_above_strike() -> None:
    now = CLOSE - timedelta(seconds=300)
    history = warm_prints(now - timedelta(seconds=1), level=100.3)
    s = KellyVolatility()
    sig = s.analyze(view(now), IndexPrint(now, 100.3), PriceHistory(index=history), book(now, 3_800, 4_000))
    assert sig is not None
    assert (sig.side, sig.action, sig.price_cc) == (Side.YES, Action.BUY, 6_000)
    assert 0 < sig.count <= 50  # capped by the displayed size at the ask
    assert sig.fair_prob > 0.95 and sig.edge >= 0.03 and sig.ticker == TICKER
    assert sig.created_at == now and "fair_yes=" in sig.reason


def test_kelly_buys_no_when_index_is_well_below_strike() -> None:
    now = CLOSE - timedelta(seconds=300)
    s = KellyVolatility()
    sig = s.analyze(view(now, max_count=5), IndexPrint(now, 99.7),
                    PriceHistory(index=warm_prints(now - timedelta(seconds=1), level=99.7)),
                    book(now, 4_000, 3_800))
    assert sig is not None
    assert sig.side is Side.NO and sig.price_cc == 6_000 and sig.count == 5  # max_count cap


def test_kelly_silent_when_edge_below_min_edge() -> None:
    now = CLOSE - timedelta(seconds=300)
    s = KellyVolatility()
    # At the strike fair is 0.5; a YES ask of 0.47 leaves 0.03 - fee < 0.03 (NO ask 0.55: negative)
    sig = s.analyze(view(now), IndexPrint(now, 100.0), PriceHistory(index=warm_prints(now)),
                    book(now, 4_500, 5_300))
    assert sig is None and s.last_fair_yes == pytest.approx(0.5, abs=0.01)
    # Same book with a lower threshold trades
    s2 = s.with_params(min_edge=0.0)
    sig2 = s2.analyze(view(now), IndexPrint(now, 100.0), PriceHistory(), book(now, 4_500, 5_300))
    assert sig2 is not None and sig2.side is Side.YES and 0 < sig2.edge < 0.03


def test_kelly_silent_without_warm_vol_strike_or_open_market() -> None:
    now = CLOSE - timedelta(seconds=300)
    b = book(now, 3_800, 4_000)
    cold = KellyVolatility()
    few = PriceHistory(index=warm_prints(now, n=10))
    assert cold.analyze(view(now), IndexPrint(now, 100.3), few, b) is None
    warm = KellyVolatility()
    assert warm.analyze(view(now, strike=None), IndexPrint(now, 100.3),
                        PriceHistory(index=warm_prints(now - timedelta(seconds=1))), b) is None
    late = CLOSE + timedelta(seconds=1)
    assert warm.analyze(view(late), IndexPrint(late, 100.3), PriceHistory(), b) is None
    assert warm.vol.last_ts == late and warm.vol.updates == 201  # prints were still folded in


def test_kelly_inside_final_minute_uses_closing_prints() -> None:
    now = CLOSE - timedelta(seconds=20)
    s = KellyVolatility()
    hist = PriceHistory(index=warm_prints(now - timedelta(seconds=1)))
    # Spot is below the strike but 40 observed prints at 100.2 make YES nearly certain
    sig = s.analyze(view(now, closing_sum=40 * 100.2, closing_count=40), IndexPrint(now, 99.95), hist,
                    book(now, 3_800, 4_000))
    assert sig is not None and sig.side is Side.YES


def test_kelly_with_params_keeps_vol_state() -> None:
    s = KellyVolatility()
    now = CLOSE - timedelta(seconds=300)
    s.analyze(view(now), IndexPrint(now, 100.0), PriceHistory(index=warm_prints(now)), None)
    t = s.with_params({"vol_half_life_seconds": 600})
    assert t.vol.updates == s.vol.updates and t.vol.half_life_seconds == 600.0
    assert t.params == KellyVolatilityParams(vol_half_life_seconds=600.0)
    assert s.params.vol_half_life_seconds == 3600.0


# --- MeanReversion ---------------------------------------------------------------------------


def _mr_history(now: datetime, n: int = 30) -> list[PricePoint]:
    return [PricePoint(now - timedelta(seconds=5 * (n - i)), 0.49 if i % 2 else 0.51) for i in range(n)]


def test_mean_reversion_fades_a_rich_yes_price_by_buying_no() -> None:
    now = CLOSE - timedelta(seconds=400)
    s = MeanReversion()
    sig = s.analyze(view(now), None, PriceHistory(yes=_mr_history(now)), book(now, 5_900, 3_900))
    assert sig is not None
    assert sig.side is Side.NO and sig.price_cc == 4_100 and sig.confidence == 1.0
    assert s.last_z is not None and s.last_z >= 2.0


def test_mean_reversion_buys_cheap_yes() -> None:
    now = CLOSE - timedelta(seconds=400)
    hist = PriceHistory(yes=_mr_history(now))
    sig = MeanReversion().analyze(view(now), None, hist, book(now, 3_900, 5_900))
    assert sig is not None and sig.side is Side.YES and sig.price_cc == 4_100


def test_mean_reversion_z_thresholds_set_confidence_and_size() -> None:
    now = CLOSE - timedelta(seconds=400)
    probe = MeanReversion()
    probe.analyze(view(now), None, PriceHistory(yes=_mr_history(now)), book(now, 5_900, 3_900))
    z = probe.last_z
    assert z is not None

    def run(high: float, medium: float) -> object:
        s = MeanReversion().with_params(zscore_threshold_high=high, zscore_threshold_medium=medium,
                                        min_edge=0.0)
        return s.analyze(view(now), None, PriceHistory(yes=_mr_history(now)), book(now, 5_900, 3_900, 10_000))

    high = run(z - 0.1, z - 0.2)
    medium = run(z + 0.1, z - 0.1)
    none = run(z + 0.2, z + 0.1)
    assert high is not None and medium is not None and none is None
    assert high.confidence == 1.0 and medium.confidence == 0.5  # type: ignore[attr-defined]
    assert medium.count < high.count  # type: ignore[attr-defined]


def test_mean_reversion_needs_samples_and_trims_by_age() -> None:
    now = CLOSE - timedelta(seconds=400)
    s = MeanReversion()
    short = PriceHistory(yes=_mr_history(now, n=10))
    assert s.analyze(view(now), None, short, book(now, 5_900, 3_900)) is None
    old = [PricePoint(now - timedelta(seconds=600 + i), 0.5) for i in range(50)]
    s2 = MeanReversion()
    s2.analyze(view(now), None, PriceHistory(yes=old), book(now, 5_900, 3_900))
    assert len(s2.history) == 1  # only the fresh book mid survives the 300 s window
    # A new ticker resets the history
    s.analyze(MarketView(ticker="KXSOL15M-26JUL010830-30", open_time=OPEN, close_time=CLOSE, now=now,
                         floor_strike=100.0, bankroll_cc=BANKROLL, max_count=10), None, PriceHistory(), None)
    assert len(s.history) == 0


def test_mean_reversion_keeps_one_point_per_exchange_second() -> None:
    """The window holds the first mid seen in each exchange second: how often the book changes does
    not weigh its mean and variance, and within a second its z-score stays as it was."""
    s = MeanReversion.from_mapping({"min_samples": 2})
    start = CLOSE - timedelta(seconds=400)
    for ms, yes_bid in ((0, 4_800), (300, 5_000), (900, 5_200), (1_200, 4_900), (1_700, 5_500), (2_000, 5_100)):
        now = start + timedelta(milliseconds=ms)
        s.analyze(view(now), None, PriceHistory(), book(now, yes_bid, 9_800 - yes_bid))
        if ms == 1_200:
            z_after_second_point = s.last_z
        if ms == 1_700:  # a new mid in the same second: the window and its z-score are unchanged
            assert s.last_z == z_after_second_point
    seen = [(round(t - start.timestamp(), 3), round(x, 4)) for t, x in s.history._points]
    assert seen == [(0.0, 0.49), (1.2, 0.5), (2.0, 0.52)]
    assert z_after_second_point is not None and z_after_second_point > 0


# --- registry and parameters -------------------------------------------------------------------


def test_build_and_errors_name_the_key() -> None:
    assert isinstance(build_strategy("kelly_volatility", {"min_edge": 0.05}), KellyVolatility)
    with pytest.raises(ParamError, match="unknown strategy 'nope'"):
        build_strategy("nope")
    with pytest.raises(ParamError, match=r"unknown parameter.*min_edgee"):
        build_strategy("kelly_volatility", {"min_edgee": 0.05})
    with pytest.raises(ParamError, match="vol_half_life_seconds must be a number in"):
        build_strategy("kelly_volatility", {"vol_half_life_seconds": 0})
    with pytest.raises(ParamError, match="kelly_fraction must be a number"):
        build_strategy("kelly_volatility", {"kelly_fraction": True})
    with pytest.raises(ParamError, match="min_samples must be a whole number"):
        build_strategy("mean_reversion", {"min_samples": 2.5})
    with pytest.raises(ParamError, match="zscore_threshold_medium"):
        build_strategy("mean_reversion", {"zscore_threshold_medium": 2.5})
    assert build_strategy("mean_reversion", {"lookback_window": 600}).params.lookback_window == 600


def test_registry_flat_config_routes_shared_keys() -> None:
    reg = StrategyRegistry.from_config(["kelly_volatility", "mean_reversion"], {
        "min_edge": 0.04, "vol_half_life_seconds": 900, "microstructure_floor": 0.0005, "kelly_fraction": 0.2,
        "lookback_window": 200, "zscore_threshold_high": 2.5, "zscore_threshold_medium": 1.8})
    kv, mr = reg.get("kelly_volatility"), reg.get("mean_reversion")
    assert kv.params.min_edge == 0.04 and mr.params.min_edge == 0.04
    assert kv.params.vol_half_life_seconds == 900.0 and mr.params.lookback_window == 200
    assert [s.name for s in reg.active()] == ["kelly_volatility", "mean_reversion"]
    with pytest.raises(ParamError, match="unknown strategy parameter 'lookback_window'"):
        StrategyRegistry.from_config(["kelly_volatility"], {"lookback_window": 10})


def test_registry_nested_config_enable_disable_and_with_params() -> None:
    reg = StrategyRegistry.from_config(["kelly_volatility"], {"mean_reversion": {"lookback_window": 120}})
    assert reg.is_enabled("kelly_volatility") and not reg.is_enabled("mean_reversion")
    reg.enable("mean_reversion")
    reg.disable("kelly_volatility")
    assert [s.name for s in reg.active()] == ["mean_reversion"]
    old = reg.get("mean_reversion")
    with pytest.raises(ParamError):
        reg.with_params("mean_reversion", {"zscore_threshold_high": -1})
    assert reg.get("mean_reversion") is old  # a failed change leaves things as they were
    new = reg.with_params("mean_reversion", {"zscore_threshold_high": 3.0})
    assert reg.get("mean_reversion") is new and new.params.lookback_window == 120
    with pytest.raises(ParamError, match="no strategy"):
        reg.enable("nope")
    assert reg.statistics()["mean_reversion"]["enabled"] is True


# --- Signal reasons ----------------------------------------------------------------------------


def test_a_reason_passed_as_a_function_is_formatted_once_and_compares_as_its_text() -> None:
    now = CLOSE - timedelta(seconds=300)
    calls: list[int] = []

    def reason() -> str:
        calls.append(1)
        return "fair_yes=0.9000"

    lazy = Signal("kelly_volatility", TICKER, Side.YES, Action.BUY, 6_000, 3, 0.9, 0.2, 1.0, reason, now)
    text = Signal("kelly_volatility", TICKER, Side.YES, Action.BUY, 6_000, 3, 0.9, 0.2, 1.0, "fair_yes=0.9000", now)
    assert not calls  # nothing formatted until read
    assert lazy == text and hash(lazy) == hash(text) and repr(lazy) == repr(text)
    assert lazy.reason == text.reason == "fair_yes=0.9000"
    before = len(calls)
    assert lazy.reason == "fair_yes=0.9000" and lazy == text
    assert len(calls) == before  # read once, kept
    assert attrs.evolve(lazy, count=1).reason == "fair_yes=0.9000"


def test_strategy_reasons_name_their_inputs() -> None:
    now = CLOSE - timedelta(seconds=300)
    s = KellyVolatility()
    sig = s.analyze(view(now), IndexPrint(now, 100.3), PriceHistory(index=warm_prints(now - timedelta(seconds=1),
                                                                                        level=100.3)),
                    book(now, 3_800, 4_000))
    assert sig is not None
    assert sig.reason.startswith(f"fair_yes={s.last_fair_yes:.4f} yes_ask=6000cc fee=")
    assert "tau=300s closing=0/60 own" in sig.reason
