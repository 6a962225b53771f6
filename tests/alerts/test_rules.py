"""Alert rules, de-duplication, the hourly cap, URL redaction and URL sources (pure)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from kalshid.alerts import AlertConfigError, AlertRules, AlertRuleSettings, Limiter, redact_url
from kalshid.alerts.notify import AppriseNotifier, read_urls, secret_parts
from kalshid.alerts.rules import Alert
from kalshid.alerts.service import summary_from

T0 = datetime(2026, 12, 3, 20, 0, tzinfo=UTC)


def breaker(to: str) -> dict[str, object]:
    return {"type": "alert", "data": {"level": "critical", "kind": "circuit_breaker", "from": "running", "to": to,
                                      "reason": "drawdown", "detail": "15% from peak"}}


def test_breaker_transitions_reconciliation_and_mismatches() -> None:
    rules = AlertRules(AlertRuleSettings())
    (halted,) = rules.on_event(breaker("halted"), T0)
    assert halted.level == "critical" and halted.title == "Circuit breaker HALTED" and "drawdown" in halted.body
    assert rules.on_event(breaker("reducing"), T0)[0].level == "warning"
    (rec,) = rules.on_event({"type": "alert", "data": {"kind": "reconciliation_failed", "detail": "KX-1 differs"}}, T0)
    assert rec.level == "error" and rec.body == "KX-1 differs"
    (mis,) = rules.on_event({"type": "alert", "data": {"kind": "settlement_mismatch", "ticker": "KX-2"}}, T0)
    assert mis.key == "settlement_mismatch:KX-2"
    # info-level noise never becomes a notification
    assert rules.on_event({"type": "alert", "data": {"kind": "risk_rejection", "reason": "max_window_exposure"}},
                          T0) == []
    assert rules.on_event({"type": "order_update", "data": {"status": "resting"}}, T0) == []
    assert rules.on_event({"type": "alert", "data": "not an object"}, T0) == []


def test_an_interrupted_or_lossy_recording_is_notified() -> None:
    rules = AlertRules(AlertRuleSettings())
    exit_detail = "the recorder process 12 exited with status 1"
    (exited,) = rules.on_event({"type": "alert", "data": {"kind": "recorder_exited", "level": "error",
                                                           "detail": exit_detail}}, T0)
    assert (exited.key, exited.level) == ("recorder_exited", "error") and "status 1" in exited.body
    (dropping,) = rules.on_event({"type": "alert", "data": {"kind": "recorder_dropping", "level": "warning",
                                                             "detail": "recording is dropping market events"}}, T0)
    assert (dropping.key, dropping.level, dropping.title) == (
        "recorder_dropping", "warning", "Recording is dropping market events")
    (disk,) = rules.on_event({"type": "alert", "data": {"kind": "recorder_disk_low", "level": "error",
                                                         "detail": "recording paused: 800 MiB free"}}, T0)
    assert (disk.key, disk.level, disk.title) == ("recorder_disk_low", "error", "Recording paused: disk space low")
    assert "800 MiB free" in disk.body


def test_positions_that_differ_from_the_exchange_are_notified_and_so_is_their_agreement() -> None:
    rules = AlertRules(AlertRuleSettings())
    detail = "KX-3: journal says +0 (YES − NO), exchange says +7"
    (mismatch,) = rules.on_event({"type": "alert", "data": {"kind": "position_mismatch", "level": "error",
                                                             "detail": detail, "ticker": "KX-3"}}, T0)
    assert (mismatch.key, mismatch.level) == ("position_mismatch:KX-3", "error")
    assert mismatch.title == "Positions differ from the exchange: no new entries" and detail in mismatch.body
    (agree,) = rules.on_event({"type": "alert", "data": {"kind": "positions_agree", "level": "info",
                                                          "detail": "no difference left in KX-3"}}, T0)
    assert agree.level == "info" and agree.title.startswith("No position difference left") and "KX-3" in agree.body


def test_a_fee_structure_that_differs_is_an_error_per_market_and_its_return_a_notice() -> None:
    rules = AlertRules(AlertRuleSettings())
    detail = "KX-3: the exchange charges quadratic x2 (series); kalshid models quadratic x1: no new entries"
    (differs,) = rules.on_event({"type": "alert", "data": {"kind": "fee_schedule", "level": "error", "ticker": "KX-3",
                                                            "detail": detail}}, T0)
    assert (differs.key, differs.level) == ("fee_schedule:KX-3", "error") and detail in differs.body
    assert differs.title == "Fee structure differs from kalshid's model: no new entries in that market"
    (back,) = rules.on_event({"type": "alert", "data": {"kind": "fee_schedule_model", "level": "info",
                                                         "ticker": "KX-3", "detail": "KX-3: quadratic x1"}}, T0)
    assert (back.key, back.level) == ("fee_schedule_model:KX-3", "info")
    assert back.title == "Fee structure back to kalshid's model: entries resume" and "KX-3" in back.body


def test_order_errors_alert_only_in_a_burst() -> None:
    rules = AlertRules(AlertRuleSettings(order_error_burst=3, order_error_window_seconds=60))
    err = {"type": "alert", "data": {"kind": "order_rejected", "client_order_id": "c1"}}
    assert rules.on_event(err, T0) == []
    assert rules.on_event(err, T0 + timedelta(seconds=70)) == []  # the first fell out of the window
    assert rules.on_event(err, T0 + timedelta(seconds=80)) == []
    (burst,) = rules.on_event(err, T0 + timedelta(seconds=90))
    assert burst.title == "3 order errors in 60 s"


def test_feed_down_longer_than_the_threshold_and_back_up() -> None:
    rules = AlertRules(AlertRuleSettings(feed_down_seconds=30))
    down = {"type": "status_update", "data": {"exchange": {"connected": False}}}
    up = {"type": "status_update", "data": {"exchange": {"connected": True}}}
    assert rules.on_event(down, T0) == []
    assert rules.on_tick(T0 + timedelta(seconds=29), None) == []
    (alert,) = rules.on_tick(T0 + timedelta(seconds=31), None)
    assert alert.key == "feed_down" and "31 s" in alert.body
    assert rules.on_tick(T0 + timedelta(seconds=60), None) == []  # once per outage
    (back,) = rules.on_event(up, T0 + timedelta(seconds=61))
    assert back.key == "feed_up"
    # a short outage says nothing, going down or coming back
    assert rules.on_event(down, T0 + timedelta(seconds=100)) == []
    assert rules.on_event(up, T0 + timedelta(seconds=105)) == []


def test_fills_only_when_asked_and_daily_summary_once_a_day() -> None:
    fill = {"type": "trade_execution", "data": {"fill_id": "f1", "ticker": "KX-1", "side": "yes", "action": "buy",
                                                "count": 3, "price_cc": 4500, "fee_cc": 200, "strategy": "kv"}}
    assert AlertRules(AlertRuleSettings()).on_event(fill, T0) == []
    rules = AlertRules(AlertRuleSettings(fills=True, daily_summary_hour=20))
    (alert,) = rules.on_event(fill, T0)
    assert alert.title == "Fill: buy 3 yes KX-1 @ 45¢"
    assert rules.summary_due(T0) and not rules.summary_due(T0 - timedelta(hours=1))
    (summary,) = rules.on_tick(T0, "equity $10000")
    assert summary.key == "summary:2026-12-03" and summary.body == "equity $10000"
    assert rules.on_tick(T0 + timedelta(minutes=5), "again") == []
    assert rules.on_tick(T0 + timedelta(days=1), "next day")[0].body == "next day"


def test_limiter_dedupes_and_caps_per_hour() -> None:
    limiter = Limiter(dedupe_seconds=300, max_per_hour=2)
    a = Alert("k1", "error", "A", "body")
    assert limiter.admit(a, 0.0) == a
    assert limiter.admit(a, 100.0) is None  # same key inside the window
    assert limiter.admit(Alert("k2", "error", "B", "b"), 101.0) is not None
    assert limiter.admit(Alert("k3", "error", "C", "c"), 102.0) is None  # hourly cap
    assert limiter.admit(Alert("k4", "error", "D", "d"), 103.0) is None
    later = limiter.admit(Alert("k5", "error", "E", "e"), 3601.0)
    assert later is not None and "2 alerts held back" in later.body
    assert limiter.admit(a, 3702.0) is not None  # window and hour over: the same alert may go again


@pytest.mark.parametrize(
    ("url", "shown"),
    [
        ("tgram://123456789:AAHsecretsecret/987654", "tgram://***"),
        ("discord://webhook_id/webhook_token", "discord://***"),
        ("mailto://user:pass@gmail.com", "mailto://***"),
        ("json://127.0.0.1:8080/hook?token=abc", "json://127.0.0.1:8080/***"),
        ("json://user:pw@example.com/x", "json://***"),
        ("not a url", "***"),
    ],
)
def test_redact_url_keeps_no_credential(url: str, shown: str) -> None:
    assert redact_url(url) == shown


def test_secret_parts_cover_tokens_but_not_a_webhook_host() -> None:
    parts = secret_parts("json://127.0.0.1:8080/hooks/verysecretpath?token=anothersecret")
    assert "verysecretpath" in parts and "anothersecret" in parts and "127.0.0.1" not in parts
    assert "123456789" in secret_parts("tgram://123456789:AAHsecretsecret/987654")


def test_urls_from_config_file_and_credential(tmp_path: Path) -> None:
    f = tmp_path / "urls"
    f.write_text("# phone\nntfy://ntfy.sh/topic-one\n\n  json://127.0.0.1:9/x  \n")
    assert read_urls(("tgram://a/b",), str(f), {}) == ["tgram://a/b", "ntfy://ntfy.sh/topic-one", "json://127.0.0.1:9/x"]
    (tmp_path / "alert-urls").write_text("ntfy://ntfy.sh/from-credential\n")
    assert read_urls((), "", {"CREDENTIALS_DIRECTORY": str(tmp_path)}) == ["ntfy://ntfy.sh/from-credential"]
    assert read_urls((), "", {}) == []
    with pytest.raises(AlertConfigError, match=r"alerts.urls_file .*missing: cannot read it"):
        read_urls((), str(tmp_path / "missing"), {})


def test_apprise_refuses_a_url_it_does_not_understand_without_showing_it() -> None:
    with pytest.raises(AlertConfigError) as info:
        AppriseNotifier(["nosuchscheme://secret-token-value/x"])
    assert "nosuchscheme://***" in str(info.value) and "secret-token-value" not in str(info.value)


def test_operator_actions_that_changed_something() -> None:
    rules = AlertRules(AlertRuleSettings())
    stop = {"type": "audit", "data": {"ts": "2026-12-03T20:00:00+00:00", "source": "api", "action": "stop",
                                      "outcome": "applied", "detail": "trading stopped; resting orders cancelled"}}
    (alert,) = rules.on_event(stop, T0)
    assert alert.title == "Operator stop (api)" and alert.level == "warning"
    assert rules.on_event({**stop, "data": {**stop["data"], "outcome": "no_change"}}, T0) == []
    assert rules.on_event({**stop, "data": {**stop["data"], "action": "set_params"}}, T0) == []


def test_alert_urls_are_a_secret_in_the_configuration(tmp_path: Path) -> None:
    from kalshid.config import load_config
    from kalshid.config.render import render_json, render_text

    url = "tgram://123456789:AAHsecretsecret/987654"
    loaded = load_config(environ={"KALSHID_ALERTS__URLS": url}, cwd=tmp_path)
    assert loaded.config.alerts.urls == (url,)
    assert "AAHsecretsecret" not in render_text(loaded) and "AAHsecretsecret" not in render_json(loaded)


async def test_the_daily_summary_says_whether_the_positions_agree_with_the_exchange() -> None:
    today = datetime.now(UTC).date().isoformat()

    class Control:
        def __init__(self) -> None:
            self.audit: dict[str, Any] = {"checked_at": "2026-12-05T20:00:00+00:00", "agrees": True,
                                          "differences": []}

        async def status(self) -> dict[str, Any]:
            return {"state": "running", "mode": "live", "equity": "10012.5000", "position_audit": self.audit}

        async def pnl(self, group_by: str) -> list[dict[str, Any]]:
            return [{"day": today, "net": "12.5000", "fees": "1.2000", "fills": 4}]

    control = Control()
    summary = summary_from(control)  # type: ignore[arg-type]
    text = await summary()
    assert text == ("state running, mode live, equity $10012.5000; today: realised $12.5000 net of $1.2000 fees, "
                    "4 fills; positions agree with the exchange's")
    control.audit = {"checked_at": "2026-12-05T20:00:00+00:00", "agrees": False,
                     "differences": ["KX-1: journal says +0 (YES − NO), exchange says +7"]}
    assert (await summary()).endswith("positions DIFFER from the exchange's: KX-1: journal says +0 (YES − NO), "
                                      "exchange says +7")


def test_every_alert_title_is_in_docs_alerts_md() -> None:
    """An operator reading docs/alerts.md finds every notification the rules can send, by its title."""
    import re

    from kalshid.alerts import rules

    doc = (Path(rules.__file__).resolve().parents[2] / "docs" / "alerts.md").read_text()
    source = Path(rules.__file__).read_text()
    fixed = set(re.findall(r'Alert\([^)]*?"(?:info|warning|error|critical)", "([A-Z][^"{]*)"', source))
    titles = {*rules._MISMATCHES.values(), *(title for _, title in rules._RECORDING.values()), *fixed}
    assert "Reconciliation failed: not trading" in titles and "Exchange connection down" in titles
    assert {t for t in titles if t not in doc} == set()


def test_errors_of_the_order_path_and_the_feed_reach_the_phone_and_no_error_alert_goes_unsent() -> None:
    rules = AlertRules(AlertRuleSettings())
    now = datetime(2026, 12, 5, 12, 0, tzinfo=UTC)

    def one(data: dict[str, object]) -> Alert:
        [alert] = rules.on_event({"type": "alert", "data": data}, now)
        return alert

    refused = one({"level": "error", "kind": "cancel_all_failed", "detail": "503 Service Unavailable"})
    assert (refused.level, refused.title) == ("error", "Cancel-all refused: orders cancelled one by one")
    assert "503" in refused.body
    beyond = one({"level": "error", "kind": "fills_exceed_order", "order_id": "o-1", "booked": 4, "count": 3})
    assert beyond.title == "More contracts booked than an order was for" and beyond.key == "fills_exceed_order:o-1"
    back = one({"level": "error", "kind": "order_taken_back", "order_id": "o-2", "detail": "resting, 3 left"})
    assert back.title == "An order given up as never sent is on the exchange: taken back"
    assert back.key == "order_taken_back:o-2" and "resting, 3 left" in back.body
    unsure = one({"level": "error", "kind": "order_owner_uncertain", "order_id": "o-3", "candidates": ["c-1"],
                  "detail": "it may be kalshid's c-1"})
    assert unsure.title == "An order without client_order_id adopted as external may be kalshid's"
    assert unsure.key == "order_owner_uncertain:o-3" and "c-1" in unsure.body
    feed = one({"level": "error", "kind": "subscription_refused", "channel": "fill", "code": 27})
    assert feed.title == "Fills and order updates come by REST only" and "channel=fill" in feed.body
    novel = one({"level": "critical", "kind": "something_new", "detail": "x"})
    assert (novel.level, novel.title) == ("critical", "kalshid critical: something_new")
    # a warning or a notice of a kind without a rule stays on the dashboard and the WebSocket
    assert rules.on_event({"type": "alert", "data": {"level": "warning", "kind": "reconnected"}}, now) == []


def test_the_days_loss_limit_is_sent_once_a_day_and_other_refusals_never() -> None:
    rules = AlertRules(AlertRuleSettings())

    def refused(reason: str, at: datetime) -> list[Alert]:
        return rules.on_event({"type": "alert", "data": {
            "level": "info", "kind": "risk_rejection", "reason": reason, "strategy": "kelly_volatility",
            "ticker": "KXSOL15M-26DEC032015-15", "detail": "day's loss measure $501.20 > $500.00"}}, at)

    for reason in ("max_window_exposure", "max_concurrent_positions", "entry_cutoff", "stale_book"):
        assert refused(reason, T0) == []
    (first,) = refused("max_daily_loss", T0)
    assert (first.level, first.title) == ("warning", "Day's loss limit reached: buys refused")
    assert first.key == "daily_loss_limit:2026-12-03"
    assert "kelly_volatility in KXSOL15M-26DEC032015-15" in first.body and "$501.20 > $500.00" in first.body
    # the refusals that follow on the same UTC day are routine
    assert refused("max_daily_loss", T0 + timedelta(seconds=1)) == []
    assert refused("max_daily_loss", T0 + timedelta(hours=3, minutes=59)) == []
    # the next day (UTC) reaching its limit again is news again
    (again,) = refused("max_daily_loss", T0 + timedelta(hours=4))
    assert again.key == "daily_loss_limit:2026-12-04"
