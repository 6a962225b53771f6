"""The audit trail: one log line and one ``audit`` event for every operator action.

Who acted is carried in a context variable that each entry point sets for the work it does on a
client's behalf (:func:`acting_as`): ``api`` (REST), ``ws`` (a WebSocket command), ``ctl`` (the control
socket, so ``kalshid ctl``), ``signal`` (SIGHUP); anything else is ``internal``. :func:`record` writes
the line (logger ``kalshid.audit``, event ``operator action``; warning when refused) and publishes
the same fields as an ``audit`` event::

    {"ts": "<UTC ISO>", "source": "api", "action": "stop", "target": null,
     "before": {"state": "running", ...}, "after": {"state": "stopped", ...},
     "outcome": "applied" | "no_change" | "refused", "detail": "<one sentence>"}
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from datetime import UTC, datetime
from typing import Any, Literal

from kalshid.logs import get_logger

log = get_logger("kalshid.audit")

Source = Literal["api", "ws", "ctl", "signal", "internal"]
Outcome = Literal["applied", "no_change", "refused"]

_actor: ContextVar[Source] = ContextVar("kalshid_actor", default="internal")


@contextmanager
def acting_as(source: Source) -> Iterator[None]:
    """Attribute the operator actions done inside the block (and tasks it starts) to ``source``."""
    token = _actor.set(source)
    try:
        yield
    finally:
        _actor.reset(token)


def current_source() -> Source:
    return _actor.get()


def record(publish: Callable[[str, dict[str, Any]], None], action: str, *, before: dict[str, Any],
           after: dict[str, Any], detail: str, target: str | None = None,
           outcome: Outcome | None = None) -> dict[str, Any]:
    """Log and publish one operator action; returns the entry. ``outcome`` defaults to ``applied`` when
    ``before != after`` and ``no_change`` otherwise."""
    entry: dict[str, Any] = {
        "ts": datetime.now(UTC).isoformat(), "source": current_source(), "action": action, "target": target,
        "before": before, "after": after,
        "outcome": outcome or ("applied" if before != after else "no_change"), "detail": detail}
    (log.warning if entry["outcome"] == "refused" else log.info)("operator action", **entry)
    publish("audit", entry)
    return entry
