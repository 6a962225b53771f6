"""What an order's way to the exchange does not wait for (docs/performance.md, "Tick-to-order")."""

from __future__ import annotations

from pathlib import Path

import structlog
import trio
from daemonkit import daemon_env

from kalshid.config import load_config
from kalshid.daemon.supervisor import Runtime
from kalshid.exchange.base import UnsentOrder
from kalshid.exchange.types import OrderRequest
from kalshid.store import open_journal
from kalshid.trading.execution import ExecutionSettings
from kalshid.trading.messages import ShutdownRequested
from kalshid.trading.wiring import TradingDaemon
from tests.trading.test_stages import ExecutionRig, GatedExchange, decided, journal_states


class LogWatchingExchange(GatedExchange):
    """Notes, as each order is submitted, which log lines have been written so far."""

    def __init__(self, logs: list[dict[str, object]]) -> None:
        super().__init__()
        self.logs = logs
        self.seen_at_submit: list[list[object]] = []

    async def submit(self, request: OrderRequest) -> UnsentOrder:
        self.seen_at_submit.append([line["event"] for line in self.logs])
        return await super().submit(request)


async def test_the_order_sending_line_is_written_once_the_request_has_left(tmp_path: Path) -> None:
    with structlog.testing.capture_logs() as logs:
        async with open_journal(tmp_path / "j.sqlite3", "sim") as journal:
            rig = ExecutionRig(journal, ExecutionSettings(cancel_on_shutdown=False))
            exchange = LogWatchingExchange(logs)
            rig.exchange = exchange
            rig.p.exchange = exchange  # type: ignore[assignment]
            with trio.fail_after(10):
                async with trio.open_nursery() as nursery:
                    nursery.start_soon(rig.run)
                    await rig.inbox.send(decided("e" * 32, "kelly_volatility"))
                    await exchange.wait_arrivals(1)
                    exchange.gates["e" * 32].set()
                    await rig.inbox.send(ShutdownRequested())
            assert await journal_states(journal) == {"e" * 32: "canceled"}
    assert exchange.seen_at_submit == [[]]  # nothing logged on the order's way out
    events = [line["event"] for line in logs]
    assert events.index("order sending") < events.index("order acknowledged")
    sending = next(line for line in logs if line["event"] == "order sending")
    assert sending["client_order_id"] == "e" * 32 and sending["count"] == 1 and sending["price_cc"] == 5000
    assert sending["side"] == "yes" and sending["action"] == "buy" and sending["tif"] == "immediate_or_cancel"


def test_without_a_recording_the_strategy_stage_builds_no_evaluation_rows(tmp_path: Path) -> None:
    """The evaluation row is built before the proposal's hand-over; only a running recording takes it."""
    for enabled, records_rows in (("false", False), ("true", True)):
        loaded = load_config(environ=daemon_env(tmp_path, KALSHID_RECORD__ENABLED=enabled), cwd=tmp_path)
        daemon = TradingDaemon(Runtime(loaded, None), virtual_clock=True)
        assert (daemon.strategy.record is not None) is records_rows
