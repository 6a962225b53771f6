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

from kalshid.logs import get_logger

if TYPE_CHECKING:
    from kalshid.trading.messages import Pipeline

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


def current(pipeline: Pipeline, overrides: dict[str, dict[str, Any]]) -> OperatorState:
    """The running daemon's operator state: its switches, its registry's strategies and the
    parameters an operator set (``overrides``, strategy name -> parameters)."""
    reg = pipeline.registry
    return OperatorState(trading_enabled=pipeline.snapshots.execution.trading_enabled,
                         entries_enabled=pipeline.snapshots.risk.entries_enabled,
                         strategies={n: reg.is_enabled(n) for n in reg.names()},
                         params={n: dict(p) for n, p in overrides.items() if p})


async def save_operator_state(pipeline: Pipeline, overrides: dict[str, dict[str, Any]]) -> None:
    """Journal the operator state durably (a no-op before the journal is open)."""
    if pipeline.journal is not None:
        await pipeline.journal.set_meta(KEY, current(pipeline, overrides).to_json())


def _whole_numbers_as_ints(current: object, saved: dict[str, Any]) -> dict[str, Any]:
    """``saved`` with an integral float turned into an int where the parameter is an int.

    An older journal holds ``mean_reversion.lookback_window`` as a float (``300.0``), which the
    parameter, whole seconds, refuses; the value it means is the whole number. A fractional one is
    left for the parameter to refuse (and the restore to skip, saying so)."""
    out = dict(saved)
    for key, value in saved.items():
        if type(getattr(current, key, None)) is int and isinstance(value, float) and value.is_integer():
            out[key] = int(value)
    return out


async def restore_operator_state(pipeline: Pipeline, overrides: dict[str, dict[str, Any]],
                                 now: datetime) -> OperatorState | None:
    """Apply the journaled operator state to a freshly reconciled pipeline, before anything trades
    (the one moment something other than the owning stages writes their switches), recording restored
    parameters in ``overrides``; returns what was found."""
    from kalshid.core.strategies.base import ParamError

    text = await pipeline.require_journal().get_meta(KEY)
    if text is None:
        return None
    try:
        saved = OperatorState.from_json(text)
    except ValueError as exc:
        log.error("operator state in the journal is unreadable; starting with the configured state",
                  error=str(exc))
        return None
    state, reg = pipeline.state, pipeline.registry
    pipeline.trading_enabled = saved.trading_enabled  # before the stages start: nothing else writes it yet
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
        params = _whole_numbers_as_ints(reg.get(name).params, params)
        try:
            reg.with_params(name, params)
        except ParamError as exc:
            skipped.append(f"{name} parameters: {exc}")
            continue
        overrides[name] = dict(params)
    pipeline.publish_execution()
    pipeline.publish_risk()
    log.warning("operator state restored from the journal", trading_enabled=saved.trading_enabled,
                entries_enabled=saved.entries_enabled,
                disabled=[n for n, on in saved.strategies.items() if not on], params=saved.params,
                skipped=skipped)
    return saved
