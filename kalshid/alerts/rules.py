"""Which daemon events become a notification, and how often (pure: events and times in, alerts out).

`AlertRules.on_event` maps one event (``{"type", "data"}``, as the WebSocket clients get it) to the alerts
it raises; `AlertRules.on_tick` raises the time-driven ones (exchange connection down too long, the daily
summary is due). Every alert then passes `Limiter`: an alert with the same ``key`` inside
``dedupe_seconds`` is dropped, and at most ``max_per_hour`` go out in any hour (the next one sent says how
many were held back).

Rules: circuit-breaker transitions; operator start/stop/stop-entry/reset-breaker (``audit`` events);
reconciliation failures; the day's loss limit reached (the first buy risk refuses for it on a UTC day);
settlement/portfolio mismatches, positions that differ from the exchange's
while trading (and when no difference is left), a followed market whose fee structure is not kalshid's
model (and when it is again), and orders the daemon did not place; the
market-data recording interrupted (its process restarted), dropping events, or paused for lack of disk
space; ``order_error_burst`` order errors (rejected or stuck in flight) within
``order_error_window_seconds``; a cancel-all the exchange refused, more contracts booked for an order
than it was for, the feed's fill or order channel refused; any other alert published at error level
or above (titled by its kind); the exchange connection down longer than ``feed_down_seconds`` (and
back up); fills when ``fills`` is on; a daily summary at ``daily_summary_hour`` (UTC).
"""

from __future__ import annotations

from collections import deque
from collections.abc import Mapping
from datetime import datetime, timedelta
from typing import Any, Final

import attrs

LEVELS: Final = ("info", "warning", "error", "critical")
_MISMATCHES: Final = {
    "settlement_mismatch": "Settlement differs from the journal",
    "settlement_unhandled": "Settlement left for the operator",
    "portfolio_mismatch": "A fill does not fit the portfolio",
    "external_order": "An order the daemon did not place",
    "position_mismatch": "Positions differ from the exchange: no new entries",
    "fee_schedule": "Fee structure differs from kalshid's model: no new entries in that market",
}
# Errors of the order path and the feed that need an operator's eyes, each as it happens.
_ERRORS: Final = {
    "cancel_all_failed": "Cancel-all refused: orders cancelled one by one",
    "fills_exceed_order": "More contracts booked than an order was for",
    "order_taken_back": "An order given up as never sent is on the exchange: taken back",
    "order_owner_uncertain": "An order without client_order_id adopted as external may be kalshid's",
    "subscription_refused": "Fills and order updates come by REST only",
}
_ORDER_ERRORS: Final = frozenset({"order_rejected", "order_in_flight"})
# The market-data recording (trading goes on without it): kind -> (level, title).
_RECORDING: Final = {
    "recorder_exited": ("error", "Recording interrupted: recorder process restarted"),
    "recorder_dropping": ("warning", "Recording is dropping market events"),
    "recorder_disk_low": ("error", "Recording paused: disk space low"),
}
# Operator actions worth a notification (an ``audit`` event with outcome "applied").
_OPERATOR_ACTIONS: Final = frozenset({"start", "stop", "stop_entry", "reset_breaker"})


@attrs.frozen
class AlertRuleSettings:
    """The rule knobs (``[alerts]`` in the configuration, apart from the URLs)."""

    fills: bool = False
    feed_down_seconds: float = 60.0
    order_error_burst: int = 3
    order_error_window_seconds: float = 60.0
    daily_summary_hour: int | None = None
    dedupe_seconds: float = 300.0
    max_per_hour: int = 30


@attrs.frozen
class Alert:
    """One notification. ``key`` identifies "the same alert" for de-duplication."""

    key: str
    level: str
    title: str
    body: str


def _cents(cc: Any) -> str:
    return f"{cc / 100:.0f}¢" if isinstance(cc, int) and not isinstance(cc, bool) else "?"


def _price(data: Mapping[str, Any]) -> str:
    if isinstance(data.get("price"), str):
        return f"${data['price']}"
    return _cents(data.get("price_cc"))


class AlertRules:
    """Turns events and the passage of time into alerts. Not thread-safe; one per alert service."""

    def __init__(self, settings: AlertRuleSettings) -> None:
        self.settings = settings
        self._order_errors: deque[datetime] = deque()
        self._down_since: datetime | None = None
        self._down_alerted = False
        self._summary_day: str | None = None
        self._loss_limit_day: str | None = None  # the UTC day the loss-limit alert went out

    def on_event(self, event: Mapping[str, Any], now: datetime) -> list[Alert]:
        data = event.get("data")
        if not isinstance(data, Mapping):
            return []
        kind = event.get("type")
        if kind == "risk_rejection":  # an info-level alert of that kind, published under it (kalshid.trading.wiring)
            return self._risk_rejection(data, now)
        if kind in ("alert", "notice"):  # an info-level alert goes out as a notice (kalshid.trading.wiring)
            return self._on_alert(data, now)
        if kind == "status_update":
            exchange = data.get("exchange")
            if isinstance(exchange, Mapping) and isinstance(exchange.get("connected"), bool):
                return self.connection(exchange["connected"], now)
            return []
        if kind == "audit" and data.get("action") in _OPERATOR_ACTIONS and data.get("outcome") == "applied":
            who, action = data.get("source") or "operator", str(data.get("action"))
            return [Alert(f"audit:{action}:{data.get('ts')}", "warning" if action in ("stop", "stop_entry") else "info",
                          f"Operator {action.replace('_', '-')} ({who})", str(data.get("detail") or ""))]
        if kind == "trade_execution" and self.settings.fills:
            what = f"{data.get('action')} {data.get('count')} {data.get('side')} {data.get('ticker')}"
            return [Alert(f"fill:{data.get('fill_id')}", "info", f"Fill: {what} @ {_price(data)}",
                          f"strategy {data.get('strategy') or 'external'}, fee {_price_of_fee(data)}")]
        return []

    def _on_alert(self, data: Mapping[str, Any], now: datetime) -> list[Alert]:
        kind = data.get("kind")
        if kind == "circuit_breaker":
            to = str(data.get("to"))
            level = "critical" if to == "halted" else "warning" if to == "reducing" else "info"
            return [Alert(f"breaker:{to}", level, f"Circuit breaker {to.upper()}",
                          f"{data.get('from')} -> {to}: {data.get('reason')} ({data.get('detail')})")]
        if kind == "reconciliation_failed":
            return [Alert("reconciliation_failed", "error", "Reconciliation failed: not trading",
                          str(data.get("detail")))]
        if kind in _MISMATCHES:
            ref = data.get("ticker") or data.get("order_id") or data.get("fill_id") or ""
            return [Alert(f"{kind}:{ref}", "error", _MISMATCHES[str(kind)], _describe(data))]
        if kind in _ORDER_ERRORS:
            return self._order_error(now, data)
        if kind in _RECORDING:
            level, title = _RECORDING[str(kind)]
            return [Alert(str(kind), level, title, str(data.get("detail") or ""))]
        if kind == "risk_rejection":
            return self._risk_rejection(data, now)
        if kind == "positions_agree":
            return [Alert(f"positions_agree:{data.get('detail')}", "info",
                          "No position difference left: entries resume", str(data.get("detail") or ""))]
        if kind == "fee_schedule_model":
            return [Alert(f"fee_schedule_model:{data.get('ticker')}", "info",
                          "Fee structure back to kalshid's model: entries resume", str(data.get("detail") or ""))]
        if kind in _ERRORS:
            ref = data.get("order_id") or data.get("channel") or ""
            return [Alert(f"{kind}:{ref}", "error", _ERRORS[str(kind)], _describe(data))]
        severity = str(data.get("level"))
        if severity in ("error", "critical"):  # no error goes unsent for want of a rule of its own
            return [Alert(f"{kind}:{_describe(data)}", severity, f"kalshid {severity}: {kind}", _describe(data))]
        return []

    def _risk_rejection(self, data: Mapping[str, Any], now: datetime) -> list[Alert]:
        """A refusal is routine (the dashboard counts them), except the first buy of a UTC day refused at the
        day's loss limit: from then on risk refuses every buy that would add to the day's loss measure, so the
        strategies stop entering until the day rolls over or positions settle."""
        if data.get("reason") != "max_daily_loss" or data.get("action", "buy") != "buy":
            return []  # a sale refused at the limit (one leg of a hedge) is an exit, not the buys this is about
        day = now.date().isoformat()
        if self._loss_limit_day == day:
            return []
        self._loss_limit_day = day
        return [Alert(f"daily_loss_limit:{day}", "warning", "Day's loss limit reached: buys refused",
                      f"risk refuses buys that would raise the day's loss measure above risk.max_daily_loss "
                      f"until the day rolls over or positions settle; exits go on. First refusal today: "
                      f"{data.get('strategy')} in {data.get('ticker')}: {data.get('detail')}")]

    def _order_error(self, now: datetime, data: Mapping[str, Any]) -> list[Alert]:
        window = timedelta(seconds=self.settings.order_error_window_seconds)
        self._order_errors.append(now)
        while self._order_errors and self._order_errors[0] < now - window:
            self._order_errors.popleft()
        if len(self._order_errors) < self.settings.order_error_burst:
            return []
        count = len(self._order_errors)
        self._order_errors.clear()
        return [Alert("order_errors", "error", f"{count} order errors in {window.total_seconds():g} s",
                      f"latest: {_describe(data)}")]

    def connection(self, connected: bool, now: datetime) -> list[Alert]:
        """Track the exchange connection; an alert when it comes back after a down alert."""
        if not connected:
            if self._down_since is None:
                self._down_since = now
            return self.on_tick(now, summary=None)
        was_alerted = self._down_alerted
        down_for = (now - self._down_since).total_seconds() if self._down_since else 0.0
        self._down_since = None
        self._down_alerted = False
        if was_alerted:
            return [Alert("feed_up", "info", "Exchange connection restored", f"down for {down_for:.0f} s")]
        return []

    def on_tick(self, now: datetime, summary: str | None) -> list[Alert]:
        """Time-driven alerts. ``summary`` is the daily summary's text if one can be produced now."""
        out: list[Alert] = []
        if self._down_since is not None and not self._down_alerted:
            down_for = (now - self._down_since).total_seconds()
            if down_for >= self.settings.feed_down_seconds:
                self._down_alerted = True
                out.append(Alert("feed_down", "error", "Exchange connection down",
                                 f"down for {down_for:.0f} s (since {self._down_since:%H:%M:%S} UTC); not trading"))
        if summary is not None and self.summary_due(now):
            self._summary_day = now.date().isoformat()
            out.append(Alert(f"summary:{self._summary_day}", "info", f"Daily summary {self._summary_day}", summary))
        return out

    def summary_due(self, now: datetime) -> bool:
        hour = self.settings.daily_summary_hour
        return hour is not None and now.hour == hour and self._summary_day != now.date().isoformat()


def _price_of_fee(data: Mapping[str, Any]) -> str:
    if isinstance(data.get("fee"), str):
        return f"${data['fee']}"
    return _cents(data.get("fee_cc"))


def _describe(data: Mapping[str, Any]) -> str:
    return ", ".join(f"{k}={v}" for k, v in data.items() if k not in ("level", "kind") and v is not None)


class Limiter:
    """De-duplication by key and an hourly cap; times are passed in (seconds, monotonic)."""

    def __init__(self, dedupe_seconds: float, max_per_hour: int) -> None:
        self.dedupe_seconds = dedupe_seconds
        self.max_per_hour = max_per_hour
        self._last: dict[str, float] = {}
        self._sent: deque[float] = deque()
        self.suppressed = 0

    def admit(self, alert: Alert, now: float) -> Alert | None:
        """The alert to send (possibly noting suppressed ones), or None to drop it."""
        last = self._last.get(alert.key)
        if last is not None and now - last < self.dedupe_seconds:
            return None
        while self._sent and self._sent[0] <= now - 3600:
            self._sent.popleft()
        if len(self._sent) >= self.max_per_hour:
            self.suppressed += 1
            return None
        self._last[alert.key] = now
        self._sent.append(now)
        if len(self._last) > 4096:  # forget keys that are past their window
            self._last = {k: t for k, t in self._last.items() if now - t < self.dedupe_seconds}
        if self.suppressed:
            held, self.suppressed = self.suppressed, 0
            return attrs.evolve(alert, body=f"{alert.body}\n({held} alerts held back by the hourly limit)")
        return alert
