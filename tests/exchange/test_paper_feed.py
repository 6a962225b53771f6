"""The paper pass-through stage: every market event forwarded, paper events right behind their cause."""

from __future__ import annotations

import pytest
import trio
from test_paper_exchange import TICKER, book, make, req, trade

from kalshid.exchange.base import (
    BookUpdated,
    FeedEvent,
    FillReceived,
    IndexPrinted,
    MarketLifecycle,
    OrderUpdated,
    PositionUpdated,
    TradePrinted,
)
from kalshid.exchange.paper_feed import paper_feed_task


async def next_event(recv: trio.MemoryReceiveChannel[FeedEvent]) -> FeedEvent:
    with trio.fail_after(1):
        return await recv.receive()


async def test_stage_forwards_and_emits_fills(nursery: trio.Nursery) -> None:
    paper, _ = make()
    src_send, src_recv = trio.open_memory_channel[FeedEvent](8)
    out_send, out_recv = trio.open_memory_channel[FeedEvent](8)
    await nursery.start(paper_feed_task, paper, src_recv, out_send)

    resting = await paper.create_order(req("r", count=2, price=3000))
    ev = await next_event(out_recv)
    assert isinstance(ev, OrderUpdated) and ev.order.order_id == resting.order_id

    b = BookUpdated(book(), trio.current_time())
    await src_send.send(b)
    assert await next_event(out_recv) is b  # forwarded unchanged

    t = trade(2900, 5, "no")
    await src_send.send(t)
    assert await next_event(out_recv) is t  # the cause first ...
    fill = await next_event(out_recv)      # ... then the paper fill it caused
    assert isinstance(fill, FillReceived) and fill.fill.order_id == resting.order_id
    assert (fill.fill.count, fill.fill.is_taker, fill.fill.yes_price_cc) == (2, False, 3000)
    pos = await next_event(out_recv)
    assert isinstance(pos, PositionUpdated) and pos.position == 2
    upd = await next_event(out_recv)
    assert isinstance(upd, OrderUpdated) and upd.order.status == "executed"

    # An IOC placed by another task is announced like the real fill channel would.
    taker = await paper.create_order(req("i", count=1, price=5600, time_in_force="immediate_or_cancel"))
    kinds = [type(await next_event(out_recv)) for _ in range(3)]
    assert kinds == [FillReceived, PositionUpdated, OrderUpdated]
    assert taker.status == "executed"

    unrelated = IndexPrinted(print=None, local_time=0.0)  # type: ignore[arg-type]
    await src_send.send(unrelated)
    assert await next_event(out_recv) is unrelated

    await src_send.send(MarketLifecycle(TICKER, "determined", 0.0, result="no"))
    assert isinstance(await next_event(out_recv), MarketLifecycle)
    settled = await next_event(out_recv)
    assert isinstance(settled, PositionUpdated) and settled.position == 0
    [s] = await paper.list_settlements()
    assert s.revenue_cc == 0 and s.yes_count == 3

    await src_send.aclose()
    with trio.fail_after(1):
        with pytest.raises(trio.EndOfChannel):
            await out_recv.receive()  # the stage closed its sink when the source ended


async def test_only_one_stage_per_paper_exchange(nursery: trio.Nursery) -> None:
    paper, _ = make()
    s1, r1 = trio.open_memory_channel[FeedEvent](1)
    o1, _keep = trio.open_memory_channel[FeedEvent](1)
    await nursery.start(paper_feed_task, paper, r1, o1)
    _s2, r2 = trio.open_memory_channel[FeedEvent](1)
    o2, _r = trio.open_memory_channel[FeedEvent](1)
    with pytest.raises(RuntimeError, match="already attached"):
        await paper_feed_task(paper, r2, o2)
    await s1.aclose()


async def test_events_without_a_stage_are_not_queued() -> None:
    paper, _ = make()
    await paper.create_order(req("x", count=1, price=5600, time_in_force="immediate_or_cancel"))
    paper.on_trade(TradePrinted(TICKER, "t", 1, 3000, 7000, "no", None, 0.0))
    assert paper.statistics()["pending_events"] == 0
