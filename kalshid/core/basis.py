"""The basis between a spot price (e.g. Coinbase SOL-USD) and the settlement index (SOLUSD_RTI).

Kalshi settles KXSOL15M on the CF Benchmarks index, so strikes are index-referenced. A strategy
fed by a single exchange's spot price must correct for the spread between the two (the *basis*,
``spot − index``), which drifts with venue premia and the index's constituent weighting.

:class:`BasisTracker` folds prints of both sides and reports:

- the current basis (the latest paired sample) in dollars and basis points of the index;
- a time-aware EWMA of it (``half_life_s``), so one noisy trade does not move the correction;
- the age of each side and of the basis, given ``now``;
- :meth:`BasisTracker.adjusted_spot`: ``spot − smoothed basis``, an index-equivalent price.

**Pairing.** A sample is formed on every *index* print, with the spot print nearest to it in time
(ties → the earlier) no further than ``max_pair_gap_s`` away. The index is the slow, regular side
(≈1 print/s, or one strike per window for a user who only sees strikes), so sampling on it gives
the EWMA an even cadence; sampling on spot trades would over-weight bursts of cascading matches.
Spot prints are kept in a bounded history (``spot_history`` prints) so that an index observation
arriving late — a window's ``floor_strike`` read over REST after the open — still finds its spot.

**Time.** ``ts`` is float seconds on *one* clock of the caller's choice; the shell uses each print's
``local_time`` (the trio clock) because both feeds are stamped by it, so ages are comparable even
when an exchange clock is skewed. Each side's ``ts`` must not go backwards (:class:`BasisError`).

Money-like values are ``Decimal`` (exact inputs; the EWMA is rounded in the default 28-digit decimal
context, deterministically); basis points are floats (a display ratio). Memory is bounded. Pure: no
clock reads, no I/O; the same inputs always give the same outputs.
"""

from __future__ import annotations

import math
from collections import deque
from decimal import Decimal

import attrs

BPS = 10_000


class BasisError(ValueError):
    """Bad input (non-positive or non-finite price, time going backwards, bad parameter) or no basis yet."""


def _positive_float(_inst: object, attr: attrs.Attribute[float], value: float) -> None:
    if isinstance(value, bool) or not isinstance(value, int | float) or not (math.isfinite(value) and value > 0):
        raise BasisError(f"{attr.name} must be a finite number > 0, got {value!r}")


def _non_negative_float(_inst: object, attr: attrs.Attribute[float], value: float) -> None:
    if isinstance(value, bool) or not isinstance(value, int | float) or not (math.isfinite(value) and value >= 0):
        raise BasisError(f"{attr.name} must be a finite number >= 0, got {value!r}")


def _positive_int(_inst: object, attr: attrs.Attribute[int], value: int) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
        raise BasisError(f"{attr.name} must be a positive integer, got {value!r}")


@attrs.frozen
class BasisConfig:
    """``half_life_s``: seconds after which a sample's weight in the EWMA halves (use hours when the
    index side is one strike per window). ``max_pair_gap_s``: the most apart a spot and an index
    print may be to form a sample. ``spot_history``: spot prints kept for pairing (bounds memory)."""

    half_life_s: float = attrs.field(default=60.0, validator=_positive_float)
    max_pair_gap_s: float = attrs.field(default=2.0, validator=_non_negative_float)
    spot_history: int = attrs.field(default=1024, validator=_positive_int)


@attrs.frozen
class BasisSample:
    """One paired observation: ``basis = spot − index`` at the index print's time ``ts``."""

    ts: float
    spot_ts: float
    spot: Decimal
    index: Decimal
    basis: Decimal

    @property
    def basis_bps(self) -> float:
        return float(self.basis / self.index * BPS)


@attrs.frozen
class BasisView:
    """What the tracker knows at ``now``. ``None`` means "not known yet" (or nothing paired).
    Ages are ``now − ts`` of the latest print of that side (the basis: of its latest sample)."""

    basis: Decimal | None
    basis_bps: float | None
    smoothed: Decimal | None
    smoothed_bps: float | None
    index: Decimal | None
    spot: Decimal | None
    index_age_s: float | None
    spot_age_s: float | None
    basis_age_s: float | None
    samples: int
    unpaired: int


def _check_print(side: str, ts: float, value: Decimal, last_ts: float | None) -> None:
    if isinstance(ts, bool) or not isinstance(ts, int | float) or not math.isfinite(ts):
        raise BasisError(f"{side} ts must be a finite number of seconds, got {ts!r}")
    if not isinstance(value, Decimal) or not value.is_finite() or value <= 0:
        raise BasisError(f"{side} value must be a finite Decimal > 0, got {value!r}")
    if last_ts is not None and ts < last_ts:
        raise BasisError(f"{side} ts went backwards: {ts!r} < previous {last_ts!r}")


class BasisTracker:
    """Spot − index basis, current and smoothed, from two streams of prints (see the module doc).

    Single owner, mutable, deterministic. ``on_index``/``on_spot`` raise :class:`BasisError` on bad
    input and leave the state unchanged; :meth:`adjusted_spot` raises it while no sample exists.
    """

    def __init__(self, config: BasisConfig | None = None) -> None:
        self.config = config if config is not None else BasisConfig()
        self._spots: deque[tuple[float, Decimal]] = deque(maxlen=self.config.spot_history)
        self._index: tuple[float, Decimal] | None = None
        self._sample: BasisSample | None = None
        self._smoothed: Decimal | None = None
        self._samples = 0
        self._unpaired = 0

    # ------------------------------------------------------------------ folding

    def on_spot(self, ts: float, value: Decimal) -> None:
        """Record a spot print (e.g. a Coinbase ticker price) at ``ts``."""
        _check_print("spot", ts, value, self._spots[-1][0] if self._spots else None)
        self._spots.append((ts, value))

    def on_index(self, ts: float, value: Decimal) -> BasisSample | None:
        """Record an index print at ``ts``; returns the sample it formed, or None when no spot print
        lies within ``max_pair_gap_s`` of it (counted in ``unpaired``)."""
        _check_print("index", ts, value, self._index[0] if self._index else None)
        self._index = (ts, value)
        spot = self._nearest_spot(ts)
        if spot is None:
            self._unpaired += 1
            return None
        sample = BasisSample(ts=ts, spot_ts=spot[0], spot=spot[1], index=value, basis=spot[1] - value)
        self._fold(sample)
        return sample

    def _nearest_spot(self, ts: float) -> tuple[float, Decimal] | None:
        best: tuple[float, Decimal] | None = None
        best_gap = limit = self.config.max_pair_gap_s
        # Newest first: a live index print is near the end, so this usually stops after a few steps.
        for spot_ts, value in reversed(self._spots):
            if spot_ts < ts - limit:
                break  # older prints are only further away
            gap = abs(spot_ts - ts)
            # Equal gaps on both sides: the earlier print (it was known at ts). Several prints at the
            # same ts: the newest of them (first seen on this backwards walk).
            if gap <= limit and (best is None or gap < best_gap or (gap == best_gap and spot_ts < best[0])):
                best, best_gap = (spot_ts, value), gap
        return best

    def _fold(self, sample: BasisSample) -> None:
        prev = self._sample
        if prev is None or self._smoothed is None:
            self._smoothed = sample.basis  # the first sample seeds the average (no prior)
        else:
            # Index prints are non-decreasing in ts, so dt >= 0; a repeat at the same ts weighs 0.
            dt = sample.ts - prev.ts
            alpha = Decimal(repr(1.0 - 0.5 ** (dt / self.config.half_life_s)))
            self._smoothed += alpha * (sample.basis - self._smoothed)
        self._sample = sample
        self._samples += 1

    # ------------------------------------------------------------------ reading

    @property
    def basis(self) -> Decimal | None:
        """The latest sample's ``spot − index``, or None before the first sample."""
        return self._sample.basis if self._sample is not None else None

    @property
    def smoothed_basis(self) -> Decimal | None:
        """The EWMA of the basis, or None before the first sample."""
        return self._smoothed

    def adjusted_spot(self, spot: Decimal) -> Decimal:
        """``spot − smoothed basis``: the index-equivalent of a spot price, to compare with an
        index-referenced strike. Raises :class:`BasisError` before the first sample. It does not
        judge freshness: check :meth:`view`'s ``basis_age_s`` against your own limit."""
        if not isinstance(spot, Decimal) or not spot.is_finite() or spot <= 0:
            raise BasisError(f"spot must be a finite Decimal > 0, got {spot!r}")
        if self._smoothed is None:
            raise BasisError("no basis yet: no index print has been paired with a spot print")
        return spot - self._smoothed

    def view(self, now: float) -> BasisView:
        """Everything known at ``now`` (ages may be negative if ``now`` precedes a print's ts)."""
        sample, smoothed = self._sample, self._smoothed
        ref = self._index[1] if self._index is not None else None
        return BasisView(
            basis=sample.basis if sample else None,
            basis_bps=sample.basis_bps if sample else None,
            smoothed=smoothed,
            smoothed_bps=float(smoothed / ref * BPS) if smoothed is not None and ref is not None else None,
            index=ref,
            spot=self._spots[-1][1] if self._spots else None,
            index_age_s=now - self._index[0] if self._index is not None else None,
            spot_age_s=now - self._spots[-1][0] if self._spots else None,
            basis_age_s=now - sample.ts if sample else None,
            samples=self._samples,
            unpaired=self._unpaired,
        )
