"""Sending alerts through Apprise, and keeping its URLs' secrets out of every log line.

Apprise is imported only when the first notifier is built (it is not on ``kalshid run``'s import path
when alerts are off). `AppriseNotifier.send` blocks (network I/O) and is called on a helper thread by
`kalshid.alerts.service`, never on the event loop.
"""

from __future__ import annotations

import logging
import os
import re
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any, Final

from kalshid.alerts.rules import Alert

log = logging.getLogger("kalshid.alerts")

_APPRISE_TYPE: Final = {"info": "info", "warning": "warning", "error": "failure", "critical": "failure"}
_WEBHOOK_SCHEMES: Final = frozenset({"json", "jsons", "xml", "xmls", "form", "forms"})
_SCHEME = re.compile(r"^([A-Za-z][A-Za-z0-9+.-]*)://")


class AlertConfigError(ValueError):
    """Unusable alert URLs (unreadable file, a URL Apprise does not understand); names the culprit."""


def redact_url(url: str) -> str:
    """The URL as it may be shown: the scheme, and the host of plain webhooks; nothing else.

    ``tgram://123:ABC/456`` → ``tgram://***``; ``json://127.0.0.1:8080/hook?x=1`` → ``json://127.0.0.1:8080/***``.
    Apprise URLs carry tokens in the user part, the "host" (Telegram's bot token), the path (Discord and
    Slack webhooks) or the query, so only a webhook's real host is kept.
    """
    match = _SCHEME.match(url)
    if not match:
        return "***"
    scheme = match.group(1).lower()
    host, sep, _ = url[match.end():].partition("/")
    if scheme not in _WEBHOOK_SCHEMES or "@" in host or not host:
        return f"{scheme}://***"
    return f"{scheme}://{host}{'/***' if sep else ''}"


def secret_parts(url: str) -> list[str]:
    """Pieces of ``url`` that may be credentials (user info, host, path segments, query values), for
    the log redactor; short pieces are left out (they would mangle ordinary text)."""
    match = _SCHEME.match(url)
    rest = url[match.end():] if match else url
    if match and match.group(1).lower() in _WEBHOOK_SCHEMES:
        host, _, path = rest.partition("/")
        rest = f"{host.rpartition('@')[0]}/{path}"  # a webhook's host is not a secret; its user info is
    pieces = re.split(r"[/@:?&=#]", rest)
    return [url, *(p for p in pieces if len(p) >= 8)]


def read_urls(urls: Iterable[str], urls_file: str, environ: Mapping[str, str] | None = None) -> list[str]:
    """The configured URLs plus those in ``urls_file`` (one per line, ``#`` comments), or in
    ``$CREDENTIALS_DIRECTORY/alert-urls`` when no file is named and that credential exists.

    Raises AlertConfigError naming a named file that cannot be read.
    """
    env = os.environ if environ is None else environ
    out = [u.strip() for u in urls if u.strip()]
    path = urls_file
    if not path and env.get("CREDENTIALS_DIRECTORY"):
        candidate = Path(env["CREDENTIALS_DIRECTORY"]) / "alert-urls"
        path = str(candidate) if candidate.is_file() else ""
    if path:
        try:
            text = Path(path).read_text(encoding="utf-8")
        except OSError as exc:
            raise AlertConfigError(f"alerts.urls_file {path}: cannot read it ({exc.strerror})") from None
        out += [line.strip() for line in text.splitlines() if line.strip() and not line.lstrip().startswith("#")]
    return out


class AppriseNotifier:
    """One Apprise object holding every target URL."""

    def __init__(self, urls: list[str]) -> None:
        import apprise  # lazily: only when alerts are configured

        self._apprise: Any = apprise.Apprise()
        self.targets = [redact_url(u) for u in urls]
        for url, shown in zip(urls, self.targets, strict=True):
            if not self._apprise.add(url):
                raise AlertConfigError(f"alerts: Apprise does not understand the URL {shown}")

    def send(self, alert: Alert) -> bool:
        """Send to every target (blocking); False if any target failed. Never raises for a failed send."""
        import apprise

        try:
            ok = bool(self._apprise.notify(
                title=f"kalshid: {alert.title}", body=alert.body,
                notify_type=getattr(apprise.NotifyType, _APPRISE_TYPE.get(alert.level, "info").upper()),
            ))
        except Exception as exc:  # a plugin bug must not end the alert service
            log.warning("alert %r not sent: %s", alert.title, type(exc).__name__)
            return False
        if not ok:
            log.warning("alert %r not delivered to every target (%s)", alert.title, ", ".join(self.targets))
        return ok
