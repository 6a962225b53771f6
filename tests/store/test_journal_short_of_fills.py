"""``Journal.orders_short_of_fills``: the orders whose filled count exceeds the contracts booked."""

from __future__ import annotations

from pathlib import Path

from storefakes import TICKER, TICKER_B, at, fill, intent

from kalshid.store import Journal, open_journal
from kalshid.store.records import OrderUpdate


async def _executed(j: Journal, cid: str, oid: str, filled: int, **kw: object) -> None:
    await j.record_intent(intent(cid, count=max(filled, 1), **kw))
    await j.apply_order_update(OrderUpdate(state="executed", ts=at(1), filled=filled, remaining=0,
                                                 fees_cc=0, client_order_id=cid, order_id=oid))


async def test_only_orders_with_fewer_contracts_booked_than_filled_are_listed(tmp_path: Path) -> None:
    async with open_journal(tmp_path / "journal-dry.sqlite3", "dry") as journal:
        await _listed(journal)


async def _listed(journal: Journal) -> None:
    await _executed(journal, "c-none", "o-none", 5)  # filled, nothing booked
    await _executed(journal, "c-part", "o-part", 5, ticker=TICKER_B)  # 3 of 5 booked
    await journal.record_fill(fill("f-part", order_id="o-part", ticker=TICKER_B, count=3))
    await _executed(journal, "c-all", "o-all", 5)  # booked in two netted parts that add up to 5
    await journal.record_fill(fill("f-all", order_id="o-all", side="yes", action="sell", count=2))
    await journal.record_fill(fill("f-all:open", order_id="o-all", side="no", action="buy", count=3, fee_cc=0))
    await _executed(journal, "c-zero", "o-zero", 0)  # nothing filled
    await journal.record_intent(intent("c-unsent"))  # no order_id yet
    assert await journal.orders_short_of_fills() == [("o-none", TICKER), ("o-part", TICKER_B)]
