"""The risk stage's refusal event says whether a buy or a sale was refused, so the alert for the day's
loss limit (buys refused) fires on a buy only."""

from __future__ import annotations

from typing import Any

import trio
from stagekit import NOW, TICKER, pipeline, proposal, risk_stage

from kalshid.alerts.rules import AlertRules, AlertRuleSettings
from kalshid.store import Journal


async def test_a_refusal_event_names_the_refused_action(journal: Journal) -> None:
    p = pipeline(journal)
    published: list[tuple[str, dict[str, Any]]] = []
    p.publish = lambda kind, data: published.append((kind, data))  # type: ignore[method-assign]
    stage = risk_stage(p, max_daily_loss_cc=1)  # no buy fits under the day's loss limit
    orders_send, _orders_recv = trio.open_memory_channel[Any](10)
    await stage._on_proposal(proposal("kelly_volatility"), orders_send)
    refusals = [d for k, d in published if k == "alert" and d.get("kind") == "risk_rejection"]
    assert [(r["reason"], r["action"], r["ticker"]) for r in refusals] == [("max_daily_loss", "buy", TICKER)]


def test_a_sale_refused_at_the_days_loss_limit_is_not_the_buys_refused_alert() -> None:
    rules = AlertRules(AlertRuleSettings())

    def refused(action: str) -> list[Any]:
        return rules.on_event({"type": "risk_rejection", "data": {
            "level": "info", "kind": "risk_rejection", "reason": "max_daily_loss", "action": action,
            "strategy": "kelly_volatility", "ticker": TICKER, "detail": "day's loss measure would rise"}}, NOW)

    # selling one leg of a hedge can be refused at the limit: an exit, not the buys the alert is about
    assert refused("sell") == []
    (alert,) = refused("buy")
    assert alert.title == "Day's loss limit reached: buys refused"
    assert refused("buy") == []
