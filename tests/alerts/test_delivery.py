"""Alerts end to end: broadcaster event → AlertService → Apprise on a helper thread → loopback receiver."""

from __future__ import annotations

import threading
from types import SimpleNamespace

import trio
import trio.testing

from kalshid.alerts import Alert, AlertRuleSettings, AlertService, build_alert_service
from kalshid.control.broadcaster import Broadcaster
from kalshid.control.fake import FakeDaemon
from kalshid.logs import redact
from tests.alerts.receiver import start_receiver


def alerts_cfg(*urls: str, **overrides: object) -> SimpleNamespace:
    base: dict[str, object] = {"urls": urls, "urls_file": "", "fills": False, "feed_down_seconds": 60.0,
                               "order_error_burst": 3, "order_error_window_seconds": 60.0,
                               "daily_summary_hour": None, "dedupe_seconds": 300.0, "max_per_hour": 30}
    return SimpleNamespace(**(base | overrides))


def breaker_halted() -> dict[str, object]:
    return {"type": "alert", "data": {"level": "critical", "kind": "circuit_breaker", "from": "running",
                                      "to": "halted", "reason": "drawdown", "detail": "15.2% below peak"}}


async def test_breaker_trip_reaches_the_loopback_receiver_once(nursery: trio.Nursery) -> None:
    receiver = await start_receiver(nursery)
    secret = "hooksecret0123456789"
    url = f"json://127.0.0.1:{receiver.port}/{secret}"
    broadcaster = Broadcaster()
    service = build_alert_service(alerts_cfg(url), FakeDaemon(broadcaster), environ={})
    assert service is not None and service.targets == [f"json://127.0.0.1:{receiver.port}/***"]
    assert secret not in redact(f"posting to {url}")  # the URL's secret never reaches a log line
    done = trio.Event()

    async def run() -> None:
        await service.run(broadcaster)
        done.set()

    nursery.start_soon(run)
    with trio.fail_after(10):
        await trio.testing.wait_all_tasks_blocked()  # the service has subscribed and waits for events
        broadcaster.publish(breaker_halted())
        broadcaster.publish(breaker_halted())  # the same alert again: de-duplicated
        broadcaster.publish({"type": "alert", "data": {"level": "info", "kind": "risk_rejection"}})
        (got,) = await receiver.wait_for(1)
    assert got.path == f"/{secret}"
    assert got.body["title"] == "kalshid: Circuit breaker HALTED"
    assert "drawdown" in got.body["message"] and got.body["type"] == "failure"
    broadcaster.close()
    with trio.fail_after(10):
        await done.wait()
    assert service.sent == 1 and service.failed == 0 and len(receiver.requests) == 1


async def test_a_stuck_target_never_blocks_the_publisher() -> None:
    release = threading.Event()
    calls: list[Alert] = []

    def stuck(alert: Alert) -> bool:
        calls.append(alert)
        release.wait(10)
        return True

    service = AlertService(AlertRuleSettings(max_per_hour=1000), stuck, queue_size=5)
    try:
        async with trio.open_nursery() as nursery:
            broadcaster = Broadcaster()
            nursery.start_soon(service.run, broadcaster)
            with trio.fail_after(10):
                await trio.testing.wait_all_tasks_blocked()
                for i in range(50):  # distinct alerts: none de-duplicated
                    broadcaster.publish({"type": "alert",
                                         "data": {"kind": "settlement_mismatch", "ticker": f"KX-{i}"}})
                await trio.testing.wait_all_tasks_blocked()  # every event read; the sender is stuck
            # the publisher never waited: 5 queued (+1 in the sender's hands if it took one early), the
            # rest dropped and counted
            assert service.dropped in (44, 45)
            broadcaster.close()
            release.set()
    finally:
        release.set()
    assert service.sent == 50 - service.dropped


async def test_no_urls_means_no_service() -> None:
    assert build_alert_service(alerts_cfg(), FakeDaemon(Broadcaster()), environ={}) is None
