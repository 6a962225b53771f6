"""Events as dashboards get them: money as dollar strings beside the centi-cents, no info-level alerts."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

from daemonkit import daemon_env, running_daemon, wait_for

from kalshid.alerts.rules import AlertRules, AlertRuleSettings
from kalshid.config import load_config
from kalshid.daemon.supervisor import Runtime
from kalshid.trading.wiring import TradingDaemon, with_dollars


class _Sink:
    def __init__(self) -> None:
        self.events: list[dict[str, Any]] = []

    def publish(self, event: dict[str, Any]) -> None:
        self.events.append(event)


def test_money_fields_gain_dollar_strings() -> None:
    data = {"price_cc": 4500, "fee_cc": -7, "count": 3, "flag_cc": True, "position": {"cash_cc": 100_000_000},
            "fee": "kept"}
    assert with_dollars(data) == {"price_cc": 4500, "price": "0.4500", "fee_cc": -7, "count": 3, "flag_cc": True,
                                  "position": {"cash_cc": 100_000_000, "cash": "10000.0000"}, "fee": "kept"}


def test_info_alerts_are_counted_and_published_under_their_own_kind(tmp_path: Path) -> None:
    runtime = Runtime(load_config(environ=daemon_env(tmp_path), cwd=tmp_path), None)
    daemon = TradingDaemon(runtime)
    sink = _Sink()
    daemon.broadcaster = sink  # type: ignore[assignment]
    for _ in range(3):
        daemon._publish("alert", {"level": "info", "kind": "risk_rejection", "reason": "edge"})
    daemon._publish("alert", {"level": "error", "kind": "settlement_mismatch", "ticker": "X"})
    assert [e["type"] for e in sink.events] == ["risk_rejection"] * 3 + ["alert"]
    assert daemon.notices.view["info_risk_rejection"] == 3


def test_the_first_refusal_at_the_days_loss_limit_reaches_the_alert_rules_as_published(tmp_path: Path) -> None:
    runtime = Runtime(load_config(environ=daemon_env(tmp_path), cwd=tmp_path), None)
    daemon = TradingDaemon(runtime)
    sink = _Sink()
    daemon.broadcaster = sink  # type: ignore[assignment]
    refusal = {"level": "info", "kind": "risk_rejection", "reason": "max_daily_loss", "strategy": "kelly_volatility",
               "ticker": "KXSOL15M-26DEC051215-15", "detail": "day's loss measure $500.40 > $500.00"}
    for _ in range(2):  # as the risk stage publishes each refusal
        daemon._publish("alert", dict(refusal))
    rules = AlertRules(AlertRuleSettings())
    now = datetime(2026, 12, 5, 12, 5, tzinfo=UTC)
    alerts = [a for event in sink.events for a in rules.on_event(event, now)]
    assert [(a.level, a.title) for a in alerts] == [("warning", "Day's loss limit reached: buys refused")]
    assert "$500.40 > $500.00" in alerts[0].body


async def test_status_shows_realized_unrealized_and_total_pnl(tmp_path: Path, autojump_clock: object) -> None:
    async with running_daemon(tmp_path) as (daemon, _sup):
        seen: list[dict[str, str]] = []

        async def marked_away_from_cost() -> bool:
            # a held position is marked at the book; at the instant the mark equals the cost it is 0
            pnl = (await daemon.control.status())["pnl"]
            seen.append(pnl)
            return Decimal(pnl["unrealized"]) != 0

        await wait_for(marked_away_from_cost, limit_s=3600, every_s=5)
    for pnl in seen:
        assert set(pnl) == {"realized", "unrealized", "total"}
        assert Decimal(pnl["total"]) == Decimal(pnl["realized"]) + Decimal(pnl["unrealized"])


def test_the_position_audits_all_clear_reaches_the_alert_rules_as_published(tmp_path: Path) -> None:
    """An info-level alert the alert service sends (the audit's "no difference left") still reaches its rule
    after the daemon publishes it as a notice rather than an ``alert``."""
    runtime = Runtime(load_config(environ=daemon_env(tmp_path), cwd=tmp_path), None)
    daemon = TradingDaemon(runtime)
    sink = _Sink()
    daemon.broadcaster = sink  # type: ignore[assignment]
    daemon._publish("alert", {"level": "info", "kind": "positions_agree", "detail": "no difference left in M"})
    (event,) = sink.events
    assert event["type"] != "alert"  # info needs no human on the dashboard's alert list
    (alert,) = AlertRules(AlertRuleSettings()).on_event(event, datetime(2026, 12, 3, tzinfo=UTC))
    assert (alert.level, alert.title) == ("info", "No position difference left: entries resume")
    assert alert.body == "no difference left in M"
