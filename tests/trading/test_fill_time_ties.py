"""Fills of one market at the same exchange time are replayed in the order they were booked."""

from __future__ import annotations

from datetime import timedelta

from kalshid.store import Journal, records
from kalshid.trading.reconcile import rebuild_portfolio
from tests.trading.stagekit import NOW, TICKER


def fill(fill_id: str, action: str, count: int, price_cc: int) -> records.Fill:
    return records.Fill(fill_id=fill_id, order_id=f"o-{fill_id}", ticker=TICKER, side="yes", action=action,
                        count=count, price_cc=price_cc, fee_cc=0, is_taker=True, ts=NOW)


async def test_a_buy_and_its_sale_at_the_same_time_replay_as_booked_whatever_their_ids(journal: Journal) -> None:
    """Held 5 YES at 40¢; then, in the same microsecond, the 5 are sold at 50¢ and 5 bought again at
    60¢, booked in that order. The fills' ids sort the other way round (ids are the exchange's random
    text), so a replay by id would buy first (10 held at 50¢ on average, the sale realising nothing)
    or, for a first buy and its sale, sell what is not yet held and refuse the start. Replayed as
    booked, the start's portfolio, the journal's positions and its P&L all say what the daemon did."""
    earlier = records.Fill(fill_id="m-open", order_id="o-open", ticker=TICKER, side="yes", action="buy", count=5,
                           price_cc=4000, fee_cc=0, is_taker=True, ts=NOW - timedelta(minutes=1))
    assert await journal.record_fill(earlier)
    assert await journal.record_fill(fill("z-sell", "sell", 5, 5000))
    assert await journal.record_fill(fill("a-buy", "buy", 5, 6000))
    # a first buy and its sale at one time, ids again the other way round
    assert await journal.record_fill(records.Fill(
        fill_id="z-first", order_id="o-first", ticker=TICKER, side="no", action="buy", count=2, price_cc=3000,
        fee_cc=0, is_taker=True, ts=NOW))
    assert await journal.record_fill(records.Fill(
        fill_id="a-exit", order_id="o-exit", ticker=TICKER, side="no", action="sell", count=2, price_cc=3500,
        fee_cc=0, is_taker=True, ts=NOW))

    portfolio = await rebuild_portfolio(journal)  # by id: "journal fills do not replay" (sold before held)
    position = portfolio.positions[TICKER]
    assert (position.yes_count, position.no_count) == (5, 0)
    realised = 5 * (5000 - 4000) + 2 * (3500 - 3000)
    assert portfolio.realized_pnl_cc == realised
    [journal_position] = await journal.positions()
    assert (journal_position.yes_count, journal_position.cost_basis_cc, journal_position.realized_cc) == (
        5, 5 * 6000, realised)
    assert sum(row.realized_cc for row in await journal.pnl("ticker")) == realised


def test_fills_listed_newest_first_are_taken_in_the_order_they_happened() -> None:
    """An exchange lists fills newest first; two of the same instant are listed the later first. The
    catch-up and reconciliation take them oldest first, ties in the reverse of the listing's order (so
    netting splits each by what was held when it came), and a fill without a time last."""
    from kalshid.exchange.types import Fill
    from kalshid.trading.netting import oldest_first

    def ex(fill_id: str, seconds: int | None) -> Fill:
        return Fill(fill_id=fill_id, order_id="o-" + fill_id, ticker=TICKER, side="yes", action="buy", count=1,
                    yes_price_cc=5000, no_price_cc=5000, is_taker=True, fee_cc=0,
                    ts=None if seconds is None else NOW + timedelta(seconds=seconds), book_side="bid")

    listed = [ex("undated", None), ex("third", 2), ex("second", 1), ex("first", 1), ex("zeroth", 0)]
    assert [f.fill_id for f in oldest_first(listed)] == ["zeroth", "first", "second", "third", "undated"]
