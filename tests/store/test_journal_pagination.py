"""Keyset pagination of orders and fills: stable under inserts, filters, cursor validation."""

from __future__ import annotations

import pytest
from storefakes import TICKER, TICKER_B, at, fill, intent, journal

from kalshid.store import CursorError, Journal
from kalshid.store.records import Fill, OrderState, Page

__all__ = ["journal"]


async def test_fill_pages_are_stable_under_inserts(journal: Journal) -> None:
    for i in range(10):
        await journal.record_fill(fill(f"f{i:02d}", ts=at(i)))
    # two fills share a timestamp: the fill_id breaks the tie
    await journal.record_fill(fill("f05b", ts=at(5)))
    page1 = await journal.list_fills(limit=4)
    assert [f.fill_id for f in page1.items] == ["f09", "f08", "f07", "f06"]
    # new fills arrive between page requests (newer ones and one at an already-shown time)
    for i in range(10, 15):
        await journal.record_fill(fill(f"f{i:02d}", ts=at(i)))
    seen = [f.fill_id for f in page1.items]
    cursor = page1.next_cursor
    while cursor is not None:
        page = await journal.list_fills(limit=4, cursor=cursor)
        seen += [f.fill_id for f in page.items]
        cursor = page.next_cursor
    assert seen == ["f09", "f08", "f07", "f06", "f05b", "f05", "f04", "f03", "f02", "f01", "f00"]


async def test_last_page_has_no_cursor(journal: Journal) -> None:
    for i in range(4):
        await journal.record_fill(fill(f"f{i}", ts=at(i)))
    page = await journal.list_fills(limit=4)
    assert len(page.items) == 4 and page.next_cursor is None
    assert (await journal.list_fills(limit=100)).next_cursor is None


async def test_fill_filters(journal: Journal) -> None:
    await journal.record_fill(fill("a", ticker=TICKER, strategy="s1", ts=at(1)))
    await journal.record_fill(fill("b", ticker=TICKER_B, strategy="s1", ts=at(2)))
    await journal.record_fill(fill("c", ticker=TICKER, strategy="s2", order_id="o2", ts=at(3)))

    def ids(page: Page[Fill]) -> list[str]:
        return [f.fill_id for f in page.items]

    assert ids(await journal.list_fills(ticker=TICKER)) == ["c", "a"]
    assert ids(await journal.list_fills(strategy="s1")) == ["b", "a"]
    assert ids(await journal.list_fills(order_id="o2")) == ["c"]
    assert ids(await journal.list_fills(since=at(2), until=at(3))) == ["b"]
    assert ids(await journal.list_fills(ticker=TICKER, strategy="s1", since=at(0))) == ["a"]


async def test_order_pages_and_filters(journal: Journal) -> None:
    for i in range(7):
        await journal.record_intent(intent(f"c{i}", ts=at(i), strategy="s1" if i % 2 else "s2"))
    await journal.mark_in_flight("c3", at(10))
    seen: list[str] = []
    cursor = None
    while True:
        page = await journal.list_orders(limit=3, cursor=cursor)
        seen += [o.client_order_id for o in page.items]
        if page.next_cursor is None:
            break
        cursor = page.next_cursor
        await journal.record_intent(intent(f"new{len(seen)}", ts=at(100 + len(seen))))
    assert seen == [f"c{i}" for i in reversed(range(7))]
    odd = await journal.list_orders(strategy="s1", states=[OrderState.PENDING])
    assert [o.client_order_id for o in odd.items] == ["c5", "c1"]
    flying = await journal.list_orders(states=[OrderState.IN_FLIGHT])
    assert [o.client_order_id for o in flying.items] == ["c3"]


async def test_bad_cursor_and_limit_are_rejected(journal: Journal) -> None:
    with pytest.raises(CursorError, match="not a valid journal cursor"):
        await journal.list_fills(cursor="not-a-cursor!")
    with pytest.raises(CursorError):
        await journal.list_orders(cursor="WyJ4IiwgMV0")  # base64 of ["x", 1]: wrong types
    for bad in (0, 1001):
        with pytest.raises(ValueError, match=f"limit: {bad} is not an integer"):
            await journal.list_fills(limit=bad)
