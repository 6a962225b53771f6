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
