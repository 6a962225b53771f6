"""FeeWatch: what it reads and when (the rate budget), what it refuses, and that it is loud once."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

from kalshid.core.fees import FeeStructure
from kalshid.core.markets import market_ticker
from kalshid.exchange.base import EventFeeUpdated
from kalshid.exchange.errors import ServerError
from kalshid.exchange.types import EventFees, Market, SeriesFees
from kalshid.trading.fees import FeeWatch

OPEN = datetime(2026, 7, 8, 22, 45, tzinfo=UTC)


def market(open_time: datetime) -> Market:
    ticker = market_ticker(open_time + timedelta(minutes=15))
    return Market(ticker=ticker, event_ticker=ticker.rsplit("-", 1)[0], status="active", open_time=open_time,
                  close_time=open_time + timedelta(minutes=15))


A, B, C = market(OPEN), market(OPEN + timedelta(minutes=15)), market(OPEN + timedelta(minutes=30))


class FakeFees:
    """The exchange's fee reads: a series structure, per-event overrides, failures on demand."""

    def __init__(self) -> None:
        self.series = FeeStructure("quadratic", Decimal(1))
        self.overrides: dict[str, tuple[str | None, Decimal | None]] = {}
        self.failing: set[str] = set()  # "series" and event tickers whose reads fail
        self.misanswered: set[str] = set()  # event tickers whose reads answer for another event
        self.asked: list[str] = []

    async def get_series_fees(self, series_ticker: str) -> SeriesFees:
        self.asked.append(f"series {series_ticker}")
        if "series" in self.failing:
            raise ServerError("HTTP 503", status=503)
        return SeriesFees(series_ticker, self.series)

    async def get_event_fees(self, event_ticker: str) -> EventFees:
        self.asked.append(f"event {event_ticker}")
        if event_ticker in self.failing:
            raise ServerError("HTTP 503", status=503)
        answered = f"{event_ticker}-OTHER" if event_ticker in self.misanswered else event_ticker
        return EventFees(answered, "KXSOL15M", *self.overrides.get(event_ticker, (None, None)))


def watch() -> tuple[FeeWatch, list[tuple[str, dict[str, Any]]]]:
    published: list[tuple[str, dict[str, Any]]] = []
    return FeeWatch(lambda kind, data: published.append((kind, data))), published


async def test_the_model_refuses_nothing_and_reads_only_what_is_due() -> None:
    fees = FakeFees()
    w, published = watch()
    await w.refresh(fees, [A, B], OPEN)  # type: ignore[arg-type]
    assert w.refusals == {} and [f.fee for f in w.markets] == [FeeStructure("quadratic", Decimal(1))] * 2
    assert fees.asked == ["series KXSOL15M", f"event {A.event_ticker}", f"event {B.event_ticker}"]
    # refreshes with the same markets read nothing, until a window has passed: then the series again
    for seconds in range(5, 900, 5):
        await w.refresh(fees, [A, B], OPEN + timedelta(seconds=seconds))  # type: ignore[arg-type]
    assert len(fees.asked) == 3
    await w.refresh(fees, [A, B], OPEN + timedelta(minutes=15))  # type: ignore[arg-type]
    assert fees.asked[3:] == ["series KXSOL15M"]
    # the next window followed: the series and both events (the new current one is read again)
    await w.refresh(fees, [B, C], OPEN + timedelta(minutes=15, seconds=5))  # type: ignore[arg-type]
    assert fees.asked[4:] == ["series KXSOL15M", f"event {B.event_ticker}", f"event {C.event_ticker}"]
    assert published == []


async def test_a_differing_series_refuses_every_followed_market_and_alerts_once_each() -> None:
    fees = FakeFees()
    fees.series = FeeStructure("quadratic", Decimal(2))
    w, published = watch()
    for seconds in (0, 5, 10):
        await w.refresh(fees, [A, B], OPEN + timedelta(seconds=seconds))  # type: ignore[arg-type]
    assert set(w.refusals) == {A.ticker, B.ticker}
    assert w.refusals[A.ticker] == (f"{A.ticker}: the exchange charges quadratic x2 (series); kalshid models "
                                    f"quadratic x1: no new entries")
    alerts = [d for k, d in published if k == "alert"]
    assert [(a["kind"], a["level"], a["ticker"]) for a in alerts] == [
        ("fee_schedule", "error", A.ticker), ("fee_schedule", "error", B.ticker)]
    assert alerts[0]["fee_multiplier"] == "2" and alerts[0]["source"] == "series"
    # back to the model at the next window's read: entries resume, one info alert per market
    fees.series = FeeStructure("quadratic", Decimal("1.0"))
    await w.refresh(fees, [A, B], OPEN + timedelta(minutes=15))  # type: ignore[arg-type]
    assert w.refusals == {}
    assert [(k, d["kind"], d["level"]) for k, d in published[2:]] == [
        ("alert", "fee_schedule_model", "info"), ("alert", "fee_schedule_model", "info")]


async def test_an_event_override_refuses_its_market_only() -> None:
    fees = FakeFees()
    fees.overrides[B.event_ticker] = ("flat", None)
    w, published = watch()
    await w.refresh(fees, [A, B], OPEN)  # type: ignore[arg-type]
    assert list(w.refusals) == [B.ticker]
    assert "the exchange charges flat x1 (series+event)" in w.refusals[B.ticker]
    assert [(d["kind"], d["ticker"]) for _, d in published] == [("fee_schedule", B.ticker)]
    by_ticker = {f.ticker: f.as_json() for f in w.markets}
    assert by_ticker[A.ticker]["entries"] == "allowed" and by_ticker[B.ticker]["entries"] == "refused"
    assert by_ticker[B.ticker]["fee_type"] == "flat" and by_ticker[B.ticker]["source"] == "series+event"


async def test_a_failed_read_refuses_entries_and_is_retried_at_the_next_refresh() -> None:
    fees = FakeFees()
    fees.failing = {"series"}
    w, published = watch()
    await w.refresh(fees, [A, B], OPEN)  # type: ignore[arg-type]
    assert set(w.refusals) == {A.ticker, B.ticker} and "unknown (GET /series/KXSOL15M failed" in w.refusals[A.ticker]
    assert [f.as_json()["fee_type"] for f in w.markets] == [None, None]
    asked = len(fees.asked)
    await w.refresh(fees, [A, B], OPEN + timedelta(seconds=5))  # type: ignore[arg-type]
    assert fees.asked[asked:] == ["series KXSOL15M"]  # tried again, though nothing else changed
    fees.failing = set()
    await w.refresh(fees, [A, B], OPEN + timedelta(seconds=10))  # type: ignore[arg-type]
    assert w.refusals == {} and published == []  # unknown is refused but not alerted: a warning line
    # one event's read failing refuses that market only, until a read of it succeeds
    fees.failing = {C.event_ticker}
    await w.refresh(fees, [B, C], OPEN + timedelta(minutes=15))  # type: ignore[arg-type]
    assert list(w.refusals) == [C.ticker] and f"GET /events/{C.event_ticker} failed" in w.refusals[C.ticker]
    fees.failing = set()
    asked = len(fees.asked)
    await w.refresh(fees, [B, C], OPEN + timedelta(minutes=15, seconds=5))  # type: ignore[arg-type]
    assert fees.asked[asked:] == [f"event {C.event_ticker}"] and w.refusals == {}


async def test_the_feeds_fee_update_applies_to_a_followed_event_at_once_without_a_read() -> None:
    fees = FakeFees()
    w, published = watch()
    await w.refresh(fees, [A, B], OPEN)  # type: ignore[arg-type]
    asked = len(fees.asked)
    # an override set on the window being traded: refused at once, alerted once, nothing read
    assert w.apply_update(EventFeeUpdated(A.event_ticker, None, Decimal("1.5"), 0.0))
    assert set(w.refusals) == {A.ticker} and "quadratic x1.5 (series+event)" in w.refusals[A.ticker]
    assert [d["kind"] for k, d in published] == ["fee_schedule"] and len(fees.asked) == asked
    # the next refresh with the same markets keeps it (no read is due), and says nothing again
    await w.refresh(fees, [A, B], OPEN + timedelta(seconds=5))  # type: ignore[arg-type]
    assert set(w.refusals) == {A.ticker} and len(published) == 1
    # cleared: back to the model, entries resume, one info alert
    assert w.apply_update(EventFeeUpdated(A.event_ticker, None, None, 0.0))
    assert w.refusals == {} and [d["kind"] for k, d in published] == ["fee_schedule", "fee_schedule_model"]
    # an event not followed is left for its read when it is
    assert not w.apply_update(EventFeeUpdated(C.event_ticker, "flat", Decimal(1), 0.0))
    assert w.refusals == {} and len(published) == 2


async def test_a_read_answering_for_another_event_leaves_the_event_unknown_not_as_read_before() -> None:
    fees = FakeFees()
    w, _published = watch()
    await w.refresh(fees, [A, B], OPEN)  # type: ignore[arg-type]
    assert w.refusals == {}
    fees.misanswered.add(A.event_ticker)
    w.feed_reconnected()  # the followed events are read again
    await w.refresh(fees, [A, B], OPEN + timedelta(seconds=5))  # type: ignore[arg-type]
    assert set(w.refusals) == {A.ticker} and "answered for" in w.refusals[A.ticker]
