"""The pure order book and the wire number parsers behind it."""

import contextlib
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from kalshid.core import wire
from kalshid.core.book import CENTI_PER_CONTRACT as C
from kalshid.core.book import Book, BookError, OrderBook, takeable

T0 = datetime(2026, 7, 8, 23, 0, tzinfo=UTC)


def fresh() -> Book:
    b = Book("KXSOL15M-26JUL081900-00")
    b.apply_snapshot([(4100, 120 * C), (4200, 35 * C)], [(5500, 80 * C), (5600, 10 * C)], exchange_ts=None,
                     local_time=1.0)
    return b


def test_new_book_is_stale_until_snapshot() -> None:
    b = Book("X")
    assert b.stale and b.best_bid("yes") is None
    b.apply_snapshot([], [], exchange_ts=None, local_time=0.0)
    assert not b.stale and b.ask("yes") is None


def test_snapshot_best_bids_and_derived_asks() -> None:
    b = fresh()
    assert b.best_bid("yes") == (4200, 35)
    assert b.best_bid("no") == (5600, 10)
    assert b.ask("yes") == (4400, 10)  # $1 − best NO bid 0.56
    assert b.ask("no") == (5800, 35)  # $1 − best YES bid 0.42
    snap = b.snapshot()
    assert snap.yes == ((4100, 120), (4200, 35)) and snap.no == ((5500, 80), (5600, 10))
    assert snap.yes_ask == (4400, 10) and snap.no_ask == (5800, 35)
    assert snap.best_yes_bid == (4200, 35) and not snap.stale


def test_delta_adds_moves_best_and_removes_level_at_zero() -> None:
    b = fresh()
    assert b.apply_delta("yes", 4300, 7 * C, exchange_ts=T0, local_time=2.0) == 7 * C
    assert b.best_bid("yes") == (4300, 7) and b.ask("no") == (5700, 7)
    assert b.exchange_ts == T0 and b.local_time == 2.0
    b.apply_delta("yes", 4300, -7 * C, exchange_ts=T0, local_time=3.0)
    assert b.size_at("yes", 4300) == 0
    assert b.best_bid("yes") == (4200, 35)  # best recomputed after the top level vanished
    assert (4300, 0) not in b.snapshot().yes and len(b.snapshot().yes) == 2
    b.apply_delta("no", 5600, -10 * C, exchange_ts=None, local_time=4.0)
    b.apply_delta("no", 5500, -80 * C, exchange_ts=None, local_time=4.0)
    assert b.best_bid("no") is None and b.ask("yes") is None


def test_negative_level_raises_and_leaves_book_unchanged() -> None:
    b = fresh()
    before = b.snapshot()
    with pytest.raises(BookError, match="negative"):
        b.apply_delta("yes", 4200, -35 * C - 1, exchange_ts=None, local_time=5.0)
    with pytest.raises(BookError, match="negative"):
        b.apply_delta("no", 3000, -1, exchange_ts=None, local_time=5.0)
    assert b.snapshot() == before


def test_bad_side_and_price_rejected() -> None:
    b = fresh()
    with pytest.raises(BookError, match="side"):
        b.apply_delta("maybe", 4200, 1, exchange_ts=None, local_time=0.0)
    with pytest.raises(BookError, match="outside"):
        b.apply_delta("yes", 10_000, 1, exchange_ts=None, local_time=0.0)
    with pytest.raises(BookError, match="negative"):
        b.apply_snapshot([(4100, -1)], [], exchange_ts=None, local_time=0.0)


def test_snapshot_replaces_everything_and_clears_stale() -> None:
    b = fresh()
    b.mark_stale()
    assert b.snapshot().stale
    b.apply_snapshot([(100, 1 * C), (100, 2 * C), (200, 0)], [], exchange_ts=T0, local_time=9.0)
    assert b.snapshot() == OrderBook("KXSOL15M-26JUL081900-00", ((100, 3),), (), T0, 9.0, False)


def test_many_deltas_accumulate_exactly() -> None:
    b = fresh()
    for i in range(1000):
        b.apply_delta("yes", 4100, 1 if i % 3 else -1, exchange_ts=None, local_time=float(i))
    assert b.size_at_exact("yes", 4100) == 120 * C + 666 - 334
    assert b.size_at("yes", 4100) == 123  # 123.32 contracts: 123 whole


def test_fractional_sizes_are_held_exactly_and_seen_whole_as_the_takeable_prefix() -> None:
    b = Book("X")
    # NO bids: 4 at 0.55, 2.50 at 0.56 (a YES ask of 0.44 for 2.50)
    b.apply_snapshot([(4100, 1_000)], [(5500, 400), (5600, 250)], exchange_ts=None, local_time=0.0)
    assert b.best_bid_exact("no") == (5600, 250) and b.size_at("no", 5600) == 2
    assert b.best_bid("no") is None and b.ask("yes") is None  # any YES buy would reach the 2.50 first
    snap = b.snapshot()
    assert snap.no == () and snap.no_centi == ((5500, 400), (5600, 250)) and snap.fractional
    assert snap.yes == ((4100, 10),) and snap.yes_centi is None and snap.exact("yes") == ((4100, 1_000),)
    assert b.apply_delta("no", 5600, 50, exchange_ts=None, local_time=1.0) == 300  # 2.50 + 0.50 = 3.00
    assert b.best_bid("no") is None and b.snapshot().no == ()  # may hold 2.50 + 0.50: still not takeable
    b.apply_delta("no", 5600, -300, exchange_ts=None, local_time=2.0)
    b.apply_delta("no", 5600, 300, exchange_ts=None, local_time=3.0)  # emptied, then 3 whole: takeable
    snap = b.snapshot()
    assert snap.no == ((5500, 4), (5600, 3)) and snap.no_centi is None and not snap.fractional
    assert b.ask("yes") == (4400, 3)
    with pytest.raises(BookError, match=r"negative \(3.00 \+ -3.01\)"):
        b.apply_delta("no", 5600, -301, exchange_ts=None, local_time=4.0)
    assert b.snapshot() == snap
    b.apply_delta("no", 5700, 30, exchange_ts=None, local_time=5.0)  # 0.30 above: the side is closed
    assert b.ask("yes") is None and b.snapshot().exact("no")[-1] == (5700, 30)


@pytest.mark.parametrize(
    ("exact", "mixed", "whole"),
    [
        ([(4000, 500), (4100, 300)], (), ((4000, 5), (4100, 3))),  # whole book: all of it
        ([(4000, 500), (4100, 250), (4200, 100)], (), ((4200, 1),)),  # stops before the 2.50
        ([(4000, 500), (4100, 50)], (), ()),  # half a contract at the top: nothing can be taken
        ([(4000, 550), (4100, 100)], (), ((4100, 1),)),
        ([(4000, 500), (4100, 300)], (4100,), ()),  # 3.00 that a fractional delta touched
        ([], (), ()),
    ],
)
def test_takeable_prefix(exact: list[tuple[int, int]], mixed: tuple[int, ...],
                         whole: tuple[tuple[int, int], ...]) -> None:
    assert takeable(exact, mixed) == whole
    book = OrderBook.from_exact("X", exact, [], mixed_yes=mixed)
    assert book.yes == whole and book.exact("yes") == tuple(sorted(exact))


def test_count_centi_is_exact_and_refuses_finer_than_a_hundredth() -> None:
    assert [wire.count_centi(v, "c") for v in ("2.50", "-0.01", "-1.25", "10.00", 10, "2.5", Decimal("0.3"))] == [
        250, -1, -125, 1_000, 1_000, 250, 30]
    assert [wire.whole_floor(c) for c in (250, 99, 0, -250)] == [2, 0, 0, -2]
    for bad, why in (("0.001", "finer than"), ("abc", "not a decimal number"), (True, "expected a decimal"),
                     (1.5, "expected"), ("NaN", "not a finite number")):
        with pytest.raises(wire.WireValueError, match=why):
            wire.count_centi(bad, "c")


@pytest.mark.parametrize(
    ("raw", "cc"),
    [
        ("0.5600", 5600),
        ("0.560", 5600),
        ("0.08", 800),
        ("1.0000", 10000),
        (Decimal("0.4200"), 4200),
        ("0.0015", 15),
    ],
)
def test_dollars(raw: object, cc: int) -> None:
    assert wire.dollars_cc(raw, "f") == cc


@pytest.mark.parametrize("raw", ["0.56001", "abc", 0.56, True, None, "NaN"])
def test_dollars_rejects(raw: object) -> None:
    with pytest.raises(wire.WireValueError, match="f"):
        wire.dollars_cc(raw, "f")


def test_counts_and_cents() -> None:
    assert wire.count("10.00", "c") == 10 and wire.count("-3.00", "c") == -3 and wire.count(7, "c") == 7
    assert wire.count("5", "c") == 5 and wire.count("5.0", "c") == 5
    assert wire.cents_cc(42, "p") == 4200 and wire.cents_cc("42", "p") == 4200
    with pytest.raises(wire.WireValueError, match="fractional"):
        wire.count("1.50", "c")
    with pytest.raises(wire.WireValueError, match="p"):
        wire.cents_cc("4.5", "p")


def test_timestamps() -> None:
    assert wire.timestamp("2026-07-08T23:00:00Z", "t") == T0
    assert wire.timestamp("2026-07-08T23:00:00.123456789Z", "t").microsecond == 123456
    assert wire.timestamp(1783551600, "t") == T0
    assert wire.timestamp(1783551600000, "t") == T0  # milliseconds
    assert wire.timestamp("1783551600250", "t").microsecond == 250_000
    with pytest.raises(wire.WireValueError, match="offset"):
        wire.timestamp("2026-07-08T23:00:00", "t")
    with pytest.raises(wire.WireValueError, match="t"):
        wire.timestamp("yesterday", "t")


_OPS = st.lists(st.one_of(
    st.tuples(st.just("delta"), st.sampled_from(["yes", "no"]), st.integers(4000, 4005),
              st.integers(-300, 300)),
    st.tuples(st.just("snapshot"), st.lists(st.tuples(st.integers(4000, 4005), st.integers(1, 300)), max_size=4),
              st.lists(st.tuples(st.integers(5000, 5005), st.integers(1, 300)), max_size=4), st.just(0)),
    st.tuples(st.just("look"), st.just(""), st.just(0), st.just(0)),
), max_size=30)


def _ladder(b: Book, side: str) -> list[tuple[int, int]]:
    return [(p, n) for p in range(1, 10_000) if (n := b.size_at_exact(side, p))]


@settings(max_examples=300, deadline=None)
@given(_OPS)
def test_each_snapshot_is_the_book_as_it_stands(ops: list[tuple[str, Any, Any, int]]) -> None:
    """Whatever ran before (deltas, whole or fractional, refused ones, snapshots, earlier snapshots
    taken), a snapshot is the frozen book of the ladders as they stand now."""
    b = fresh()
    for op, a, price, delta in ops:
        if op == "delta":
            with contextlib.suppress(BookError):
                b.apply_delta(a, price, delta, exchange_ts=T0, local_time=2.0)
        elif op == "snapshot":
            b.apply_snapshot(dict(a).items(), dict(price).items(), exchange_ts=None, local_time=3.0)
        else:
            b.snapshot()
        assert b.snapshot() == OrderBook.from_exact(
            b.ticker, _ladder(b, "yes"), _ladder(b, "no"), exchange_ts=b.exchange_ts, local_time=b.local_time,
            stale=b.stale, mixed_yes=b._mixed["yes"], mixed_no=b._mixed["no"])


def test_a_delta_leaves_the_other_sides_snapshot_as_it_was() -> None:
    b = fresh()
    before = b.snapshot()
    b.apply_delta("yes", 4200, -5 * C, exchange_ts=T0, local_time=2.0)
    after = b.snapshot()
    assert after.no is before.no and after.yes != before.yes  # only the side that changed is rebuilt
    assert after.yes == ((4100, 120), (4200, 30))
