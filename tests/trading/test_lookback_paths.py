"""``mean_reversion.lookback_window`` on the running daemon's paths: ``PUT /api/strategies/.../params``,
``kalshid ctl reload`` (the configuration file) and the operator state restored at a start."""

from __future__ import annotations

import json
from pathlib import Path

import httpx
from daemonkit import TOKEN, running_daemon
from structlog.testing import capture_logs

from kalshid.control.api import ControlError
from kalshid.trading.operator_state import KEY

AUTH = {"Authorization": f"Bearer {TOKEN}"}
REFUSED = "parameter lookback_window must be whole seconds in (0, 86400], got 300.5"


async def test_the_api_refuses_a_fractional_lookback_and_takes_whole_seconds(tmp_path: Path,
                                                                             autojump_clock: object) -> None:
    async with running_daemon(tmp_path) as (daemon, _sup):
        assert daemon.api_url is not None
        async with httpx.AsyncClient(base_url=daemon.api_url, headers=AUTH) as client:
            for value in (300.5, 120.0):
                bad = await client.put("/api/strategies/mean_reversion/params", json={"lookback_window": value})
                assert bad.status_code == 422, bad.text
                error = bad.json()["error"]
                assert error["field"] == "params.lookback_window"
                assert error["message"] == REFUSED.replace("300.5", repr(value))
            assert daemon.p.registry.get("mean_reversion").params.lookback_window == 300
            good = await client.put("/api/strategies/mean_reversion/params", json={"lookback_window": 120})
            assert good.status_code == 200, good.text
            assert good.json()["params"]["lookback_window"] == 120
            listed = {s["name"]: s for s in (await client.get("/api/strategies")).json()}
        assert listed["mean_reversion"]["params"]["lookback_window"] == 120
        assert daemon.param_overrides["mean_reversion"] == {"lookback_window": 120}


async def test_a_reload_refuses_a_fractional_lookback_in_the_file(tmp_path: Path, autojump_clock: object) -> None:
    config = tmp_path / "kalshid.toml"
    config.write_text("[strategies.mean_reversion]\nlookback_window = 240\n")
    async with running_daemon(tmp_path, KALSHID_CONFIG=str(config)) as (daemon, _sup):
        assert daemon.p.registry.get("mean_reversion").params.lookback_window == 240
        config.write_text("[strategies.mean_reversion]\nlookback_window = 240.5\n")
        try:
            await daemon.control.reload()
        except ControlError as exc:
            assert exc.field == "config"
            assert "strategies.mean_reversion.lookback_window" in exc.message and "whole seconds in (0, 86400]" \
                in exc.message
        else:
            raise AssertionError("a fractional lookback_window was reloaded")
        assert daemon.p.registry.get("mean_reversion").params.lookback_window == 240


async def test_a_journaled_override_is_restored_as_whole_seconds_and_a_fractional_one_is_skipped(
        tmp_path: Path, autojump_clock: object) -> None:
    def state(lookback: float) -> str:
        # as a journal of a daemon that kept the lookback as a float holds it
        return json.dumps({"trading_enabled": True, "entries_enabled": True, "strategies": {},
                           "params": {"mean_reversion": {"lookback_window": lookback, "min_edge": 0.05}}})

    async with running_daemon(tmp_path) as (daemon, _sup):
        await daemon.p.require_journal().set_meta(KEY, state(120.0))
    async with running_daemon(tmp_path) as (daemon, _sup):
        params = daemon.p.registry.get("mean_reversion").params
        assert params.lookback_window == 120 and isinstance(params.lookback_window, int)
        assert params.min_edge == 0.05
        assert daemon.param_overrides["mean_reversion"] == {"lookback_window": 120, "min_edge": 0.05}
        await daemon.p.require_journal().set_meta(KEY, state(120.5))
    with capture_logs() as logs:
        async with running_daemon(tmp_path) as (daemon, _sup):
            params = daemon.p.registry.get("mean_reversion").params
    assert params.lookback_window == 300 and params.min_edge == 0.03  # the configured values
    [restored] = [e for e in logs if e["event"] == "operator state restored from the journal"]
    assert restored["log_level"] == "warning"
    assert restored["skipped"] == [f"mean_reversion parameters: {REFUSED.replace('300.5', '120.5')}"]
