"""Signal-for-signal replay of a session the daemon recorded: the same evaluations, the same signals.

``kalshid run`` with recording on writes, beside the market data, what its strategy stage decided
(:mod:`kalshid.research.recording`): a :class:`~kalshid.research.recording.StrategyGate` row whenever
the feed starts or stops delivering market data to the stage, a
:class:`~kalshid.research.recording.MarketsFollowed` row where the stage applied the markets that
market discovery told it to follow, and a :class:`~kalshid.research.recording.StrategyEvaluation` row per evaluation:
how many market-data events the stage had folded (its burst boundary), the exchange time, and the
account context the decision read (bankroll, trading switch, busy strategies, holdings), with every
signal and its outcome.

:func:`replay_decisions` rebuilds the stage's input from the recording alone: the market-data events
delivered while the gate was open, in receipt order, folded into a
:class:`~kalshid.core.tracker.MarketTracker` as the stage folds them, up to each evaluation's burst
boundary; then the backtest's strategies (the daemon's configuration) are asked through
:func:`kalshid.core.decision.evaluate_strategies` with that evaluation's recorded account context.
What it checks is the market-data side of every decision: the strategies' state (volatility,
price windows), the view, the top of book, pricing, sizing and the decision rules. The account side
(which orders were working, what was held) is the daemon's order and fill timing, taken as recorded.

Only the settlement index as the underlying (``exchange.underlying = "index"``) is supported.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import attrs

from kalshid.core.book import OrderBook
from kalshid.core.decision import evaluate_strategies
from kalshid.core.markets import INDEX_ID
from kalshid.core.signals import BookTop, IndexPrint, MarketView
from kalshid.core.strategies.base import PriceHistory
from kalshid.core.tracker import MarketInfo, MarketTracker
from kalshid.research.recording import RecordedSignal, parquet_files
from kalshid.research.settings import BacktestSettings
from kalshid.research.sources.base import SourceError

MARKET_DATA_KINDS = frozenset({"BookUpdated", "IndexPrinted", "TradePrinted", "TickerUpdated", "FeedStale",
                               "FeedResynced", "MarketLifecycle"})


@attrs.frozen
class Decision:
    """One evaluation: when, which market, and the signals (strategy, outcome, side, action, price,
    count, count proposed)."""

    received: int
    now: datetime
    ticker: str
    signals: tuple[RecordedSignal, ...]


@attrs.frozen
class DecisionReplay:
    """The recorded evaluations and the replay's, one for one and in order."""

    recorded: list[Decision]
    replayed: list[Decision]

    def mismatches(self) -> list[tuple[Decision, Decision]]:
        return [(a, b) for a, b in zip(self.recorded, self.replayed, strict=True) if a != b]


def _dt(s: object) -> datetime | None:
    return datetime.fromisoformat(s) if isinstance(s, str) and s else None


def _rows(root: Path) -> Iterator[tuple[str, dict[str, Any], str]]:
    import pyarrow.parquet as pq

    rows: list[tuple[Any, int, str, str, str]] = []
    for file in parquet_files(root):
        try:
            table = pq.read_table(file, columns=["seq", "kind", "recv_ts", "payload"])
        except Exception as exc:  # pyarrow raises several types for a damaged file
            raise SourceError(f"{file}: not a readable recording: {exc}") from exc
        rows += [(r["recv_ts"], r["seq"], r["kind"], r["payload"], str(file)) for r in table.to_pylist()]
    rows.sort(key=lambda r: (r[0], r[1]))
    last = None
    for recv, seq, kind, payload, path in rows:
        if (recv, seq) == last:  # an interrupted compaction leaves rows twice
            continue
        last = (recv, seq)
        try:
            yield kind, json.loads(payload), path
        except ValueError as exc:
            raise SourceError(f"{path}: row seq {seq} ({kind}) is malformed: {exc}") from exc


class _Stage:
    """The strategy stage's folding (:meth:`kalshid.trading.strategy.StrategyStage._fold`) on
    recorded events, for the settlement index as the underlying."""

    def __init__(self, settings: BacktestSettings) -> None:
        self.settings = settings
        self.registry = settings.registry()
        self.tracker = MarketTracker()
        self.listings: dict[str, MarketInfo] = {}

    def fold(self, kind: str, d: dict[str, Any]) -> None:
        tracker = self.tracker
        if kind == "IndexPrinted":
            p = d["print"]
            ts = _dt(p.get("exchange_ts"))
            if ts is not None and p["index_id"] == INDEX_ID:
                avg, window = p.get("close_avg_60s"), p.get("close_avg_window")
                tracker.on_index(IndexPrint(ts, float(Decimal(p["value"])),
                                            None if avg is None else float(Decimal(avg)),
                                            None if window is None else int(window)))
        elif kind == "BookUpdated":
            b = d["book"]
            exchange_ts = _dt(b.get("exchange_ts"))
            now = tracker.now
            if now is None and exchange_ts is None:
                return
            book = OrderBook(b["ticker"], tuple((int(p), int(n)) for p, n in b["yes"]),
                             tuple((int(p), int(n)) for p, n in b["no"]), exchange_ts)
            try:
                top = _top(book, exchange_ts or now)  # type: ignore[arg-type]
            except ValueError:
                tracker.mark_stale(book.ticker)
                return
            tracker.on_book(top, stale=bool(b.get("stale")))
        elif kind == "FeedStale":
            tracker.mark_stale(d.get("ticker") or None)

    def follow(self, tickers: list[str]) -> None:
        tracker = self.tracker
        tracker.set_markets([self.listings[t] for t in tickers if t in self.listings])

    def evaluate(self, d: dict[str, Any]) -> Decision:
        tracker = self.tracker
        ticker = d["ticker"]
        new_prints = tracker.take_new_prints()
        top = tracker.book(ticker)
        view = tracker.view(ticker, bankroll_cc=int(d["bankroll_cc"]), max_count=self.settings.max_count_per_signal)
        now = _dt(d["now"])
        if view is None or now is None:
            raise SourceError(f"evaluation of {ticker} at {d['now']}: the replay does not follow that market")
        history = PriceHistory(index=new_prints[:-1] if new_prints else ())
        holdings = {(s, ticker, side): int(n) for s, side, n in d["holdings"]}
        evaluations = evaluate_strategies(self.registry.active(), view, tracker.last_print, history, top,
                                          trading_enabled=bool(d["trading_enabled"]), busy=set(d["busy"]),
                                          holdings=holdings, entries_enabled=bool(d.get("entries_enabled", True)))
        return _decision(int(d["received"]), view, evaluations)


def _top(book: OrderBook, updated_at: datetime) -> BookTop:
    """The best bids of a full book, as the stage converts them (``kalshid.trading.convert.book_top``)."""
    yes, no = book.best_yes_bid, book.best_no_bid
    return BookTop(book.ticker, yes[0] if yes else None, yes[1] if yes else 0, no[0] if no else None,
                   no[1] if no else 0, book.exchange_ts or updated_at)


def _decision(received: int, view: MarketView, evaluations: list[Any]) -> Decision:
    from kalshid.research.recording import evaluation_record

    rec = evaluation_record(received, view, True, (), {}, evaluations)
    return Decision(received, view.now, view.ticker, rec.signals)


def _recorded(d: dict[str, Any]) -> Decision:
    signals = tuple(RecordedSignal(**s) for s in d["signals"])
    now = _dt(d["now"])
    assert now is not None
    return Decision(int(d["received"]), now, d["ticker"], signals)


def replay_decisions(root: Path, settings: BacktestSettings) -> DecisionReplay:
    """Replay the strategy stage's evaluations recorded under ``root`` (module docstring)."""
    stage = _Stage(settings)
    gate = False
    delivered: list[tuple[str, dict[str, Any]]] = []
    folded = 0
    recorded: list[Decision] = []
    replayed: list[Decision] = []

    def fold_to(n: int) -> None:
        nonlocal folded
        if n > len(delivered):
            raise SourceError(f"the strategy stage folded {n} events but the recording delivered {len(delivered)}")
        for kind, d in delivered[folded:n]:
            stage.fold(kind, d)
        folded = max(folded, n)

    for kind, d, _path in _rows(root):
        if kind == "StrategyGate":
            gate = bool(d["open"])
        elif kind in MARKET_DATA_KINDS:
            if gate:
                delivered.append((kind, d))
        elif kind == "MarketListing":
            strike = d.get("floor_strike")
            stage.listings[d["ticker"]] = MarketInfo(d["ticker"], _dt(d["open_time"]), _dt(d["close_time"]),  # type: ignore[arg-type]
                                                     float(Decimal(strike)) if strike is not None else None)
        elif kind == "MarketsFollowed":
            fold_to(int(d["received"]))
            stage.follow(list(d["tickers"]))
        elif kind == "StrategyEvaluation":
            fold_to(int(d["received"]))
            recorded.append(_recorded(d))
            replayed.append(stage.evaluate(d))
    return DecisionReplay(recorded, replayed)
