"""Operator decisions survive a restart, and every operator action leaves an audit line and event."""

from __future__ import annotations

import contextlib
from pathlib import Path
from typing import Any

from daemonkit import running_daemon
from structlog.testing import capture_logs

from kalshid.control.api import ControlError
from kalshid.daemon.audit import acting_as


def _actions(logs: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [e for e in logs if e["event"] == "operator action"]


async def test_stop_stop_entry_strategies_and_params_survive_a_restart(tmp_path: Path,
                                                                        autojump_clock: object) -> None:
    async with running_daemon(tmp_path) as (daemon, _sup):
        control = daemon.control
        await control.stop_entry()
        await control.stop()
        await control.disable_strategy("mean_reversion")
        await control.set_strategy_params("kelly_volatility", {"min_edge": 0.07})

    with capture_logs() as logs:
        async with running_daemon(tmp_path) as (daemon, _sup):
            status = await daemon.control.status()
            strategies = {s["name"]: s for s in await daemon.control.strategies()}
    assert status["state"] == "stopped" and status["breaker"]["state"] == "reducing"
    assert strategies["mean_reversion"]["enabled"] is False
    assert strategies["kelly_volatility"]["params"]["min_edge"] == 0.07
    [restored] = [e for e in logs if e["event"] == "operator state restored from the journal"]
    assert restored["trading_enabled"] is False and restored["disabled"] == ["mean_reversion"]


async def test_a_daemon_started_stopped_sends_nothing_until_started_and_the_stop_is_journaled(
        tmp_path: Path, autojump_clock: object) -> None:
    """`kalshid run --stopped` (e.g. after restoring a journal): reconciled and following the market,
    trading stopped, and a crash before `start` keeps it stopped."""
    with capture_logs() as logs:
        async with running_daemon(tmp_path, stopped=True) as (daemon, _sup):
            status = await daemon.control.status()
            assert status["state"] == "stopped" and status["ready"] is True
            assert not daemon.p.snapshots.execution.trading_enabled
    assert any(e["event"].startswith("trading stopped from the start (kalshid run --stopped") for e in logs)
    async with running_daemon(tmp_path) as (daemon, _sup):  # the next start finds the stop journaled
        assert (await daemon.control.status())["state"] == "stopped"
        await daemon.control.start()
        assert (await daemon.control.status())["state"] == "running"
    # the configuration's start_stopped does the same at every start (e.g. under systemd)
    async with running_daemon(tmp_path, KALSHID_TRADING__START_STOPPED="true") as (daemon, _sup):
        assert (await daemon.control.status())["state"] == "stopped"


async def test_every_operator_action_is_audited_with_source_and_before_after(tmp_path: Path,
                                                                             autojump_clock: object) -> None:
    events: list[dict[str, Any]] = []
    async with running_daemon(tmp_path) as (daemon, _sup):
        control = daemon.control
        publish = daemon._publish

        def spy(type_: str, data: dict[str, Any]) -> None:
            if type_ == "audit":
                events.append(data)
            publish(type_, data)

        daemon._publish = spy  # type: ignore[method-assign]
        with capture_logs() as logs:
            with acting_as("ctl"):
                await control.stop()
                await control.start()
            with acting_as("api"):
                await control.stop_entry()
                await control.disable_strategy("mean_reversion")
                with contextlib.suppress(ControlError):
                    await control.set_strategy_params("kelly_volatility", {"min_edge": 7})
            with acting_as("ws"):
                await control.set_strategy_params("kelly_volatility", {"min_edge": 0.05})
            with acting_as("ctl"):
                await control.cancel_all()  # the kill switch changes no state, yet it acted
    lines = _actions(logs)
    assert lines == [{**e, "event": "operator action", "log_level": line["log_level"]}
                     for e, line in zip(events, lines, strict=True)]
    got = [(e["source"], e["action"], e["outcome"]) for e in lines]
    assert got == [("ctl", "stop", "applied"), ("ctl", "start", "applied"), ("api", "stop_entry", "applied"),
                   ("api", "disable_strategy", "applied"), ("api", "set_params", "refused"),
                   ("ws", "set_params", "applied"), ("ctl", "cancel_all", "applied")]
    assert lines[0]["before"]["state"] == "running" and lines[0]["after"]["state"] == "stopped"
    assert lines[3]["target"] == "mean_reversion" and lines[3]["after"] == {"enabled": False}
    assert lines[4]["log_level"] == "warning" and "min_edge" in lines[4]["detail"]
    assert lines[5]["before"] == {"min_edge": 0.03} and lines[5]["after"] == {"min_edge": 0.05}
    assert lines[6]["before"] == lines[6]["after"] and "every resting order" in lines[6]["detail"]


async def test_reset_breaker_on_a_running_breaker_changes_nothing_and_says_so(tmp_path: Path,
                                                                               autojump_clock: object) -> None:
    async with running_daemon(tmp_path) as (daemon, _sup):
        with capture_logs() as logs:
            status = await daemon.control.reset_breaker()
    assert status["state"] == "running" and daemon.p.snapshots.execution.trading_enabled
    [line] = _actions(logs)
    assert line["outcome"] == "no_change" and "not tripped" in line["detail"]


async def test_the_api_the_control_socket_and_the_websocket_are_named_as_the_source(tmp_path: Path,
                                                                      autojump_clock: object) -> None:
    import json

    import httpx
    import trio
    import trio_websocket
    from daemonkit import TOKEN

    from kalshid.control.protocol import encode_request

    async with running_daemon(tmp_path) as (daemon, _sup):
        with capture_logs() as logs:
            async with httpx.AsyncClient(base_url=daemon.api_url) as http:
                resp = await http.post("/api/stop", headers={"Authorization": f"Bearer {TOKEN}"})
                assert resp.status_code == 200 and resp.json()["state"] == "stopped"
            async with await trio.open_unix_socket(daemon.control_path) as sock:
                await sock.send_all(encode_request("start", request_id=1))
                reply = b""
                while not reply.endswith(b"\n"):
                    reply += await sock.receive_some(65536)
            assert json.loads(reply)["ok"] is True
            headers = [(b"authorization", f"Bearer {TOKEN}".encode())]
            async with trio_websocket.open_websocket_url(daemon.api_url.replace("http", "ws") + "/ws",
                                                         extra_headers=headers) as ws:
                await ws.send_message(json.dumps({"type": "command", "id": 3, "command": "stop"}))
                with trio.fail_after(60):
                    while json.loads(await ws.get_message()).get("id") != 3:
                        pass
    got = [(e["source"], e["action"], e["after"]["state"]) for e in _actions(logs)]
    assert got == [("api", "stop", "stopped"), ("ctl", "start", "running"), ("ws", "stop", "stopped")]
