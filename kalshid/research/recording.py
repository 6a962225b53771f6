"""The recording format: one Parquet row per feed event, independent of the wire protocol's version.

Rows hold the *domain events* the feed delivers (:mod:`kalshid.exchange.base`: books, index prints,
trades, tickers, lifecycle, the account's own fills, orders and positions, stale/resync/reconnect
marks) plus the market listings the daemon follows, never raw wire messages, so a change of Kalshi's
message shapes does not change the files. Columns:

=============  =====================  =============================================================
``seq``        int64                  order of receipt within one recorder run
``kind``       string                 the event class (``BookUpdated``, ``IndexPrinted``, …, ``MarketListing``)
``series``     string                 ``KXSOL15M`` for market events, the index id for prints, ``_feed`` else
``ticker``     string (null)          the market, when the event has one
``exchange_ts`` timestamp[us, UTC]    the exchange's time for the event, when it gave one
``recv_ts``    timestamp[us, UTC]     wall-clock time the recorder was handed the event
``local_time`` float64                the daemon's monotonic (trio) time of receipt
``payload``    string                 the event as JSON (decimals as strings, times ISO-8601)
=============  =====================  =============================================================

Files: ``<dir>/series=<S>/date=<YYYY-MM-DD>/hour=<HH>/part-<ms>-<pid>-<seq>.parquet`` by receive time.
A file is written under a ``.tmp`` name, flushed to disk and renamed: a file with the final name is
always whole. Readers ignore ``*.tmp``.
"""

from __future__ import annotations

import enum
import json
from collections.abc import Collection, Mapping, Sequence
from datetime import UTC, date, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import attrs

from kalshid.core.decision import Evaluation
from kalshid.core.signals import MarketView

COLUMNS = ("seq", "kind", "series", "ticker", "exchange_ts", "recv_ts", "local_time", "payload")
FEED_SERIES = "_feed"
TMP_SUFFIX = ".tmp"


def arrow_schema() -> Any:
    import pyarrow as pa

    ts = pa.timestamp("us", tz="UTC")
    return pa.schema([("seq", pa.int64()), ("kind", pa.string()), ("series", pa.string()),
                      ("ticker", pa.string()), ("exchange_ts", ts), ("recv_ts", ts),
                      ("local_time", pa.float64()), ("payload", pa.string())])


def _plain(_inst: object, _field: object, value: object) -> object:
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, enum.Enum):
        return value.value
    return value


def to_payload(obj: object) -> str:
    """``obj`` (an attrs event or domain type) as compact JSON."""
    data = attrs.asdict(obj, recurse=True, value_serializer=_plain) if attrs.has(type(obj)) else obj  # type: ignore[arg-type]
    return json.dumps(data, separators=(",", ":"), default=str)


def _ticker(event: object) -> str | None:
    for path in ("ticker", "book.ticker", "fill.ticker", "order.ticker"):
        obj: Any = event
        for part in path.split("."):
            obj = getattr(obj, part, None)
        if isinstance(obj, str) and obj:
            return obj
    return None


def _exchange_ts(event: object) -> datetime | None:
    for path in ("book.exchange_ts", "print.exchange_ts", "fill.ts", "order.last_update_time", "ts"):
        obj: Any = event
        for part in path.split("."):
            obj = getattr(obj, part, None)
        if isinstance(obj, datetime):
            return obj
    return None


def series_of(kind: str, ticker: str | None, event: object) -> str:
    if ticker:
        return ticker.split("-", 1)[0]
    index = getattr(getattr(event, "print", None), "index_id", None)
    if isinstance(index, str) and index:
        return index.replace(":", "_").replace("/", "_")
    return FEED_SERIES


def encode(event: object, seq: int, recv_ts: datetime) -> dict[str, Any]:
    """One row for ``event`` (see the module docstring)."""
    kind = type(event).__name__
    ticker = _ticker(event)
    local = getattr(event, "local_time", None)
    return {"seq": seq, "kind": kind, "series": series_of(kind, ticker, event), "ticker": ticker,
            "exchange_ts": _exchange_ts(event), "recv_ts": recv_ts,
            "local_time": float(local) if isinstance(local, int | float) else None, "payload": to_payload(event)}


@attrs.frozen
class MarketListing:
    """A market the daemon follows (from market discovery), recorded as kind ``MarketListing``."""

    ticker: str
    open_time: datetime
    close_time: datetime
    floor_strike: Decimal | None


# --- the daemon's decisions, recorded beside the market data so a replay can be checked signal for
# signal (:mod:`kalshid.research.decisions`). ``received`` counts the market-data events the strategy
# stage had taken from its inbox, in order: those the feed delivered while :class:`StrategyGate` was open.

@attrs.frozen
class StrategyGate:
    """From here on the feed delivers market data to the strategy stage (``open``) or not."""

    open: bool


@attrs.frozen
class MarketsFollowed:
    """The tracker now follows ``tickers`` (current market first); the stage had ``received`` events."""

    tickers: tuple[str, ...]
    current: str | None
    received: int


@attrs.frozen
class RecordedSignal:
    """One strategy's signal in an evaluation and what became of it (``outcome``: proposed,
    suppressed, at_target); ``proposed_count`` is the count sent to risk (0 unless proposed)."""

    strategy: str
    outcome: str
    side: str
    action: str
    price_cc: int
    count: int
    proposed_count: int


@attrs.frozen
class StrategyEvaluation:
    """The strategy stage evaluated ``ticker`` at exchange time ``now`` after folding ``received``
    events, with this account context; ``signals`` in registry order."""

    received: int
    now: datetime
    ticker: str
    bankroll_cc: int
    trading_enabled: bool
    busy: tuple[str, ...]
    holdings: tuple[tuple[str, str, int], ...]  # (strategy, side, count) in this market
    signals: tuple[RecordedSignal, ...]
    entries_enabled: bool = True  # false: buys suppressed (exits only, or positions differ from the exchange's)


def partition(root: Path, series: str, recv_ts: datetime) -> Path:
    t = recv_ts.astimezone(UTC)
    return root / f"series={series}" / f"date={t:%Y-%m-%d}" / f"hour={t:%H}"


def hour_of(path: Path) -> datetime | None:
    """The UTC hour an ``hour=HH`` partition directory holds (``None`` if ``path`` is not one)."""
    try:
        d = path.parent.name.removeprefix("date=")
        h = path.name.removeprefix("hour=")
        return datetime.strptime(f"{d} {h}", "%Y-%m-%d %H").replace(tzinfo=UTC)
    except ValueError:
        return None


def parquet_files(root: Path, series: tuple[str, ...] | None = None) -> list[Path]:
    """Every finished recording file under ``root`` (``*.tmp`` excluded), optionally only ``series``."""
    dirs = [root / f"series={s}" for s in series] if series else [root]
    out: list[Path] = []
    for d in dirs:
        out += [p for p in d.rglob("*.parquet") if p.is_file()]
    return sorted(out)


def evaluation_record(received: int, view: MarketView, trading_enabled: bool, busy: Collection[str],
                      holdings: Mapping[tuple[str, str, str], int], evaluations: Sequence[Evaluation], *,
                      entries_enabled: bool = True) -> StrategyEvaluation:
    """The :class:`StrategyEvaluation` row for one evaluation of ``view.ticker``."""
    signals = tuple(
        RecordedSignal(ev.strategy, ev.outcome.value, ev.signal.side.value, ev.signal.action.value,
                       ev.signal.price_cc, ev.signal.count, ev.proposal.count if ev.proposal is not None else 0)
        for ev in evaluations if ev.signal is not None)
    held = tuple(sorted((s, side, n) for (s, t, side), n in holdings.items() if t == view.ticker and n))
    return StrategyEvaluation(received, view.now, view.ticker, view.bankroll_cc, trading_enabled,
                              tuple(sorted(busy)), held, signals, entries_enabled)
