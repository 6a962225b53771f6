"""The circuit breaker: a pure state machine over account equity.

States: ``RUNNING`` (trade normally), ``REDUCING`` (exits only: entered by an operator's "stop
entries"), ``HALTED`` (no orders at all). The breaker trips to ``HALTED`` when, on an equity
observation, the day's loss reaches ``max_daily_loss_fraction`` (default 20 %) of start-of-day
equity, or the drawdown from peak equity reaches ``max_drawdown_fraction`` (default 15 %). It stays
``HALTED`` until an explicit :meth:`Breaker.reset`, which rebases the peak and the start-of-day
equity to the equity given at reset (otherwise the next observation would trip it again at once).

**Day boundary.** A trading day starts at UTC midnight plus ``day_rollover`` (default 0: UTC
midnight; e.g. ``timedelta(hours=4)`` for midnight US Eastern in summer). See :func:`trading_day`;
:mod:`kalshid.core.risk` uses the same function. The first observation of a later day sets its
start-of-day equity; one dated in an earlier day counts in the current one.

Every transition returns a new :class:`Breaker` plus the :class:`BreakerEvent` records it produced
(an empty tuple when nothing changed); equity is marked-to-market cash + positions, in cc, supplied
by the caller. Fractions are compared exactly (as ``Fraction`` of their decimal repr).
"""

from __future__ import annotations

import enum
import functools
from datetime import UTC, date, datetime, timedelta
from fractions import Fraction

import attrs

from kalshid.core.units import format_dollars


class BreakerStatus(enum.StrEnum):
    RUNNING = "running"
    REDUCING = "reducing"
    HALTED = "halted"


class BreakerReason(enum.StrEnum):
    DAILY_LOSS = "daily_loss"
    DRAWDOWN = "drawdown"
    MANUAL_HALT = "manual_halt"
    STOP_ENTRIES = "stop_entries"
    RESUME = "resume"
    RESET = "reset"


class BreakerError(ValueError):
    """A transition that is not allowed from the current state, or bad configuration."""


def trading_day(now: datetime, rollover: timedelta = timedelta(0)) -> date:
    """The trading day ``now`` belongs to: the UTC date of ``now − rollover``."""
    if now.tzinfo is None:
        raise ValueError("trading_day needs a timezone-aware time")
    return (now.astimezone(UTC) - rollover).date()


@functools.lru_cache(maxsize=64)
def _exact(fraction: float) -> tuple[int, int]:
    """``fraction`` as the exact ratio of its decimal repr, ``(numerator, denominator > 0)``: a limit
    compares as ``loss * denominator >= numerator * equity``, in integers (equity is observed on every
    fill; parsing the repr each time cost more than the rest of the observation)."""
    exact = Fraction(repr(fraction))
    return exact.numerator, exact.denominator


def _fraction(_inst: object, attr: attrs.Attribute[float], value: float) -> None:
    if not 0.0 < value <= 1.0:
        raise BreakerError(f"{attr.name} must be in (0, 1], got {value!r}")


def _percent(fraction: float) -> str:
    """A limit's fraction as a percentage with the digits it has (0.2 → ``20%``, 0.0001 → ``0.01%``)."""
    return f"{fraction * 100:.6g}%"


@attrs.frozen
class BreakerConfig:
    max_daily_loss_fraction: float = attrs.field(default=0.20, validator=_fraction)
    max_drawdown_fraction: float = attrs.field(default=0.15, validator=_fraction)
    day_rollover: timedelta = timedelta(0)


@attrs.frozen
class BreakerEvent:
    at: datetime
    from_status: BreakerStatus
    to_status: BreakerStatus
    reason: BreakerReason
    detail: str


@attrs.frozen
class Breaker:
    """Breaker state. Build with :meth:`start`; feed :meth:`observe` with every equity update."""

    config: BreakerConfig
    status: BreakerStatus
    day: date
    day_start_equity_cc: int
    peak_equity_cc: int

    @classmethod
    def start(cls, now: datetime, equity_cc: int, config: BreakerConfig | None = None) -> Breaker:
        config = config or BreakerConfig()
        return cls(config, BreakerStatus.RUNNING, trading_day(now, config.day_rollover), equity_cc, equity_cc)

    @property
    def allows_entries(self) -> bool:
        return self.status is BreakerStatus.RUNNING

    @property
    def allows_exits(self) -> bool:
        return self.status is not BreakerStatus.HALTED

    def observe(self, now: datetime, equity_cc: int) -> tuple[Breaker, tuple[BreakerEvent, ...]]:
        """Fold in an equity observation; trip to HALTED if a limit is reached. An observation dated in
        an earlier trading day (a fill reported late, at its own time) counts in the current day: the
        day never goes back, so its start-of-day equity is never reset in the middle of it."""
        day = trading_day(now, self.config.day_rollover)
        state = self
        if day > self.day:
            state = attrs.evolve(state, day=day, day_start_equity_cc=equity_cc)
        if equity_cc > state.peak_equity_cc:
            state = attrs.evolve(state, peak_equity_cc=equity_cc)
        if state.status is BreakerStatus.HALTED:
            return state, ()
        daily_loss = state.day_start_equity_cc - equity_cc
        num, den = _exact(self.config.max_daily_loss_fraction)
        if daily_loss > 0 and daily_loss * den >= num * state.day_start_equity_cc:
            return state._to(now, BreakerStatus.HALTED, BreakerReason.DAILY_LOSS,
                             f"daily loss ${format_dollars(daily_loss)} >= "
                             f"{_percent(self.config.max_daily_loss_fraction)} of start-of-day equity "
                             f"${format_dollars(state.day_start_equity_cc)}")
        drawdown = state.peak_equity_cc - equity_cc
        num, den = _exact(self.config.max_drawdown_fraction)
        if drawdown > 0 and drawdown * den >= num * state.peak_equity_cc:
            return state._to(now, BreakerStatus.HALTED, BreakerReason.DRAWDOWN,
                             f"drawdown ${format_dollars(drawdown)} >= {_percent(self.config.max_drawdown_fraction)}"
                             f" of peak equity ${format_dollars(state.peak_equity_cc)}")
        return state, ()

    def stop_entries(self, now: datetime,
                     detail: str = "operator") -> tuple[Breaker, tuple[BreakerEvent, ...]]:
        """RUNNING → REDUCING (exits only). No-op when already REDUCING; refused when HALTED."""
        if self.status is BreakerStatus.HALTED:
            raise BreakerError("breaker is HALTED; reset it before changing to REDUCING")
        if self.status is BreakerStatus.REDUCING:
            return self, ()
        return self._to(now, BreakerStatus.REDUCING, BreakerReason.STOP_ENTRIES, detail)

    def resume(self, now: datetime, detail: str = "operator") -> tuple[Breaker, tuple[BreakerEvent, ...]]:
        """REDUCING → RUNNING. Refused when HALTED (use :meth:`reset`)."""
        if self.status is BreakerStatus.HALTED:
            raise BreakerError("breaker is HALTED; only reset() leaves HALTED")
        if self.status is BreakerStatus.RUNNING:
            return self, ()
        return self._to(now, BreakerStatus.RUNNING, BreakerReason.RESUME, detail)

    def halt(self, now: datetime, detail: str = "operator") -> tuple[Breaker, tuple[BreakerEvent, ...]]:
        """Any state → HALTED (the kill switch)."""
        if self.status is BreakerStatus.HALTED:
            return self, ()
        return self._to(now, BreakerStatus.HALTED, BreakerReason.MANUAL_HALT, detail)

    def reset(self, now: datetime, equity_cc: int,
              detail: str = "operator") -> tuple[Breaker, tuple[BreakerEvent, ...]]:
        """HALTED → RUNNING, rebasing peak and start-of-day equity to ``equity_cc``."""
        if self.status is not BreakerStatus.HALTED:
            raise BreakerError(f"reset() leaves HALTED only; breaker is {self.status.value}")
        state = attrs.evolve(self, day=trading_day(now, self.config.day_rollover),
                             day_start_equity_cc=equity_cc, peak_equity_cc=equity_cc)
        return state._to(now, BreakerStatus.RUNNING, BreakerReason.RESET, detail)

    def _to(self, now: datetime, status: BreakerStatus, reason: BreakerReason,
            detail: str) -> tuple[Breaker, tuple[BreakerEvent, ...]]:
        event = BreakerEvent(at=now, from_status=self.status, to_status=status, reason=reason, detail=detail)
        return attrs.evolve(self, status=status), (event,)
