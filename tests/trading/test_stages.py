"""The risk and execution stages on their own: what the whole-daemon tests cannot pin down."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import attrs
import pytest
import trio
import trio.testing

from kalshid.core.breaker import Breaker, BreakerStatus
from kalshid.core.markets import market_ticker
from kalshid.core.orders import OrderPhase
from kalshid.core.portfolio import Fill as PortfolioFill
from kalshid.core.portfolio import Portfolio
from kalshid.core.risk import DayLedger, RiskEngine, RiskLimits
from kalshid.core.signals import Signal
from kalshid.core.sizing import all_in_cost_cc, max_count_within
from kalshid.core.vocab import Action, Side
from kalshid.exchange.base import UnsentOrder
from kalshid.exchange.types import Fill, Order, OrderRequest
from kalshid.store import Journal, open_journal, records
from kalshid.trading.exchangeclock import ExchangeClock
from kalshid.trading.execution import ExecutionSettings, ExecutionStage
from kalshid.trading.messages import (
    ApprovedOrder,
    FillBooked,
    LiveOrder,
    Proposal,
    ResetBreaker,
    SetEntries,
    SettlementBooked,
    SetTrading,
    ShutdownRequested,
    ask,
)
from kalshid.trading.risk import RiskStage
from tests.trading.stagekit import NOW, TICKER, pipeline, proposal, risk_stage, yes_settlement


async def test_risk_counts_an_approved_order_before_execution_has_taken_it(journal: Journal) -> None:
    """Two proposals on one tick, execution not yet scheduled: the second is checked against the first."""
    p = pipeline(journal)
    cap = all_in_cost_cc(10, 5000)  # room for exactly one 10-lot at 50¢
    engine = RiskEngine(RiskLimits(max_position_size_cc=cap, max_concurrent_positions=10,
                                   max_daily_loss_cc=10_000_000, max_window_exposure_cc=cap))
    stage = RiskStage(p, engine)
    orders_send, orders_recv = trio.open_memory_channel[Any](10)  # nobody reads it during the checks
    await stage._on_proposal(proposal("kelly_volatility", 10), orders_send)
    await stage._on_proposal(proposal("mean_reversion", 10), orders_send)
    approved = []
    while True:
        try:
            approved.append(orders_recv.receive_nowait())
        except trio.WouldBlock:
            break
    assert [a.strategy for a in approved] == ["kelly_volatility"]
    reserved = p.orders.get(approved[0].client_order_id)  # registered before the hand-over
    assert reserved is not None and reserved.in_flight and reserved.phase is OrderPhase.INTENT
    assert p.snapshots.risk.counters.get("rejections") == 1


async def test_risk_does_not_wait_for_the_journal_before_the_next_proposal(journal: Journal,
                                                                             monkeypatch: Any) -> None:
    """A rejection's journal write is stuck (the journal's thread busy): the next proposal is still
    checked and approved at once; the rejection is written, in order, when the journal answers."""
    p = pipeline(journal)
    stage = risk_stage(p)
    gate = trio.Event()
    real = journal.record_rejection

    async def stuck(*args: Any) -> int:
        await gate.wait()
        return await real(*args)

    monkeypatch.setattr(journal, "record_rejection", stuck)
    inbox_send, inbox = trio.open_memory_channel[Any](10)
    orders, orders_recv = trio.open_memory_channel[Any](10)
    stale = attrs.evolve(proposal("mean_reversion", 10), book_age_seconds=3600.0)
    async with trio.open_nursery() as nursery:
        nursery.start_soon(stage.run, inbox, orders)
        await inbox_send.send(stale)
        await inbox_send.send(proposal("kelly_volatility", 10))
        with trio.fail_after(1):
            approved = await orders_recv.receive()
        assert approved.strategy == "kelly_volatility"
        assert p.snapshots.risk.counters.get("rejections") == 1
        assert (await journal.table_counts())["risk_verdicts"] == 0  # still queued behind the stuck write
        gate.set()
        await inbox_send.aclose()  # the stage ends; its writer finishes first
    counts = await journal.table_counts()
    assert counts["signals"] == 1 and counts["risk_verdicts"] == 1


class GatedExchange:
    """create_order answers only when the test opens the order's gate; records arrival order."""

    def __init__(self) -> None:
        self.arrived: list[str] = []
        self.senders: list[trio.lowlevel.Task] = []  # the task that called submit, per order
        self.gates: dict[str, trio.Event] = {}
        self.arrival = trio.Event()
        self.lookups: list[str] = []

    async def submit(self, request: OrderRequest) -> UnsentOrder:
        self.senders.append(trio.lowlevel.current_task())
        return UnsentOrder(self.create_order, request)

    async def create_order(self, request: OrderRequest) -> Order:
        self.arrived.append(request.client_order_id)
        self.arrival.set()
        gate = self.gates.setdefault(request.client_order_id, trio.Event())
        await gate.wait()
        return Order(order_id=f"o-{request.client_order_id[:8]}", client_order_id=request.client_order_id,
                     ticker=request.ticker, side=request.side, action=request.action,
                     status="canceled", yes_price_cc=request.price_cc, no_price_cc=10_000 - request.price_cc,
                     fill_count=0, remaining_count=0, initial_count=request.count)

    async def list_fills(self, *, ticker: str | None = None, since: datetime | None = None) -> list[Any]:
        return []  # the drain's catch-up: no fills (every order here ends canceled, unfilled)

    async def list_settlements(self, *, ticker: str | None = None, since: datetime | None = None) -> list[Any]:
        return []

    async def resolve_in_flight(self, client_order_id: str, *, ticker: str) -> Order | None:
        self.lookups.append(client_order_id)
        return None  # the drain's lookup of an unanswered order: not (yet) on the exchange

    async def wait_arrivals(self, n: int) -> None:
        while len(self.arrived) < n:
            self.arrival = trio.Event()
            await self.arrival.wait()


def approved(cid: str, strategy: str) -> ApprovedOrder:
    return ApprovedOrder(client_order_id=cid, signal_id=None, strategy=strategy, ticker=TICKER, side=Side.YES,
                         action=Action.BUY, count=1, price_cc=5000, time_in_force="immediate_or_cancel",
                         approved_at=NOW, data_local_time=trio.current_time())


class ExecutionRig:
    """An execution stage over a gated exchange, fed through its inbox; ``done`` once ``run`` returns."""

    def __init__(self, journal: Journal, settings: ExecutionSettings) -> None:
        self.p = pipeline(journal)
        self.exchange = GatedExchange()
        self.p.exchange = self.exchange  # type: ignore[assignment]  # duck-typed: orders, fills, settlements
        clock = ExchangeClock()
        clock.observe(NOW, trio.current_time())
        self.stage = ExecutionStage(self.p, clock, settings)
        self.inbox, self._inbox_recv = trio.open_memory_channel[Any](10)
        self._risk_send, self.risk = trio.open_memory_channel[Any](100)  # reports to risk, unread here
        self.done = trio.Event()

    async def run(self) -> None:
        await self.stage.run(self._inbox_recv, self._risk_send)
        self.done.set()


async def journal_states(journal: Journal) -> dict[str, str]:
    return {r.client_order_id: r.state.value for r in (await journal.list_orders()).items}


async def test_an_order_does_not_wait_for_another_orders_round_trip(journal: Journal) -> None:
    rig = ExecutionRig(journal, ExecutionSettings())
    with trio.fail_after(10):
        async with trio.open_nursery() as nursery:
            nursery.start_soon(rig.run)
            await rig.inbox.send(approved("a" * 32, "kelly_volatility"))
            await rig.exchange.wait_arrivals(1)
            # the first order's answer has not come back; the second goes out anyway
            await rig.inbox.send(approved("b" * 32, "mean_reversion"))
            await rig.exchange.wait_arrivals(2)
            assert rig.exchange.arrived == ["a" * 32, "b" * 32]
            for cid in rig.exchange.arrived:
                rig.exchange.gates[cid].set()
            # shutdown waits for the placements, which end with the exchange's answers
            await rig.inbox.send(ShutdownRequested())
    assert len(rig.p.orders) == 0
    assert await journal_states(journal) == {"a" * 32: "canceled", "b" * 32: "canceled"}


async def test_shutdown_waits_for_a_placement_in_progress(journal: Journal) -> None:
    rig = ExecutionRig(journal, ExecutionSettings(cancel_on_shutdown=False))
    with trio.fail_after(10):
        async with trio.open_nursery() as nursery:
            nursery.start_soon(rig.run)
            await rig.inbox.send(approved("c" * 32, "kelly_volatility"))
            await rig.exchange.wait_arrivals(1)
            await rig.inbox.send(ShutdownRequested())
            await trio.testing.wait_all_tasks_blocked()
            assert not rig.done.is_set()  # still waiting for the exchange's answer
            rig.exchange.gates["c" * 32].set()
            await rig.done.wait()
    assert await journal_states(journal) == {"c" * 32: "canceled"}  # the answer was booked, not abandoned


async def test_a_stop_waits_for_an_unanswered_order_only_within_its_budget(
        tmp_path: Path, autojump_clock: trio.abc.Clock) -> None:
    """The exchange never answers (a lost response): the stop does not wait out the order's 10 s
    timeout. Within the drain's first half the order is declared in flight, the drain looks it up by
    client_order_id, and what is still unknown stays in flight in the journal for the next start."""
    async with open_journal(tmp_path / "j.sqlite3", "sim", inline=True) as journal:
        rig = ExecutionRig(journal, ExecutionSettings(order_timeout_s=10.0, drain_timeout_s=4.0))
        async with trio.open_nursery() as nursery:
            nursery.start_soon(rig.run)
            await rig.inbox.send(approved("d" * 32, "kelly_volatility"))
            await rig.exchange.wait_arrivals(1)
            stopped_at = trio.current_time()
            await rig.inbox.send(ShutdownRequested())
            await rig.done.wait()
            took = trio.current_time() - stopped_at
        assert took <= 4.0, took  # the gate never opened: without the budget this is the full 10 s
        assert rig.exchange.lookups and set(rig.exchange.lookups) == {"d" * 32}
        assert await journal_states(journal) == {"d" * 32: "in_flight"}


def decided(cid: str, strategy: str) -> ApprovedOrder:
    """An approval as risk makes it: with the signal and verdict records journaled with the intent."""
    signal = records.Signal(ts=NOW, strategy=strategy, ticker=TICKER, side="yes", action="buy", price_cc=5000,
                            count=1, fair_prob=0.6, edge=0.05, confidence=1.0)
    verdict = records.RiskVerdict(signal_id=1, ts=NOW, approved=True, reason_code="approved")
    return attrs.evolve(approved(cid, strategy), signal_record=signal, verdict_record=verdict)


async def test_a_decided_order_is_sent_by_the_order_loop_itself_and_answered_in_a_task(journal: Journal) -> None:
    """No task start between the approval and the send: the loop journals and sends, a task awaits the
    answer. Without a free order slot the order takes the task way."""
    rig = ExecutionRig(journal, ExecutionSettings(max_parallel_orders=1, cancel_on_shutdown=False))
    loop_task: list[trio.lowlevel.Task] = []
    run = rig.stage.run

    async def run_recording(*args: Any) -> None:
        loop_task.append(trio.lowlevel.current_task())
        await run(*args)

    rig.stage.run = run_recording  # type: ignore[method-assign]
    with trio.fail_after(10):
        async with trio.open_nursery() as nursery:
            nursery.start_soon(rig.run)
            await rig.inbox.send(decided("e" * 32, "kelly_volatility"))
            await rig.exchange.wait_arrivals(1)
            assert rig.exchange.senders == loop_task  # sent in the loop's own step
            assert rig.exchange.arrived == ["e" * 32]
            assert (await journal_states(journal))["e" * 32] == "in_flight"  # journaled before the send
            # the first answer is still out and holds the only slot: the next order waits in a task
            await rig.inbox.send(decided("f" * 32, "mean_reversion"))
            await trio.testing.wait_all_tasks_blocked()
            assert len(rig.exchange.senders) == 1 and rig.exchange.arrived == ["e" * 32]
            rig.exchange.gates["e" * 32].set()
            await rig.exchange.wait_arrivals(2)
            assert rig.exchange.senders[1] is not loop_task[0]
            rig.exchange.gates["f" * 32].set()
            await rig.inbox.send(ShutdownRequested())
    assert await journal_states(journal) == {"e" * 32: "canceled", "f" * 32: "canceled"}
    assert len(rig.p.orders) == 0


def exchange_fill(fill_id: str, cid: str) -> Fill:
    return Fill(fill_id=fill_id, order_id=f"o-{cid[:8]}", ticker=TICKER, side="yes", action="buy", count=1,
                yes_price_cc=5000, no_price_cc=5000, is_taker=True, fee_cc=20, ts=NOW, client_order_id=cid)


async def test_a_catch_up_does_not_journal_fills_the_feed_already_booked(journal: Journal) -> None:
    rig = ExecutionRig(journal, ExecutionSettings())
    written: list[str] = []
    record_fill_parts = journal.record_fill_parts

    async def counting(parts: Any) -> list[bool]:
        written.extend(p.fill_id for p in parts)
        return await record_fill_parts(parts)

    journal.record_fill_parts = counting  # type: ignore[method-assign]
    cid = "d" * 32
    await journal.record_intent(intent_for(cid))
    await rig.stage.keeper.book_fill(exchange_fill("f-1", cid), rig._risk_send, source="feed")
    await rig.stage.keeper.book_fill(exchange_fill("f-2", cid), rig._risk_send, source="feed")
    # the REST catch-up returns the last seconds' fills again, plus one the feed missed
    rig.exchange.list_fills = lambda **_: _fills(exchange_fill("f-1", cid), exchange_fill("f-2", cid),  # type: ignore[method-assign]
                                                 exchange_fill("f-3", cid))
    await rig.stage.keeper.catch_up(rig._risk_send)
    assert written == ["f-1", "f-2", "f-3"]
    booked = [rig.risk.receive_nowait() for _ in range(3)]
    assert [b.fill.fill_id for b in booked] == ["f-1", "f-2", "f-3"]
    assert {b.strategy for b in booked} == {"kelly_volatility"}  # from the journal: no live order here
    assert [f.fill_id for f in await journal.all_fills()] == ["f-3", "f-2", "f-1"]


async def _fills(*fills: Fill) -> list[Fill]:
    return list(fills)


def intent_for(cid: str) -> records.OrderIntent:
    return records.OrderIntent(client_order_id=cid, ts=NOW, strategy="kelly_volatility", ticker=TICKER,
                               side="yes", action="buy", price_cc=5000, count=3, tif="immediate_or_cancel")


async def test_a_filled_order_answered_before_its_fills_keeps_its_strategy_busy_until_they_are_booked(
        journal: Journal) -> None:
    """The create's answer (executed, 3 filled) often comes before the feed's fill: until the fill is
    booked the strategy's holdings do not count it, so the strategy must not be asked again there (it
    would size its whole target a second time)."""
    rig = ExecutionRig(journal, ExecutionSettings())
    cid = "g" * 32
    await journal.record_intent(intent_for(cid))
    key = ("kelly_volatility", TICKER)
    rig.p.orders.reserve(LiveOrder(cid, "kelly_volatility", TICKER, Side.YES, Action.BUY, 5000, 3))
    executed = Order(order_id=f"o-{cid[:8]}", client_order_id=cid, ticker=TICKER, side="yes", action="buy",
                     status="executed", yes_price_cc=5000, no_price_cc=5000, fill_count=3, remaining_count=0,
                     initial_count=3)
    await rig.stage.keeper.on_order(executed, rig._risk_send, source="create")
    assert cid not in rig.p.orders
    assert rig.p.orders.is_busy(*key)  # finished, but its fill is not booked: still busy
    assert rig.p.orders.holdings.get(("kelly_volatility", TICKER, "yes"), 0) == 0
    fill = attrs.evolve(exchange_fill("f-9", cid), count=2)
    await rig.stage.keeper.book_fill(fill, rig._risk_send, source="feed")
    assert rig.p.orders.is_busy(*key)  # 2 of 3 booked
    await rig.stage.keeper.book_fill(attrs.evolve(exchange_fill("f-10", cid), count=1), rig._risk_send, source="feed")
    assert not rig.p.orders.is_busy(*key)
    assert rig.p.orders.holdings[("kelly_volatility", TICKER, "yes")] == 3


async def test_a_filled_order_whose_fills_were_booked_first_frees_its_strategy_at_once(journal: Journal) -> None:
    rig = ExecutionRig(journal, ExecutionSettings())
    cid = "h" * 32
    await journal.record_intent(intent_for(cid))
    key = ("kelly_volatility", TICKER)
    rig.p.orders.adopt(LiveOrder(cid, "kelly_volatility", TICKER, Side.YES, Action.BUY, 5000, 1,
                                 order_id=f"o-{cid[:8]}"))
    rig.p.orders.claim(*key)
    await rig.stage.keeper.book_fill(exchange_fill("f-11", cid), rig._risk_send, source="feed")
    executed = Order(order_id=f"o-{cid[:8]}", client_order_id=cid, ticker=TICKER, side="yes", action="buy",
                     status="executed", yes_price_cc=5000, no_price_cc=5000, fill_count=1, remaining_count=0,
                     initial_count=1)
    await rig.stage.keeper.on_order(executed, rig._risk_send, source="create")
    assert not rig.p.orders.is_busy(*key)


async def test_execution_publishes_its_snapshot_after_a_change_and_applies_start_stop_from_its_inbox(
        journal: Journal) -> None:
    rig = ExecutionRig(journal, ExecutionSettings(cancel_on_shutdown=False))
    cid = "k" * 32
    await journal.record_intent(intent_for(cid))
    rig.p.orders.reserve(LiveOrder(cid, "kelly_volatility", TICKER, Side.YES, Action.BUY, 5000, 3))
    before = rig.p.snapshots.execution
    assert before.orders.open_count == 0  # the reservation is on the order path: not published yet
    resting = Order(order_id=f"o-{cid[:8]}", client_order_id=cid, ticker=TICKER, side="yes", action="buy",
                    status="resting", yes_price_cc=5000, no_price_cc=5000, fill_count=1, remaining_count=2,
                    initial_count=3)
    await rig.stage.keeper.on_order(resting, rig._risk_send, source="feed")
    [view] = rig.p.snapshots.execution.orders.orders
    assert (view.phase, view.remaining, view.order_id) == ("partially_filled", 2, f"o-{cid[:8]}")
    assert before.orders.open_count == 0  # a published snapshot never changes

    stop = SetTrading(False, "operator stop")
    with trio.fail_after(5):
        async with trio.open_nursery() as nursery:
            nursery.start_soon(rig.run)
            await ask(rig.inbox, stop, stage="execution")
            assert not rig.p.snapshots.execution.trading_enabled and not rig.p.trading_enabled
            await rig.inbox.send(approved("m" * 32, "mean_reversion"))  # stopped: dropped, never sent
            await ask(rig.inbox, SetTrading(True, "operator start"), stage="execution")
            assert rig.p.snapshots.execution.trading_enabled
            await rig.inbox.send(ShutdownRequested())
    assert stop.refused is None and rig.exchange.arrived == []


async def test_risk_applies_stop_entry_and_breaker_reset_from_its_inbox_and_publishes_them(
        journal: Journal) -> None:
    p = pipeline(journal)
    stage = risk_stage(p)
    inbox_send, inbox = trio.open_memory_channel[Any](10)
    orders, _orders_recv = trio.open_memory_channel[Any](10)
    with trio.fail_after(5):
        async with trio.open_nursery() as nursery:
            nursery.start_soon(stage.run, inbox, orders)
            stop_entry = SetEntries(False, "operator stop-entry")
            await ask(inbox_send, stop_entry, stage="risk")
            assert stop_entry.refused is None
            assert p.snapshots.risk.breaker.status is BreakerStatus.REDUCING
            assert not p.snapshots.risk.entries_enabled
            p.state.breaker = Breaker(p.state.breaker.config, BreakerStatus.HALTED, p.state.breaker.day,
                                      p.state.breaker.day_start_equity_cc, p.state.breaker.peak_equity_cc)
            refused = SetEntries(True, "operator start")
            await ask(inbox_send, refused, stage="risk")
            assert refused.refused is not None and "tripped" in refused.refused
            await ask(inbox_send, ResetBreaker("operator"), stage="risk")
            assert p.snapshots.risk.breaker.status is BreakerStatus.RUNNING
            not_halted = ResetBreaker("operator")
            await ask(inbox_send, not_halted, stage="risk")
            assert not_halted.refused is not None  # nothing to reset: said so
            await inbox_send.aclose()


async def test_risk_counts_an_order_filled_but_not_booked_until_its_fills_are(journal: Journal) -> None:
    """The create's answer (executed, 10 filled) comes before the feed's fill: the order leaves the book,
    and until its fill is booked into the portfolio risk must still count those contracts, or another
    strategy's buy in the window is checked against a portfolio that lacks them."""
    rig = ExecutionRig(journal, ExecutionSettings())
    p = rig.p
    cap = all_in_cost_cc(10, 5000)  # room for exactly one 10-lot at 50¢ in the window
    stage = RiskStage(p, RiskEngine(RiskLimits(max_position_size_cc=cap, max_concurrent_positions=10,
                                               max_daily_loss_cc=10_000_000, max_window_exposure_cc=cap)))
    orders_send, orders_recv = trio.open_memory_channel[Any](10)
    await stage._on_proposal(proposal("kelly_volatility", 10), orders_send)
    first = orders_recv.receive_nowait()
    await journal.record_intent(attrs.evolve(intent_for(first.client_order_id), count=10))
    executed = Order(order_id="o-first", client_order_id=first.client_order_id, ticker=TICKER, side="yes",
                     action="buy", status="executed", yes_price_cc=5000, no_price_cc=5000, fill_count=10,
                     remaining_count=0, initial_count=10)
    await rig.stage.keeper.on_order(executed, rig._risk_send, source="create")
    assert first.client_order_id not in p.orders
    await stage._on_proposal(proposal("mean_reversion", 10), orders_send)
    with pytest.raises(trio.WouldBlock):
        orders_recv.receive_nowait()  # refused: the window holds the first order's 10 contracts
    fill = Fill(fill_id="f-first", order_id="o-first", ticker=TICKER, side="yes", action="buy", count=10,
                yes_price_cc=5000, no_price_cc=5000, is_taker=True, fee_cc=all_in_cost_cc(10, 5000) - 50_000,
                ts=NOW, client_order_id=first.client_order_id)
    await rig.stage.keeper.book_fill(fill, rig._risk_send, source="feed")
    while True:
        try:
            item = rig.risk.receive_nowait()
        except trio.WouldBlock:
            break
        if isinstance(item, FillBooked):
            await stage._on_fill(item, orders_send)
    assert p.orders.resting_for_risk() == []  # booked: counted once, in the portfolio
    assert p.state.portfolio.position(TICKER).yes_count == 10


async def test_a_loss_settled_after_the_day_boundary_counts_against_the_new_day(journal: Journal) -> None:
    """The window closing at midnight settles a few seconds into the next trading day, before any
    proposal of that day: its loss is that day's, and the day's loss limit counts it."""
    midnight = datetime(2026, 7, 9, tzinfo=UTC)
    ticker = market_ticker(midnight)
    p = pipeline(journal)
    p.state.portfolio = Portfolio(10_000_000).apply_fill(
        PortfolioFill(ticker, Side.YES, Action.BUY, 10, 5000, 0, midnight - timedelta(minutes=5)))
    p.state.ledger = DayLedger((midnight - timedelta(minutes=5)).date(), 0)
    after = midnight + timedelta(seconds=30)
    p.snapshots.strategy = attrs.evolve(p.snapshots.strategy, data_time=after)
    stage = risk_stage(p, max_daily_loss_cc=60_000)
    orders_send, orders_recv = trio.open_memory_channel[Any](10)
    settlement = yes_settlement(ticker, "no", 10, 50_000, after)
    await stage._on_settlement(SettlementBooked(settlement), orders_send)
    assert p.state.ledger == DayLedger(midnight.date(), 0)  # the day rolled before the loss was realised
    # the next window's buy: 50_000 lost today leaves room for 10_000 of worst case
    next_ticker = market_ticker(midnight + timedelta(minutes=15))
    signal = Signal(strategy="kelly_volatility", ticker=next_ticker, side=Side.YES, action=Action.BUY, price_cc=5000,
                    count=10, fair_prob=0.6, edge=0.05, confidence=1.0, reason="test",
                    created_at=midnight + timedelta(minutes=1))
    await stage._on_proposal(Proposal(signal, 0.1, 0.1, trio.current_time()), orders_send)
    approved = orders_recv.receive_nowait()
    assert approved.count == max_count_within(10_000, 5000)


async def test_a_fill_booked_after_its_markets_settlement_is_settled_with_it(journal: Journal) -> None:
    """A fill the feed missed is found by a catch-up only after its market's settlement was booked: the
    contracts it bought were paid at settlement with the rest, so it leaves no open position behind
    (one would hold a concurrent-position slot and its worst case until a restart)."""
    p = pipeline(journal)
    p.state.portfolio = Portfolio(10_000_000).apply_fill(PortfolioFill(TICKER, Side.YES, Action.BUY, 10, 5000, 0, NOW))
    stage = risk_stage(p)
    orders_send, _orders_recv = trio.open_memory_channel[Any](10)
    settlement = yes_settlement(TICKER, "yes", 15, 75_000, NOW)
    await stage._on_settlement(SettlementBooked(settlement), orders_send)
    late = Fill(fill_id="f-late", order_id="o-late", ticker=TICKER, side="yes", action="buy", count=5,
                yes_price_cc=5000, no_price_cc=5000, is_taker=True, fee_cc=100, ts=NOW, client_order_id="")
    await stage._on_fill(FillBooked(late, "kelly_volatility"), orders_send)
    portfolio = p.state.portfolio
    assert portfolio.positions == {}
    # paid $1 for each of the 15 contracts that cost 50¢, less the late fill's fee
    assert portfolio.cash_cc == 10_000_000 - 75_000 + 150_000 - 100
    assert portfolio.realized_pnl_cc == 75_000 - 100


async def test_an_order_answer_that_times_out_after_the_feed_reported_the_order_is_not_unknown(
        journal: Journal) -> None:
    """The feed's update (open, 2 of 3 filled) arrives while the create's answer is awaited, and the
    answer then times out: the order is known, so it is neither made unknown nor does the execution
    stage fail on it."""
    rig = ExecutionRig(journal, ExecutionSettings())
    cid = "k" * 32
    item = attrs.evolve(approved(cid, "kelly_volatility"), count=3)
    placement = await rig.stage.placer.begin(item)
    placement.error = trio.TooSlowError()
    update = Order(order_id="o-k", client_order_id=cid, ticker=TICKER, side="yes", action="buy", status="resting",
                   yes_price_cc=5000, no_price_cc=5000, fill_count=2, remaining_count=1, initial_count=3)
    await rig.stage.keeper.on_order(update, rig._risk_send, source="feed")
    await rig.stage.placer.conclude(placement, rig._risk_send)
    live = rig.p.orders.get(cid)
    assert live is not None and live.phase is OrderPhase.PARTIALLY_FILLED and live.order_id == "o-k"
    assert rig.p.orders.unknown() == []
