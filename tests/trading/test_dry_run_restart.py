"""A dry run on an exchange that outlives the daemon (here a ``kalshid sim`` of its own, as demo and prod
are) continues after a restart: the second run's paper account, journal, ``/api/positions`` and
``kalshid journal positions`` hold what the first run left, to the centi-cent, and the position settles
at its market's result, whether the market closes while the daemon runs again or while it is down.
Under Trio's MockClock."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime
from pathlib import Path

import httpx
import pytest
import trio
from cryptography.hazmat.primitives.asymmetric import rsa
from daemonkit import TOKEN, running_daemon, wait_for
from structlog.testing import capture_logs

from kalshid.cli import main
from kalshid.core.units import ONE_DOLLAR_CC
from kalshid.exchange.kalshi.auth import Signer
from kalshid.sim.server import SimSettings, serve_simulator
from kalshid.store import open_journal, records
from kalshid.trading.wiring import TradingDaemon

WINDOW_S = 900




async def _books(daemon: TradingDaemon) -> tuple[int, dict[str, int], dict[str, tuple[int, int]]]:
    """(cash, open positions) of the daemon's paper account, and the open positions of its journal."""
    paper = daemon.p.exchange
    held = {p.ticker: p.position for p in await paper.list_positions() if p.position}
    journal = {p.ticker: (p.yes_count, p.no_count) for p in await daemon.p.require_journal().positions()
               if p.yes_count or p.no_count}
    return paper.cash_cc, held, journal


async def _api_positions(daemon: TradingDaemon) -> dict[str, tuple[int, int]]:
    assert daemon.api_url is not None
    async with httpx.AsyncClient(base_url=daemon.api_url) as client:
        api = (await client.get("/api/positions", headers={"Authorization": f"Bearer {TOKEN}"})).json()
    return {p["ticker"]: (p["yes_count"], p["no_count"]) for p in api}


def _cli_positions(journal: Path, capsys: pytest.CaptureFixture[str]) -> dict[str, tuple[int, int]]:
    """``kalshid journal positions`` (it reads the file, as beside a running daemon)."""
    capsys.readouterr()
    assert main(["journal", "--journal", str(journal), "--json", "positions"]) == 0
    return {p["ticker"]: (p["yes_count"], p["no_count"]) for p in json.loads(capsys.readouterr().out)}


@pytest.mark.parametrize("down_over_the_close", [False, True], ids=["settles_while_running", "settles_while_down"])
async def test_a_dry_run_continues_after_a_restart_and_settles(tmp_path: Path, autojump_clock: object,
                                                               capsys: pytest.CaptureFixture[str],
                                                               down_over_the_close: bool) -> None:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    signer = Signer(str(uuid.uuid4()), key)
    start = datetime(2026, 7, 8, 22, 44, tzinfo=UTC).timestamp()
    settings = SimSettings(seed=11, start=start, keys=((signer.key_id, key.public_key()),), max_skew_s=None)
    async with trio.open_nursery() as nursery:
        sim = await nursery.start(serve_simulator, settings)
        env = {"DRY_RUN_MODE": "true", "KALSHI_API_BASE_URL": sim.rest_base_url, "KALSHI_WS_URL": sim.ws_url}
        # a journal of the embedded simulator's dry run at the same path: set aside, not continued
        stale = tmp_path / "var" / "kalshid-sim-dry.sqlite3"
        async with open_journal(stale, "dry", inline=True) as old:
            await old.bind_exchange("fresh:sim")
            await old.record_fill(records.Fill(fill_id="f-old", order_id="o-old", ticker="KXSOL15M-26JUL010000-00",
                                               side="yes", action="buy", count=1, price_cc=5000, fee_cc=0,
                                               is_taker=True, ts=datetime(2026, 7, 1, tzinfo=UTC)))
        with capture_logs() as logs:
            async with running_daemon(tmp_path, signer=signer, **env) as (first, _sup):
                assert first.p.state.mode == "dry" and first.p.sim_handle is None
                assert first.p.require_journal().path == stale
                assert "f-old" not in {f.fill_id for f in await first.p.require_journal().all_fills()}

                async def holds() -> bool:
                    return any(p.position for p in await first.p.exchange.list_positions())

                await wait_for(holds, limit_s=4 * WINDOW_S, every_s=5)
                paper = first.p.exchange
                journal_file = first.p.require_journal().path
        [aside] = [e for e in logs if e["event"].startswith("a journal of an in-memory exchange was set aside")]
        assert len(list(stale.parent.glob("kalshid-sim-dry.*Z.sqlite3"))) == 1 and aside["journal"] == str(stale)
        # what the first run left at its stop: its paper account (still in memory here) and its journal
        cash = paper.cash_cc
        held = {p.ticker: p.position for p in await paper.list_positions() if p.position}
        assert held and _cli_positions(journal_file, capsys) == {t: (max(n, 0), max(-n, 0)) for t, n in held.items()}

        async def payout(daemon: TradingDaemon) -> int:
            out = 0
            for ticker, n in held.items():
                result = (await daemon.p.exchange.get_market(ticker)).result
                assert result in ("yes", "no")
                out += abs(n) * ONE_DOLLAR_CC if (n > 0) == (result == "yes") else 0
            return out

        if down_over_the_close:  # every market held closes and has its result before the next start
            await trio.sleep(WINDOW_S + 180)
        # stopped: no new order, so what it holds is only what the first run left
        async with running_daemon(tmp_path, stopped=True, signer=signer, **env) as (second, _sup):
            assert second.p.state.reconciliation["ok"] is True
            journal = second.p.require_journal()
            if down_over_the_close:  # settled by reconciliation, before the daemon was ready
                assert {r.settlement.ticker for r in await journal.settlements()} >= set(held)
                assert second.p.exchange.cash_cc == cash + await payout(second)
                assert await _books(second) == (cash + await payout(second), {}, {})
                assert await _api_positions(second) == {} and _cli_positions(journal_file, capsys) == {}
            else:
                books = (cash, held, {t: (max(n, 0), max(-n, 0)) for t, n in held.items()})
                assert await _books(second) == books
                assert await _api_positions(second) == books[2]
                assert _cli_positions(journal_file, capsys) == books[2]

                async def settled() -> bool:
                    return {r.settlement.ticker for r in await journal.settlements()} >= set(held)

                await wait_for(settled, limit_s=2 * WINDOW_S, every_s=5)
                paid = await payout(second)
                assert second.p.exchange.cash_cc == cash + paid
                assert [p for p in await journal.positions() if p.yes_count or p.no_count] == []
        assert len(list(stale.parent.glob("kalshid-sim-dry.*Z.sqlite3"))) == 1  # the dry run's own: kept
        sim.stop()
