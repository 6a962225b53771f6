"""Configuration reload (SIGHUP, ``kalshid ctl reload``, the API): what changes without a restart."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import attrs

from kalshid.config import Config
from kalshid.config.limits import risk_limits
from kalshid.core.risk import RiskEngine
from kalshid.daemon import audit
from kalshid.trading.operator_state import save_operator_state

if TYPE_CHECKING:
    from kalshid.trading.wiring import TradingDaemon


async def apply_reload(daemon: TradingDaemon, new: Config) -> list[str]:
    """Apply what can change without a restart (strategy parameters, risk limits), audit each change
    against the *running* value, journal the operator state; returns the sections applied. A reloaded
    parameter replaces an operator's override of it."""
    applied: list[str] = []
    before: dict[str, Any] = {}
    after: dict[str, Any] = {}
    reg = daemon.p.registry
    for name in reg.names():
        section = getattr(new.strategies, name, None)
        if section is None:  # a strategy without a config section keeps its parameters
            continue
        running = attrs.asdict(reg.get(name).params)
        changes = {k: v for k, v in attrs.asdict(section).items() if running.get(k) != v}
        if not changes:
            continue
        reg.with_params(name, changes)
        applied.append(f"strategies.{name}")
        for k, v in changes.items():
            before[f"strategies.{name}.{k}"], after[f"strategies.{name}.{k}"] = running.get(k), v
            daemon.param_overrides.get(name, {}).pop(k, None)
    engine = RiskEngine(risk_limits(new))
    if engine.limits != daemon.engine.limits:
        for f in attrs.fields(type(engine.limits)):
            old, value = getattr(daemon.engine.limits, f.name), getattr(engine.limits, f.name)
            if old != value:
                before[f"risk.{f.name}"], after[f"risk.{f.name}"] = old, value
        daemon.engine = daemon.risk_stage.engine = engine
        applied.append("risk")
    await save_operator_state(daemon.p, daemon.param_overrides)
    audit.record(daemon._publish, "reload", before=before, after=after,
                 detail=f"configuration reloaded: {len(after)} running value(s) changed" if after
                 else "configuration reloaded: no running value changed")
    return applied
