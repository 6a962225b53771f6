"""What the operator decided survives a crash: stop, stop-entry, strategies on/off, parameter overrides.

Kept as one JSON document in the journal's ``meta`` table (key :data:`KEY`), written durably after
every operator command that changes it, and applied after reconciliation on the next start, before
anything trades. A document that no longer fits (a strategy that is gone, a parameter now invalid)
is applied as far as it goes; what is skipped is logged.
"""

from __future__ import annotations

import json
from datetime import datetime
from typing import TYPE_CHECKING, Any

import attrs

from kalshid.daemon import audit
from kalshid.logs import get_logger

if TYPE_CHECKING:
    from kalshid.config import Config
    from kalshid.trading.wiring import TradingDaemon

log = get_logger("kalshid.operator")

KEY = "operator_state"


@attrs.frozen
class OperatorState:
    trading_enabled: bool = True
    entries_enabled: bool = True
    strategies: dict[str, bool] = attrs.field(factory=dict)          # name -> enabled
    params: dict[str, dict[str, Any]] = attrs.field(factory=dict)    # name -> overridden parameters

    def to_json(self) -> str:
        return json.dumps(attrs.asdict(self), sort_keys=True, separators=(",", ":"))

    @classmethod
    def from_json(cls, text: str) -> OperatorState:
        """Parse a stored document; raises ValueError when it is not one."""
        raw = json.loads(text)
        if not isinstance(raw, dict):
            raise ValueError("operator state: not a JSON object")
        strategies = raw.get("strategies", {})
        params = raw.get("params", {})
        if not isinstance(strategies, dict) or not isinstance(params, dict) \
                or not all(isinstance(v, dict) for v in params.values()):
            raise ValueError("operator state: malformed strategies or params")
        return cls(trading_enabled=bool(raw.get("trading_enabled", True)),
                   entries_enabled=bool(raw.get("entries_enabled", True)),
                   strategies={str(k): bool(v) for k, v in strategies.items()},
                   params={str(k): dict(v) for k, v in params.items()})


def current(daemon: TradingDaemon) -> OperatorState:
    """The running daemon's operator state."""
    reg = daemon.p.registry
    return OperatorState(trading_enabled=daemon.p.state.trading_enabled,
                         entries_enabled=daemon.p.state.entries_enabled,
                         strategies={n: reg.is_enabled(n) for n in reg.names()},
                         params={n: dict(p) for n, p in daemon.param_overrides.items() if p})


async def save_operator_state(daemon: TradingDaemon) -> None:
    """Journal the operator state durably (a no-op before the journal is open)."""
    if daemon.p.journal is not None:
        await daemon.p.journal.set_meta(KEY, current(daemon).to_json())


async def restore_operator_state(daemon: TradingDaemon, now: datetime) -> OperatorState | None:
    """Apply the journaled operator state to a freshly reconciled daemon; returns what was found."""
    from kalshid.core.strategies.base import ParamError

    text = await daemon.p.require_journal().get_meta(KEY)
    if text is None:
        return None
    try:
        saved = OperatorState.from_json(text)
    except ValueError as exc:
        log.error("operator state in the journal is unreadable; starting with the configured state",
                  error=str(exc))
        return None
    state, reg = daemon.p.state, daemon.p.registry
    state.trading_enabled = saved.trading_enabled
    if not saved.entries_enabled:
        state.entries_enabled = False
        if state.breaker.status.value != "halted":  # HALTED from before the restart is stricter already
            state.breaker, _ = state.breaker.stop_entries(now, detail="operator stop-entry (restored)")
    skipped: list[str] = []
    for name, enabled in saved.strategies.items():
        if name not in reg.names():
            skipped.append(f"strategy {name!r} no longer exists")
            continue
        reg.enable(name) if enabled else reg.disable(name)
    for name, params in saved.params.items():
        if name not in reg.names():
            continue
        try:
            reg.with_params(name, params)
        except ParamError as exc:
            skipped.append(f"{name} parameters: {exc}")
            continue
        daemon.param_overrides[name] = dict(params)
    log.warning("operator state restored from the journal", trading_enabled=saved.trading_enabled,
                entries_enabled=saved.entries_enabled,
                disabled=[n for n, on in saved.strategies.items() if not on], params=saved.params,
                skipped=skipped)
    return saved


async def apply_reload(daemon: TradingDaemon, new: Config) -> list[str]:
    """Apply what can change without a restart (strategy parameters, risk limits), audit each change
    against the *running* value, journal the operator state; returns the sections applied. A reloaded
    parameter replaces an operator's override of it."""
    from kalshid.trading.wiring import risk_engine_from

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
    engine = risk_engine_from(new)
    if engine.limits != daemon.engine.limits:
        for f in attrs.fields(type(engine.limits)):
            old, value = getattr(daemon.engine.limits, f.name), getattr(engine.limits, f.name)
            if old != value:
                before[f"risk.{f.name}"], after[f"risk.{f.name}"] = old, value
        daemon.engine = daemon.risk_stage.engine = engine
        applied.append("risk")
    await save_operator_state(daemon)
    audit.record(daemon._publish, "reload", before=before, after=after,
                 detail=f"configuration reloaded: {len(after)} running value(s) changed" if after
                 else "configuration reloaded: no running value changed")
    return applied
