"""The pipeline's safety behaviours end to end, against the embedded simulator under MockClock:
the circuit breaker halts trading, a dry run never sends an order, and dashboards see it all."""

from __future__ import annotations

import json
from pathlib import Path

import httpx
import trio
import trio_websocket
from daemonkit import TOKEN, running_daemon, wait_for

from kalshid.core.breaker import BreakerStatus
from kalshid.exchange.types import OrderRequest
from kalshid.sim.server import TRADER_USER
from kalshid.store import Journal


async def test_breaker_trips_halts_trading_and_needs_a_reset(tmp_path: Path, autojump_clock: object) -> None:
    # A 0.1% daily-loss breaker trips on the first fee paid and spread crossed.
    async with running_daemon(tmp_path, KALSHID_RISK__BREAKER_DAILY_LOSS_FRACTION="0.001") as (daemon, _sup):
        state = daemon.p.state

        async def halted() -> bool:
            return state.breaker.status is BreakerStatus.HALTED

        await wait_for(halted, limit_s=1800)
        journal = daemon.p.require_journal()
        events = await journal.breaker_events()
        assert events[-1].to_state == "halted" and events[-1].reason.startswith("daily_loss")
        orders_at_trip = (await journal.list_orders(limit=1000)).items
        assert not len(daemon.p.orders)  # the trip cancelled whatever was resting
        rejections_at_trip = daemon.p.snapshots.counters().get("rejections", 0)

        await trio.sleep(300)  # five simulated minutes of signals while halted
        assert len((await journal.list_orders(limit=1000)).items) == len(orders_at_trip)
        counters = daemon.p.snapshots.counters()
        assert counters.get("signals_suppressed", 0) > 0  # signals kept coming and were held back
        # none reached risk but what was on its way at the trip (one intent per strategy at a time)
        assert counters.get("rejections", 0) - rejections_at_trip <= len(daemon.p.registry.active())

        # The operator resets: the breaker runs again, but trading stays stopped until start.
        control = daemon.control
        assert control is not None
        status = await control.reset_breaker()
        assert status["breaker"]["state"] == "running" and status["state"] == "stopped"
        status = await control.start()
        assert status["state"] == "running"


async def test_dry_run_trades_on_paper_and_never_sends_an_order(tmp_path: Path, autojump_clock: object) -> None:
    async with running_daemon(tmp_path, DRY_RUN_MODE="true") as (daemon, _sup):
        assert daemon.p.state.mode == "dry"

        async def filled() -> bool:
            return daemon.p.snapshots.counters().get("fills", 0) >= 3

        await wait_for(filled, limit_s=1800)
        engine = daemon.p.sim_handle.venue.exchange
        assert not [o for o in engine.orders.values() if o.user_id == TRADER_USER]
        assert not engine.accounts[TRADER_USER].fills
        journal = daemon.p.require_journal()
        assert journal.mode.value == "dry" and journal.path.name == "kalshid-sim-dry.sqlite3"
        fills = (await journal.list_fills(limit=100)).items
        assert len(fills) >= 3 and all(f.strategy for f in fills)


async def test_dashboard_websocket_sees_status_and_trade_executions(tmp_path: Path, autojump_clock: object) -> None:
    async with running_daemon(tmp_path) as (daemon, _sup):
        url = daemon.api_url
        assert url is not None
        seen: set[str] = set()
        headers = [(b"authorization", f"Bearer {TOKEN}".encode())]
        async with trio_websocket.open_websocket_url(url.replace("http", "ws") + "/ws",
                                                     extra_headers=headers) as ws:
            with trio.fail_after(1800):
                while not {"status_update", "trade_execution"} <= seen:
                    message = json.loads(await ws.get_message())
                    seen.add(message["type"])
                    if message["type"] == "trade_execution":
                        data = message["data"]
                        assert data["count"] > 0 and data["ticker"].startswith("KXSOL15M-")
            await ws.send_message(json.dumps({"type": "command", "id": 7, "command": "stop_entry"}))
            with trio.fail_after(60):
                while True:
                    reply = json.loads(await ws.get_message())
                    if reply.get("id") == 7:
                        break
            assert reply["type"] == "ack"
        assert daemon.p.state.breaker.status is BreakerStatus.REDUCING


async def test_ctl_socket_and_metrics_answer_while_trading(tmp_path: Path, autojump_clock: object) -> None:

    from kalshid.control.cli import call

    async with running_daemon(tmp_path) as (daemon, _sup):
        async def traded() -> bool:
            return daemon.p.snapshots.counters().get("fills", 0) >= 1

        await wait_for(traded, limit_s=1800)
        assert daemon.control_path is not None
        response = await call(daemon.control_path, "status", {})
        assert response.ok, response
        status = response.result
        assert status["state"] == "running" and status["mode"] == "sim" and status["ready"] is True
        assert status["market"] is not None and status["market"].startswith("KXSOL15M-")
        positions = await call(daemon.control_path, "positions", {})
        assert positions.ok
        assert daemon.api_url is not None
        async with httpx.AsyncClient(base_url=daemon.api_url) as client:
            assert (await client.get("/metrics")).status_code == 401
            await trio.sleep(2)  # let the sampler publish the gauges once more
            text = (await client.get("/metrics", headers={"Authorization": f"Bearer {TOKEN}"})).text
        assert "kalshid_fills_total" in text and "kalshid_channel_buffer_used" in text


async def test_intents_are_fsynced_after_the_send_unless_configured_before(tmp_path: Path,
                                                                           autojump_clock: object) -> None:
    for before, expect_syncer in (("false", True), ("true", False)):
        async with running_daemon(tmp_path / before, KALSHID_JOURNAL__FSYNC_BEFORE_SEND=before) as (daemon, _sup):
            journal = daemon.p.require_journal()

            async def ordered(journal: Journal = journal) -> bool:
                return len((await journal.list_orders(limit=10)).items) >= 2

            await wait_for(ordered, limit_s=1800)
            await journal.intents_durable()
            stats = journal.statistics()
            assert stats.intents_unsynced == 0
            assert (stats.intent_syncs > 0) is expect_syncer  # else each append synced on the loop


async def test_emergency_cancel_all_pulls_the_kill_switch_and_pauses_orders(tmp_path: Path,
                                                                          autojump_clock: object) -> None:
    async with running_daemon(tmp_path) as (daemon, _sup):
        engine = daemon.p.sim_handle.venue.exchange
        journal = daemon.p.require_journal()

        def resting() -> list[object]:
            return [o for o in engine.orders.values() if o.user_id == TRADER_USER and o.status == "resting"]

        async def trading() -> bool:
            return daemon.p.state.ready and daemon.p.state.current_market is not None

        await wait_for(trading, limit_s=600)
        market = daemon.p.state.current_market
        assert market is not None
        # an order resting on the account (placed beside the daemon: it adopts it as external)
        await daemon.p.require_exchange().create_order(OrderRequest(market.ticker, "yes", "buy", 2, 100, "outside-1"))
        assert resting()
        assert daemon.api_url is not None
        async with httpx.AsyncClient(base_url=daemon.api_url) as client:
            assert (await client.post("/api/emergency/cancel-all")).status_code == 401
            answer = await client.post("/api/emergency/cancel-all", headers={"Authorization": f"Bearer {TOKEN}"})
        assert answer.status_code == 200, answer.text

        async def all_canceled() -> bool:
            return not resting() and not len(daemon.p.orders)

        await wait_for(all_canceled, limit_s=30)
        paused_from = trio.current_time()
        paused_until = daemon.p.snapshots.execution.orders.paused_until
        assert paused_until - paused_from > 50  # a minute without orders from the cancel-all
        placed = len((await journal.list_orders(limit=1000)).items)
        await trio.sleep(paused_until - trio.current_time() - 1)
        assert len((await journal.list_orders(limit=1000)).items) == placed  # nothing placed meanwhile
        # the kill switch is not a stop: trading goes on after the minute
        assert daemon.p.snapshots.execution.trading_enabled


async def test_dry_run_journal_agrees_with_the_paper_account(tmp_path: Path, autojump_clock: object) -> None:
    """What the journal derives (``/api/positions``, ``/api/pnl``, ``kalshid journal positions``) is what
    the paper account holds, market by market, settled ones included, and its cash to the centi-cent."""
    async with running_daemon(tmp_path, DRY_RUN_MODE="true") as (daemon, _sup):
        paper = daemon.p.exchange
        journal = daemon.p.require_journal()
        bankroll = daemon.cfg.trading.bankroll_cc

        async def settled() -> bool:
            return any(s.settlement.yes_count or s.settlement.no_count for s in await journal.settlements())

        await wait_for(settled, limit_s=3600)
        seen: list[object] = []

        async def agree() -> bool:
            derived = {p.ticker: p for p in await journal.positions(include_settled=True)}
            held = {p.ticker: p for p in await paper.list_positions() if p.total_traded_cc}
            cash = paper.cash_cc
            mine = {t: (p.position, p.market_exposure_cc, p.fees_paid_cc, p.realized_pnl_cc) for t, p in held.items()}
            theirs = {t: (d.yes_count - d.no_count, d.cost_basis_cc, d.fees_cc, d.realized_cc - d.fees_cc)
                      for t, d in derived.items()}
            expected_cash = bankroll + sum(d.realized_cc - d.fees_cc - d.cost_basis_cc for d in derived.values())
            seen[:] = [mine, theirs, cash, expected_cash]
            return bool(mine) and mine == theirs and cash == expected_cash

        try:
            await wait_for(agree, limit_s=600, every_s=1.0)
        except trio.TooSlowError:
            raise AssertionError(f"paper (positions, cash) {seen[0]} {seen[2]} != journal {seen[1]} {seen[3]}") \
                from None
