"""What each strategy last proposed and what risk said about it: the answer to "why isn't it trading?".

A `DecisionTracker` reads the daemon's event stream (the same events the WebSocket clients get) and keeps,
per strategy, the last signal, the last risk verdict and a count of verdicts per reason. It is fed by its
own broadcaster subscription (`follow`), so it never sits on the trading path: a slow tracker loses its
subscription (and resubscribes), never delays an order.

Events read (``{"type", "data"}``):
- ``trading_signal``: the strategy's proposal (``strategy``, ``ticker``, ``side``, ``action``, ``count``,
  ``price_cc``/``price``, ``edge``, ``fair``, ``ts``).
- ``risk_verdict`` (if published): ``strategy``, ``approved``, ``reason``, ``detail``, ``count``.
- ``risk_rejection`` (or an ``alert`` with ``kind == "risk_rejection"``): a refused proposal (``reason``,
  ``detail``).
- ``order_update`` with a ``strategy`` and a ``client_order_id`` not seen before: the proposal was approved.

`DecisionTracker.snapshot` is the JSON shape of ``GET /api/decisions`` and ``kalshid ctl decisions``.
The registry (`register`, `tracker_for`) lets the control socket find the tracker the API server runs
for the same `DaemonControl`.
"""

from __future__ import annotations

import contextlib
import weakref
from collections import Counter, OrderedDict
from collections.abc import Mapping
from typing import Any, Final

from kalshid.control.broadcaster import Broadcaster
from kalshid.control.tap import follow_events

APPROVED: Final = "approved"
# Events a tracker subscription may queue before the broadcaster evicts it (it then resubscribes).
QUEUE_SIZE: Final = 4096
_SEEN_ORDERS: Final = 1024


class DecisionTracker:
    """Last signal and verdict per strategy, counts per verdict reason; fed with `observe`."""

    def __init__(self) -> None:
        self._signals: dict[str, dict[str, Any]] = {}
        self._verdicts: dict[str, dict[str, Any]] = {}
        self._counts: dict[str, Counter[str]] = {}
        self._reasons: Counter[str] = Counter()
        self._signals_seen: Counter[str] = Counter()
        self._orders: OrderedDict[str, None] = OrderedDict()
        self._last: str | None = None

    def observe(self, event: Mapping[str, Any]) -> None:
        """Update from one event; events of other types, or malformed ones, are ignored."""
        data = event.get("data")
        if not isinstance(data, Mapping):
            return
        kind = event.get("type")
        strategy = data.get("strategy")
        if not isinstance(strategy, str) or not strategy:
            return
        ts = data.get("ts") or event.get("ts")
        if kind == "trading_signal":
            self._signals[strategy] = {k: data.get(k) for k in
                                       ("ticker", "side", "action", "count", "price_cc", "price", "edge", "fair",
                                        "reason")} | {"ts": ts}
            self._signals_seen[strategy] += 1
            self._last = strategy
        elif kind == "risk_verdict":
            approved = bool(data.get("approved"))
            reason = str(data.get("reason") or (APPROVED if approved else "unknown"))
            self._verdict(strategy, approved=approved, reason=reason, detail=data.get("detail"), ts=ts,
                          reduced=approved and reason != APPROVED and reason != "ok")
        elif kind == "risk_rejection" or (kind == "alert" and data.get("kind") == "risk_rejection"):
            self._verdict(strategy, approved=False, reason=str(data.get("reason") or "unknown"),
                          detail=data.get("detail"), ts=ts)
        elif kind == "order_update":
            cid = data.get("client_order_id")
            if not isinstance(cid, str) or cid in self._orders:
                return
            self._orders[cid] = None
            if len(self._orders) > _SEEN_ORDERS:
                self._orders.popitem(last=False)
            self._verdict(strategy, approved=True, reason=APPROVED, detail=None, ts=ts)

    def _verdict(self, strategy: str, *, approved: bool, reason: str, detail: Any, ts: Any,
                 reduced: bool = False) -> None:
        self._verdicts[strategy] = {"approved": approved, "reduced": reduced, "reason": reason,
                                    "detail": detail if detail is None else str(detail), "ts": ts}
        self._counts.setdefault(strategy, Counter())[reason] += 1
        self._reasons[reason] += 1
        self._last = strategy

    def snapshot(self) -> dict[str, Any]:
        """``{"strategies": {name: {last_signal, last_verdict, signals, verdicts}}, "reasons": {...},
        "last": {strategy, signal, verdict} | None}`` (JSON-able)."""
        names = sorted(set(self._signals) | set(self._verdicts))
        strategies = {
            name: {"last_signal": self._signals.get(name), "last_verdict": self._verdicts.get(name),
                   "signals": self._signals_seen.get(name, 0), "verdicts": dict(self._counts.get(name, {}))}
            for name in names
        }
        last = None
        if self._last is not None:
            last = {"strategy": self._last, "signal": self._signals.get(self._last),
                    "verdict": self._verdicts.get(self._last)}
        return {"strategies": strategies, "reasons": dict(self._reasons.most_common()), "last": last}

    async def follow(self, broadcaster: Broadcaster) -> None:
        """Observe ``broadcaster``'s events until it closes (runs until cancelled or closed)."""
        await follow_events(broadcaster, self.observe, queue_size=QUEUE_SIZE, name="decision tracker")


_TRACKERS: weakref.WeakKeyDictionary[object, DecisionTracker] = weakref.WeakKeyDictionary()


def register(control: object, tracker: DecisionTracker) -> None:
    """Make ``tracker`` the one `tracker_for` returns for ``control`` (held weakly)."""
    with contextlib.suppress(TypeError):  # an object that cannot be weakly referenced: no entry
        _TRACKERS[control] = tracker


def tracker_for(control: object) -> DecisionTracker | None:
    """The tracker registered for ``control``, if any."""
    try:
        return _TRACKERS.get(control)
    except TypeError:
        return None
