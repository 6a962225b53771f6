"""The simulated settlement index (SOLUSD_RTI): one print per integer unix second.

Two sources implement :class:`IndexSource`:

* :class:`CandleReplay` replays real SOL 1-minute candles. Each simulated minute maps onto one
  candle; inside it a one-second path starts at ``open``, touches exactly ``high`` and ``low``
  (at random seconds, in random order) and ends at ``close``, built from Brownian-bridge pieces
  reflected into ``[low, high]``. At the end of the file the replay wraps to the first candle,
  rescaled so the level continues from the last close (the series never jumps).
* :class:`JumpDiffusion` is a seeded GBM with Merton jumps at one-second steps, for open-ended
  runs; its defaults come from :mod:`kalshid.sim.calibration` (see ``DEFAULT_*`` below).

Both are pure and deterministic for a seed, in any access order: time is cut into blocks (a
minute for the replay, 15 minutes for the diffusion), each block's path is drawn from its own
generator seeded by ``(seed, block)``, and only a bounded LRU of blocks is kept.
"""

from __future__ import annotations

import csv
import gzip
import importlib.resources
import io
import itertools
import math
import random
from collections import OrderedDict
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Protocol

import numpy as np

TICK = Decimal("0.0001")
SECONDS_PER_YEAR = 365 * 86_400  # crypto trades around the clock
DEFAULT_CACHE_BLOCKS = 256

# Calibrated on ~230 days of Binance SOL/USDT 1-m candles (bench/calibrate.py, calibration.py):
# median over the six files of the diffusive annual vol 0.941 (range 0.61-1.17), of 1-minute moves
# beyond 6 robust sigmas 3.93/day (range 2.8-15) and of their log-size sd 0.0086.
DEFAULT_SIGMA_ANNUAL = 0.94
DEFAULT_JUMPS_PER_DAY = 3.9
DEFAULT_JUMP_SIGMA = 0.0086
DEFAULT_S0 = Decimal("150.0000")

PACKAGED_CANDLES = "sol_usdt_1m_2024-10-01_2024-10-15.csv.gz"


class IndexSource(Protocol):
    """Anything that can say what the index printed at an integer unix second."""

    def print_at(self, ts: int) -> Decimal:
        """The index value (4 decimal places) at unix second ``ts``; deterministic, any order."""
        ...


def _zigzag(n: int) -> int:
    """Map any int onto a distinct non-negative int (SeedSequence entropy must be >= 0)."""
    return 2 * n if n >= 0 else -2 * n - 1


def block_rng(seed: int, stream: str, block: int) -> np.random.Generator:
    """An independent generator for one (seed, stream, block): the root of every block's randomness.

    ``stream`` separates uses (e.g. a block's aggregate vs its interior) so they never share draws.
    """
    stream_id = int.from_bytes(stream.encode("utf-8")[:16].ljust(16, b"\0"), "big")
    return np.random.default_rng(np.random.SeedSequence([_zigzag(seed), stream_id, _zigzag(block)]))


def _quantize(value: float) -> Decimal:
    return Decimal(f"{value:.4f}")


class _BlockCache:
    """A bounded LRU of generated blocks (each a tuple of prints)."""

    def __init__(self, max_blocks: int, build: Callable[[int], tuple[Decimal, ...]]) -> None:
        if max_blocks < 1:
            raise ValueError(f"cache_blocks must be >= 1, got {max_blocks}")
        self._max = max_blocks
        self._build = build
        self._blocks: OrderedDict[int, tuple[Decimal, ...]] = OrderedDict()
        self.generated = 0

    def get(self, block: int) -> tuple[Decimal, ...]:
        found = self._blocks.get(block)
        if found is not None:
            self._blocks.move_to_end(block)
            return found
        prints = self._build(block)
        self.generated += 1
        self._blocks[block] = prints
        if len(self._blocks) > self._max:
            self._blocks.popitem(last=False)
        return prints

    def __len__(self) -> int:
        return len(self._blocks)


# ---------------------------------------------------------------------------------------------
# Candle replay


class Candles:
    """OHLC columns of a contiguous 1-minute candle file, as exact 4-dp Decimals."""

    def __init__(self, rows: Sequence[tuple[Decimal, Decimal, Decimal, Decimal]]) -> None:
        if not rows:
            raise ValueError("candle file has no rows")
        self.rows = tuple(rows)

    def __len__(self) -> int:
        return len(self.rows)

    @classmethod
    def from_text(cls, text: str, *, source: str) -> Candles:
        """Parse ``timestamp,open,high,low,close[,volume]`` CSV text.

        Raises ``ValueError`` naming the row for a bad number, a non-positive price, an
        inconsistent candle (high below open/close, low above them) or a gap between minutes.
        """
        reader = csv.DictReader(io.StringIO(text))
        needed = {"timestamp", "open", "high", "low", "close"}
        if reader.fieldnames is None or not needed <= set(reader.fieldnames):
            raise ValueError(f"{source}: header must contain {sorted(needed)}, got {reader.fieldnames}")
        rows: list[tuple[Decimal, Decimal, Decimal, Decimal]] = []
        prev_ts: int | None = None
        for line_no, rec in enumerate(reader, start=2):
            try:
                o, h, lo, c = (Decimal(rec[k]).quantize(TICK) for k in ("open", "high", "low", "close"))
                ts = _parse_ts(rec["timestamp"])
            except (ArithmeticError, ValueError) as exc:
                raise ValueError(f"{source} line {line_no}: bad value in {rec!r}: {exc}") from exc
            if min(o, h, lo, c) <= 0:
                raise ValueError(f"{source} line {line_no}: prices must be positive: {rec!r}")
            if h < max(o, c) or lo > min(o, c):
                raise ValueError(f"{source} line {line_no}: high/low do not bound open/close: {rec!r}")
            if prev_ts is not None and ts - prev_ts != 60:
                raise ValueError(f"{source} line {line_no}: minutes are not contiguous "
                                 f"({ts - prev_ts} s after the previous candle)")
            prev_ts = ts
            rows.append((o, h, lo, c))
        return cls(rows)

    @classmethod
    def from_path(cls, path: Path) -> Candles:
        """Load a CSV or gzip CSV file (``.gz``)."""
        data = path.read_bytes()
        if path.suffix == ".gz":
            data = gzip.decompress(data)
        return cls.from_text(data.decode("utf-8"), source=str(path))

    @classmethod
    def packaged(cls) -> Candles:
        """The compact SOL candle file shipped in ``kalshid/data`` (see its README)."""
        res = importlib.resources.files("kalshid").joinpath("data", PACKAGED_CANDLES)
        return cls.from_text(gzip.decompress(res.read_bytes()).decode("utf-8"), source=PACKAGED_CANDLES)


def _parse_ts(text: str) -> int:
    """``YYYY-MM-DD HH:MM:SS`` (UTC, as in the shared data) or integer unix seconds."""
    text = text.strip()
    if text.isdigit():
        return int(text)
    return int(datetime.fromisoformat(text.replace("Z", "")).replace(tzinfo=UTC).timestamp())


def _bridge_path(rng: np.random.Generator, anchors: list[tuple[int, float]], lo: float, hi: float,
                 scale: float) -> np.ndarray:
    """Brownian-bridge pieces through ``anchors`` (second, value), reflected into ``[lo, hi]``."""
    n = anchors[-1][0] + 1
    path = np.empty(n)
    for (t0, v0), (t1, v1) in itertools.pairwise(anchors):
        steps = t1 - t0
        walk = np.concatenate(([0.0], np.cumsum(rng.normal(0.0, scale, steps))))
        frac = np.arange(steps + 1) / steps
        path[t0:t1 + 1] = v0 + (v1 - v0) * frac + walk - frac * walk[-1]
    width = hi - lo
    if width <= 0:
        return np.full(n, lo)
    # Fold into [lo, hi] (reflection, period 2·width): anchors stay put, the path stays inside.
    folded = np.mod(path - lo, 2 * width)
    return lo + np.where(folded > width, 2 * width - folded, folded)


class CandleReplay:
    """Replays 1-minute candles as one-second prints (see the module docstring).

    Simulated ``start_ts`` is second 0 of candle ``first_candle`` (default the first row). Minute
    ``k`` after it is candle ``(first_candle + k) mod n``; each wrap multiplies levels by
    ``last_close / first_open`` so the level carries on from where the file ended.
    """

    SECONDS = 60

    def __init__(self, candles_csv: Path | Candles, *, seed: int, start_ts: int, first_candle: int = 0,
                 cache_blocks: int = DEFAULT_CACHE_BLOCKS) -> None:
        self.candles = candles_csv if isinstance(candles_csv, Candles) else Candles.from_path(candles_csv)
        n = len(self.candles)
        if not 0 <= first_candle < n:
            raise ValueError(f"first_candle must be in [0, {n}), got {first_candle}")
        self.seed = seed
        self.start_ts = start_ts
        self.first_candle = first_candle
        rows = self.candles.rows
        self._wrap_factor = rows[-1][3] / rows[0][0]
        self._cache = _BlockCache(cache_blocks, self._build_minute)

    def print_at(self, ts: int) -> Decimal:
        minute, second = divmod(ts - self.start_ts, self.SECONDS)
        return self._cache.get(minute)[second]

    def candle_for_minute(self, minute: int) -> tuple[Decimal, Decimal, Decimal, Decimal]:
        """The (open, high, low, close) that simulated minute ``minute`` replays, after wrapping."""
        cycle, idx = divmod(self.first_candle + minute, len(self.candles))
        row = self.candles.rows[idx]
        if cycle == 0:
            return row
        factor = self._wrap_factor ** cycle
        o, h, lo, c = ((v * factor).quantize(TICK) for v in row)
        return o, h, lo, c

    @property
    def cached_blocks(self) -> int:
        return len(self._cache)

    def _build_minute(self, minute: int) -> tuple[Decimal, ...]:
        o, h, lo, c = self.candle_for_minute(minute)
        rng = block_rng(self.seed, "candle", minute)
        last = self.SECONDS - 1
        t_hi, t_lo = (int(t) for t in rng.choice(np.arange(1, last), size=2, replace=False))
        anchors = sorted([(0, float(o)), (t_hi, float(h)), (t_lo, float(lo)), (last, float(c))])
        # Wiggle on the scale of the candle's range, so quiet minutes stay quiet.
        scale = float(h - lo) / (2.0 * math.sqrt(self.SECONDS))
        path = _bridge_path(rng, anchors, float(lo), float(h), scale)
        prints = [min(max(_quantize(v), lo), h) for v in path]
        for t, exact in ((t_hi, h), (t_lo, lo), (0, o), (last, c)):
            prints[t] = exact
        return tuple(prints)


# ---------------------------------------------------------------------------------------------
# Jump diffusion


class JumpDiffusion:
    """GBM with Merton (log-normal) jumps at one-second steps, martingale-compensated.

    Time is cut into 900-s blocks. A block's aggregate (diffusive total, jump count, times and
    sizes) comes from one generator, its interior bridge from another, so the level at a block
    start is a sum of aggregates: cheap random access without drawing every second. Block-start
    levels are checkpointed every ``CHECKPOINT_EVERY`` blocks (one float per ~16 h).
    """

    BLOCK_S = 900
    CHECKPOINT_EVERY = 64

    def __init__(self, *, seed: int, s0: Decimal = DEFAULT_S0,
                 sigma_annual: float = DEFAULT_SIGMA_ANNUAL,
                 jump_intensity_per_day: float = DEFAULT_JUMPS_PER_DAY,
                 jump_sigma: float = DEFAULT_JUMP_SIGMA,
                 start_ts: int, cache_blocks: int = 8) -> None:
        if s0 <= 0:
            raise ValueError(f"s0 must be positive, got {s0}")
        checks = (("sigma_annual", sigma_annual), ("jump_intensity_per_day", jump_intensity_per_day),
                  ("jump_sigma", jump_sigma))
        for name, value in checks:
            if not math.isfinite(value) or value < 0:
                raise ValueError(f"{name} must be a finite number >= 0, got {value!r}")
        self.seed = seed
        self.s0 = s0
        self.start_ts = start_ts
        self.sigma_s = sigma_annual / math.sqrt(SECONDS_PER_YEAR)
        self.jump_rate_s = jump_intensity_per_day / 86_400
        self.jump_sigma = jump_sigma
        # Compensate so E[S_t] = S_0: Itô term plus the jumps' mean relative size.
        self.drift_s = -0.5 * self.sigma_s**2 - self.jump_rate_s * (math.exp(0.5 * jump_sigma**2) - 1.0)
        self._log_s0 = math.log(s0)
        self._checkpoints: dict[int, float] = {0: 0.0}  # block -> log level relative to s0
        self._cache = _BlockCache(cache_blocks, self._build_block)

    def print_at(self, ts: int) -> Decimal:
        block, offset = divmod(ts - self.start_ts, self.BLOCK_S)
        return self._cache.get(block)[offset]

    @property
    def cached_blocks(self) -> int:
        return len(self._cache)

    def _aggregate(self, block: int) -> tuple[float, np.ndarray, np.ndarray]:
        """(diffusive total, jump offsets in [1, BLOCK_S], jump log sizes) of one block."""
        rng = block_rng(self.seed, "jd-agg", block)
        total = float(rng.normal(0.0, self.sigma_s * math.sqrt(self.BLOCK_S)))
        n_jumps = int(rng.poisson(self.jump_rate_s * self.BLOCK_S))
        times = rng.integers(1, self.BLOCK_S + 1, size=n_jumps)
        sizes = rng.normal(0.0, self.jump_sigma, size=n_jumps)
        return total, times, sizes

    def _increment(self, block: int) -> float:
        total, _, sizes = self._aggregate(block)
        return self.drift_s * self.BLOCK_S + total + float(sizes.sum())

    def _block_start(self, block: int) -> float:
        """Log level (relative to s0) at the first second of ``block``, via checkpoints."""
        step = self.CHECKPOINT_EVERY
        anchor = (block // step) * step
        if anchor not in self._checkpoints:
            # Walk from the nearest known checkpoint toward zero, recording each one passed.
            direction = 1 if anchor > 0 else -1
            known = anchor
            while known not in self._checkpoints:
                known -= direction * step
            level = self._checkpoints[known]
            while known != anchor:
                if direction > 0:
                    level += sum(self._increment(b) for b in range(known, known + step))
                    known += step
                else:
                    level -= sum(self._increment(b) for b in range(known - step, known))
                    known -= step
                self._checkpoints[known] = level
        level = self._checkpoints[anchor]
        return level + sum(self._increment(b) for b in range(anchor, block))

    def _build_block(self, block: int) -> tuple[Decimal, ...]:
        total, times, sizes = self._aggregate(block)
        rng = block_rng(self.seed, "jd-path", block)
        n = self.BLOCK_S
        walk = np.concatenate(([0.0], np.cumsum(rng.normal(0.0, self.sigma_s, n))))
        frac = np.arange(n + 1) / n
        bridge = walk - frac * (walk[-1] - total)  # Brownian path from 0 conditioned to end at `total`
        jumps = np.zeros(n + 1)
        np.add.at(jumps, times, sizes)
        drift = self.drift_s * np.arange(n + 1)
        log_path = self._log_s0 + self._block_start(block) + drift + bridge + np.cumsum(jumps)
        return tuple(max(_quantize(v), TICK) for v in np.exp(log_path[:n]))


# ---------------------------------------------------------------------------------------------


def default_index(seed: int, start_ts: int) -> IndexSource:
    """The simulator's default index: a replay of the packaged SOL candles (14 days, Oct 2024).

    The seed picks both the within-minute paths and the candle the run starts at, so different
    seeds see different market days; after 14 simulated days the replay wraps (level-continuous).
    """
    candles = Candles.packaged()
    first = random.Random(seed).randrange(len(candles))
    return CandleReplay(candles, seed=seed, start_ts=start_ts, first_candle=first)


def realized_sigma_per_sqrt_s(prints: Sequence[Decimal], *, step_s: float = 1.0) -> float:
    """Realized volatility of log returns per √second from evenly spaced prints (RMS, no demeaning).

    Raises ``ValueError`` for fewer than two prints, a non-positive print or a non-positive step.
    """
    if len(prints) < 2:
        raise ValueError(f"need at least two prints to measure volatility, got {len(prints)}")
    if step_s <= 0:
        raise ValueError(f"step_s must be positive, got {step_s}")
    values = np.array([float(p) for p in prints])
    if (values <= 0).any():
        raise ValueError("prints must be positive to take log returns")
    r = np.diff(np.log(values))
    return float(math.sqrt(float(np.mean(r * r)) / step_s))


def sigma_from_source(source: IndexSource, end_ts: int, lookback_s: int = 900) -> float:
    """Realized σ per √s of ``source`` over the ``lookback_s`` seconds up to ``end_ts``."""
    if lookback_s < 1:
        raise ValueError(f"lookback_s must be >= 1, got {lookback_s}")
    return realized_sigma_per_sqrt_s([source.print_at(t) for t in range(end_ts - lookback_s, end_ts + 1)])
