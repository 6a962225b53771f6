"""Tests for the simulated settlement index (kalshid.sim.index)."""

from __future__ import annotations

import math
import random
from decimal import Decimal
from pathlib import Path

import pytest

from kalshid.sim.index import (
    TICK,
    CandleReplay,
    Candles,
    JumpDiffusion,
    default_index,
    realized_sigma_per_sqrt_s,
    sigma_from_source,
)

START = 1_780_000_000
SHARED_SOL = (
    Path(__file__).resolve().parents[2] / ".." / "shared" / "data" / "crypto_1m"
    / "binance_spot_SOLUSDT_1m_2024-10-01_2024-11-04.csv"
)


@pytest.fixture(scope="module")
def candles() -> Candles:
    return Candles.packaged()


def _minute(src: CandleReplay, minute: int) -> list[Decimal]:
    base = src.start_ts + 60 * minute
    return [src.print_at(base + s) for s in range(60)]


def test_packaged_file_is_small_and_contiguous(candles: Candles) -> None:
    assert len(candles) == 14 * 1440
    data_dir = Path(__file__).resolve().parents[2] / "kalshid" / "data"
    assert sum(p.stat().st_size for p in data_dir.iterdir()) < 2_000_000


def test_replay_minutes_touch_open_high_low_close(candles: Candles) -> None:
    src = CandleReplay(candles, seed=7, start_ts=START)
    for minute in [*range(0, 300), *random.Random(1).sample(range(len(candles)), 200)]:
        o, h, lo, c = candles.rows[minute]
        prints = _minute(src, minute)
        assert prints[0] == o and prints[-1] == c
        assert max(prints) == h and min(prints) == lo
        assert all(p > 0 and p == p.quantize(TICK) for p in prints)


def test_replay_wraps_level_continuously(candles: Candles) -> None:
    src = CandleReplay(candles, seed=3, start_ts=START)
    n = len(candles)
    last_close = src.print_at(START + 60 * n - 1)
    first_after_wrap = src.print_at(START + 60 * n)
    assert last_close == candles.rows[-1][3]
    assert abs(first_after_wrap - last_close) <= TICK  # rescaled open == last close (4-dp rounding)
    # The wrapped minute is the first candle rescaled, still touching its own high and low.
    o, h, lo, c = src.candle_for_minute(n)
    prints = _minute(src, n)
    assert (prints[0], max(prints), min(prints), prints[-1]) == (o, h, lo, c)
    # Negative time (before start) also works and is positive.
    assert src.print_at(START - 12_345) > 0


def test_replay_first_candle_offset(candles: Candles) -> None:
    src = CandleReplay(candles, seed=3, start_ts=START, first_candle=100)
    assert src.print_at(START) == candles.rows[100][0]
    with pytest.raises(ValueError, match="first_candle"):
        CandleReplay(candles, seed=3, start_ts=START, first_candle=len(candles))


def test_reproducible_and_seed_dependent(candles: Candles) -> None:
    a = CandleReplay(candles, seed=11, start_ts=START)
    b = CandleReplay(candles, seed=11, start_ts=START)
    c = CandleReplay(candles, seed=12, start_ts=START)
    span = range(START, START + 1800)
    pa, pb, pc = ([s.print_at(t) for t in span] for s in (a, b, c))
    assert pa == pb
    assert pa != pc
    j1, j2, j3 = (JumpDiffusion(seed=s, s0=Decimal("150"), start_ts=START) for s in (5, 5, 6))
    qa, qb, qc = ([s.print_at(t) for t in span] for s in (j1, j2, j3))
    assert qa == qb and qa != qc


@pytest.mark.parametrize("kind", ["replay", "jd"])
def test_random_access_equals_sequential_and_cache_is_bounded(candles: Candles, kind: str) -> None:
    def make() -> CandleReplay | JumpDiffusion:
        if kind == "replay":
            return CandleReplay(candles, seed=2, start_ts=START, cache_blocks=4)
        return JumpDiffusion(seed=2, s0=Decimal("150"), start_ts=START, cache_blocks=2)

    times = list(range(START - 4000, START + 20_000, 29))
    seq = make()
    sequential = {t: seq.print_at(t) for t in times}
    rnd = make()
    shuffled = times[:]
    random.Random(0).shuffle(shuffled)
    assert {t: rnd.print_at(t) for t in shuffled} == sequential
    assert seq.cached_blocks <= 4 and rnd.cached_blocks <= 4


def test_jump_diffusion_block_boundaries_are_continuous() -> None:
    jd = JumpDiffusion(seed=9, s0=Decimal("150"), start_ts=START, jump_intensity_per_day=0.0)
    for block in range(-3, 5):
        t = START + block * JumpDiffusion.BLOCK_S
        before, at = float(jd.print_at(t - 1)), float(jd.print_at(t))
        # One second of 80 % annual vol is ~0.014 %; a broken join would jump by ~0.4 %.
        assert abs(math.log(at / before)) < 0.002


def test_jump_diffusion_realized_vol_matches_parameter() -> None:
    sigma = 0.8
    jd = JumpDiffusion(seed=4, s0=Decimal("150"), sigma_annual=sigma, jump_intensity_per_day=0.0,
                       start_ts=START)
    prints = [jd.print_at(START + i) for i in range(86_400)]
    annual = realized_sigma_per_sqrt_s(prints) * math.sqrt(365 * 86_400)
    assert annual == pytest.approx(sigma, rel=0.03)


def test_jump_diffusion_jumps_add_variance() -> None:
    base = dict(seed=4, s0=Decimal("150"), sigma_annual=0.5, start_ts=START)
    calm = JumpDiffusion(**base, jump_intensity_per_day=0.0)  # type: ignore[arg-type]
    jumpy = JumpDiffusion(**base, jump_intensity_per_day=200.0, jump_sigma=0.01)  # type: ignore[arg-type]
    span = range(START, START + 86_400)
    v_calm = realized_sigma_per_sqrt_s([calm.print_at(t) for t in span]) ** 2
    v_jumpy = realized_sigma_per_sqrt_s([jumpy.print_at(t) for t in span]) ** 2
    expected_extra = 200.0 / 86_400 * 0.01**2
    assert v_jumpy - v_calm == pytest.approx(expected_extra, rel=0.35)


def test_jump_diffusion_rejects_bad_parameters() -> None:
    with pytest.raises(ValueError, match="s0"):
        JumpDiffusion(seed=1, s0=Decimal("0"), start_ts=0)
    with pytest.raises(ValueError, match="sigma_annual"):
        JumpDiffusion(seed=1, sigma_annual=-0.1, start_ts=0)


def test_default_index_is_seeded_replay() -> None:
    a, b, c = default_index(1, START), default_index(1, START), default_index(2, START)
    assert isinstance(a, CandleReplay)
    assert [a.print_at(START + i) for i in range(120)] == [b.print_at(START + i) for i in range(120)]
    assert a.print_at(START) != c.print_at(START) or a.print_at(START + 30) != c.print_at(START + 30)


def test_realized_sigma_helpers() -> None:
    prints = [Decimal("100"), Decimal("101"), Decimal("100")]
    assert realized_sigma_per_sqrt_s(prints) == pytest.approx(math.log(1.01), rel=1e-3)
    assert realized_sigma_per_sqrt_s(prints, step_s=4.0) == pytest.approx(math.log(1.01) / 2, rel=1e-3)
    with pytest.raises(ValueError, match="at least two"):
        realized_sigma_per_sqrt_s([Decimal("1")])
    jd = JumpDiffusion(seed=1, s0=Decimal("150"), start_ts=START, jump_intensity_per_day=0.0)
    assert sigma_from_source(jd, START + 900) > 0


def test_candle_parsing_errors(tmp_path: Path) -> None:
    good = "timestamp,open,high,low,close\n2024-01-01 00:00:00,1,2,0.5,1.5\n"
    assert len(Candles.from_text(good, source="x")) == 1
    with pytest.raises(ValueError, match="line 2: high/low"):
        Candles.from_text("timestamp,open,high,low,close\n2024-01-01 00:00:00,1,1.2,0.5,1.5\n", source="x")
    with pytest.raises(ValueError, match="not contiguous"):
        Candles.from_text(good + "2024-01-01 00:02:00,1,2,0.5,1.5\n", source="x")
    with pytest.raises(ValueError, match="line 2: bad value"):
        Candles.from_text("timestamp,open,high,low,close\n2024-01-01 00:00:00,x,2,0.5,1.5\n", source="x")
    with pytest.raises(ValueError, match="header"):
        Candles.from_text("a,b\n1,2\n", source="x")
    path = tmp_path / "c.csv"
    path.write_text(good)
    assert CandleReplay(path, seed=0, start_ts=0).print_at(0) == Decimal("1.0000")


def test_replay_of_shared_file_matches_candles() -> None:
    if not SHARED_SOL.is_file():
        pytest.fail(f"shared data file not found: looked for {SHARED_SOL}")
    src = CandleReplay(SHARED_SOL, seed=5, start_ts=START)
    rows = src.candles.rows
    for minute in random.Random(5).sample(range(len(rows)), 100):
        o, h, lo, c = rows[minute]
        prints = _minute(src, minute)
        assert (prints[0], max(prints), min(prints), prints[-1]) == (o, h, lo, c)
