"""Run the whole daemon in-process against its embedded simulator, for tests under Trio's MockClock."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import trio

from kalshid.config import load_config
from kalshid.daemon.supervisor import Runtime, Supervisor
from kalshid.exchange.kalshi.auth import Signer
from kalshid.trading import app
from kalshid.trading.wiring import TradingDaemon

TOKEN = "t" * 40


def daemon_env(tmp_path: Path, **extra: str) -> dict[str, str]:
    return {
        "KALSHID_SIM__SEED": "11",
        "KALSHID_SIM__START": "2026-07-08T22:44:00+00:00",
        "KALSHID_JOURNAL__DIR": str(tmp_path / "var"),
        "KALSHID_CONTROL__SOCKET_PATH": str(tmp_path / "kalshid.sock"),
        "KALSHID_API__PORT": "0",
        "KALSHID_API__TOKEN": TOKEN,
        "KALSHID_LOG__FILE": "off",
        "KALSHID_LOG__FORMAT": "json",
        # the recorder is a child process: the pipeline tests run under MockClock and do not need a tape
        # (recording inside the daemon has its own tests: tests/research/test_session_replay.py)
        "KALSHID_RECORD__ENABLED": "false",
        # both strategies, so the pipeline sees enough traffic (mean_reversion is off by default)
        "ENABLED_STRATEGIES": "kelly_volatility,mean_reversion",
        "KALSHID_STRATEGIES__KELLY_VOLATILITY__KELLY_FRACTION": "0.02",
        "KALSHID_STRATEGIES__MEAN_REVERSION__KELLY_FRACTION": "0.02",
        **extra,
    }


@asynccontextmanager
async def running_daemon(tmp_path: Path, *, stopped: bool = False, signer: Signer | None = None,
                         **env: str) -> AsyncIterator[tuple[TradingDaemon, Supervisor]]:
    """Start the daemon (journal inline: threads look idle to the autojumping clock; the recorder link
    told the clock is virtual) and stop it on exit; ``stopped``: as ``kalshid run --stopped``; ``signer``:
    the API key for an exchange of the test's own (the embedded simulator makes its own)."""
    loaded = load_config(environ=daemon_env(tmp_path, **env), cwd=tmp_path)
    runtime = Runtime(loaded, signer, stopped=stopped)
    daemon = TradingDaemon(runtime, virtual_clock=True)
    supervisor = Supervisor(runtime, app.components(daemon))
    status: list[int] = []

    async def run() -> None:
        status.append(await supervisor.run())

    async with trio.open_nursery() as nursery:
        nursery.start_soon(run)
        with trio.fail_after(60):
            await supervisor.wait_ready()
        yield daemon, supervisor
        supervisor.request_stop("test finished")
    assert status == [0]


async def wait_for(predicate: Callable[[], Awaitable[bool]], *, limit_s: float, every_s: float = 5.0) -> None:
    """Poll ``predicate`` (simulated time) until true, failing after ``limit_s``."""
    with trio.fail_after(limit_s):
        while not await predicate():  # noqa: ASYNC110 (polling state owned by other tasks)
            await trio.sleep(every_s)


def published_events(daemon: TradingDaemon) -> list[tuple[str, dict[str, Any]]]:
    """Every event ``daemon`` publishes from now on, as ``(kind, data)``; the events still go out."""
    events: list[tuple[str, dict[str, Any]]] = []
    publish = daemon.p.publish

    def recording(kind: str, data: dict[str, Any]) -> None:
        events.append((kind, data))
        publish(kind, data)

    daemon.p.publish = recording
    return events
