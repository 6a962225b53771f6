"""Alerts on the phone: daemon events → rules → de-duplication and rate limit → Apprise (see docs/alerts.md).

`build_alert_service` is what ``kalshid run`` calls: None when no URL is configured, else an
`AlertService` to run beside the API server.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

from kalshid.alerts.notify import AlertConfigError, AppriseNotifier, read_urls, redact_url, secret_parts
from kalshid.alerts.rules import Alert, AlertRules, AlertRuleSettings, Limiter
from kalshid.alerts.service import AlertService, summary_from
from kalshid.control.api import DaemonControl
from kalshid.logs import register_secret


def build_alert_service(
    cfg: Any, control: DaemonControl, environ: Mapping[str, str] | None = None
) -> AlertService | None:
    """An alert service for the ``[alerts]`` config section ``cfg``, or None when it names no URL.

    Raises AlertConfigError for an unreadable ``urls_file`` or a URL Apprise does not accept. Every
    URL's credentials are registered with the log redactor before anything can log them.
    """
    urls = read_urls(cfg.urls, cfg.urls_file, environ)
    if not urls:
        return None
    for url in urls:
        for part in secret_parts(url):
            register_secret(part)
    notifier = AppriseNotifier(urls)
    settings = AlertRuleSettings(
        fills=cfg.fills, feed_down_seconds=cfg.feed_down_seconds, order_error_burst=cfg.order_error_burst,
        order_error_window_seconds=cfg.order_error_window_seconds, daily_summary_hour=cfg.daily_summary_hour,
        dedupe_seconds=cfg.dedupe_seconds, max_per_hour=cfg.max_per_hour)
    service = AlertService(settings, notifier.send, summary=summary_from(control))
    service.targets = notifier.targets
    return service


def alert_urls_problem(cfg: Any, environ: Mapping[str, str] | None = None) -> str | None:
    """Why the ``[alerts]`` section ``cfg`` cannot be used (a file that cannot be read, a URL Apprise does
    not understand), or None. Checked before a start, so that ``kalshid run`` and ``kalshid config check``
    refuse it at once instead of failing once the exchange is up. Names a URL only by its scheme (and a
    webhook's host); Apprise's own complaint, which quotes the URL whole, is not logged."""
    try:
        urls = read_urls(cfg.urls, cfg.urls_file, environ)
        if urls:
            quiet = logging.getLogger("apprise")
            was = quiet.disabled
            quiet.disabled = True
            try:
                AppriseNotifier(urls)
            finally:
                quiet.disabled = was
    except AlertConfigError as exc:
        return str(exc)
    return None


__all__ = [
    "Alert",
    "AlertConfigError",
    "AlertRuleSettings",
    "AlertRules",
    "AlertService",
    "Limiter",
    "alert_urls_problem",
    "build_alert_service",
    "redact_url",
]
