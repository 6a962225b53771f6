"""``kalshid ctl`` pnl, trades, risk, markets, decisions, strategies: human views and --json, over the socket."""

from __future__ import annotations

import argparse
import json
import os
import shutil
import tempfile
from collections.abc import Iterator
from typing import Any

import pytest
import trio

from kalshid.control import cli
from kalshid.control.api import JSON, PnlGroup
from kalshid.control.decisions import DecisionTracker, register
from kalshid.control.fake import FakeDaemon
from kalshid.control.server import control_socket_task


class Daemonish(FakeDaemon):
    """The fake daemon with the pipeline's real shapes for the views."""

    async def pnl(self, group_by: PnlGroup) -> list[JSON]:
        return [{group_by: "2026-12-02", "realized": "10.5000", "fees": "1.2500", "net": "9.2500", "fills": 4,
                 "contracts": 40},
                {group_by: "2026-12-03", "realized": "-3.0000", "fees": "0.5000", "net": "-3.5000", "fills": 2,
                 "contracts": 20}]

    async def risk(self) -> JSON:
        return {"limits": {"max_position_size": "1000.0000", "max_concurrent_positions": 5,
                           "max_daily_loss": "500.0000", "max_window_exposure": "1000.0000",
                           "entry_cutoff_seconds": 60, "max_data_age_seconds": 5.0,
                           "breaker_daily_loss_fraction": 0.2, "breaker_drawdown_fraction": 0.15},
                "usage": {"open_positions": 2, "realized_today": "-3.5000", "worst_case_loss": "246.5000",
                          "loss_measure": "250.0000", "exposure_by_window": {"2026-12-03T20:00:00+00:00": "300.0000"},
                          "resting_orders": 1},
                "breaker": {"tripped": False, "state": "running", "day_start_equity": "10000.0000",
                            "peak_equity": "10010.0000"}}

    async def markets(self) -> JSON:
        window = {"ticker": "KXSOL15M-26DEC031500-00", "open_time": "2026-12-03T19:45:00+00:00",
                  "close_time": "2026-12-03T20:00:00+00:00", "status": "open", "floor_strike": "142.1968",
                  "yes_bid": "0.4400", "yes_ask": "0.4600", "no_bid": "0.5400", "no_ask": "0.5600",
                  "fair_value": {"kelly_volatility": 0.5237}, "edge": {"kelly_volatility:yes": 0.0637,
                                                                       "kelly_volatility:no": -0.0837},
                  "fees": {"fee_type": "quadratic", "fee_multiplier": "1", "source": "series", "modelled": True}}
        later = {**window, "ticker": "KXSOL15M-26DEC031515-15",
                 "fees": {"fee_type": "quadratic", "fee_multiplier": "2", "source": "event", "modelled": False}}
        return {"current": window, "next": later,
                "index": {"id": "SOLUSD_RTI", "value": "142.2531", "ts": "2026-12-03T19:50:00+00:00"}}


@pytest.fixture
def sock_path() -> Iterator[str]:
    directory = tempfile.mkdtemp(prefix="kview")  # AF_UNIX paths are short; tmp_path may be too long
    yield os.path.join(directory, "kalshid.sock")
    shutil.rmtree(directory, ignore_errors=True)


@pytest.fixture
def fake() -> Daemonish:
    return Daemonish()


@pytest.fixture
async def server(nursery: trio.Nursery, fake: Daemonish, sock_path: str) -> str:
    path: str = await nursery.start(control_socket_task, fake, sock_path)
    return path


async def ctl(path: str, capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    parser = argparse.ArgumentParser(prog="kalshid ctl")
    cli.add_arguments(parser)
    code = await cli.run_async(parser.parse_args(["--socket", path, *argv]))
    out = capsys.readouterr()
    return code, out.out, out.err


async def test_pnl_table_with_exact_totals_and_json(server: str, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = await ctl(server, capsys, "pnl", "--by", "window")
    assert code == 0
    assert out.splitlines()[0].split() == ["WINDOW", "REALIZED", "FEES", "NET", "FILLS", "CONTRACTS"]
    assert "TOTAL  realized 7.5000  fees 1.7500  net 5.7500" in out
    code, out, _ = await ctl(server, capsys, "--json", "pnl")
    assert code == 0 and json.loads(out)[0]["day"] == "2026-12-02"


async def test_trades_page_and_filters(server: str, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = await ctl(server, capsys, "trades", "--limit", "3")
    lines = out.splitlines()
    assert code == 0 and lines[0].split()[:3] == ["TS", "STRATEGY", "TICKER"] and len(lines) == 5
    assert lines[-1].startswith("(more: --cursor ")
    code, _, err = await ctl(server, capsys, "trades", "--limit", "0")
    assert code == 2 and "limit must be an integer from 1 to 1000" in err


async def test_risk_shows_each_limit_used_and_the_breaker(server: str, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = await ctl(server, capsys, "risk")
    assert code == 0
    assert any(line.split()[-1] == "40%" and line.startswith("open positions") for line in out.splitlines())
    assert any("daily loss" in line and line.rstrip().endswith("50%") for line in out.splitlines())
    assert any("worst window exposure" in line and line.rstrip().endswith("30%") for line in out.splitlines())
    assert "breaker RUNNING: peak equity 10010.0000" in out


async def test_markets_view(server: str, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = await ctl(server, capsys, "markets")
    assert code == 0 and "KXSOL15M-26DEC031500-00" in out and "142.1968" in out
    # fair value and edge per strategy as percents (the dashboard's figures), not raw floats
    assert "kelly_volatility 52.4%" in out and "kelly_volatility:yes 6.4%, kelly_volatility:no -8.4%" in out
    assert "index SOLUSD_RTI: 142.2531" in out
    # the fee structure on the exchange, and whether entries are refused for it
    assert "quadratic x1\n" in out and "quadratic x2 (entries refused)\n" in out


async def test_decisions_need_the_api_tracker_then_show_why(
    server: str, fake: Daemonish, capsys: pytest.CaptureFixture[str]
) -> None:
    code, _, err = await ctl(server, capsys, "decisions")
    assert code == 1 and "decisions are tracked by the API server" in err
    tracker = DecisionTracker()
    register(fake, tracker)
    code, out, _ = await ctl(server, capsys, "decisions")
    assert code == 0 and "no signal since the daemon started" in out
    tracker.observe({"type": "trading_signal", "data": {"strategy": "kelly_volatility", "ticker": "KX-1",
                                                         "side": "yes", "action": "buy", "count": 7, "price_cc": 4500,
                                                         "edge": 0.05, "ts": "2026-12-03T19:50:00Z"}})
    tracker.observe({"type": "alert", "data": {"kind": "risk_rejection", "strategy": "kelly_volatility",
                                               "reason": "max_daily_loss", "detail": "day's loss 510 > 500"}})
    code, out, _ = await ctl(server, capsys, "decisions")
    row = next(line for line in out.splitlines() if line.startswith("kelly_volatility"))
    assert "buy 7 yes KX-1 @ 4500" in row and "refused" in row and "max_daily_loss" in row
    assert "verdicts since start: max_daily_loss x1" in out
    code, out, _ = await ctl(server, capsys, "--json", "decisions")
    snap: dict[str, Any] = json.loads(out)
    assert snap["last"]["verdict"]["reason"] == "max_daily_loss"


async def test_strategies_one_section_each_with_a_parameter_a_line(
    server: str, fake: Daemonish, capsys: pytest.CaptureFixture[str]
) -> None:
    fake.strategy_state = {"kelly_volatility": {"enabled": True, "params": {"min_edge": 0.03, "kelly_fraction": 0.25}},
                           "mean_reversion": {"enabled": False, "params": {"lookback_window": 300}}}
    code, out, _ = await ctl(server, capsys, "strategies")
    assert code == 0
    assert out.splitlines() == ["kelly_volatility (enabled)", "  min_edge        0.03", "  kelly_fraction  0.25",
                                "mean_reversion (disabled)", "  lookback_window  300"]
    code, out, _ = await ctl(server, capsys, "--json", "strategies")
    assert json.loads(out)[1] == {"name": "mean_reversion", "enabled": False, "params": {"lookback_window": 300}}
