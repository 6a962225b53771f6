"""What is known of a market's closing average: the exchange's published average joined to own prints.

A KXSOL15M market settles on the simple average of the 60 index prints at ``close − 60 s … close − 1 s``
(:mod:`kalshid.core.pricing`). In the last minute Kalshi's ``cfbenchmarks_value`` message carries
``last_60s_windowed_average_15min``: the average of the prints in ``(close − 60 s, t]`` and its
``window_size`` ``w`` (``w`` counts up to 60 at the close tick; Kalshi API changes §5.7). That window
starts one second later than the settlement's, so the settlement prints observed at ``t`` are

- for ``w < 60``: the print at ``close − 60 s`` (the daemon's own) and the ``w`` published ones:
  ``Σobs = w·avg + S(close − 60)``, ``n = w + 1``;
- for ``w = 60`` (``t = close``): the same less the close tick itself (the print that carries it):
  ``Σobs = 60·avg − S(close) + S(close − 60)``, ``n = 60``.

The published average counts prints the daemon's feed may have missed, so when it is well formed it
replaces the daemon's own running sum. It falls back to the own prints, with the reason in
:attr:`ClosingObservation.note`, when it is missing in the last minute, garbled (no or an impossible
window size, a value that is not a positive number or lies more than :data:`MAX_RELATIVE_GAP` from the
index print), short or long (``w`` is not the number of seconds since the window opened), or when the
own print at ``close − 60 s`` that the join needs was not seen.

Pure: no clock, no I/O; the tracker calls :func:`closing_observation` when it builds a market view.
"""

from __future__ import annotations

import math
from datetime import datetime, timedelta

import attrs

from kalshid.core.markets import AVERAGING_SECONDS

MAX_RELATIVE_GAP = 0.05
"""A published average further than this (relative) from its own index print is treated as garbled."""

OWN = "own"
PUBLISHED = "published"


@attrs.frozen
class ClosingObservation:
    """Sum and count of the settlement prints observed so far, where they came from, and why.

    ``source`` is :data:`PUBLISHED` or :data:`OWN`; ``note`` is empty when nothing needs saying (the
    published average was used, or none was due) and otherwise names the reason for the fallback or
    a disagreement between the published average and the own prints.
    """

    observed_sum: float
    observed_count: int
    source: str = OWN
    note: str = ""


def closing_observation(
    *,
    close_time: datetime,
    own_sum: float,
    own_count: int,
    start_print: float | None,
    print_ts: datetime | None,
    print_price: float | None,
    published_avg: float | None,
    published_window: int | None,
) -> ClosingObservation:
    """Reconcile the published closing average carried by the newest print with the own prints.

    ``own_sum``/``own_count`` are the own prints inside ``[close − 60 s, close)``; ``start_print`` the
    own print in ``[close − 60 s, close − 59 s)`` if one was seen. ``print_ts``/``print_price`` are the
    newest index print and ``published_avg``/``published_window`` the closing average it carried
    (``None`` when it carried none). Never raises: bad published data is a fallback with a note.
    """
    # the fallbacks below build their observation directly (an attrs.evolve of ``own`` costs more, and
    # the last minute's every evaluation goes through here)
    own = ClosingObservation(own_sum, own_count, OWN, "")
    if print_ts is None or print_price is None:
        return own
    start = close_time - timedelta(seconds=AVERAGING_SECONDS)
    if not start < print_ts <= close_time:
        return own  # the newest print is not in this market's last minute: nothing is due
    elapsed = math.floor((print_ts - start).total_seconds() + 1e-6)
    if published_avg is None and published_window is None:
        return ClosingObservation(own_sum, own_count, OWN,
                                  f"no published closing average {elapsed} s into the closing window; "
                                  f"own prints {own_count}/{AVERAGING_SECONDS}")
    problem = _garbled(published_avg, published_window, print_price)
    if problem:
        return ClosingObservation(own_sum, own_count, OWN, f"published closing average rejected: {problem}; "
                                                           f"own prints {own_count}/{AVERAGING_SECONDS}")
    assert published_avg is not None and published_window is not None
    if published_window != elapsed:
        size = "short" if published_window < elapsed else "long"
        return ClosingObservation(own_sum, own_count, OWN,
                                  f"published closing average is {size}: window_size {published_window} "
                                  f"but {elapsed} s of the window elapsed; own prints "
                                  f"{own_count}/{AVERAGING_SECONDS}")
    if start_print is None:
        return ClosingObservation(own_sum, own_count, OWN,
                                  "the own print at close - 60 s, which the published window leaves "
                                  f"out, was not seen; own prints {own_count}/{AVERAGING_SECONDS}")
    w = published_window
    if w < AVERAGING_SECONDS:
        total, count = w * published_avg + start_print, w + 1
    else:
        total, count = w * published_avg - print_price + start_print, AVERAGING_SECONDS
    total = max(total, 0.0)
    note = ""
    if own_count != count:
        note = f"published average covers {count} settlement prints, own prints {own_count}"
    elif abs(total - own_sum) > 1e-6 * max(total, 1.0) * count:
        note = (f"published average differs from own prints: mean {total / count:.6f} "
                f"vs {own_sum / own_count:.6f}")
    return ClosingObservation(total, count, PUBLISHED, note)


def _garbled(avg: float | None, window: int | None, price: float) -> str:
    if window is None:
        return "no window_size"
    if isinstance(window, bool) or not isinstance(window, int) or not 1 <= window <= AVERAGING_SECONDS:
        return f"window_size {window!r} is not in [1, {AVERAGING_SECONDS}]"
    if avg is None or not (math.isfinite(avg) and avg > 0):
        return f"value {avg!r} is not a positive number"
    gap = abs(avg / price - 1.0)
    if gap > MAX_RELATIVE_GAP:
        return f"value {avg!r} is {gap:.1%} from the index print {price!r}"
    return ""
