"""The strategy stage on its own: bursts folded in order and evaluated once, evaluations only on a change,
signals held back while the breaker is halted."""

from __future__ import annotations

from datetime import timedelta

import attrs
import trio
import trio.testing
from pytest import approx
from structlog.testing import capture_logs

from kalshid.core.book import OrderBook
from kalshid.core.breaker import BreakerStatus
from kalshid.core.signals import BookTop, IndexPrint, MarketView, Signal
from kalshid.core.strategies.base import PriceHistory
from kalshid.core.vocab import Action, Side
from kalshid.exchange import base
from kalshid.store import Journal
from kalshid.trading.messages import Proposal
from kalshid.trading.strategy import StrategyStage
from tests.trading.stagekit import (
    NOW,
    TICKER,
    RecordingStrategy,
    StageChannels,
    book_event,
    index_event,
    strategy_pipeline,
)


async def test_the_strategy_stage_folds_a_burst_in_order_and_evaluates_once(journal: Journal) -> None:
    """Everything waiting in the inbox is folded, in order, before one evaluation on the final
    state; nothing in the burst is skipped (every print reaches the strategy's history, a stale mark
    and a lifecycle event take effect)."""
    strategy = RecordingStrategy()
    p = strategy_pipeline(journal, strategy)
    stage = StrategyStage(p)
    ch = StageChannels.open()
    burst: list[base.FeedEvent] = [index_event(1, "150.10"), book_event(1, 4000), index_event(2, "150.20"),
                                   base.FeedStale(TICKER, "seq gap", 2.5), index_event(3, "150.30"),
                                   base.MarketLifecycle(TICKER, "activated", 3.5), book_event(4, 4100),
                                   index_event(4, "150.40")]
    for event in burst:
        ch.md.send_nowait(event)
    async with trio.open_nursery() as nursery:
        nursery.start_soon(stage.run, *ch.stage_ends())
        await trio.testing.wait_all_tasks_blocked()
        assert len(strategy.calls) == 1
        now, current, history, top = strategy.calls[0]
        assert now == NOW + timedelta(seconds=4)
        assert (current, history) == (150.40, (150.10, 150.20, 150.30))
        assert top is not None and top.yes_bid_cc == 4100  # the book after the stale mark, not before
        assert p.markets_changed.is_set()

        ch.md.send_nowait(book_event(5, 4000))  # on its own: one more evaluation
        ch.md.send_nowait(base.FeedStale(TICKER, "seq gap", 5.5))
        await trio.testing.wait_all_tasks_blocked()
        assert len(strategy.calls) == 2
        assert strategy.calls[1][3] is None  # stale at evaluation time: no book for the strategy
        await ch.md.aclose()
    assert len(strategy.calls) == 2
    # nothing was proposed (the strategy never trades) and no window is near its close
    assert ch.proposals.statistics().current_buffer_used == ch.closing.statistics().current_buffer_used == 0


async def test_the_strategy_stage_evaluates_only_when_an_input_changed(journal: Journal) -> None:
    """kalshid.core.decision, "When to evaluate": a book that only re-confirms the top is folded
    without an evaluation; a new price at the touch and a new index print each trigger one."""
    strategy = RecordingStrategy()
    p = strategy_pipeline(journal, strategy)
    stage = StrategyStage(p)
    stage.tracker.on_index(IndexPrint(NOW, 150.0))  # exchange time is known before the first book
    ch = StageChannels.open()
    async with trio.open_nursery() as nursery:
        nursery.start_soon(stage.run, *ch.stage_ends())
        for event, calls in ((book_event(1, 4000), 1), (book_event(2, 4000), 1), (book_event(3, 4100), 2),
                             (index_event(4, "150.10"), 3), (index_event(4, "150.20"), 3)):
            ch.md.send_nowait(event)
            await trio.testing.wait_all_tasks_blocked()
            assert len(strategy.calls) == calls, event  # the same top again, or a replayed print: nothing
        await ch.md.aclose()
    assert stage.received == 5




async def test_a_crossed_book_is_stale_to_the_strategies_and_said_once_until_a_book_is_taken_again(
        journal: Journal) -> None:
    """A crossed book (YES 60¢ + NO 50¢ bids) is refused by the tracker and the market is stale to the
    strategies; it comes again with every update until it uncrosses, and is said once (a warning),
    counted each time; the next book taken is said too, and a later crossing is said again."""
    strategy = RecordingStrategy()
    p = strategy_pipeline(journal, strategy)
    stage = StrategyStage(p)
    stage.tracker.on_index(IndexPrint(NOW, 150.0))

    def crossed(second: int) -> base.BookUpdated:
        book = OrderBook(TICKER, ((6_000, 10),), ((5_000, 10),), exchange_ts=NOW + timedelta(seconds=second))
        return base.BookUpdated(book, float(second))

    ch = StageChannels.open()
    with capture_logs() as logs:
        async with trio.open_nursery() as nursery:
            nursery.start_soon(stage.run, *ch.stage_ends())
            events: list[base.FeedEvent] = [book_event(1, 4000), crossed(2), index_event(2, "150.10"), crossed(3),
                                            crossed(4), book_event(5, 4100), crossed(6)]
            for event in events:
                ch.md.send_nowait(event)
                await trio.testing.wait_all_tasks_blocked()
            await ch.md.aclose()
    # evaluated on the book, on the print while crossed (no book: stale), on the next book taken
    assert [c[3].yes_bid_cc if c[3] else None for c in strategy.calls] == [4000, None, 4100]
    said = [(e["log_level"], e["event"].split(";")[0]) for e in logs if e.get("market") == TICKER]
    assert said == [("warning", "book rejected by the tracker"), ("info", "book taken again"),
                    ("warning", "book rejected by the tracker")]
    assert stage.counters.view["books_refused"] == 4


class BuysYes(RecordingStrategy):
    """Signals a buy of one YES at the ask on every evaluation with a book."""

    name = "buys_yes"

    def analyze(self, market: MarketView, current_price: IndexPrint | None, price_history: PriceHistory,
                orderbook: BookTop | None) -> Signal | None:
        super().analyze(market, current_price, price_history, orderbook)
        if orderbook is None or orderbook.yes_ask_cc is None:
            return None
        return Signal(strategy=self.name, ticker=market.ticker, side=Side.YES, action=Action.BUY,
                      price_cc=orderbook.yes_ask_cc, count=1, fair_prob=0.9, edge=0.1, confidence=1.0,
                      reason="test", created_at=market.now)


async def test_a_halted_breaker_suppresses_signals_until_it_is_reset(journal: Journal) -> None:
    """While the risk stage's breaker is HALTED the strategies are evaluated but nothing is proposed (no
    rejection per signal downstream); once it runs again, the next signal is proposed."""
    strategy = BuysYes()
    p = strategy_pipeline(journal, strategy)
    p.state.breaker = attrs.evolve(p.state.breaker, status=BreakerStatus.HALTED)
    p.publish_risk()
    stage = StrategyStage(p)
    stage.tracker.on_index(IndexPrint(NOW, 150.0))
    ch = StageChannels.open()
    async with trio.open_nursery() as nursery:
        nursery.start_soon(stage.run, *ch.stage_ends())
        ch.md.send_nowait(book_event(1, 4000))
        await trio.testing.wait_all_tasks_blocked()
        assert len(strategy.calls) == 1  # evaluated: the strategy's state stays current
        assert ch.proposals.statistics().current_buffer_used == 0
        assert stage.counters.view["signals_suppressed"] == 1

        p.state.breaker = attrs.evolve(p.state.breaker, status=BreakerStatus.RUNNING)  # the operator's reset
        p.publish_risk()
        ch.md.send_nowait(book_event(2, 4100))
        await trio.testing.wait_all_tasks_blocked()
        proposal = ch.proposals.receive_nowait()
        assert isinstance(proposal, Proposal) and proposal.signal.strategy == "buys_yes"
        assert stage.counters.view["signals_suppressed"] == 1
        await ch.md.aclose()


class PricesWhileTold(RecordingStrategy):
    """Records like ``RecordingStrategy``; its fair value after each call is the next of ``fairs``."""

    name = "prices"

    def __init__(self, fairs: list[float | None]) -> None:
        super().__init__()
        self.fairs = fairs

    def analyze(self, market: MarketView, current_price: IndexPrint | None, price_history: PriceHistory,
                orderbook: BookTop | None) -> Signal | None:
        super().analyze(market, current_price, price_history, orderbook)
        self.last_fair_yes = self.fairs[len(self.calls) - 1]
        return None


async def test_the_fair_value_and_edges_shown_are_the_latest_evaluations_never_older_ones(
        journal: Journal) -> None:
    """/api/markets shows the fair value and edges of the strategy's latest evaluation: when it prices
    nothing (a cold volatility, the market closed) none is shown, and a side without an ask has no edge."""
    strategy = PricesWhileTold([0.6, 0.55, None])
    stage = StrategyStage(strategy_pipeline(journal, strategy))
    stage.tracker.on_index(IndexPrint(NOW, 150.0))
    ch = StageChannels.open()
    shown: list[tuple[dict[str, float], dict[str, float]]] = []
    async with trio.open_nursery() as nursery:
        nursery.start_soon(stage.run, *ch.stage_ends())
        one_sided = base.BookUpdated(OrderBook(TICKER, ((4_100, 10),), (), exchange_ts=NOW + timedelta(seconds=2)),
                                     2.0)
        for event in (book_event(1, 4000), one_sided, index_event(3, "150.10")):
            ch.md.send_nowait(event)
            await trio.testing.wait_all_tasks_blocked()
            shown.append((dict(stage.last_fair.get(TICKER, {})), dict(stage.last_edge.get(TICKER, {}))))
        await ch.md.aclose()
    assert len(strategy.calls) == 3
    # YES bid 40c, NO bid 50c: YES ask 50c, NO ask 60c
    assert shown[0] == ({"prices": 0.6}, {"prices:yes": approx(0.1), "prices:no": approx(-0.2)})
    # no NO bid, so no YES ask: the YES edge goes, the NO ask is 59c
    assert shown[1] == ({"prices": 0.55}, {"prices:no": approx(-0.14)})
    assert shown[2] == ({}, {})  # priced nothing: nothing older is shown
