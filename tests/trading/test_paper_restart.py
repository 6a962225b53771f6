"""A dry run on a real exchange continues where it stopped: the paper account is rebuilt from its journal.

The paper account trades against a fake of the exchange's market data; the journal books what
reconciliation reads from it (the daemon's own bookkeeping path). The account is then dropped, as a
stop drops it, and a new one is restored from the journal: cash, positions, fills and settlements
agree, reconciliation finds nothing to book, resting paper orders are cancelled with their reason,
and a market that closed while the daemon was down settles at its published result.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta
from pathlib import Path

import attrs
import pytest
from structlog.testing import capture_logs

from kalshid.core.fees import taker_fee_cc
from kalshid.exchange.paper import PaperExchange
from kalshid.exchange.types import OrderBook, OrderRequest
from kalshid.store import Journal, open_journal, records
from kalshid.store.identity import paper_identity
from kalshid.trading.paperrestore import CANCELLED_AT_RESTART, paper_bankroll, restore_paper_account
from kalshid.trading.reconcile import ReconciliationError, reconcile
from tests.exchange.paperkit import OPEN, TICKER, StrictMarketData

CLOSE = OPEN + timedelta(minutes=15)
BANKROLL_CC = 1_000_000
IDENTITY = paper_identity("demo", "https://demo-api.kalshi.co/trade-api/v2")


def market_data() -> StrictMarketData:
    """The market open, its book YES bids 40c×10, NO bids 44c×5: YES asks 56c×5, NO asks 60c×10."""
    return StrictMarketData(OrderBook(ticker=TICKER, yes=((4000, 10),), no=((4400, 5),)))


class Clock:
    def __init__(self) -> None:
        self.now = OPEN + timedelta(minutes=3)

    def __call__(self) -> datetime:
        return self.now


async def _order(paper: PaperExchange, journal: Journal, cid: str, side: str, price_cc: int, count: int,
                 now: datetime) -> None:
    """Journal the intent, place it on paper, journal the answer (fills are booked by reconciliation)."""
    await journal.record_intent(records.OrderIntent(client_order_id=cid, ts=now, strategy="kelly_volatility",
                                                    ticker=TICKER, side=side, action="buy", price_cc=price_cc,
                                                    count=count, tif="resting"))
    order = await paper.create_order(OrderRequest(ticker=TICKER, side=side, action="buy", count=count,
                                                  price_cc=price_cc, client_order_id=cid))
    from kalshid.trading.convert import order_update

    await journal.apply_order_update(order_update(order, ts=now, source="exchange"))


async def _start(journal: Journal, md: StrictMarketData, clock: Clock, bankroll_cc: int = BANKROLL_CC) -> PaperExchange:
    """What the venue does at a dry run's start."""
    await journal.bind_exchange(IDENTITY)
    paper = PaperExchange(md, starting_balance_cc=await paper_bankroll(journal, bankroll_cc), now=clock)  # type: ignore[arg-type]
    await restore_paper_account(paper, journal, clock())
    return paper


def _books(positions: Sequence[records.Position]) -> dict[str, tuple[int, int, int, int]]:
    return {p.ticker: (p.yes_count - p.no_count, p.cost_basis_cc, p.fees_cc, p.realized_cc) for p in positions}


async def test_a_dry_run_restarts_with_its_cash_and_position_and_then_settles(tmp_path: Path) -> None:
    path = tmp_path / "kalshid-demo-dry.sqlite3"
    md, clock = market_data(), Clock()
    async with open_journal(path, "dry", inline=True) as journal:
        first = await _start(journal, md, clock)
        await _order(first, journal, "c-yes", "yes", 5600, 5, clock())  # takes 5 YES at 56c
        clock.now += timedelta(seconds=1)  # fills of one time are booked newest first by reconciliation
        await _order(first, journal, "c-no", "no", 6000, 8, clock())  # closes those 5 YES, opens 3 NO
        await _order(first, journal, "c-rest", "yes", 3000, 4, clock())  # rests below the book
        _portfolio, _live, summary = await reconcile(first, journal, clock())
        assert summary["fills_booked"] == 3  # one YES fill; the NO fill in a closing and an opening part
        cash = first.cash_cc
        fees = taker_fee_cc(5, 5600) + taker_fee_cc(8, 6000)
        # buy 5 YES at 56c, sell them at 40c (= buy NO at 60c), buy 3 NO at 60c
        assert cash == BANKROLL_CC - 5 * 5600 + 5 * 4000 - 3 * 6000 - fees
        held = [(p.ticker, p.position, p.market_exposure_cc) for p in await first.list_positions()]
        assert held == [(TICKER, -3, 3 * 6000)]
        journal_books = _books(await journal.positions(include_settled=True))
    # the stop: the paper account is gone, the journal stays

    clock.now += timedelta(minutes=2)
    async with open_journal(path, "dry", inline=True) as journal:
        second = await _start(journal, md, clock)
        assert second.cash_cc == cash
        assert [(p.ticker, p.position, p.market_exposure_cc) for p in await second.list_positions()] == held
        assert {f.fill_id for f in await second.list_fills()} == {f.fill_id for f in await journal.all_fills()}
        rested = await journal.get_order_by_client_id("c-rest")
        assert rested is not None and rested.state is records.OrderState.CANCELED
        last = (await journal.order_events("c-rest"))[-1].detail
        assert (last["to"], last["source"], last["detail"]) == ("canceled", "restart", CANCELLED_AT_RESTART)
        assert await second.list_orders(status="resting") == []
        portfolio, live, summary = await reconcile(second, journal, clock())
        assert summary["fills_booked"] == 0 and summary["settlements_booked"] == 0 and live == {}
        assert portfolio.cash_cc == cash - cash % 100  # the balance is whole cents, as the exchange's
        assert _books(await journal.positions(include_settled=True)) == journal_books

    # the market closes while the daemon is down and settles NO: 3 NO pay $1 each
    clock.now = CLOSE + timedelta(minutes=5)
    md.market = attrs.evolve(md.market, status="finalized", result="no")
    async with open_journal(path, "dry", inline=True) as journal:
        third = await _start(journal, md, clock)
        _portfolio, _live, summary = await reconcile(third, journal, clock())
        assert summary["settlements_booked"] == 1 and summary["settlement_mismatches"] == []
        assert third.cash_cc == cash + 3 * 10_000
        [settlement] = await journal.settlements()
        assert (settlement.settlement.no_count, settlement.settlement.revenue_cc) == (3, 30_000)
        [position] = await journal.positions(include_settled=True)
        assert position.settled and position.yes_count == position.no_count == 0
        assert BANKROLL_CC + position.realized_cc - position.fees_cc == third.cash_cc
        assert await third.list_positions() != [] and all(p.position == 0 for p in await third.list_positions())

    async with open_journal(path, "dry", inline=True) as journal:  # and a settled market stays settled
        fourth = await _start(journal, md, clock)
        assert fourth.cash_cc == cash + 3 * 10_000
        _portfolio, _live, summary = await reconcile(fourth, journal, clock())
        assert summary["settlements_booked"] == 0 and summary["fills_booked"] == 0


async def test_a_changed_bankroll_leaves_the_dry_run_history_as_it_is(tmp_path: Path) -> None:
    path = tmp_path / "kalshid-demo-dry.sqlite3"
    md, clock = market_data(), Clock()
    async with open_journal(path, "dry", inline=True) as journal:
        await _start(journal, md, clock)
    async with open_journal(path, "dry", inline=True) as journal:
        with capture_logs() as logs:
            again = await _start(journal, md, clock, bankroll_cc=2 * BANKROLL_CC)
        assert again.cash_cc == BANKROLL_CC
    [line] = [e for e in logs if e["event"] == "paper_bankroll_changed"]
    assert (line["journal_bankroll_cc"], line["configured_bankroll_cc"]) == (BANKROLL_CC, 2 * BANKROLL_CC)


async def test_a_journal_whose_fills_do_not_replay_stops_the_start_with_what_to_do(tmp_path: Path) -> None:
    path = tmp_path / "kalshid-demo-dry.sqlite3"
    md, clock = market_data(), Clock()
    async with open_journal(path, "dry", inline=True) as journal:
        await journal.record_fill(records.Fill(fill_id="f-1", order_id="o-1", ticker=TICKER, side="yes",
                                               action="sell", count=2, price_cc=4000, fee_cc=0, is_taker=True,
                                               ts=clock()))  # a sale of contracts never bought
        with pytest.raises(ReconciliationError, match=r"does not replay .*selling 2 but only 0 held.*move it away"):
            await _start(journal, md, clock)
