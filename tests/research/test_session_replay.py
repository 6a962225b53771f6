"""A session ``kalshid run`` traded against its embedded simulator and recorded, replayed by the backtest.

With fills taken as recorded, the replay's money equals the daemon's to the cent: the same fills
(count, price, fee), the same settlements, the same cash and realised P&L, computed by the same
portfolio code from the recording alone. And signal for signal: every evaluation the daemon recorded,
replayed at its burst boundary from the recorded market data (with the account context it recorded),
gives the same signals (:mod:`kalshid.research.decisions`).
"""

from __future__ import annotations

import sqlite3
import sys
from pathlib import Path

import pytest
import trio

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "trading"))
from daemonkit import running_daemon, wait_for

from kalshid.research.backtest import run_backtest
from kalshid.research.decisions import replay_decisions
from kalshid.research.fills import FillSettings
from kalshid.research.recorder import recording_dir
from kalshid.research.settings import BacktestSettings
from kalshid.research.sources.recorded import RecordedSource

WINDOW_S = 900


@pytest.mark.slow
async def test_recorded_session_replays_to_the_daemon_s_money_to_the_cent(
        tmp_path: Path, autojump_clock: trio.testing.MockClock) -> None:
    async with running_daemon(tmp_path, MAX_DAILY_LOSS="100000", DEFAULT_BANKROLL="10000",
                              KALSHID_RISK__BREAKER_DAILY_LOSS_FRACTION="0.9",
                              KALSHID_RISK__BREAKER_DRAWDOWN_FRACTION="0.9",
                              KALSHID_RECORD__ENABLED="true") as (daemon, _sup):
        async def two_settled() -> bool:
            journal = daemon.p.journal
            return journal is not None and len(await journal.settlements()) >= 2

        await wait_for(two_settled, limit_s=6 * WINDOW_S, every_s=30)
        recording = (await daemon.control.status())["recording"]
        assert recording["enabled"] and recording["running"] and recording["dir"] == str(recording_dir(daemon.cfg))
        assert recording["offered"] > 1000 and recording["dropped"] == 0 and recording["dropping"] is False
        # the free-space floor (record.min_free_mb) is read and, on a disk with room, pauses nothing
        assert recording["paused_low_disk"] is False and recording["skipped_low_disk"] == 0, recording
        assert isinstance(recording["disk_free_mb"], int) and recording["disk_free_mb"] >= daemon.cfg.record.min_free_mb
    cfg = daemon.cfg
    with sqlite3.connect(cfg.journal_path) as db:
        journal_fills = db.execute(
            "SELECT count(*), sum(count), sum(count * price_cc), sum(fee_cc) FROM fills").fetchone()
        settled = {t: r for t, r in db.execute("SELECT ticker, result FROM settlements")}
    assert journal_fills[0] > 0 and len(settled) >= 2

    source = RecordedSource(recording_dir(cfg))
    settings = BacktestSettings.from_config(cfg, bankroll_cc=cfg.sim.balance_cc, fills_as_recorded=True,
                                            fills=FillSettings(latency_seconds=0.0))
    result = run_backtest(source, settings)

    fills = result.trades
    assert (len(fills), sum(t.count for t in fills), sum(t.count * t.price_cc for t in fills),
            sum(t.fee_cc for t in fills)) == tuple(journal_fills)
    assert {t: s.value for t, s in source.results().items() if t in settled} == settled
    portfolio = result.final_portfolio
    assert portfolio is not None
    state = daemon.p.state.portfolio
    assert portfolio.cash_cc == state.cash_cc
    assert portfolio.realized_pnl_cc == state.realized_pnl_cc
    assert portfolio.fees_paid_cc == state.fees_paid_cc
    assert {t: (p.yes_count, p.no_count) for t, p in portfolio.positions.items()} == {
        t: (p.yes_count, p.no_count) for t, p in state.positions.items()}
    assert result.signals, "the replay's own strategies evaluated the recorded session"

    # signal for signal: every evaluation the daemon made, at its burst boundary, gives the same
    # signals (time, market, strategy, outcome, side, action, price, size) when replayed from the recording
    decisions = replay_decisions(recording_dir(cfg), BacktestSettings.from_config(cfg))
    assert len(decisions.recorded) == len(decisions.replayed) > 100
    signals = [s for d in decisions.recorded for s in d.signals]
    assert sum(s.outcome == "proposed" for s in signals) >= journal_fills[0] > 0
    assert decisions.mismatches() == []
    # and the comparison can fail: other strategy parameters do not reproduce the daemon's signals
    other = BacktestSettings.from_config(cfg).with_params({"kelly_volatility.min_edge": 0.5})
    assert replay_decisions(recording_dir(cfg), other).mismatches()
