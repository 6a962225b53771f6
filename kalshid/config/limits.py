"""The core's risk limits and breaker settings from the ``[risk]`` section: one conversion, shared by
``kalshid run`` and the backtest, so both trade under the same limits."""

from __future__ import annotations

from kalshid.config.schema import Config
from kalshid.core.breaker import BreakerConfig
from kalshid.core.risk import RiskLimits


def risk_limits(cfg: Config) -> RiskLimits:
    """The hard limits every order passes (``[risk]``, money already in centi-cents)."""
    r = cfg.risk
    return RiskLimits(
        max_position_size_cc=r.max_position_size_cc, max_concurrent_positions=r.max_concurrent_positions,
        max_daily_loss_cc=r.max_daily_loss_cc, max_window_exposure_cc=r.max_window_exposure_cc,
        entry_cutoff_seconds=float(r.entry_cutoff_seconds), max_data_age_seconds=r.max_data_age_seconds)


def breaker_config(cfg: Config) -> BreakerConfig:
    """The circuit breaker's loss and drawdown fractions (``[risk]``)."""
    return BreakerConfig(max_daily_loss_fraction=cfg.risk.breaker_daily_loss_fraction,
                         max_drawdown_fraction=cfg.risk.breaker_drawdown_fraction)
