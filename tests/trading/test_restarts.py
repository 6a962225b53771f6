"""Restarts on the embedded simulator, and a reconciliation that retries, under Trio's MockClock.

A fresh embedded simulator means a fresh journal: the previous run's journal is set aside and the
second run trades. A reconciliation that fails retries without the feed's events piling up in an
inbox nobody reads, and the daemon becomes ready once it succeeds.
"""

from __future__ import annotations

from pathlib import Path

import pytest
import trio
from daemonkit import daemon_env, running_daemon, wait_for
from structlog.testing import capture_logs

from kalshid.config import load_config
from kalshid.daemon.supervisor import EXIT_FAILURE, Runtime, Supervisor
from kalshid.store import open_journal
from kalshid.trading import app, recovery
from kalshid.trading.reconcile import ReconciliationError
from kalshid.trading.wiring import TradingDaemon

WINDOW_S = 900


async def _holds_position(daemon: TradingDaemon) -> bool:
    return any(p.yes_count or p.no_count for p in daemon.p.state.portfolio.positions.values())


async def test_a_second_run_on_the_embedded_simulator_trades(tmp_path: Path, autojump_clock: object) -> None:
    async with running_daemon(tmp_path) as (first, _sup):
        await wait_for(lambda: _holds_position(first), limit_s=4 * WINDOW_S, every_s=5)
    journal_file = Path(first.cfg.journal_path)

    async with running_daemon(tmp_path) as (second, _sup):  # ready: the old position did not block it
        assert second.p.state.reconciliation["ok"] is True
        assert second.p.state.portfolio.positions == {}

        async def traded() -> bool:
            return second.p.snapshots.counters().get("orders", 0) > 0

        await wait_for(traded, limit_s=4 * WINDOW_S, every_s=5)
    set_aside = sorted(journal_file.parent.glob(f"{journal_file.stem}.*Z.sqlite3"))
    assert len(set_aside) == 1


async def test_a_journal_of_another_exchange_is_refused_with_what_to_do(tmp_path: Path,
                                                                        autojump_clock: object) -> None:
    loaded = load_config(environ=daemon_env(tmp_path), cwd=tmp_path)
    async with open_journal(loaded.config.journal_path, loaded.config.journal_mode, inline=True) as journal:
        await journal.bind_exchange("sim http://127.0.0.1:8001/trade-api/v2")
    runtime = Runtime(loaded, None)
    supervisor = Supervisor(runtime, app.components(TradingDaemon(runtime, virtual_clock=True)))
    with capture_logs() as logs, trio.fail_after(120):
        assert await supervisor.run() == EXIT_FAILURE
    [line] = [e for e in logs if e.get("stopping") == "everything"]
    assert "belongs to 'sim http://127.0.0.1:8001/trade-api/v2'" in line["event"]
    assert "KALSHID_JOURNAL__PATH" in line["event"]


async def test_reconciliation_retries_until_it_succeeds_and_the_feed_never_backs_up(
        tmp_path: Path, autojump_clock: object, monkeypatch: pytest.MonkeyPatch) -> None:
    real = recovery.reconcile
    attempts: list[float] = []

    async def disagrees_for_a_while(*args: object, **kwargs: object) -> object:
        attempts.append(trio.current_time())
        if len(attempts) <= 5:  # 1 + 2 + 5 + 10 + 30 s of retries: longer than the feed's 10 s patience
            raise ReconciliationError("positions differ between the journal and the exchange: X: journal says +1")
        return await real(*args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(recovery, "reconcile", disagrees_for_a_while)
    with capture_logs() as logs:
        async with running_daemon(tmp_path) as (daemon, _sup):
            assert daemon.p.state.reconciliation["ok"] is True
            assert attempts[-1] - attempts[0] >= 45

            async def traded() -> bool:
                return daemon.p.snapshots.counters().get("orders", 0) > 0

            await wait_for(traded, limit_s=4 * WINDOW_S, every_s=5)
    failures = [e for e in logs if e["event"] == "reconciliation failed: not trading; retrying"]
    assert [e["attempt"] for e in failures] == [1, 2, 3, 4, 5]
    assert all("journal says +1" in e["error"] for e in failures)
