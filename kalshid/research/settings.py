"""What a backtest runs with: the daemon's own parameter classes, built from its configuration.

:class:`BacktestSettings` holds the enabled strategies and their parameters (validated by the
strategies' own params classes), the :class:`~kalshid.core.risk.RiskLimits`, the
:class:`~kalshid.core.breaker.BreakerConfig`, the starting bankroll, and the fill model's settings.
:meth:`BacktestSettings.from_config` reads a :class:`~kalshid.config.schema.Config` exactly as
``kalshid run`` does; :meth:`with_params` applies a sweep's overrides by dotted name
(``kelly_volatility.min_edge``, ``risk.entry_cutoff_seconds``, ``fills.latency_seconds``).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import attrs

from kalshid.config.limits import breaker_config, risk_limits
from kalshid.config.schema import Config
from kalshid.core.breaker import BreakerConfig
from kalshid.core.risk import RiskLimits
from kalshid.core.strategies import STRATEGY_CLASSES, StrategyRegistry, params_from_mapping, strategy_class
from kalshid.research.fills import FillSettings


def _freeze_params(value: Mapping[str, Mapping[str, object]]) -> dict[str, dict[str, object]]:
    return {k: dict(v) for k, v in value.items()}


@attrs.frozen
class BacktestSettings:
    """Everything a replay needs besides its events. Money in cc."""

    enabled_strategies: tuple[str, ...] = tuple(STRATEGY_CLASSES)
    strategy_params: dict[str, dict[str, object]] = attrs.field(factory=dict, converter=_freeze_params)
    risk: RiskLimits = attrs.field(factory=lambda: RiskLimits(
        max_position_size_cc=10_000_000, max_concurrent_positions=5, max_daily_loss_cc=5_000_000,
        max_window_exposure_cc=10_000_000))
    breaker: BreakerConfig = attrs.field(factory=BreakerConfig)
    bankroll_cc: int = 100_000_000
    fills: FillSettings = attrs.field(factory=FillSettings)
    max_count_per_signal: int = 10_000
    fee_type: str = "quadratic"
    fills_as_recorded: bool = False
    evaluation: str = "timestamp"  # "timestamp": once per exchange time; "event": after every trigger

    def __attrs_post_init__(self) -> None:
        if self.evaluation not in ("timestamp", "event"):
            raise ValueError(f"evaluation must be timestamp or event, got {self.evaluation!r}")
        for name in self.enabled_strategies:
            strategy_class(name)
        self.registry()  # validates every parameter now, with the strategy's own error

    @classmethod
    def from_config(cls, cfg: Config, **changes: Any) -> BacktestSettings:
        """The daemon's strategies, risk limits, breaker and bankroll from ``cfg`` (as ``kalshid run``)."""
        params = {a.name: attrs.asdict(getattr(cfg.strategies, a.name))
                  for a in attrs.fields(type(cfg.strategies)) if a.name in STRATEGY_CLASSES}
        base = cls(enabled_strategies=tuple(cfg.trading.enabled_strategies), strategy_params=params,
                   risk=risk_limits(cfg), breaker=breaker_config(cfg), bankroll_cc=cfg.trading.bankroll_cc)
        return attrs.evolve(base, **changes) if changes else base

    def registry(self) -> StrategyRegistry:
        """A fresh registry (fresh strategy state) with these parameters."""
        return StrategyRegistry.from_config(self.enabled_strategies, self.strategy_params)

    def with_params(self, overrides: Mapping[str, object]) -> BacktestSettings:
        """These settings with dotted overrides applied; unknown names raise ``ValueError``."""
        params = {k: dict(v) for k, v in self.strategy_params.items()}
        risk: dict[str, Any] = {}
        fills: dict[str, Any] = {}
        top: dict[str, Any] = {}
        for key, value in overrides.items():
            head, _, name = key.partition(".")
            if head in STRATEGY_CLASSES and name:
                params_from_mapping(strategy_class(head).params_class, {name: value})  # strict check
                params.setdefault(head, {})[name] = value
            elif head == "risk" and name in attrs.fields_dict(RiskLimits):
                risk[name] = value
            elif head == "fills" and name in attrs.fields_dict(FillSettings):
                fills[name] = value
            elif head in ("bankroll_cc", "max_count_per_signal") and not name:
                top[head] = value
            else:
                raise ValueError(f"unknown backtest parameter {key!r}: use <strategy>.<param>, risk.<limit>, "
                                 f"fills.<setting>, bankroll_cc or max_count_per_signal")
        return attrs.evolve(self, strategy_params=params, risk=attrs.evolve(self.risk, **risk),
                            fills=attrs.evolve(self.fills, **fills), **top)
