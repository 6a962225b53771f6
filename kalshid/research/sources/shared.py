"""The public data in ``shared/data`` as a replay source (KXSOL15M by default).

What it has (see ``shared/data/README.md``):

- **Ladder paths** (``kalshi/kxcrypto15m_ladder_paths_*``): for a sample of markets, one entry per
  minute from 14 minutes left to 0 with the YES bid close ``bc``, bid high ``bh``, ask close ``ac`` and
  ask low ``al`` of the Kalshi 1-minute candle ending ``ml`` minutes before the close. Replayed as a
  :class:`~kalshid.research.events.BookTick` at ``close − ml·60 s`` (YES bid ``bc``, NO bid ``$1 − ac``)
  and a :class:`~kalshid.research.events.TradePrint` over that minute (YES low ``al``, high ``bh``).
- **Settlements** (``kxcrypto15m_settlements_*``): strike ``a0`` (index at the open) and the result.
- **SOL 1-minute perpetual** (``underlying_1m/binance_um_perp_SOLUSDT_1m_*``), 35.75 hours: the
  index stand-in the README recommends, ``a0 · P(t)/P(open)`` with ``P`` = (O+H+L+C)/4 of the candle
  ending at ``t`` (moves from the window open, not levels), one print per minute for every minute of
  the file (so the volatility estimate is warm before the first market).

What it cannot support, and what the replay assumes instead:

- **No sizes or depth**: every quote is given ``assumed_depth`` contracts (stated in the report).
- **Minute resolution**: strategies are evaluated once a minute; the closing 60-second average is
  seen through one print per minute.
- **Underlying only where the perpetual covers** (``underlying="perp"``, the default: the ~23 ladder
  markets inside the file). ``underlying="none"`` replays every ladder market with no index prints:
  strategies that need the index stay silent, and the stale-index gate is off (there is no index).
- **A sample**, not the population (the README's warning); no own orders or fills (``fills_as_recorded``
  has nothing to use). The ``book_entry`` file (one quote per market) and the August snapshots (no
  strike, no settlement) are not replayed.
"""

from __future__ import annotations

import csv
import gzip
import json
import math
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Literal

from kalshid.core.markets import SERIES, parse_market_ticker
from kalshid.core.signals import BookTop
from kalshid.core.vocab import Side
from kalshid.research.events import BookTick, Event, IndexTick, MarketListed, Settled, TradePrint, event_sort_key
from kalshid.research.sources.base import SourceError, SourceInfo

DATA_ENV = "KALSHID_DATA_DIR"
PERP_BASIS = 0.0008  # the perpetual trades ~8 bp above the CF index (README); used where no a0 is known
MAX_BUILT_PERIODS = 8  # periods whose events a source keeps built (a walk-forward sweep uses a few)


SHARED_ENV = "KALSHID_SHARED_DIR"


def shared_root() -> Path:
    """The shared folder (Kalshi's specs under ``kalshi/``, market data under ``data/``):
    ``$KALSHID_SHARED_DIR``; else :func:`shared_beside` this package's repository."""
    import os

    env = os.environ.get(SHARED_ENV)
    if env:
        return Path(env)
    return shared_beside(Path(__file__).resolve().parents[3])


def shared_beside(repo: Path) -> Path:
    """``shared`` beside the checkout ``repo``; else, for a ``git worktree`` of a repository, beside
    that repository's main checkout; else, for a clone of a local repository (``git clone`` of a
    working copy into a scratch directory), beside the repository it was cloned from. The first
    candidate is returned when none exists, so a caller's error names where the folder was expected."""
    beside = repo.parent / "shared"
    if beside.is_dir():
        return beside
    for other in (_main_checkout(repo), _local_origin(repo)):
        if other is not None and (other.parent / "shared").is_dir():
            return other.parent / "shared"
    return beside


def _main_checkout(repo: Path) -> Path | None:
    """The main checkout of the git worktree at ``repo`` (whose ``.git`` is a file naming
    ``MAIN/.git/worktrees/NAME``), else None."""
    try:
        text = (repo / ".git").read_text()
    except OSError:  # a directory (an ordinary checkout), or no git at all
        return None
    gitdir = Path(text.partition("gitdir:")[2].strip())
    if gitdir.is_absolute() and gitdir.parent.name == "worktrees" and gitdir.parents[1].name == ".git":
        return gitdir.parents[2]
    return None


def _local_origin(repo: Path) -> Path | None:
    """The ``origin`` remote of the git checkout at ``repo`` when it is a local path, else None."""
    try:
        text = (repo / ".git" / "config").read_text()
    except OSError:
        return None
    in_origin = False
    for line in text.splitlines():
        stripped = line.strip()
        if stripped.startswith("["):
            in_origin = stripped.replace(" ", "") == '[remote"origin"]'
        elif in_origin and stripped.startswith("url"):
            url = stripped.partition("=")[2].strip().removeprefix("file://")
            return Path(url).resolve() if url.startswith("/") else None
    return None


def default_data_dir() -> Path:
    """``$KALSHID_DATA_DIR``, else ``data`` in the shared folder (:func:`shared_root`)."""
    import os

    env = os.environ.get(DATA_ENV)
    if env:
        return Path(env)
    return shared_root() / "data"


def _one(folder: Path, pattern: str) -> Path:
    found = sorted(folder.glob(pattern))
    if not found:
        raise SourceError(f"no file matching {pattern!r} in {folder} (set --data or ${DATA_ENV})")
    return found[0]


def _csv_gz(path: Path) -> Iterator[dict[str, str]]:
    with gzip.open(path, "rt", newline="") as f:
        yield from csv.DictReader(f)


def _cc(x: object) -> int | None:
    """A dollar quote as cc strictly inside ($0, $1), else ``None`` (missing, NaN, 0 or 1)."""
    if not isinstance(x, int | float) or isinstance(x, bool) or not math.isfinite(x):
        return None
    cc = round(x * 10_000)
    return cc if 0 < cc < 10_000 else None


def _utc(s: str) -> datetime:
    return datetime.fromisoformat(s.replace("Z", "+00:00")).astimezone(UTC)


class SharedDataSource:
    """Replay events from ``shared/data`` (see the module docstring for what it supports)."""

    def __init__(self, data_dir: Path | None = None, *, series: str = SERIES, assumed_depth: int = 100,
                 underlying: Literal["perp", "none"] = "perp") -> None:
        if assumed_depth <= 0:
            raise ValueError(f"assumed_depth must be > 0, got {assumed_depth}")
        if underlying not in ("perp", "none"):
            raise ValueError(f"underlying must be perp or none, got {underlying!r}")
        self.data_dir = Path(data_dir) if data_dir is not None else default_data_dir()
        if not self.data_dir.is_dir():
            raise SourceError(f"shared data directory not found: {self.data_dir} (set --data or ${DATA_ENV})")
        self.series = series
        self.assumed_depth = assumed_depth
        self.underlying = underlying
        self.skipped: dict[str, int] = {}
        self._settle = self._load_settlements()
        self._ladders = self._load_ladders()
        self._perp = self._load_perp() if underlying == "perp" else []
        self._built: dict[tuple[datetime | None, datetime | None], list[Event]] = {}  # events() per period

    # --- loading ------------------------------------------------------------------------------
    def _load_settlements(self) -> dict[str, tuple[float, str]]:
        path = _one(self.data_dir / "kalshi", "kxcrypto15m_settlements_*.csv.gz")
        out: dict[str, tuple[float, str]] = {}
        line = 1  # the header
        try:
            for r in _csv_gz(path):
                line += 1
                if r["series"] == self.series and r["result"] in ("yes", "no"):
                    out[r["ticker"]] = (float(r["a0"]), r["result"])
        except (KeyError, ValueError, OSError, EOFError) as exc:
            raise SourceError(f"{path}: line {line}: {type(exc).__name__}: {exc}") from exc
        return out

    def _load_ladders(self) -> dict[str, tuple[str, list[dict[str, float]]]]:
        path = _one(self.data_dir / "kalshi", "kxcrypto15m_ladder_paths_*.csv.gz")
        out: dict[str, tuple[str, list[dict[str, float]]]] = {}
        for r in _csv_gz(path):
            if not r["ticker"].startswith(self.series + "-"):
                continue
            if r["result"] not in ("yes", "no"):
                self._skip("ladder market without a yes/no result")
                continue
            try:
                path_entries = json.loads(r["path"])
            except json.JSONDecodeError as exc:
                raise SourceError(f"{path}: market {r['ticker']}: path is not JSON: {exc}") from exc
            out[r["ticker"]] = (r["result"], path_entries)
        return out

    def _load_perp(self) -> list[tuple[datetime, float]]:
        """(candle end time, typical price) of every perpetual candle, in time order."""
        rows: list[tuple[datetime, float]] = []
        for path in sorted((self.data_dir / "underlying_1m").glob("binance_um_perp_SOLUSDT_1m_*.csv")):
            with path.open(newline="") as f:
                for line, r in enumerate(csv.DictReader(f), start=2):
                    try:
                        end = datetime.fromtimestamp((int(r["open_time"]) + 60_000) / 1000, UTC)
                        typical = (float(r["open"]) + float(r["high"]) + float(r["low"]) + float(r["close"])) / 4
                    except (KeyError, TypeError, ValueError) as exc:
                        raise SourceError(f"{path}: line {line}: {type(exc).__name__}: {exc}") from exc
                    rows.append((end, typical))
        if not rows:
            raise SourceError(f"no binance_um_perp_SOLUSDT_1m_*.csv in {self.data_dir / 'underlying_1m'} "
                              "(or use underlying='none')")
        return sorted(rows)

    def _skip(self, why: str) -> None:
        self.skipped[why] = self.skipped.get(why, 0) + 1

    # --- the Source interface -----------------------------------------------------------------
    def info(self) -> SourceInfo:
        lacks = ["order-book depth and sizes", "sub-minute timing", "own orders and fills (no recorded fills)",
                 "the full market population (the ladder file is a sample)"]
        if self.underlying == "none":
            lacks.append("an underlying path: index-driven strategies stay silent, no stale-index gate")
        else:
            lacks.append("an underlying outside the 35.75 h perpetual file (only markets inside it replay)")
        return SourceInfo(
            name=f"shared-data:{self.series}:underlying={self.underlying}",
            supports=("YES bid/ask close and intra-minute bid high / ask low per minute (Kalshi candles)",
                      "strike and settlement result per market",
                      *(("index stand-in a0·P(t)/P(open) from Binance SOLUSDT perpetual 1-minute candles",)
                        if self.underlying == "perp" else ())),
            lacks=tuple(lacks),
            assumptions=(f"{self.assumed_depth} contracts at every quote",
                         "a ladder entry ml is the candle ending ml minutes before the close"))

    def results(self) -> dict[str, Side]:
        return {t: Side(res) for t, (res, _) in self._ladders.items()}

    def index_gate_exempt(self) -> frozenset[str]:
        return frozenset(self._ladders) if self.underlying == "none" else frozenset()

    def tickers(self, start: datetime | None = None, end: datetime | None = None) -> list[str]:
        """The markets this source replays in ``[start, end)`` (by close time), in close order."""
        out = []
        covered = (self._perp[0][0], self._perp[-1][0]) if self._perp else None
        for ticker in self._ladders:
            window = parse_market_ticker(ticker)[1]
            if (start is not None and window.close_time < start) or (end is not None and window.close_time >= end):
                continue
            if covered is not None and not (covered[0] <= window.open_time and window.close_time <= covered[1]):
                continue
            out.append((window.close_time, ticker))
        return [t for _, t in sorted(out)]

    def closes(self) -> dict[str, datetime]:
        return {t: parse_market_ticker(t)[1].close_time for t in self.tickers()}

    def events(self, start: datetime | None = None, end: datetime | None = None) -> Iterator[Event]:
        """The events of the markets closing in ``[start, end)``, built once per period (the events are
        frozen: a sweep's trials on the same period share them)."""
        built = self._built.get((start, end))
        if built is None:
            if len(self._built) >= MAX_BUILT_PERIODS:
                del self._built[next(iter(self._built))]
            built = self._built[(start, end)] = self._build(start, end)
        yield from built

    def _build(self, start: datetime | None, end: datetime | None) -> list[Event]:
        tickers = self.tickers(start, end)
        events: list[Event] = []
        windows = {}
        for ticker in tickers:
            window = parse_market_ticker(ticker)[1]
            strike = self._settle.get(ticker, (None, ""))[0]
            windows[window.open_time] = strike
            events.append(MarketListed(window.open_time, ticker, window.open_time, window.close_time, strike))
            events.extend(self._market_events(ticker, window.close_time))
        if self._perp and tickers:
            last = parse_market_ticker(tickers[-1])[1].close_time
            lo = start - timedelta(hours=2) if start is not None else None
            events.extend(self._index_events(lo, last))
        events.sort(key=event_sort_key)
        return events

    def _market_events(self, ticker: str, close: datetime) -> Iterator[Event]:
        result, entries = self._ladders[ticker]
        for entry in entries:
            ml = entry.get("ml")
            if not isinstance(ml, int | float) or not 1 <= ml <= 14:
                continue  # the entry at the close (ml 0) is not tradable
            ts = close - timedelta(minutes=float(ml))
            bid, ask = _cc(entry.get("bc")), _cc(entry.get("ac"))
            if bid is not None and ask is not None and bid > ask:
                self._skip("crossed quote")
                continue
            no_bid = None if ask is None else 10_000 - ask
            top = BookTop(ticker, bid, self.assumed_depth if bid is not None else 0,
                          no_bid, self.assumed_depth if no_bid is not None else 0, ts)
            yield BookTick(ts, top)
            low, high = _cc(entry.get("al")), _cc(entry.get("bh"))
            if low is not None or high is not None:
                yield TradePrint(ts, ticker, low if low is not None else 10_000, high if high is not None else 0)
        yield Settled(close, ticker, Side(result))

    def _index_events(self, lo: datetime | None, hi: datetime) -> Iterator[Event]:
        """Index stand-in prints: inside a window with a known strike ``a0 · P(t)/P(open)``, elsewhere
        the perpetual less its mean basis."""
        perp = dict(self._perp)
        strikes: dict[datetime, float] = {}
        for ticker, (a0, _) in self._settle.items():
            strikes[parse_market_ticker(ticker)[1].open_time] = a0
        for t, p in self._perp:
            if (lo is not None and t < lo) or t > hi:
                continue
            window_open = t.replace(minute=t.minute - t.minute % 15, second=0, microsecond=0)
            strike, p_open = strikes.get(window_open), perp.get(window_open)
            value = strike * p / p_open if strike is not None and p_open is not None else p / (1 + PERP_BASIS)
            yield IndexTick(t, value)
