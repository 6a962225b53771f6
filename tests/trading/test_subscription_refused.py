"""A refused subscription to the account's own stream is an error the operator hears about."""

from __future__ import annotations

from typing import Any

from structlog.testing import capture_logs

from kalshid.config import Config
from kalshid.exchange.base import SubscriptionFailed
from kalshid.metrics import Metrics
from kalshid.trading.feed import Feed


def test_a_refused_fill_subscription_is_an_error_alert_and_a_market_channel_one_a_warning() -> None:
    published: list[tuple[str, dict[str, Any]]] = []
    feed = Feed(Config(), None, None, None, Metrics(), lambda kind, data: published.append((kind, data)),  # type: ignore[arg-type]
                None, None)  # type: ignore[arg-type]
    with capture_logs() as logs:
        feed._observe(SubscriptionFailed("fill", 27, "too many requests", (), 1.0))
        feed._observe(SubscriptionFailed("ticker", 26, "market limit", ("KX-1",), 2.0))
    assert published == [("alert", {"level": "error", "kind": "subscription_refused", "channel": "fill", "code": 27,
                                     "detail": "too many requests"})]
    said = [(e["log_level"], e["channel"]) for e in logs if e["event"].startswith("subscription refused")]
    assert said == [("error", "fill"), ("warning", "ticker")]
