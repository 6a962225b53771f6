"""A replay's calibration samples: the last evaluation of each whole minute left, per market.

The reliability diagram and the scores by minutes left (:mod:`kalshid.research.report`) read one sample
per market and whole minute before its close, ``int(seconds_to_close // 60)``: the book mid and each
strategy's fair value at the last evaluation in that minute (:class:`~kalshid.research.results.Forecast`).
The replay offers every evaluation; the minute being filled is kept aside and entered when the
evaluations leave it, so finding an evaluation's minute costs a subtraction only when the previous
minute ends.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from kalshid.core.decision import Evaluation
from kalshid.core.signals import BookTop
from kalshid.research.results import Forecast

_NEVER = datetime.min.replace(tzinfo=UTC)
_LAST_TIME = datetime.max.replace(tzinfo=UTC)
_ONE_MICROSECOND = timedelta(microseconds=1)


class ForecastSlots:
    """The last evaluation of each ``(ticker, whole minutes left)`` while the market is open."""

    __slots__ = ("_close", "_evaluations", "_key", "_last", "_slots", "_ticker", "_top")

    def __init__(self) -> None:
        self._slots: dict[tuple[str, int], tuple[BookTop | None, list[Evaluation]]] = {}
        self._key: tuple[str, int] | None = None  # the minute being filled (None: the market is closed)
        self._ticker: str | None = None
        self._close: datetime | None = None
        self._last = _NEVER  # the last exchange time in that minute
        self._top: BookTop | None = None
        self._evaluations: list[Evaluation] | None = None  # its last evaluation so far, if any

    def record(self, ticker: str, close: datetime, now: datetime, top: BookTop | None,
               evaluations: list[Evaluation]) -> None:
        """An evaluation of ``ticker`` (closing at ``close``) at exchange time ``now`` (never earlier
        than the previous one's), with the book top it saw."""
        if now > self._last or close is not self._close or ticker is not self._ticker:
            self._open(ticker, close, now)
        self._top, self._evaluations = top, evaluations

    def _open(self, ticker: str, close: datetime, now: datetime) -> None:
        self._enter()
        self._ticker, self._close = ticker, close
        seconds_to_close = (close - now).total_seconds()
        if seconds_to_close <= 0:
            self._key, self._last = None, _LAST_TIME
            return
        minutes = int(seconds_to_close // 60)
        self._key = (ticker, minutes)
        # the minute holds while close − now ≥ `minutes` minutes (and, in the last one, now < close)
        self._last = close - timedelta(minutes=minutes) if minutes else close - _ONE_MICROSECOND

    def _enter(self) -> None:
        if self._key is not None and self._evaluations is not None:
            self._slots[self._key] = (self._top, self._evaluations)
        self._evaluations = None

    def forecasts(self) -> list[Forecast]:
        """The samples so far, by market and then from the most minutes left to the fewest."""
        self._enter()
        out = []
        for (ticker, minutes_left), (top, evaluations) in self._slots.items():
            fair = {ev.strategy: ev.fair_yes for ev in evaluations if ev.fair_yes is not None}
            out.append(Forecast(ticker, minutes_left, top.yes_mid_prob if top else None, fair))
        return sorted(out, key=lambda f: (f.ticker, -f.minutes_left))
