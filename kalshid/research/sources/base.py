"""The source interface: where a replay's events come from, and what each source can support.

A :class:`Source` yields :mod:`kalshid.research.events` in replay order for an optional time range,
names the markets it settles (hindsight the fill model may use for adverse selection, and nothing
else), and describes itself: what it has, what it lacks, and so what a backtest on it can and cannot
show. Sources live next to this module: :mod:`.shared` (the public data in ``shared/data``) and
:mod:`.recorded` (kalshid's own Parquet recordings, also of simulator sessions).
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime
from typing import Protocol

import attrs

from kalshid.core.vocab import Side
from kalshid.research.events import Event


class SourceError(ValueError):
    """A source's data is missing or malformed; the message names the file and what is wrong."""


@attrs.frozen
class SourceInfo:
    name: str
    supports: tuple[str, ...]
    lacks: tuple[str, ...]
    assumptions: tuple[str, ...] = ()

    def as_dict(self) -> dict[str, object]:
        return {"name": self.name, "supports": list(self.supports), "lacks": list(self.lacks),
                "assumptions": list(self.assumptions)}


class Source(Protocol):
    def info(self) -> SourceInfo:
        """What this source has and lacks (quoted in every report)."""
        ...

    def events(self, start: datetime | None = None, end: datetime | None = None) -> Iterator[Event]:
        """Events of markets closing in ``[start, end)`` (all when ``None``), sorted for replay."""
        ...

    def results(self) -> dict[str, Side]:
        """ticker → winning side, for every market this source settles."""
        ...

    def index_gate_exempt(self) -> frozenset[str]:
        """Markets replayed without an underlying path: the stale-index gate does not apply to them."""
        ...

    def closes(self) -> dict[str, datetime]:
        """ticker → close time, for every market this source replays (with no period)."""
        ...


def _at(t: datetime | None) -> str:
    return "the start" if t is None else t.isoformat()


def check_period(source: Source, start: datetime | None, end: datetime | None) -> int:
    """The number of ``source``'s markets closing in ``[start, end)``; :class:`SourceError` naming the
    period and the source's own span when the period is empty or holds none of them (a mistyped date
    would otherwise replay nothing and report zeros)."""
    if start is not None and end is not None and not start < end:
        raise SourceError(f"empty period: --from {start.isoformat()} is not before --to {end.isoformat()}")
    closes = sorted(source.closes().values())
    if not closes:
        raise SourceError(f"{source.info().name}: no market to replay")
    inside = sum(1 for c in closes if (start is None or c >= start) and (end is None or c < end))
    if not inside:
        raise SourceError(f"no market closes between {_at(start)} and {'the end' if end is None else end.isoformat()}: "
                          f"the {len(closes)} markets of {source.info().name} close from "
                          f"{closes[0].isoformat()} to {closes[-1].isoformat()}")
    return inside
