"""Bench: CPU cost of the order path's own code, segment by segment (docs/performance.md).

Run: ``.venv/bin/python bench/bench_order_path.py [--n 3000] [--repeats 5]``. Prints figures; not a test.

``bench_tick_to_order.py`` measures the whole path wire to wire, but on a shared machine its
figures are mostly scheduling. This bench times only the code each segment runs, on realistic
inputs, with no I/O wait and no scheduler pass between the steps (fake streams that never block), so
it can be compared before and after a change on a busy machine: each figure is the median of ``--n``
calls, the lowest of ``--repeats`` runs, in microseconds per call.

Segments (the names of ``bench_tick_to_order.py``'s table):

- feed: ``WsClient.receive_batch`` over one read holding one ``orderbook_delta`` frame, and over a
  burst of eight (per message); the book's part of one delta (``Book.apply_delta`` and the
  ``snapshot`` the strategy receives) on a book of 34 YES and 46 NO levels;
- strategy stage: one ``BookUpdated`` that changes the current market's top, folded into the tracker
  and evaluated by both strategies (market view, decision rule; ``kelly_volatility``'s pricing and Kelly sizing) into a
  ``Proposal``, without and with a recording to build the evaluation's row for; then what the stage
  does after the hand-over (the signal's log line and event, the
  snapshot);
- risk stage: ``RiskStage._on_proposal`` for one approved proposal, up to and including the hand-over
  of the ``ApprovedOrder`` (its log line after it);
- execution: ``ExecutionStage._send_here`` from an ``ApprovedOrder`` until ``submit`` is called (an
  exchange that answers at once), the journal's ``record_decision`` inline, and until it returns;
- risk check: the pure work risk does per proposal (the day ledger, ``RiskState``, ``RiskEngine.check``
  for an approved buy, a reduced buy and a sale on a book with a hedged position, and for the reduced
  buy as the day's first order, the signal and verdict records);
- intent write: the intent record and ``Journal.record_decision`` (JSON, CRC, one ``pwrite`` to the
  intent log in a temporary directory; its fdatasync runs off the path and is not timed);
- submit -> socket: the request body and its bytes on the order lane (presigned headers, h11), the
  client-side rate limiter.
"""

from __future__ import annotations

import argparse
import math
import os
import statistics
import tempfile
import time
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import attrs
import h11
import trio
from wsproto import ConnectionType, WSConnection
from wsproto.events import AcceptConnection, Request, TextMessage

from kalshid.core.book import Book, OrderBook
from kalshid.core.breaker import Breaker, BreakerStatus
from kalshid.core.markets import INDEX_ID, market_ticker, window_containing
from kalshid.core.portfolio import Fill, Portfolio
from kalshid.core.risk import DayLedger, OrderIntent, RestingOrder, RiskEngine, RiskLimits, RiskState
from kalshid.core.strategies.registry import StrategyRegistry
from kalshid.core.tracker import MarketInfo
from kalshid.core.vocab import Action, Side
from kalshid.exchange.base import BookUpdated, IndexPrinted
from kalshid.exchange.kalshi.orderlane import LaneConnection, OrderLane
from kalshid.exchange.kalshi.ratelimit import RateLimiter, RateLimits
from kalshid.exchange.kalshi.wire import orders as ow
from kalshid.exchange.types import IndexPrint, Market, OrderRequest
from kalshid.exchange.wsclient import WsClient
from kalshid.logs import configure_logging, shutdown_logging
from kalshid.store import open_journal, records
from kalshid.trading.exchangeclock import ExchangeClock
from kalshid.trading.execution import ExecutionSettings, ExecutionStage
from kalshid.trading.messages import ApprovedOrder, FollowMarkets, Pipeline, Proposal, TradingState
from kalshid.trading.risk import RiskStage
from kalshid.trading.strategy import StrategyStage

NOW = datetime(2026, 12, 4, 3, 5, 20, tzinfo=UTC)
CID = "6f1c3a52-2a5e-4d8b-9d61-0c7e2b4f9a10"
DELTA = ('{"type":"orderbook_delta","sid":2,"seq":%d,"msg":{"market_ticker":"%s","market_id":"m-1",'
         '"price_dollars":"0.4300","delta_fp":"-12.00","side":"yes","ts":"2026-12-04T03:05:20.123456Z"}}')


def timed(fn: Callable[[], Any], n: int, repeats: int) -> float:
    """Median µs per call of ``fn``, the lowest over ``repeats`` runs of ``n`` calls."""
    best = float("inf")
    for _ in range(repeats):
        samples = []
        for _ in range(n):
            t0 = time.perf_counter_ns()
            fn()
            samples.append(time.perf_counter_ns() - t0)
        best = min(best, statistics.median(samples) / 1000)
    return best


async def atimed(fn: Callable[[], Awaitable[Any]], n: int, repeats: int,
                 between: Callable[[], Awaitable[Any]] | None = None) -> float:
    """:func:`timed` for a coroutine function (run in Trio; ``between`` runs untimed after each call)."""
    best = float("inf")
    for _ in range(repeats):
        samples = []
        for _ in range(n):
            t0 = time.perf_counter_ns()
            await fn()
            samples.append(time.perf_counter_ns() - t0)
            if between is not None:
                await between()
        best = min(best, statistics.median(samples) / 1000)
    return best


# ---- risk ---------------------------------------------------------------------------------------

def risk_inputs() -> tuple[RiskEngine, RiskState, dict[str, OrderIntent]]:
    """A running day: two held positions (one hedged), a resting buy and a resting sell."""
    close = window_containing(NOW).close_time
    cur, prev, nxt = market_ticker(close), market_ticker(close - timedelta(minutes=15)), \
        market_ticker(close + timedelta(minutes=15))
    p = Portfolio(cash_cc=10_000_000)
    for ticker, side, count, price in ((cur, Side.YES, 40, 4200), (cur, Side.NO, 10, 5500),
                                       (nxt, Side.NO, 25, 3100), (prev, Side.YES, 5, 9000)):
        p = p.apply_fill(Fill(ticker, side, Action.BUY, count, price, 70, NOW - timedelta(minutes=5)))
    resting = (RestingOrder(cur, Side.YES, Action.BUY, 15, 4100), RestingOrder(cur, Side.YES, Action.SELL, 10, 4800))
    state = RiskState(portfolio=p, ledger=DayLedger(NOW.date(), -25_000), resting=resting,
                      book_age_seconds=0.05, index_age_seconds=0.4)
    limits = RiskLimits(max_position_size_cc=10_000_000, max_concurrent_positions=5,
                        max_daily_loss_cc=5_000_000, max_window_exposure_cc=10_000_000)
    intents = {"approved buy": OrderIntent(cur, Side.YES, Action.BUY, 30, 4300),
               "reduced buy": OrderIntent(cur, Side.YES, Action.BUY, 9000, 4300),
               "sale": OrderIntent(cur, Side.YES, Action.SELL, 20, 4400)}
    return RiskEngine(limits), state, intents


def bench_risk(n: int, repeats: int) -> dict[str, float]:
    engine, state, intents = risk_inputs()
    out: dict[str, float] = {}
    out["day ledger (rolled)"] = timed(lambda: state.ledger.rolled(NOW, state.portfolio), n, repeats)
    out["RiskState"] = timed(lambda: RiskState(
        portfolio=state.portfolio, ledger=state.ledger, breaker_status=BreakerStatus.RUNNING,
        resting=list(state.resting), book_age_seconds=0.05, index_age_seconds=0.4), n, repeats)
    for name, intent in intents.items():
        out[f"check: {name}"] = timed(lambda i=intent: engine.check(i, state, NOW), n, repeats)  # type: ignore[misc]
    # the same buy as a day's first order: nothing held, reduced to the daily-loss limit
    fresh = RiskState(portfolio=Portfolio(cash_cc=10_000_000), ledger=state.ledger, book_age_seconds=0.05,
                      index_age_seconds=0.4)
    out["check: reduced buy, nothing held"] = timed(lambda: engine.check(intents["reduced buy"], fresh, NOW), n,
                                                    repeats)
    out["signal + verdict records"] = timed(lambda: (records.Signal(
        ts=NOW, strategy="fair_value", ticker=intents["sale"].ticker, side="yes", action="buy", price_cc=4300,
        count=30, fair_prob=0.47, edge=0.04, confidence=0.8, reason="edge 4.0c"), records.RiskVerdict(
        signal_id=1, ts=NOW, approved=True, reason_code="approved", detail="all limits pass")), n, repeats)
    return out


# ---- intent write -------------------------------------------------------------------------------

async def bench_intent(n: int, repeats: int) -> dict[str, float]:
    ticker = risk_inputs()[2]["sale"].ticker
    signal = records.Signal(ts=NOW, strategy="fair_value", ticker=ticker, side="yes", action="buy",
                            price_cc=4300, count=30, fair_prob=0.47, edge=0.04, confidence=0.8, reason="edge 4.0c")
    verdict = records.RiskVerdict(signal_id=1, ts=NOW, approved=True, reason_code="approved",
                                  detail="all limits pass")

    def intent(cid: str) -> records.OrderIntent:
        return records.OrderIntent(client_order_id=cid, ts=NOW, strategy="fair_value", ticker=ticker, side="yes",
                                   action="buy", price_cc=4300, count=30, tif="immediate_or_cancel")

    out = {"intent record": timed(lambda: intent(CID), n, repeats)}
    with tempfile.TemporaryDirectory() as tmp:
        async with open_journal(Path(tmp) / "bench.sqlite3", "live") as journal:
            counter = iter(range(10**9))
            made: list[records.OrderIntent] = []

            async def decide() -> None:
                await journal.record_decision(signal, verdict, made.pop())

            async def between() -> None:
                made.append(intent(f"{CID[:-8]}{next(counter):08d}"))
                if journal.statistics().intents_unsynced > 50:  # keep the log from filling up, untimed
                    await journal.get_meta("bench")

            await between()
            out["Journal.record_decision"] = await atimed(decide, n, repeats, between)
    return out


# ---- submit -> socket ---------------------------------------------------------------------------

class NullStream(trio.abc.Stream):
    """A stream that takes every write at once and has nothing to read."""

    async def send_all(self, data: bytes | bytearray | memoryview) -> None:
        pass

    async def wait_send_all_might_not_block(self) -> None:
        pass

    async def receive_some(self, max_bytes: int | None = None) -> bytes:
        return b""

    async def aclose(self) -> None:
        pass


async def bench_submit(n: int, repeats: int) -> dict[str, float]:
    ticker = risk_inputs()[2]["sale"].ticker
    request = OrderRequest(ticker=ticker, side="yes", action="buy", count=30, price_cc=4300, client_order_id=CID,
                           time_in_force="immediate_or_cancel")
    out = {"OrderRequest": timed(lambda: OrderRequest(
        ticker=ticker, side="yes", action="buy", count=30, price_cc=4300, client_order_id=CID,
        time_in_force="immediate_or_cancel"), n, repeats)}
    out["request body"] = timed(lambda: ow.encode_create(request), n, repeats)
    lane = OrderLane("127.0.0.1", 8080, tls=False)
    headers = [("KALSHI-ACCESS-KEY", "k" * 36), ("KALSHI-ACCESS-TIMESTAMP", "1796353520123"),
               ("KALSHI-ACCESS-SIGNATURE", "s" * 344)]
    body = ow.encode_create(request)
    conns: list[LaneConnection] = []

    async def send() -> None:
        content = ow.body_bytes(body)  # as KalshiRest._lane_send encodes it
        await lane.send(conns.pop(), "/trade-api/v2/portfolio/events/orders", headers, content, deadline=1e9)

    async def fresh() -> None:
        conns.append(LaneConnection(NullStream(), None, h11.Connection(h11.CLIENT), 0.0))  # type: ignore[arg-type]

    await fresh()
    out["lane send (JSON, request bytes)"] = await atimed(send, n, repeats, fresh)
    limiter = RateLimiter(RateLimits(write_per_s=1e9, write_capacity=1e9))
    out["rate limiter"] = timed(lambda: limiter.try_acquire_write(10), n, repeats)
    return out


# ---- feed framing -------------------------------------------------------------------------------

class ScriptedStream(NullStream):
    """Hands out one prepared read per ``receive_some``."""

    def __init__(self) -> None:
        self.reads: list[bytes] = []

    async def receive_some(self, max_bytes: int | None = None) -> bytes:
        return self.reads.pop()


def server_frames(ticker: str, count: int, seq: int) -> bytes:
    server = WSConnection(ConnectionType.SERVER)
    client = WSConnection(ConnectionType.CLIENT)
    server.receive_data(client.send(Request(host="x", target="/")))
    next(server.events())
    server.send(AcceptConnection())
    return b"".join(server.send(TextMessage(DELTA % (seq + i, ticker))) for i in range(count))


async def bench_feed(n: int, repeats: int) -> dict[str, float]:
    ticker = risk_inputs()[2]["sale"].ticker
    stream = ScriptedStream()
    proto = WSConnection(ConnectionType.CLIENT)
    server = WSConnection(ConnectionType.SERVER)
    server.receive_data(proto.send(Request(host="x", target="/")))
    next(server.events())
    proto.receive_data(server.send(AcceptConnection()))
    list(proto.events())
    ws = WsClient(stream, proto, max_message_size=1 << 20, receive_bytes=1 << 16)
    one, burst = server_frames(ticker, 1, 2), server_frames(ticker, 8, 2)

    async def read(data: bytes) -> None:
        stream.reads.append(data)
        await ws.receive_batch()

    out = {"receive_batch, 1 frame": await atimed(lambda: read(one), n, repeats)}
    out["receive_batch, 8 frames (per message)"] = await atimed(lambda: read(burst), n, repeats) / 8
    book = Book(ticker)
    book.apply_snapshot([(p, 1000 + p) for p in range(1000, 4400, 100)],
                        [(p, 900 + p) for p in range(1000, 5600, 100)], exchange_ts=NOW, local_time=0.0)
    step = iter(range(10**9))

    def delta() -> None:  # takes 12 contracts off the best YES bid, then puts them back
        book.apply_delta("yes", 4300, -1200 if next(step) % 2 == 0 else 1200, exchange_ts=NOW, local_time=0.0)
        book.snapshot()

    out["book: apply_delta + snapshot (34 + 46 levels)"] = timed(delta, n, repeats)
    return out


# ---- the stages ---------------------------------------------------------------------------------

class AnsweringExchange:
    """``submit`` notes when it was called and returns at once (the request's bytes are
    ``submit -> socket``'s figure)."""

    def __init__(self) -> None:
        self.called_ns = 0

    async def submit(self, request: OrderRequest) -> object:
        self.called_ns = time.perf_counter_ns()
        return request


def stage_pipeline(journal: Any) -> Pipeline:
    """A ready daemon's shared state: both strategies trading often (as ``bench_tick_to_order.py`` sets
    them), the current window's market followed, a warm volatility estimate, no position."""
    window = window_containing(NOW)
    ticker = market_ticker(window.close_time)
    state = TradingState(mode="live", portfolio=Portfolio(10_000_000), ledger=DayLedger(NOW.date(), 0),
                         breaker=Breaker.start(NOW, 10_000_000), ready=True)
    state.current_market = Market(ticker=ticker, event_ticker="E", status="active", open_time=window.open_time,
                                  close_time=window.close_time, floor_strike=Decimal("150"))
    registry = StrategyRegistry.from_config(["kelly_volatility", "mean_reversion"], {
        "kelly_volatility": {"min_edge": 0, "kelly_fraction": 0.01},
        "mean_reversion": {"min_edge": 0, "kelly_fraction": 0.01, "zscore_threshold_medium": 0.5,
                           "zscore_threshold_high": 1.0}})
    state.follow = FollowMarkets((MarketInfo(ticker, window.open_time, window.close_time, 150.0),), ticker)
    return Pipeline(state=state, registry=registry, journal=journal)


def finish(p: Pipeline, client_order_id: str) -> None:
    """The order has ended: it leaves the live book (untimed; keeps the book from growing)."""
    live = p.orders.get(client_order_id)
    if live is not None:
        p.orders.finish(live)


def book(ticker: str, yes_size: int) -> OrderBook:
    """A book whose asks sit below the strategy's fair value (sizes in hundredths of a contract)."""
    return OrderBook.from_exact(ticker, [(4200, yes_size * 100), (4100, 30_000)],
                                [(5500, 8_000), (5400, 20_000)], exchange_ts=NOW)


async def bench_stages(n: int, repeats: int) -> dict[str, float]:
    out: dict[str, float] = {}
    with tempfile.TemporaryDirectory() as tmp:
        async with open_journal(Path(tmp) / "bench.sqlite3", "live") as journal:
            p = stage_pipeline(journal)
            strategy = StrategyStage(p)
            strategy.follow(p.state.follow)  # as the stage does before it folds its first event
            ticker = strategy.tracker.tickers()[0]
            # an index print a second over the last ten minutes, around the strike: the estimate is warm
            start = NOW - timedelta(minutes=10)
            for i in range(600):
                value = Decimal(150) + Decimal((i * 37) % 23 - 11) / 100
                strategy._fold(IndexPrinted(IndexPrint(INDEX_ID, value, start + timedelta(seconds=i), float(i)),
                                            float(i)))
            books = [BookUpdated(book(ticker, size), 0.0) for size in (100, 101)]
            flip = iter(range(10**9))
            proposals: list[Proposal] = []

            def on_book() -> None:
                strategy._fold(books[next(flip) % 2])
                proposals.extend(strategy._evaluate(trio.current_time()))
                for name in ("kelly_volatility", "mean_reversion"):
                    p.orders.release(name, ticker)

            on_book()
            if [q.signal.strategy for q in proposals] != ["kelly_volatility"]:
                raise RuntimeError("the strategy bench's book must yield a proposal")
            out["strategy: book -> Proposal"] = timed(on_book, n, repeats)
            strategy.record = lambda row: None  # as with recording on: each evaluation's row is built
            out["strategy: book -> Proposal, recording on"] = timed(on_book, n, repeats)
            strategy.record = None
            proposal = proposals[0]

            def after_send() -> None:
                strategy._announce(proposal.signal)
                strategy._publish_snapshot()

            out["strategy: after the hand-over (signal, snapshot)"] = timed(after_send, n, repeats)

            risk = RiskStage(p, RiskEngine(RiskLimits(
                max_position_size_cc=10**9, max_concurrent_positions=50, max_daily_loss_cc=10**9,
                max_window_exposure_cc=10**9)))
            approved_send, approved_recv = trio.open_memory_channel[Any](math.inf)
            approved: list[ApprovedOrder] = []

            fresh = [proposal]

            async def on_proposal() -> None:
                await risk._on_proposal(fresh[0], approved_send)

            async def forget() -> None:
                fresh[0] = attrs.evolve(proposal, data_local_time=trio.current_time())  # a fresh book
                item = approved_recv.receive_nowait()
                approved.append(item)
                if len(approved) > 1:
                    finish(p, approved.pop(0).client_order_id)

            out["risk: Proposal -> ApprovedOrder sent"] = await atimed(on_proposal, n, repeats, forget)

            exchange = AnsweringExchange()
            p.exchange = exchange  # type: ignore[assignment]
            clock = ExchangeClock()
            clock.observe(NOW, trio.current_time())
            execution = ExecutionStage(p, clock, ExecutionSettings())
            pending: list[ApprovedOrder] = []

            to_submit: list[int] = []

            async def send_here() -> None:
                t0 = time.perf_counter_ns()
                if await execution._send_here(pending[-1]) is None:
                    raise RuntimeError("the execution bench's order went the task way")
                to_submit.append(exchange.called_ns - t0)

            async def next_order() -> None:
                item = pending.pop()
                execution._order_slots.release_on_behalf_of(item.client_order_id)
                finish(p, item.client_order_id)
                await risk._on_proposal(attrs.evolve(proposal, data_local_time=trio.current_time()),
                                        approved_send)
                pending.append(approved_recv.receive_nowait())
                if journal.statistics().intents_unsynced > 50:  # keep the log from filling up, untimed
                    await journal.get_meta("bench")

            await risk._on_proposal(attrs.evolve(proposal, data_local_time=trio.current_time()), approved_send)
            pending.append(approved_recv.receive_nowait())
            out["execution: ApprovedOrder -> submit returned (journal inline)"] = await atimed(
                send_here, n, repeats, next_order)
            # the same calls, up to the moment submit is called (lowest median of the runs, as above)
            out["execution: ApprovedOrder -> submit called"] = min(
                statistics.median(to_submit[i * n:(i + 1) * n]) for i in range(repeats)) / 1000
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=3000, help="calls per run (default 3000)")
    ap.add_argument("--repeats", type=int, default=5, help="runs per figure; the lowest median is kept")
    args = ap.parse_args()
    n, r = args.n, args.repeats
    # as the daemon logs: JSON lines queued to the writer thread (here into the null device)
    with open(os.devnull, "w") as sink:
        configure_logging(fmt="json", stream=sink)
        try:
            run_sections(n, r)
        finally:
            shutdown_logging()


def run_sections(n: int, r: int) -> None:
    sections: list[tuple[str, dict[str, float]]] = [
        ("feed (framing)", trio.run(bench_feed, n, r)),
        ("stages (each stage's handling of one order)", trio.run(bench_stages, n, r)),
        ("risk check", bench_risk(n, r)),
        ("intent write", trio.run(bench_intent, n, r)),
        ("submit -> socket", trio.run(bench_submit, n, r)),
    ]
    print(f"median µs per call, lowest of {r} runs of {n} calls")
    for title, figures in sections:
        print(f"\n{title}")
        for name, us in figures.items():
            print(f"  {name:<52} {us:8.1f}")


if __name__ == "__main__":
    main()
