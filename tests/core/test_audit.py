"""The comparison of the journal's positions with the exchange's, and when a difference is confirmed."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from kalshid.core.audit import Difference, PositionAudit, closed_windows, position_differences, trading_differences
from kalshid.core.portfolio import Position

T0 = datetime(2026, 7, 8, 22, 45, tzinfo=UTC)
A, B, C = "KXSOL15M-26JUL081900-00", "KXSOL15M-26JUL081915-15", "KXBTC15M-26JUL081900-00"


def test_differences_compare_yes_minus_no_both_ways_and_leave_set_aside_markets_alone() -> None:
    ours = {A: Position(A, yes_count=5, yes_cost_cc=20_000), B: Position(B, no_count=3, no_cost_cc=9_000)}
    # A agrees (+5); B: the exchange has no position; C: only the exchange has one, but it is set aside
    assert position_differences(ours, {A: 5, C: 2}, left_alone={C}) == {B: Difference(B, -3, 0)}
    assert position_differences(ours, {A: 4, B: -3}) == {A: Difference(A, 5, 4)}
    both = Position(A, yes_count=5, yes_cost_cc=20_000, no_count=5, no_cost_cc=30_000)  # a pair nets to 0
    assert position_differences({A: both}, {}) == {}
    assert Difference(B, -3, 0).describe() == f"{B}: journal says -3 (YES − NO), exchange says +0"


def test_a_difference_is_confirmed_by_the_next_audit_with_the_same_offset() -> None:
    audit = PositionAudit()
    assert audit.agrees and audit.checked_at is None
    first = audit.observe({A: Difference(A, 0, 7)}, T0)
    assert first.agrees and first.checked_at == T0  # seen once: a fill read by one side only looks like this
    # both sides moved by a fill booked in between; the exchange still holds 7 more: confirmed
    second = first.observe({A: Difference(A, 10, 17)}, T0 + timedelta(minutes=1))
    assert not second.agrees and second.describe() == (f"{A}: journal says +10 (YES − NO), exchange says +17",)
    # still different, by another number: stays confirmed until the market agrees
    third = second.observe({A: Difference(A, 10, 12)}, T0 + timedelta(minutes=2))
    assert not third.agrees and third.confirmed[A].offset == 2
    assert third.observe({}, T0 + timedelta(minutes=3)).agrees


def test_a_passing_difference_or_a_changing_one_is_never_confirmed() -> None:
    audit = PositionAudit().observe({A: Difference(A, 0, 7)}, T0)
    audit = audit.observe({}, T0 + timedelta(minutes=1))  # booked by then
    audit = audit.observe({A: Difference(A, 7, 14)}, T0 + timedelta(minutes=2))  # another fill in flight
    assert audit.agrees
    audit = audit.observe({A: Difference(A, 14, 17)}, T0 + timedelta(minutes=3))  # and another, of 3
    assert audit.agrees
    # a difference in another market does not confirm this one
    audit = audit.observe({B: Difference(B, 0, 3)}, T0 + timedelta(minutes=4))
    assert audit.agrees and set(audit.seen) == {B}


def test_a_market_busy_during_the_audit_keeps_what_the_previous_audit_found() -> None:
    seen = PositionAudit().observe({A: Difference(A, 0, 7)}, T0)
    # A had a fill booked during the next audit: its (straddled) numbers are not judged, nor confirmed
    busy = seen.observe({A: Difference(A, 300, 7)}, T0 + timedelta(minutes=1), busy={A})
    assert busy.agrees and busy.seen == {A: Difference(A, 0, 7)}
    confirmed = busy.observe({A: Difference(A, 300, 307)}, T0 + timedelta(minutes=2))  # offset 7 again
    assert not confirmed.agrees
    # a confirmed market stays confirmed while busy, even if the straddled read happens to agree
    assert not confirmed.observe({}, T0 + timedelta(minutes=3), busy={A}).agrees
    assert confirmed.observe({}, T0 + timedelta(minutes=4)).agrees


def test_closed_windows_leave_the_audit_to_the_settlement_check() -> None:
    # A closes at 23:00 UTC (19:00 in New York), B at 23:15
    assert closed_windows([A, B, "NOT-A-TICKER"], T0) == set()
    assert closed_windows([A, B, "NOT-A-TICKER"], T0 + timedelta(minutes=15)) == {A}
    assert closed_windows([A, B], T0 + timedelta(minutes=31)) == {A, B}
    ours = {A: Position(A, yes_count=5, yes_cost_cc=20_000)}
    at_close_of_a = T0 + timedelta(minutes=15)
    assert trading_differences(ours, {B: 2}, (), at_close_of_a) == {B: Difference(B, 0, 2)}  # A is settling
    assert trading_differences(ours, {B: 2}, {B}, T0) == {A: Difference(A, 5, 0)}
