"""The fee-structure gate end to end (the embedded simulator under MockClock): where the exchange's fee
structure is not the one kalshid models, no buy is sent, risk refuses with ``fee_schedule`` and the
alert goes out once per market; with the simulator's defaults kalshid trades as before."""

from __future__ import annotations

import sqlite3
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
import trio
from daemonkit import published_events, running_daemon, wait_for

from kalshid.exchange.base import EventFeeUpdated, Reconnected


def verdict_reasons(tmp_path: Path) -> dict[str, int]:
    """The journal's risk verdicts by reason code (read after the daemon stopped)."""
    with sqlite3.connect(tmp_path / "var" / "kalshid-sim.sqlite3") as conn:
        return dict(conn.execute("SELECT reason_code, COUNT(*) FROM risk_verdicts GROUP BY reason_code").fetchall())


@pytest.mark.parametrize(("env", "said"), [
    ({"KALSHID_SIM__FEE_MULTIPLIER": "2"}, "the exchange charges quadratic x2 (series)"),
    ({"KALSHID_SIM__EVENT_FEE_MULTIPLIER_OVERRIDE": "1.25"}, "the exchange charges quadratic x1.25 (series+event)"),
])
async def test_no_buy_where_the_fee_structure_is_not_kalshids_model(
        tmp_path: Path, autojump_clock: object, env: dict[str, str], said: str) -> None:
    async with running_daemon(tmp_path, **env) as (daemon, _sup):
        control = daemon.control
        assert control is not None
        events = published_events(daemon)
        # the markets were judged before they were followed: both refused from the start
        status = await control.status()
        assert status["fees"] and all(f["entries"] == "refused" and said in f["detail"]
                                      for f in status["fees"].values()), status["fees"]
        current = status["market"]
        markets = await control.markets()
        assert markets["current"]["fees"]["modelled"] is False

        def refusals() -> list[dict[str, Any]]:
            return [d for k, d in events if k == "alert" and d.get("kind") == "risk_rejection"
                    and d.get("reason") == "fee_schedule"]

        async def refused_a_few() -> bool:
            return len(refusals()) >= 3

        await wait_for(refused_a_few, limit_s=1800)
        assert all(said in r["detail"] for r in refusals())
        await trio.sleep(1800)  # two more windows: each new one is read, judged and refused alike
        assert not (await daemon.p.require_journal().list_orders(limit=1000)).items
        assert daemon.p.sim_handle.venue.exchange.accounts  # the simulator ran
        assert b'kalshid_rejections_total{reason="fee_schedule",source="risk"}' in daemon.metrics.exposition()
        # the alert: once per market (and structure), not once per refusal or per refresh
        alerts = [d for k, d in events if k == "alert" and d.get("kind") == "fee_schedule"]
        tickers = [a["ticker"] for a in alerts]
        assert len(tickers) == len(set(tickers)) >= 2 and current not in tickers  # current's went out at start
        assert all(a["level"] == "error" and said in a["detail"] for a in alerts)
    reasons = verdict_reasons(tmp_path)
    assert reasons.get("fee_schedule", 0) >= 3 and "approved" not in reasons and "reduced" not in reasons


async def test_with_the_simulators_defaults_the_markets_trade(tmp_path: Path, autojump_clock: object) -> None:
    async with running_daemon(tmp_path) as (daemon, _sup):
        control = daemon.control
        assert control is not None
        status = await control.status()
        fees = list(status["fees"].values())
        assert len(fees) == 2 and all(f["entries"] == "allowed" and f["fee_type"] == "quadratic"
                                      and f["fee_multiplier"] == "1" and f["detail"] is None for f in fees)

        async def ordered() -> bool:
            return bool((await daemon.p.require_journal().list_orders(limit=1)).items)

        await wait_for(ordered, limit_s=1800)
    assert "fee_schedule" not in verdict_reasons(tmp_path)


async def test_an_override_the_feed_announces_refuses_the_windows_buys_at_once(
        tmp_path: Path, autojump_clock: object) -> None:
    async with running_daemon(tmp_path) as (daemon, _sup):
        control = daemon.control
        assert control is not None
        status = await control.status()
        current = status["market"]
        event = status["fees"][current]["event"]
        assert status["fees"][current]["entries"] == "allowed"
        # as the router hands the feed's event_fee_update to the feed's observer: no refresh, no read between
        daemon.feed._observe(EventFeeUpdated(event, None, Decimal(2), 0.0))
        fees = (await control.status())["fees"]
        assert fees[current]["entries"] == "refused" and "quadratic x2 (series+event)" in fees[current]["detail"]
        assert daemon.p.state.fee_refusals.keys() == {current}
        await trio.sleep(60)  # a refresh or more later it still holds: the override stays until cleared
        assert daemon.p.state.fee_refusals.keys() == {current}
        daemon.feed._observe(EventFeeUpdated(event, None, None, 0.0))
        assert (await control.status())["fees"][current]["entries"] == "allowed"
        assert not daemon.p.state.fee_refusals


async def test_after_the_feed_reconnects_the_followed_events_are_read_again(
        tmp_path: Path, autojump_clock: object) -> None:
    async with running_daemon(tmp_path) as (daemon, _sup):
        control = daemon.control
        assert control is not None
        current = (await control.status())["market"]
        assert current not in daemon.p.state.fee_refusals
        # an override set while the feed was away: the event_fee_update that said so was never received
        daemon.p.sim_handle.venue.exchange.event_fee_multiplier_override = Decimal(2)
        daemon.feed._observe(Reconnected(1, trio.current_time()))

        async def refused() -> bool:
            return current in daemon.p.state.fee_refusals

        await wait_for(refused, limit_s=60, every_s=1)
        assert "quadratic x2 (series+event)" in daemon.p.state.fee_refusals[current]
