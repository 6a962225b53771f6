"""BasisTracker: pairing index prints with spot prints, the time-aware EWMA, ages, adjusted spot,
bounded memory, bad input, determinism."""

from __future__ import annotations

from collections.abc import Callable
from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from kalshid.core.basis import BasisConfig, BasisError, BasisSample, BasisTracker

D = Decimal


def test_index_print_pairs_with_the_nearest_spot_print() -> None:
    t = BasisTracker(BasisConfig(max_pair_gap_s=2.0))
    t.on_spot(9.0, D("150.00"))
    t.on_spot(10.5, D("150.30"))
    t.on_spot(13.0, D("151.00"))  # 3 s away: too far
    sample = t.on_index(10.0, D("150.10"))
    assert sample == BasisSample(ts=10.0, spot_ts=10.5, spot=D("150.30"), index=D("150.10"), basis=D("0.20"))
    assert sample.basis_bps == pytest.approx(0.20 / 150.10 * 10_000)
    assert t.basis == D("0.20") and t.smoothed_basis == D("0.20")  # the first sample seeds the EWMA


def test_equal_distance_prefers_the_earlier_spot_print() -> None:
    t = BasisTracker()
    t.on_spot(9.0, D("100"))
    t.on_spot(11.0, D("102"))
    s = t.on_index(10.0, D("101"))
    assert s is not None and s.spot == D("100") and s.basis == D("-1")


def test_no_spot_nearby_means_no_sample() -> None:
    t = BasisTracker(BasisConfig(max_pair_gap_s=1.0))
    assert t.on_index(5.0, D("150")) is None  # no spot at all
    t.on_spot(7.0, D("150.5"))
    assert t.on_index(8.5, D("150")) is None  # 1.5 s apart
    v = t.view(now=9.0)
    assert v.samples == 0 and v.unpaired == 2 and v.basis is None and v.smoothed is None
    assert v.index == D("150") and v.spot == D("150.5")  # each side is still tracked
    with pytest.raises(BasisError, match="no basis yet"):
        t.adjusted_spot(D("150.5"))


def test_ewma_is_time_aware_with_a_half_life() -> None:
    t = BasisTracker(BasisConfig(half_life_s=60.0, max_pair_gap_s=0.5))
    t.on_spot(0.0, D("101"))
    t.on_index(0.0, D("100"))  # basis 1
    t.on_spot(60.0, D("103"))
    t.on_index(60.0, D("100"))  # basis 3, one half-life later: weight 1/2
    assert t.basis == D("3") and t.smoothed_basis == D("2.0")
    t.on_spot(60.0, D("110"))
    t.on_index(60.0, D("100"))  # same instant again: weight 0 (a repeat is not new information)
    assert t.basis == D("10") and t.smoothed_basis == D("2.0")
    t.on_spot(180.0, D("102"))
    t.on_index(180.0, D("100"))  # basis 2 after two half-lives: weight 3/4
    assert t.smoothed_basis == D("2.0")
    t.on_spot(240.0, D("106"))
    t.on_index(240.0, D("100"))  # basis 6 after one: 2 + (6 − 2)/2
    assert t.smoothed_basis == D("4.0")


def test_adjusted_spot_subtracts_the_smoothed_basis() -> None:
    t = BasisTracker()
    t.on_spot(1.0, D("150.25"))
    t.on_index(1.0, D("150.00"))
    assert t.adjusted_spot(D("152.00")) == D("151.75")
    for bad in (D("0"), D("-1"), D("NaN"), 152.0):
        with pytest.raises(BasisError, match="spot must be"):
            t.adjusted_spot(bad)  # type: ignore[arg-type]


def test_view_reports_ages_and_bps() -> None:
    t = BasisTracker()
    t.on_spot(100.0, D("200.02"))
    t.on_index(100.5, D("200.00"))
    t.on_spot(103.0, D("200.50"))
    v = t.view(now=104.0)
    assert v.spot_age_s == 1.0 and v.index_age_s == 3.5 and v.basis_age_s == 3.5
    assert v.basis == D("0.02") and v.smoothed == D("0.02") and v.spot == D("200.50")
    assert v.basis_bps == pytest.approx(1.0) and v.smoothed_bps == pytest.approx(1.0)
    assert v.samples == 1 and v.unpaired == 0


def test_late_index_observation_pairs_from_history_and_memory_is_bounded() -> None:
    t = BasisTracker(BasisConfig(max_pair_gap_s=0.5, spot_history=3))
    for i in range(10):
        t.on_spot(float(i), D(150 + i))
    # Only the last 3 spot prints (ts 7, 8, 9) are kept: a strike observed for ts 7 pairs,
    assert (s := t.on_index(7.0, D("156"))) is not None and s.spot == D("157") and s.basis == D("1")
    # ... but ts 6 has been forgotten (and the index side may not go backwards anyway).
    t2 = BasisTracker(BasisConfig(max_pair_gap_s=0.5, spot_history=3))
    for i in range(10):
        t2.on_spot(float(i), D(150 + i))
    assert t2.on_index(6.0, D("156")) is None
    assert len(t2._spots) == 3


def test_bad_input_is_refused_and_changes_nothing() -> None:
    t = BasisTracker()
    t.on_spot(10.0, D("150"))
    t.on_index(10.0, D("149"))
    before = t.view(now=11.0)
    cases: list[tuple[Callable[[], object], str]] = [
        (lambda: t.on_spot(9.0, D("150")), "spot ts went backwards"),
        (lambda: t.on_index(9.5, D("150")), "index ts went backwards"),
        (lambda: t.on_spot(11.0, D("0")), "spot value must be"),
        (lambda: t.on_index(11.0, D("Infinity")), "index value must be"),
        (lambda: t.on_spot(11.0, 150.0), "spot value must be"),  # type: ignore[arg-type]  # floats aren't prices
        (lambda: t.on_spot(float("nan"), D("150")), "spot ts must be"),
    ]
    for call, error in cases:
        with pytest.raises(BasisError, match=error):
            call()
    assert t.view(now=11.0) == before


@pytest.mark.parametrize(("kwargs", "field"), [
    ({"half_life_s": 0}, "half_life_s"), ({"half_life_s": float("inf")}, "half_life_s"),
    ({"max_pair_gap_s": -1}, "max_pair_gap_s"), ({"spot_history": 0}, "spot_history"),
    ({"spot_history": True}, "spot_history"),
])
def test_config_is_validated(kwargs: dict[str, object], field: str) -> None:
    with pytest.raises(BasisError, match=field):
        BasisConfig(**kwargs)  # type: ignore[arg-type]


_prints = st.lists(
    st.tuples(st.booleans(), st.integers(0, 5), st.decimals(min_value=D("50"), max_value=D("300"), places=2)),
    max_size=60,
)


@given(_prints)
def test_smoothed_basis_stays_within_the_sampled_range_and_is_deterministic(
    prints: list[tuple[bool, int, Decimal]],
) -> None:
    def run() -> tuple[BasisTracker, list[Decimal]]:
        t, ts, seen = BasisTracker(BasisConfig(half_life_s=3.0, max_pair_gap_s=1.0)), 0.0, []
        for is_index, step, value in prints:
            ts += step / 2
            if is_index:
                if (s := t.on_index(ts, value)) is not None:
                    seen.append(s.basis)
            else:
                t.on_spot(ts, value)
        return t, seen

    a, seen = run()
    b, _ = run()
    assert a.view(now=100.0) == b.view(now=100.0)
    if seen:
        assert a.smoothed_basis is not None and a.basis == seen[-1]
        assert min(seen) - D("1e-20") <= a.smoothed_basis <= max(seen) + D("1e-20")
    else:
        assert a.smoothed_basis is None
