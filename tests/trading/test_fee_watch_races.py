"""FeeWatch against the feed: a read answered while an ``event_fee_update`` arrives, and a feed that was
away (reconnected) or sent an update kalshid could not read."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import trio

from kalshid.core.fees import FeeStructure
from kalshid.core.markets import market_ticker
from kalshid.exchange.base import EventFeeUpdated
from kalshid.exchange.types import EventFees, Market, SeriesFees
from kalshid.trading.fees import FeeWatch

OPEN = datetime(2026, 7, 8, 22, 45, tzinfo=UTC)


def market(open_time: datetime) -> Market:
    ticker = market_ticker(open_time + timedelta(minutes=15))
    return Market(ticker=ticker, event_ticker=ticker.rsplit("-", 1)[0], status="active", open_time=open_time,
                  close_time=open_time + timedelta(minutes=15))


A, B = market(OPEN), market(OPEN + timedelta(minutes=15))


class SlowFees:
    """Fee reads; an event read held until ``release`` is set when ``hold`` names it."""

    def __init__(self) -> None:
        self.overrides: dict[str, tuple[str | None, Decimal | None]] = {}
        self.hold: str | None = None
        self.reading = trio.Event()
        self.release = trio.Event()
        self.asked: list[str] = []

    async def get_series_fees(self, series_ticker: str) -> SeriesFees:
        self.asked.append("series")
        return SeriesFees(series_ticker, FeeStructure("quadratic", Decimal(1)))

    async def get_event_fees(self, event_ticker: str) -> EventFees:
        self.asked.append(event_ticker)
        answer = EventFees(event_ticker, "KXSOL15M", *self.overrides.get(event_ticker, (None, None)))
        if event_ticker == self.hold:  # the answer is made before the update arrives, delivered after it
            self.reading.set()
            await self.release.wait()
        return answer


def new_watch() -> FeeWatch:
    return FeeWatch(lambda kind, data: None)


async def test_an_update_arriving_during_a_read_of_its_event_is_not_undone_by_the_read() -> None:
    fees = SlowFees()
    w = new_watch()
    await w.refresh(fees, [A], OPEN)  # type: ignore[arg-type]
    fees.hold = B.event_ticker
    with trio.fail_after(5):
        async with trio.open_nursery() as nursery:
            nursery.start_soon(w.refresh, fees, [A, B], OPEN + timedelta(seconds=5))
            await fees.reading.wait()
            # the override is set on B while its read (answered before it) is on the way
            assert w.apply_update(EventFeeUpdated(B.event_ticker, "flat", None, 0.0))
            fees.release.set()
    assert B.ticker in w.refusals and "flat x1" in w.refusals[B.ticker]


async def test_a_reconnected_feed_has_the_followed_events_read_again() -> None:
    fees = SlowFees()
    w = new_watch()
    await w.refresh(fees, [A, B], OPEN)  # type: ignore[arg-type]
    # an override set while the feed was away: its event_fee_update never came
    fees.overrides[A.event_ticker] = (None, Decimal(2))
    w.feed_reconnected()
    await w.refresh(fees, [A, B], OPEN + timedelta(seconds=5))  # type: ignore[arg-type]
    assert list(w.refusals) == [A.ticker] and "quadratic x2" in w.refusals[A.ticker]
    asked = len(fees.asked)
    await w.refresh(fees, [A, B], OPEN + timedelta(seconds=10))  # type: ignore[arg-type]
    assert len(fees.asked) == asked  # once: nothing more is read after that


async def test_an_unreadable_update_of_a_followed_event_refuses_its_buys_until_it_is_read_again() -> None:
    fees = SlowFees()
    w = new_watch()
    await w.refresh(fees, [A, B], OPEN)  # type: ignore[arg-type]
    assert w.refusals == {}
    fees.overrides[A.event_ticker] = ("flat", None)
    assert w.apply_update(EventFeeUpdated(A.event_ticker, None, None, 0.0,
                                          error="event_fee_update: fee_multiplier_override: expected a number"))
    assert list(w.refusals) == [A.ticker] and "expected a number" in w.refusals[A.ticker]
    await w.refresh(fees, [A, B], OPEN + timedelta(seconds=5))  # type: ignore[arg-type]
    assert list(w.refusals) == [A.ticker] and "flat x1" in w.refusals[A.ticker]
