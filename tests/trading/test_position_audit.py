"""The position audit end to end: a position the exchange holds and the journal cannot explain holds
new entries until the two agree again (the embedded simulator under MockClock)."""

from __future__ import annotations

from pathlib import Path

import attrs
import trio
from daemonkit import published_events, running_daemon, wait_for

from kalshid.sim.counts import CONTRACT
from kalshid.sim.model import Fill
from kalshid.sim.server import TRADER_USER


async def test_a_difference_found_twice_holds_entries_until_the_positions_agree(
    tmp_path: Path, autojump_clock: object
) -> None:
    async with running_daemon(tmp_path, KALSHID_TRADING__POSITION_AUDIT_SECONDS="30") as (daemon, _sup):
        events = published_events(daemon)
        control = daemon.control
        assert control is not None

        async def audited() -> bool:
            return (await control.status())["position_audit"]["checked_at"] is not None

        await wait_for(audited, limit_s=120)
        status = await control.status()
        assert status["position_audit"]["agrees"] is True and status["position_audit"]["differences"] == []

        # the exchange now holds 7 YES that no fill explains, in the latest window listed: it opens after
        # this test has put them back, so nothing else moves them meanwhile
        engine = daemon.p.sim_handle.venue.exchange
        ticker = max(engine.markets)
        assert ticker not in {m.ticker for m in (daemon.p.state.current_market, daemon.p.state.next_market) if m}
        account = engine.accounts[TRADER_USER]
        pos = account.position(ticker)
        seven = 7 * CONTRACT  # the simulator counts hundredths of a contract
        account.positions[ticker] = attrs.evolve(pos, yes=pos.yes + seven, yes_cost_cc=pos.yes_cost_cc + 35_000)

        async def disagree() -> bool:
            return (await control.status())["position_audit"]["agrees"] is False

        await wait_for(disagree, limit_s=120)
        status = await control.status()
        assert status["position_audit"]["differences"] == [
            f"{ticker}: journal says +0 (YES − NO), exchange says +7"]
        assert b"kalshid_position_mismatch_markets 1.0" in daemon.metrics.exposition()
        alerts = [d for k, d in events if k == "alert" and d.get("kind") == "position_mismatch"]
        assert len(alerts) == 1 and alerts[0]["level"] == "error" and ticker in alerts[0]["detail"]

        # while it lasts, buy signals are held back at the strategy stage (risk would refuse them: any
        # already on their way when the audit confirmed it are refused there) and nothing is sent
        suppressed = daemon.p.snapshots.counters().get("signals_suppressed", 0)

        async def held_back() -> bool:
            return daemon.p.snapshots.counters().get("signals_suppressed", 0) >= suppressed + 5

        await wait_for(held_back, limit_s=900)
        orders_before = (await daemon.p.require_journal().list_orders(limit=1000)).items
        await trio.sleep(120)
        assert (await daemon.p.require_journal().list_orders(limit=1000)).items == orders_before
        assert daemon.p.snapshots.counters()["signals_suppressed"] > suppressed + 5
        assert (await control.status())["position_audit"]["agrees"] is False

        # the exchange's extra contracts go away: the next audit agrees and entries resume
        pos = account.position(ticker)
        account.positions[ticker] = attrs.evolve(pos, yes=pos.yes - seven, yes_cost_cc=pos.yes_cost_cc - 35_000)

        async def agree() -> bool:
            return (await control.status())["position_audit"]["agrees"] is True

        await wait_for(agree, limit_s=120)
        assert any(k == "alert" and d.get("kind") == "positions_agree" for k, d in events)
        assert b"kalshid_position_mismatch_markets 0.0" in daemon.metrics.exposition()
        verdicts_at_agreement = len(events)

        async def approved_again() -> bool:
            return any(k == "trading_signal" for k, _ in events[verdicts_at_agreement:]) and len(
                (await daemon.p.require_journal().list_orders(limit=1000)).items) > len(orders_before)

        await wait_for(approved_again, limit_s=1800)


async def test_a_fill_no_message_or_catch_up_brought_is_found_and_booked_by_the_audit(
    tmp_path: Path, autojump_clock: object
) -> None:
    async with running_daemon(tmp_path, KALSHID_TRADING__POSITION_AUDIT_SECONDS="30") as (daemon, _sup):
        control = daemon.control
        assert control is not None

        async def traded() -> bool:
            return daemon.p.snapshots.counters().get("fills", 0) >= 1

        await wait_for(traded, limit_s=1800)
        # a fill of an hour ago appears on the account: older than anything the catch-up reads again, and
        # no message brings it (as a fill lost by an earlier version's time window would be)
        engine = daemon.p.sim_handle.venue.exchange
        ticker = max(engine.markets)
        account = engine.accounts[TRADER_USER]
        seven = 7 * CONTRACT
        account.fills.append(Fill("missed-1", "missed-1", "order-elsewhere", TRADER_USER, "", ticker, "yes",
                                  "buy", seven, 5_000, True, 0, daemon.clock.now().timestamp() - 3_600, seven))
        pos = account.position(ticker)
        account.positions[ticker] = attrs.evolve(pos, yes=pos.yes + seven, yes_cost_cc=pos.yes_cost_cc + 35_000)
        account.cash_cc -= 35_000
        journal = daemon.p.require_journal()

        async def booked() -> bool:
            return any(f.fill_id == "missed-1" for f in await journal.all_fills(ticker=ticker))

        await wait_for(booked, limit_s=120)
        assert daemon.p.state.portfolio.positions[ticker].yes_count == 7
        await trio.sleep(120)  # two more audits: the positions agree, nothing is confirmed or held
        status = await control.status()
        assert status["position_audit"]["agrees"] is True and status["position_audit"]["differences"] == []
        assert b"kalshid_position_mismatch_markets 0.0" in daemon.metrics.exposition()


async def test_a_fill_missed_in_a_window_that_closes_is_booked_before_its_settlement(
    tmp_path: Path, autojump_clock: object
) -> None:
    # the audit off: only the settlement check can find it
    async with running_daemon(tmp_path, KALSHID_TRADING__POSITION_AUDIT_SECONDS="0") as (daemon, _sup):
        async def traded() -> bool:  # from here the fill catch-up reads only the last seconds again
            return daemon.p.snapshots.counters().get("fills", 0) >= 1

        await wait_for(traded, limit_s=1800)
        engine = daemon.p.sim_handle.venue.exchange
        now = daemon.clock.now()
        # the open window: it closes within 15 minutes, and the audit would not look at it after that
        market = min((m for m in engine.markets.values() if m.status == "active" and m.window.close_time > now),
                     key=lambda m: m.window.close_time)
        ticker = market.ticker
        account = engine.accounts[TRADER_USER]
        seven = 7 * CONTRACT
        account.fills.append(Fill("missed-2", "missed-2", "order-elsewhere", TRADER_USER, "", ticker, "yes",
                                  "buy", seven, 5_000, True, 0, now.timestamp() - 3_600, seven))
        pos = account.position(ticker)
        account.positions[ticker] = attrs.evolve(pos, yes=pos.yes + seven, yes_cost_cc=pos.yes_cost_cc + 35_000)
        account.cash_cc -= 35_000
        journal = daemon.p.require_journal()

        async def settled() -> bool:
            return await journal.get_settlement(ticker) is not None

        await wait_for(settled, limit_s=1800)
        record = await journal.get_settlement(ticker)
        assert record is not None
        assert (record.check.value, record.check_detail) == ("ok", "")  # the journal holds what was paid
        assert any(f.fill_id == "missed-2" for f in await journal.all_fills(ticker=ticker))
        assert ticker not in daemon.p.state.portfolio.open_tickers()  # risk's portfolio settled it too
