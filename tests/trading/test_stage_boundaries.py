"""Each stage keeps its state to itself: the others learn of it by message or from its snapshot.

The strategy stage's market tracker is its own (no other module of the trading package reaches it);
the markets room tells the strategy which markets to follow with a message the stage applies in its
own turn, and records where; risk takes the exchange time and its marks from the strategy stage's
published snapshot.
"""

from __future__ import annotations

import ast
from datetime import timedelta
from pathlib import Path
from typing import Any

import attrs
import trio
import trio.testing

from kalshid.core.markets import market_ticker
from kalshid.core.portfolio import Fill
from kalshid.core.risk import RiskEngine, RiskLimits
from kalshid.core.signals import BookTop
from kalshid.core.tracker import MarketInfo
from kalshid.core.vocab import Action, Side
from kalshid.exchange import base
from kalshid.research.recording import MarketsFollowed
from kalshid.store import Journal
from kalshid.trading.messages import FollowMarkets, Pipeline, SetEntries, StrategySnapshot, ask
from kalshid.trading.risk import RiskStage
from kalshid.trading.strategy import StrategyStage
from tests.trading.stagekit import CLOSE, NOW, TICKER, StageChannels, book_event, index_event, pipeline

TRADING = Path(__file__).resolve().parents[2] / "kalshid" / "trading"
NEXT = market_ticker(CLOSE + timedelta(minutes=15))
LIMITS = RiskLimits(max_position_size_cc=10_000_000, max_concurrent_positions=10, max_daily_loss_cc=10_000_000,
                    max_window_exposure_cc=10_000_000)


def info(ticker: str, close_offset_min: int = 0) -> MarketInfo:
    close = CLOSE + timedelta(minutes=close_offset_min)
    return MarketInfo(ticker, close - timedelta(minutes=15), close, 150.0)


def test_the_market_tracker_is_the_strategy_stage_s_alone() -> None:
    """The pipeline's shared context has no tracker, and no trading module but the strategy stage's
    reads an attribute called ``tracker``."""
    assert "tracker" not in attrs.fields_dict(Pipeline)
    readers = set()
    for path in sorted(TRADING.glob("*.py")):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        if any(isinstance(node, ast.Attribute) and node.attr == "tracker" for node in ast.walk(tree)):
            readers.add(path.name)
    assert readers == {"strategy.py"}


async def test_the_strategy_applies_the_markets_message_in_its_own_turn_and_records_where(
        journal: Journal) -> None:
    p = pipeline(journal)
    rows: list[object] = []
    stage = StrategyStage(p, record=rows.append)
    p.state.follow = FollowMarkets((info(TICKER),), TICKER)
    ch = StageChannels.open()

    def followed() -> list[MarketsFollowed]:
        return [r for r in rows if isinstance(r, MarketsFollowed)]

    async with trio.open_nursery() as nursery:
        nursery.start_soon(stage.run, *ch.stage_ends())
        await trio.testing.wait_all_tasks_blocked()
        assert stage.tracker.tickers() == [] and followed() == []  # nothing folded yet: not applied
        ch.md.send_nowait(index_event(1, "150.10"))
        ch.md.send_nowait(book_event(1, 4000))
        await trio.testing.wait_all_tasks_blocked()
        assert stage.tracker.tickers() == [TICKER]
        assert followed() == [MarketsFollowed((TICKER,), TICKER, 0)]  # before the first event it folded
        assert TICKER in p.snapshots.strategy.tops

        # the markets room rolls over: nothing changes until the stage's next turn
        p.state.follow = FollowMarkets((info(NEXT, 15),), NEXT)
        assert stage.tracker.tickers() == [TICKER]
        ch.md.send_nowait(index_event(2, "150.20"))
        await trio.testing.wait_all_tasks_blocked()
        assert stage.tracker.tickers() == [NEXT]
        assert followed()[-1] == MarketsFollowed((NEXT,), NEXT, 2)
        assert p.snapshots.strategy.tops == {}  # the old market's book is no longer followed

        ch.md.send_nowait(index_event(3, "150.30"))  # the same message: applied once, recorded once
        await trio.testing.wait_all_tasks_blocked()
        assert len(followed()) == 2
        await ch.md.aclose()


async def test_risk_takes_exchange_time_and_marks_from_the_strategy_snapshot(journal: Journal) -> None:
    p = pipeline(journal)
    p.snapshots.strategy = StrategySnapshot()  # no market data published yet
    p.state.portfolio = p.state.portfolio.apply_fill(Fill(TICKER, Side.YES, Action.BUY, 10, 4000, 0, NOW))
    risk = RiskStage(p, RiskEngine(LIMITS))
    inbox_send, inbox = trio.open_memory_channel[Any](10)
    orders, _orders_recv = trio.open_memory_channel[Any](10)
    with trio.fail_after(5):
        async with trio.open_nursery() as nursery:
            nursery.start_soon(risk.run, inbox, orders)
            early = SetEntries(False, "operator stop-entry")
            await ask(inbox_send, early, stage="risk")
            assert early.refused is not None and "no market data has arrived yet" in early.refused
            assert risk.marks() == {}

            top = BookTop(TICKER, 4200, 5, 5600, 5, NOW)
            p.snapshots.strategy = StrategySnapshot(tops={TICKER: top}, data_time=NOW)
            assert risk.now() == NOW
            assert risk.marks() == {TICKER: 4300}  # the YES mid of the published book
            later = SetEntries(False, "operator stop-entry")
            await ask(inbox_send, later, stage="risk")
            assert later.refused is None
            await inbox_send.aclose()


async def test_a_book_gone_stale_leaves_the_snapshot_and_risk_s_marks_at_once(journal: Journal) -> None:
    """A batch of the strategy's inbox with nothing to evaluate (a stale mark) still republishes the
    snapshot when it changed, so risk never marks a position to a book the feed lost."""
    p = pipeline(journal)
    p.state.portfolio = p.state.portfolio.apply_fill(Fill(TICKER, Side.YES, Action.BUY, 10, 4000, 0, NOW))
    p.state.follow = FollowMarkets((info(TICKER),), TICKER)
    stage = StrategyStage(p)
    risk = RiskStage(p, RiskEngine(LIMITS))
    ch = StageChannels.open()
    async with trio.open_nursery() as nursery:
        nursery.start_soon(stage.run, *ch.stage_ends())
        ch.md.send_nowait(book_event(1, 4000))
        await trio.testing.wait_all_tasks_blocked()
        assert risk.marks() == {TICKER: 4500}
        assert p.snapshots.strategy.book_age_seconds(TICKER) == stage.tracker.book_age_seconds(TICKER) == 0.0
        ch.md.send_nowait(base.FeedStale(TICKER, "seq gap", 1.5))
        await trio.testing.wait_all_tasks_blocked()
        assert risk.marks() == {} and p.snapshots.strategy.book_age_seconds(TICKER) is None
        assert risk.now() == NOW + timedelta(seconds=1)
        await ch.md.aclose()
