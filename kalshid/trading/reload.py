"""Configuration reload (SIGHUP, ``kalshid ctl reload``, the API): what changes without a restart.

Each change is a command to the inbox of the stage that owns the value, awaited with
:func:`~kalshid.trading.messages.ask`: strategy parameters go to the strategy stage (one
:class:`~kalshid.trading.messages.SetStrategyParams` per strategy that changes, applied between two
evaluations), risk limits to the risk stage (:class:`~kalshid.trading.messages.SetRiskLimits`, applied
between two proposals). The control plane's task only compares, sends and audits.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import attrs

from kalshid.config import Config
from kalshid.config.limits import risk_limits
from kalshid.core.units import format_dollars
from kalshid.daemon import audit
from kalshid.logs import get_logger
from kalshid.trading.messages import Command, SetRiskLimits, SetStrategyParams, StageUnavailable, ask
from kalshid.trading.operator_state import save_operator_state

if TYPE_CHECKING:
    from kalshid.config import LoadedConfig
    from kalshid.trading.wiring import TradingDaemon

log = get_logger("kalshid.reload")


class ReloadRefused(RuntimeError):
    """A reload stopped part-way: a stage was not running, did not answer, or refused a value. The
    message names the stage and why; ``applied`` lists the sections applied before it (they stay)."""

    def __init__(self, message: str, applied: list[str]) -> None:
        super().__init__(message)
        self.applied = applied


async def apply_reload(daemon: TradingDaemon, new: Config) -> list[str]:
    """Apply what can change without a restart (strategy parameters, risk limits) through the owning
    stages' inboxes, audit each change against the *running* value, journal the operator state;
    returns the sections applied. A reloaded parameter replaces an operator's override of it.

    Raises :class:`ReloadRefused` (audited as refused, with what was applied before it) when a stage
    is not running, does not answer within :func:`ask`'s timeout, or refuses a value."""
    applied: list[str] = []
    before: dict[str, Any] = {}
    after: dict[str, Any] = {}

    async def send(stage: str, section: str, command: Command) -> None:
        try:
            await ask(_inbox(daemon, stage), command, stage=stage)
        except StageUnavailable as exc:
            why = str(exc)
        else:
            if command.refused is None:
                return
            why = f"the {stage} stage refused {section}: {command.refused}"
        audit.record(daemon._publish, "reload", before=before, after=after, outcome="refused",
                     detail=f"configuration reload stopped: {why}"
                     + (f" (applied before it: {', '.join(applied)})" if applied else ""))
        raise ReloadRefused(why, applied)

    reg = daemon.p.registry
    for name in reg.names():
        section = getattr(new.strategies, name, None)
        if section is None:  # a strategy without a config section keeps its parameters
            continue
        running = attrs.asdict(reg.get(name).params)
        changes = {k: v for k, v in attrs.asdict(section).items() if running.get(k) != v}
        if not changes:
            continue
        await send("strategy", f"strategies.{name}", SetStrategyParams(name, changes))
        applied.append(f"strategies.{name}")
        for k, v in changes.items():
            before[f"strategies.{name}.{k}"], after[f"strategies.{name}.{k}"] = running.get(k), v
            daemon.param_overrides.get(name, {}).pop(k, None)
    limits, running_limits = risk_limits(new), daemon.p.snapshots.risk.limits
    if limits != running_limits:
        await send("risk", "risk", SetRiskLimits(limits))
        for f in attrs.fields(type(limits)):
            old, value = getattr(running_limits, f.name, None), getattr(limits, f.name)
            if old != value:  # named by its config key, money in dollars as the configuration gives it
                key, money = f"risk.{f.name.removesuffix('_cc')}", f.name.endswith("_cc")
                before[key] = format_dollars(old) if money and old is not None else old
                after[key] = format_dollars(value) if money else value
        applied.append("risk")
    await save_operator_state(daemon.p, daemon.param_overrides)
    audit.record(daemon._publish, "reload", before=before, after=after,
                 detail=f"configuration reloaded: {len(after)} running value(s) changed" if after
                 else "configuration reloaded: no running value changed")
    return applied


async def reload_on_signal(daemon: TradingDaemon, new: LoadedConfig) -> list[str]:
    """SIGHUP's reload: like :func:`apply_reload`, but a reload that stops part-way is logged (the
    daemon goes on with what was applied) instead of raised into the signal handler."""
    try:
        return await apply_reload(daemon, new.config)
    except ReloadRefused as exc:
        log.error("config reload stopped part-way", reason=str(exc), applied=exc.applied)
        return exc.applied


def _inbox(daemon: TradingDaemon, stage: str) -> Any:
    """The send end of ``stage``'s command inbox, or ``None`` if it has none (not wired)."""
    if stage == "strategy":
        return daemon.strategy.commands
    pair = daemon.p.risk_in
    return pair[0] if pair is not None else None
