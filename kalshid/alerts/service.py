"""The alert service: a Trio task beside the API server that reads the daemon's events and notifies.

Off the trading path by construction: it reads its own broadcaster subscription (delivered when the event
loop is idle; if it falls behind it is evicted and resubscribes, it never slows the publisher), hands
alerts to a bounded queue with ``send_nowait`` (a full queue drops the alert and counts it), and a sender
task posts them through Apprise on a helper thread. Nothing in the pipeline ever awaits it.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import Any, Final

import trio

from kalshid import threads
from kalshid.alerts.rules import Alert, AlertRules, AlertRuleSettings, Limiter
from kalshid.control.api import DaemonControl
from kalshid.control.broadcaster import Broadcaster
from kalshid.control.tap import follow_events

log = logging.getLogger("kalshid.alerts")

SUBSCRIPTION_QUEUE: Final = 4096
TICK_S: Final = 1.0
# How long pending alerts may take to go out once the daemon is shutting down.
DRAIN_S: Final = 5.0

Sender = Callable[[Alert], bool]


def _utc_now() -> datetime:
    return datetime.now(UTC)


class AlertService:
    """Rules + limiter + a bounded queue + a sender on a helper thread."""

    def __init__(self, settings: AlertRuleSettings, send: Sender, *,
                 summary: Callable[[], Awaitable[str]] | None = None, queue_size: int = 100,
                 clock: Callable[[], datetime] = _utc_now) -> None:
        self.rules = AlertRules(settings)
        self.limiter = Limiter(settings.dedupe_seconds, settings.max_per_hour)
        self._send = send
        self._summary = summary
        self._clock = clock
        self._out, self._in = trio.open_memory_channel[Alert](queue_size)
        self.targets: list[str] = []  # redacted, for the log
        self.sent = 0
        self.failed = 0
        self.dropped = 0

    def emit(self, alerts: list[Alert]) -> None:
        """Queue what the limiter admits; never blocks (a full queue drops and counts)."""
        for alert in alerts:
            admitted = self.limiter.admit(alert, trio.current_time())
            if admitted is None:
                continue
            try:
                self._out.send_nowait(admitted)
            except trio.WouldBlock:
                self.dropped += 1
                log.warning("alert queue full; dropped alert %r", alert.title)

    def observe(self, event: dict[str, Any]) -> None:
        self.emit(self.rules.on_event(event, self._clock()))

    async def run(self, broadcaster: Broadcaster) -> None:
        """Follow ``broadcaster`` until it closes, then let queued alerts go out (at most `DRAIN_S`)."""
        async with trio.open_nursery() as nursery:
            nursery.start_soon(self._sender)
            ticker = trio.CancelScope()
            nursery.start_soon(self._ticker, ticker)
            try:
                await self._follow(broadcaster)
            finally:
                ticker.cancel()
                self._out.close()
                nursery.cancel_scope.deadline = trio.current_time() + DRAIN_S

    async def _follow(self, broadcaster: Broadcaster) -> None:
        await follow_events(broadcaster, self.observe, queue_size=SUBSCRIPTION_QUEUE, name="alert service")

    async def _ticker(self, scope: trio.CancelScope) -> None:
        with scope:
            while True:
                await trio.sleep(TICK_S)
                now = self._clock()
                text = None
                if self._summary is not None and self.rules.summary_due(now):
                    try:
                        text = await self._summary()
                    except Exception:
                        log.exception("daily summary could not be built")
                        text = "the daily summary could not be built; see the daemon log"
                self.emit(self.rules.on_tick(now, text))

    async def _sender(self) -> None:
        async with self._in:
            async for alert in self._in:
                ok = await threads.run_sync(self._send, alert)
                if ok:
                    self.sent += 1
                else:
                    self.failed += 1


def summary_from(control: DaemonControl) -> Callable[[], Awaitable[str]]:
    """The daily summary's text: state, equity, today's realised P&L, fees and fills, and whether the
    positions agree with the exchange's (the position audit)."""

    async def summary() -> str:
        status = await control.status()
        today = datetime.now(UTC).date().isoformat()
        rows = [r for r in await control.pnl("day") if r.get("day") == today]
        row = rows[0] if rows else {}
        audit = status.get("position_audit") or {}
        positions = ("positions DIFFER from the exchange's: " + "; ".join(audit.get("differences") or [])
                     if audit.get("agrees") is False else
                     "positions agree with the exchange's" if audit.get("checked_at") else "positions not audited yet")
        return (f"state {status.get('state')}, mode {status.get('mode')}, equity ${status.get('equity')}; "
                f"today: realised ${row.get('net', '0.0000')} net of ${row.get('fees', '0.0000')} fees, "
                f"{row.get('fills', 0)} fills; {positions}")

    return summary
