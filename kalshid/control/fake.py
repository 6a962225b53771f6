"""An in-memory `DaemonControl`: the test double for the API and control socket, and a reference.

It behaves like the contract in `kalshid.control.api` says (state machine, ControlError with fields,
cursor pagination, status_update on every state change) over canned data, so surfaces can be tested
and benchmarked without a pipeline. It is not used by the daemon itself.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from kalshid.control.api import JSON, ControlError, OrderQuery, PnlGroup, TradeQuery
from kalshid.control.broadcaster import Broadcaster

# name → (type, min, max) for each tunable strategy parameter.
_PARAM_SPECS: dict[str, dict[str, tuple[type, float, float]]] = {
    "fair_value": {
        "edge_min_cc": (int, 0, 5000),
        "max_count": (int, 1, 1000),
        "vol_scale": (float, 0.1, 10.0),
    },
    "momentum": {"lookback_s": (int, 1, 900), "max_count": (int, 1, 1000)},
}


def _page(items: list[JSON], cursor: str | None, limit: int) -> JSON:
    """Newest-first page after ``cursor`` (the last id of the previous page)."""
    start = 0
    if cursor is not None:
        ids = [str(item["id"]) for item in items]
        if cursor not in ids:
            raise ControlError("cursor", f"unknown cursor {cursor!r}")
        start = ids.index(cursor) + 1
    chunk = items[start : start + limit]
    more = start + limit < len(items)
    return {"items": chunk, "cursor": str(chunk[-1]["id"]) if more and chunk else None}


class FakeDaemon:
    """A scripted daemon. ``calls`` records every command for assertions."""

    def __init__(self, broadcaster: Broadcaster | None = None, *, n_trades: int = 25) -> None:
        self.broadcaster = broadcaster
        self.state = "stopped"
        self.breaker_tripped = False
        self.calls: list[tuple[str, Any]] = []
        self.strategy_state: dict[str, JSON] = {
            "fair_value": {
                "enabled": True,
                "params": {"edge_min_cc": 300, "max_count": 10, "vol_scale": 1.0},
            },
            "momentum": {"enabled": False, "params": {"lookback_s": 60, "max_count": 5}},
        }
        self.trade_rows: list[JSON] = [
            {
                "id": n,
                "ticker": "KXSOL15M-24OCT011215-15" if n % 2 else "KXSOL15M-24OCT011230-30",
                "strategy": "fair_value" if n % 3 else "momentum",
                "side": "yes",
                "count": 1 + n % 4,
                "price": f"0.{40 + n % 50:02d}00",
                "ts": f"2024-10-01T12:{n % 60:02d}:00Z",
            }
            for n in range(n_trades, 0, -1)
        ]
        self.order_rows: list[JSON] = [
            {"id": f"o{n}", "client_order_id": f"o{n}", "order_id": f"x{n}", "ticker": "KXSOL15M-24OCT011215-15",
             "status": s, "count": 1}
            for n, s in enumerate(["resting", "executed", "canceled", "executed", "rejected"])
        ]

    # -- queries ---------------------------------------------------------------------------------
    async def status(self) -> JSON:
        return {
            "state": self.state,
            "mode": "sim",
            "uptime_s": 12.5,
            "exchange": {"connected": True},
            "market": "KXSOL15M-24OCT011215-15",
            "equity": "1000.0000",
            "breaker": {
                "tripped": self.breaker_tripped,
                "reason": "loss limit" if self.breaker_tripped else None,
            },
        }

    async def positions(self) -> list[JSON]:
        return [{"ticker": "KXSOL15M-24OCT011215-15", "side": "yes", "count": 3, "avg_price": "0.4500"}]

    async def orders(self, query: OrderQuery) -> JSON:
        rows = [
            o
            for o in self.order_rows
            if (query.status is None or o["status"] == query.status)
            and (query.ticker is None or o["ticker"] == query.ticker)
        ]
        return _page(rows, query.cursor, query.limit)

    async def trades(self, query: TradeQuery) -> JSON:
        def keep(t: JSON) -> bool:
            ts = datetime.fromisoformat(t["ts"])
            return (
                (query.ticker is None or t["ticker"] == query.ticker)
                and (query.strategy is None or t["strategy"] == query.strategy)
                and (query.since is None or ts >= query.since)
                and (query.until is None or ts <= query.until)
            )

        return _page([t for t in self.trade_rows if keep(t)], query.cursor, query.limit)

    async def pnl(self, group_by: PnlGroup) -> list[JSON]:
        return [{group_by: "fair_value" if group_by == "strategy" else "2024-10-01", "realized": "1.2500"}]

    async def markets(self) -> JSON:
        return {"current": {"ticker": "KXSOL15M-24OCT011215-15", "yes_bid": "0.4400"}, "next": None}

    async def risk(self) -> JSON:
        return {
            "limits": {"max_exposure": "100.0000"},
            "usage": {"exposure": "4.5000"},
            "breaker": {"tripped": self.breaker_tripped},
        }

    async def strategies(self) -> list[JSON]:
        return [{"name": n, **s} for n, s in self.strategy_state.items()]

    async def config_redacted(self) -> JSON:
        return {"mode": "sim", "exchange": {"key_id": "***"}}

    # -- commands --------------------------------------------------------------------------------
    async def _set_state(self, command: str, state: str) -> JSON:
        self.calls.append((command, None))
        if command == "start" and self.breaker_tripped:
            raise ControlError(None, "circuit breaker is tripped; reset it first", code="conflict")
        if self.state != state:
            self.state = state
            await self._announce()
        return await self.status()

    async def _announce(self) -> None:
        if self.broadcaster is not None:
            self.broadcaster.publish({"type": "status_update", "data": await self.status()})

    async def start(self) -> JSON:
        return await self._set_state("start", "running")

    async def stop(self) -> JSON:
        return await self._set_state("stop", "stopped")

    async def stop_entry(self) -> JSON:
        return await self._set_state("stop_entry", "stop_entry")

    async def cancel_all(self) -> JSON:
        self.calls.append(("cancel_all", None))
        return {"canceled": "all", "quiet_s": 60}

    async def reset_breaker(self) -> JSON:
        self.calls.append(("reset_breaker", None))
        self.breaker_tripped = False
        await self._announce()
        return {"breaker": {"tripped": False}}

    def _strategy(self, name: str) -> JSON:
        if name not in self.strategy_state:
            raise ControlError("name", f"unknown strategy {name!r}", code="not_found")
        return self.strategy_state[name]

    async def enable_strategy(self, name: str) -> JSON:
        self.calls.append(("enable_strategy", name))
        self._strategy(name)["enabled"] = True
        return {"name": name, "enabled": True}

    async def disable_strategy(self, name: str) -> JSON:
        self.calls.append(("disable_strategy", name))
        self._strategy(name)["enabled"] = False
        return {"name": name, "enabled": False}

    async def set_strategy_params(self, name: str, params: Mapping[str, Any]) -> JSON:
        self.calls.append(("set_strategy_params", (name, dict(params))))
        strategy = self._strategy(name)
        specs = _PARAM_SPECS[name]
        for key, value in params.items():
            if key not in specs:
                raise ControlError(f"params.{key}", f"unknown parameter {key!r} for {name}")
            kind, lo, hi = specs[key]
            ok_type = isinstance(value, kind | int) if kind is float else isinstance(value, kind)
            if isinstance(value, bool) or not ok_type or not lo <= value <= hi:
                raise ControlError(f"params.{key}", f"{key} must be a {kind.__name__} from {lo} to {hi}")
        strategy["params"] = {**strategy["params"], **params}
        return {"name": name, "params": strategy["params"]}

    async def reload(self) -> JSON:
        self.calls.append(("reload", None))
        return {"reloaded": True}
