"""Fills are booked as Kalshi nets them: a trade closes the opposite holding first."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import attrs
import pytest

from kalshid.exchange.types import Fill
from kalshid.store import open_journal
from kalshid.trading.convert import journal_fill
from kalshid.trading.netting import AccountHoldings, net_fill

T = datetime(2026, 7, 8, 22, 50, tzinfo=UTC)


def fill(side: str, action: str, count: int, price_cc: int, fee_cc: int = 70) -> Fill:
    yes = price_cc if side == "yes" else 10_000 - price_cc
    return Fill(fill_id="f", order_id="o", ticker="KX", side=side, action=action, count=count,  # type: ignore[arg-type]
                yes_price_cc=yes, no_price_cc=10_000 - yes, is_taker=True, fee_cc=fee_cc, ts=T)


def view(parts: list[Fill]) -> list[tuple[str, str, str, int, int, int]]:
    return [(p.fill_id, p.side, p.action, p.count, p.price_cc, p.fee_cc) for p in parts]


@pytest.mark.parametrize(("side", "action", "price"), [("yes", "buy", 4200), ("no", "sell", 5800)])
def test_a_bid_closes_no_first_then_buys_yes(side: str, action: str, price: int) -> None:
    assert view(net_fill(fill(side, action, 5, price), held_yes=0, held_no=3)) == [
        ("f", "no", "sell", 3, 5800, 70), ("f:open", "yes", "buy", 2, 4200, 0)]
    assert view(net_fill(fill(side, action, 5, price), held_yes=9, held_no=0)) == [("f", "yes", "buy", 5, 4200, 70)]
    assert view(net_fill(fill(side, action, 2, price), held_yes=0, held_no=8)) == [("f", "no", "sell", 2, 5800, 70)]


@pytest.mark.parametrize(("side", "action", "price"), [("no", "buy", 5800), ("yes", "sell", 4200)])
def test_an_ask_closes_yes_first_then_buys_no(side: str, action: str, price: int) -> None:
    parts = net_fill(fill(side, action, 5, price), held_yes=4, held_no=0)
    assert view(parts) == [("f", "yes", "sell", 4, 4200, 70), ("f:open", "no", "buy", 1, 5800, 0)]
    assert sum(p.fee_cc for p in parts) == 70 and sum(p.count for p in parts) == 5
    assert view(net_fill(fill(side, action, 5, price), held_yes=0, held_no=0)) == [("f", "no", "buy", 5, 5800, 70)]


def test_buying_no_while_holding_yes_is_selling_yes_to_the_cent() -> None:
    # hold 10 YES bought at $0.40; buy 10 NO at $0.55: Kalshi nets the pairs and pays $1 each
    (closing,) = net_fill(fill("no", "buy", 10, 5500, fee_cc=0), held_yes=10, held_no=0)
    assert (closing.side, closing.action, closing.count, closing.price_cc) == ("yes", "sell", 10, 4500)
    cash_kalshi = -10 * 5500 + 10 * 10_000  # pay for NO, then the netted pairs pay out
    assert cash_kalshi == 10 * closing.price_cc


async def test_holdings_come_from_the_journal_and_a_fill_seen_again_is_not_split_again(tmp_path: Path) -> None:
    async with open_journal(tmp_path / "j.sqlite3", "sim", inline=True) as journal:
        holdings = AccountHoldings(journal)

        async def book(f: Fill) -> list[tuple[str, str, str, int, int, int]]:
            parts = await holdings.split(f)
            for p in parts:
                assert await journal.record_fill(journal_fill(p, ts=T, strategy="s"))
                holdings.booked(p)
            return view(parts)

        assert await book(attrs.evolve(fill("yes", "buy", 4, 4200), fill_id="a")) == [("a", "yes", "buy", 4, 4200, 70)]
        ask = attrs.evolve(fill("no", "buy", 6, 5800), fill_id="b")
        assert await book(ask) == [("b", "yes", "sell", 4, 4200, 70), ("b:open", "no", "buy", 2, 5800, 0)]
        assert await book(ask) == []  # the same fill again (REST after the feed): booked once
        assert await AccountHoldings(journal).get("KX") == (0, 2)  # a fresh reader agrees, from the journal


async def test_both_parts_of_a_netted_fill_are_journaled_in_one_transaction(tmp_path: Path) -> None:
    async with open_journal(tmp_path / "j.sqlite3", "sim", inline=True) as journal:
        parts = net_fill(attrs.evolve(fill("yes", "buy", 51, 7100), fill_id="d"), held_yes=0, held_no=4)
        rows = [journal_fill(p, ts=T, strategy="s") for p in parts]
        assert await journal.record_fill_parts(rows) == [True, True]
        assert await journal.record_fill_parts(rows) == [False, False]  # seen again: nothing new
        assert await AccountHoldings(journal).get("KX") == (47, -4)


async def test_a_closing_part_journaled_without_its_opening_part_gets_it_back(tmp_path: Path) -> None:
    """The state a process leaves when it ends between the two parts' writes (one transaction each):
    the closing sell is in the journal, the opening buy is not. Seen again, the fill yields exactly the
    missing opening part (fee on the closing part, as booked); with both parts in, nothing."""
    async with open_journal(tmp_path / "j.sqlite3", "sim", inline=True) as journal:
        for f in (attrs.evolve(fill("no", "buy", 54, 2400), fill_id="n"),):
            assert await journal.record_fill(journal_fill(f, ts=T, strategy="s"))
        bought = attrs.evolve(fill("yes", "buy", 50, 7100), fill_id="c", order_id="o2")
        holdings = AccountHoldings(journal)
        first = await holdings.split(bought)
        assert view(first) == [("c", "no", "sell", 50, 2900, 70)]
        assert await journal.record_fill_parts([journal_fill(p, ts=T, strategy="s") for p in first]) == [True]
        holdings.booked(first[0])
        netted = attrs.evolve(fill("yes", "buy", 51, 7100), fill_id="d", order_id="o3")
        closing, opening = await holdings.split(netted)
        assert view([closing, opening]) == [("d", "no", "sell", 4, 2900, 70), ("d:open", "yes", "buy", 47, 7100, 0)]
        assert await journal.record_fill(journal_fill(closing, ts=T, strategy="s"))  # and then the process ended

        fresh = AccountHoldings(journal)  # the next start
        assert view(await fresh.split(netted)) == [("d:open", "yes", "buy", 47, 7100, 0)]
        assert await journal.record_fill(journal_fill(opening, ts=T, strategy="s"))
        assert await AccountHoldings(journal).split(netted) == []
        assert await AccountHoldings(journal).get("KX") == (47, 0)  # what the exchange holds: +47
