"""FeedRouter: the feeds' events go straight into the stages' inboxes (kalshid/trading/router.py)."""

from __future__ import annotations

from typing import Any

import pytest
import trio

from kalshid.exchange.base import (
    EventFeeUpdated,
    FeedEvent,
    FeedStale,
    MarketLifecycle,
    PositionUpdated,
    Reconnected,
    SubscriptionFailed,
)
from kalshid.trading.router import FeedRouter

STALE = FeedStale("T", "gap", 0.0)                                      # market data
POSITION = PositionUpdated("T", 1, None, None, None, None, 0.0)         # order event
LIFECYCLE = MarketLifecycle("T", "settled", 0.0)                        # both stages
REFUSED = SubscriptionFailed("orderbook_delta", 16, "market not found", ("T",), 0.0)  # neither
FEES = EventFeeUpdated("E", "quadratic", None, 0.0)                     # neither: the markets room's


class Stages:
    def __init__(self, md_size: int = 8, ex_size: int = 8) -> None:
        self.md_send, self.md_recv = trio.open_memory_channel[Any](md_size)
        self.ex_send, self.ex_recv = trio.open_memory_channel[Any](ex_size)
        self.seen: list[FeedEvent] = []
        self.want_md = True
        self.want_ex = True
        self.router = FeedRouter(self.md_send, self.ex_send, wants_market_data=lambda: self.want_md,
                                 wants_orders=lambda: self.want_ex, observe=self.seen.append)

    def drain(self) -> tuple[list[Any], list[Any]]:
        md, ex = [], []
        while True:
            try:
                md.append(self.md_recv.receive_nowait())
            except (trio.WouldBlock, trio.EndOfChannel):
                break
        while True:
            try:
                ex.append(self.ex_recv.receive_nowait())
            except (trio.WouldBlock, trio.EndOfChannel):
                break
        return md, ex


async def test_each_event_goes_to_the_stage_that_reads_it_and_is_observed_once() -> None:
    st = Stages()
    for event in (STALE, POSITION, LIFECYCLE, REFUSED, FEES, Reconnected(1, 0.0)):
        st.router.send_nowait(event)
    md, ex = st.drain()
    assert md == [STALE, LIFECYCLE]
    assert ex == [POSITION, LIFECYCLE, Reconnected(1, 0.0)]
    assert st.seen == [STALE, POSITION, LIFECYCLE, REFUSED, FEES, Reconnected(1, 0.0)]
    await st.router.send(POSITION)  # the waiting path routes alike
    await st.router.send(REFUSED)
    assert st.drain() == ([], [POSITION])
    assert st.seen[-2:] == [POSITION, REFUSED]


async def test_no_room_raises_wouldblock_before_any_delivery_or_side_effect() -> None:
    st = Stages(md_size=1, ex_size=1)
    st.router.send_nowait(STALE)
    with pytest.raises(trio.WouldBlock):
        st.router.send_nowait(FeedStale("T", "again", 0.0))
    # a lifecycle event needs room in both inboxes: execution's has room, strategy's does not
    with pytest.raises(trio.WouldBlock):
        st.router.send_nowait(LIFECYCLE)
    assert st.drain() == ([STALE], [])
    assert st.seen == [STALE]
    st.router.send_nowait(LIFECYCLE)  # both have room now
    assert st.drain() == ([LIFECYCLE], [LIFECYCLE])


async def test_send_waits_for_the_consumer_and_a_waiting_receiver_counts_as_room() -> None:
    st = Stages(md_size=0, ex_size=0)
    got: list[Any] = []

    async def strategy(task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        task_status.started()
        got.append(await st.md_recv.receive())

    with pytest.raises(trio.WouldBlock):
        st.router.send_nowait(STALE)  # nobody is receiving yet
    async with trio.open_nursery() as nursery:
        await nursery.start(strategy)
        await trio.testing.wait_all_tasks_blocked()
        st.router.send_nowait(STALE)
    assert got == [STALE]
    async with trio.open_nursery() as nursery:
        nursery.start_soon(st.router.send, POSITION)
        await trio.testing.wait_all_tasks_blocked()
        assert st.seen == [STALE]  # not delivered yet: not observed yet
        assert await st.ex_recv.receive() == POSITION
    assert st.seen == [STALE, POSITION]


async def test_a_finished_stage_gets_nothing_and_the_event_is_still_observed() -> None:
    st = Stages()
    st.want_md = False
    st.router.send_nowait(STALE)
    st.router.send_nowait(LIFECYCLE)
    st.ex_recv.close()  # execution has stopped: its channel is broken
    st.router.send_nowait(POSITION)
    await st.router.send(POSITION)
    with pytest.raises(trio.WouldBlock):
        st.md_recv.receive_nowait()
    assert st.seen == [STALE, LIFECYCLE, POSITION, POSITION]


async def test_the_stage_channels_close_with_the_last_handle() -> None:
    st = Stages()
    feed, spot = st.router.clone(), st.router.clone()
    st.router.close()
    st.router.close()  # idempotent: counts once
    with pytest.raises(trio.ClosedResourceError):
        st.router.send_nowait(STALE)
    with pytest.raises(trio.ClosedResourceError):
        await st.router.send(STALE)
    async with feed:
        feed.send_nowait(STALE)
    spot.send_nowait(POSITION)
    assert st.drain() == ([STALE], [POSITION])
    with pytest.raises(trio.WouldBlock):
        st.md_recv.receive_nowait()  # one handle is still open: the channel is open
    await spot.aclose()
    with pytest.raises(trio.EndOfChannel):
        st.md_recv.receive_nowait()
    with pytest.raises(trio.EndOfChannel):
        st.ex_recv.receive_nowait()
    with pytest.raises(trio.ClosedResourceError):
        spot.clone()


async def test_it_knows_whether_market_data_reaches_the_strategy_as_each_event_is_observed() -> None:
    st = Stages()
    reached: list[bool] = []
    st.router = FeedRouter(st.md_send, st.ex_send, wants_market_data=lambda: st.want_md,
                           observe=lambda event: reached.append(st.router.delivers_market_data))
    st.router.send_nowait(STALE)
    st.want_md = False  # the gate is shut (a reconciliation failed)
    st.router.send_nowait(STALE)
    st.want_md = True
    st.router.send_nowait(POSITION)  # not market data: the strategy's inbox is not tried
    st.md_recv.close()  # the strategy has ended
    st.router.send_nowait(STALE)
    await st.router.send(STALE)
    assert reached == [True, False, True, False, False]
