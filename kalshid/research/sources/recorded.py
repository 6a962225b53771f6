"""kalshid's own recordings (``kalshid record``, ``record.*`` in ``kalshid run``) as a replay source.

Full fidelity where the feed had it: every book with its depth (both bid ladders), every index print
at its own time, every public trade, market listings with their strikes, lifecycle results, and the
account's own fills (for ``fills_as_recorded``). Simulator sessions recorded by ``kalshid run`` against
``kalshid sim`` are read the same way.

Time: each event is replayed at its exchange time; an event without one (listings, lifecycle) at the
newest exchange time seen before it in receipt order, which is when the daemon itself would have had
it. Lacks: the daemon's burst grouping (which events it folded before each evaluation) and its queueing
delays are not recorded; the replay's ``evaluation`` setting stands in for them (``kalshid backtest``
evaluates a recording after every triggering event, as the daemon does when it keeps up; ``timestamp``
once per distinct exchange time).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from kalshid.core.markets import INDEX_ID, SERIES
from kalshid.core.signals import BookTop
from kalshid.core.vocab import Side
from kalshid.research.events import (
    BookTick,
    Event,
    IndexTick,
    MarketListed,
    RecordedFill,
    Settled,
    TradePrint,
    event_sort_key,
)
from kalshid.research.recording import parquet_files
from kalshid.research.sources.base import SourceError, SourceInfo

_WARMUP = timedelta(hours=2)  # index prints kept before --from, so volatility estimates are warm


def _opt_float(v: object) -> float | None:
    """A recorded decimal string or number as a float; ``None`` when absent or not a number (the tracker
    then falls back to its own prints and says why)."""
    try:
        return None if v is None or isinstance(v, bool) else float(v)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return None


def _dt(s: object) -> datetime | None:
    return datetime.fromisoformat(s) if isinstance(s, str) and s else None


def _ladder(levels: list[list[int]]) -> tuple[tuple[int, int], ...]:
    """Best first, from the book's ascending levels."""
    return tuple((int(p), int(n)) for p, n in sorted(levels, key=lambda lv: -lv[0]) if n > 0)


class RecordedSource:
    """Replay events from the recordings under ``root`` for ``series`` (and its index)."""

    def __init__(self, root: Path, *, series: str = SERIES, index_id: str = INDEX_ID) -> None:
        self.root = Path(root)
        if not self.root.is_dir():
            raise SourceError(f"recording directory not found: {self.root}")
        self.series = series
        self.index_id = index_id
        self.files = parquet_files(self.root, (series, index_id.replace(":", "_")))
        if not self.files:
            raise SourceError(f"no recordings of {series} under {self.root}")
        self._events = self._load()

    def _rows(self) -> list[dict[str, Any]]:
        import pyarrow.parquet as pq

        rows: list[dict[str, Any]] = []
        for path in self.files:
            try:
                table = pq.read_table(path, columns=["seq", "kind", "recv_ts", "payload"])
            except Exception as exc:  # pyarrow raises several types for a damaged file
                raise SourceError(f"{path}: not a readable recording: {exc}") from exc
            rows += [{**r, "file": path} for r in table.to_pylist()]
        rows.sort(key=lambda r: (r["recv_ts"], r["seq"]))
        # a compaction interrupted between its rename and deleting the chunks leaves rows twice
        return [r for i, r in enumerate(rows)
                if i == 0 or (r["recv_ts"], r["seq"]) != (rows[i - 1]["recv_ts"], rows[i - 1]["seq"])]

    def _load(self) -> list[Event]:
        events: list[Event] = []
        now: datetime | None = None
        waiting: list[tuple[str, dict[str, Any]]] = []  # no exchange time seen yet: they take the first
        for row in self._rows():
            kind = row["kind"]
            try:
                data = json.loads(row["payload"])
                made = self._decode(kind, data, now)
            except (KeyError, TypeError, ValueError) as exc:
                raise SourceError(f"{row['file']}: row seq {row['seq']} ({kind}) is malformed: "
                                  f"{type(exc).__name__}: {exc}") from exc
            if now is None and not made:
                waiting.append((kind, data))
                continue
            for e in made:
                now = e.ts if now is None or e.ts > now else now
            if waiting and now is not None:
                events += [e for k, d in waiting for e in self._decode(k, d, now)]
                waiting = []
            events += made
        events.sort(key=event_sort_key)
        return events

    def _decode(self, kind: str, d: dict[str, Any], now: datetime | None) -> list[Event]:
        if kind == "IndexPrinted":
            p = d["print"]
            ts = _dt(p.get("exchange_ts"))
            if not ts or p.get("index_id") != self.index_id:
                return []
            avg, window = p.get("close_avg_60s"), p.get("close_avg_window")
            return [IndexTick(ts, float(p["value"]), _opt_float(avg),
                              window if isinstance(window, int) and not isinstance(window, bool) else None)]
        if kind == "BookUpdated":
            b = d["book"]
            ts = _dt(b.get("exchange_ts")) or now
            if ts is None or b.get("stale"):
                return []
            yes, no = _ladder(b["yes"]), _ladder(b["no"])
            top = BookTop(b["ticker"], yes[0][0] if yes else None, yes[0][1] if yes else 0,
                          no[0][0] if no else None, no[0][1] if no else 0, ts)
            return [BookTick(ts, top, yes, no)]
        if kind == "TradePrinted":
            ts = _dt(d.get("ts")) or now
            price = int(d["yes_price_cc"])
            return [TradePrint(ts, d["ticker"], price, price, int(d["count"]))] if ts else []
        if kind == "FillReceived":
            f = d["fill"]
            ts = _dt(f.get("ts")) or now
            if ts is None:
                return []
            price = int(f["yes_price_cc"] if f["side"] == "yes" else f["no_price_cc"])
            return [RecordedFill(ts, f["ticker"], Side(f["side"]), f["action"], int(f["count"]), price,
                                 int(f["fee_cc"]), f.get("client_order_id"))]
        if kind == "MarketListing" and now is not None:
            strike = d.get("floor_strike")
            return [MarketListed(now, d["ticker"], _dt(d["open_time"]), _dt(d["close_time"]),  # type: ignore[arg-type]
                                 float(strike) if strike is not None else None)]
        if kind == "MarketLifecycle" and d.get("result") in ("yes", "no") and now is not None:
            return [Settled(now, d["ticker"], Side(d["result"]))]
        return []

    # --- the Source interface -----------------------------------------------------------------
    def info(self) -> SourceInfo:
        return SourceInfo(
            name=f"recorded:{self.series}:{len(self.files)} files",
            supports=("full book depth per update", "index prints at exchange time", "public trades",
                      "market listings with strikes", "lifecycle results", "the account's own fills"),
            lacks=("the daemon's burst grouping and queueing delays (the replay evaluates as its evaluation "
                   "setting says: after every triggering event, or once per exchange time)",))

    def events(self, start: datetime | None = None, end: datetime | None = None) -> Iterator[Event]:
        closes = self.closes()
        for e in self._events:
            ticker = getattr(e, "ticker", None)
            close = closes.get(ticker) if ticker else None
            if close is not None and ((start is not None and close < start) or (end is not None and close >= end)):
                continue
            if ticker is None and ((start is not None and e.ts < start - _WARMUP) or (end is not None and e.ts >= end)):
                continue
            yield e

    def results(self) -> dict[str, Side]:
        return {e.ticker: e.result for e in self._events if isinstance(e, Settled)}

    def index_gate_exempt(self) -> frozenset[str]:
        return frozenset()

    def closes(self) -> dict[str, datetime]:
        return {e.ticker: e.close_time for e in self._events if isinstance(e, MarketListed)}
