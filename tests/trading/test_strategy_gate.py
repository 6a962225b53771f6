"""Real money (prod, no dry run) does not enable strategies without an out-of-sample edge; play money does."""

from __future__ import annotations

from pathlib import Path

import pytest
from daemonkit import daemon_env

from kalshid.config import load_config
from kalshid.control.api import ControlError
from kalshid.core.strategies.evidence import is_proven
from kalshid.daemon.supervisor import Runtime
from kalshid.trading.control_impl import DaemonControlImpl
from kalshid.trading.wiring import TradingDaemon


def _daemon(tmp_path: Path, *, default_strategies: bool = False, **env: str) -> TradingDaemon:
    environ = daemon_env(tmp_path, **env)
    if default_strategies:
        del environ["ENABLED_STRATEGIES"]
    loaded = load_config(environ=environ, cwd=tmp_path)
    return TradingDaemon(Runtime(loaded, None), virtual_clock=True)


async def test_default_strategy_set_is_kelly_volatility_only(tmp_path: Path) -> None:
    d = _daemon(tmp_path, default_strategies=True)
    assert [s.name for s in d.p.registry.active()] == ["kelly_volatility"]
    assert not d.gate.real_money


async def test_prod_without_dry_run_refuses_unproven_strategies(tmp_path: Path) -> None:
    assert not is_proven("kelly_volatility") and not is_proven("mean_reversion")
    d = _daemon(tmp_path, KALSHID_EXCHANGE__ENV="prod", DRY_RUN_MODE="false")
    assert d.gate.real_money and d.p.registry.active() == []
    assert d.gate.refused == ("kelly_volatility", "mean_reversion")
    control = DaemonControlImpl(d)
    status = await control.status()
    assert status["strategy_gate"]["real_money"] is True
    assert status["recording"] == {"enabled": False, "running": False}  # the test environment turns it off
    assert "allow_unproven_live" in status["strategy_gate"]["reason"]
    with pytest.raises(ControlError, match="out-of-sample"):
        await control.enable_strategy("kelly_volatility")
    assert not d.p.registry.is_enabled("kelly_volatility")


@pytest.mark.parametrize("env", [{"KALSHID_EXCHANGE__ENV": "sim"},
                                 {"KALSHID_EXCHANGE__ENV": "prod", "DRY_RUN_MODE": "true"},
                                 {"KALSHID_EXCHANGE__ENV": "demo", "DRY_RUN_MODE": "false"},
                                 {"KALSHID_EXCHANGE__ENV": "prod", "DRY_RUN_MODE": "false",
                                  "KALSHID_TRADING__ALLOW_UNPROVEN_LIVE": "true"}])
async def test_play_money_or_an_explicit_allowance_runs_the_configured_strategies(
        tmp_path: Path, env: dict[str, str]) -> None:
    d = _daemon(tmp_path, **env)
    assert [s.name for s in d.p.registry.active()] == ["kelly_volatility", "mean_reversion"]
    assert d.gate.refused == () and d.gate.reason is None
