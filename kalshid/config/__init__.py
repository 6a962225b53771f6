"""Typed, frozen configuration: defaults < TOML file < ``.env`` < environment variables.

Use :func:`load_config` (raises :class:`ConfigError` with every problem) and read values from the
frozen :class:`Config` tree. Money fields end in ``_cc`` and hold integer centi-cents.
"""

from kalshid.config.loader import ConfigError, LoadedConfig, load_config
from kalshid.config.schema import (
    KNOWN_STRATEGIES,
    ApiConfig,
    Cc,
    ChannelsConfig,
    Config,
    ControlConfig,
    ExchangeConfig,
    JournalConfig,
    KellyVolatilityParams,
    LogConfig,
    MeanReversionParams,
    RiskConfig,
    RuntimeConfig,
    SimConfig,
    StrategiesConfig,
    TradingConfig,
)
from kalshid.config.sources import SEED_ALIASES, Problem, env_name

__all__ = [
    "KNOWN_STRATEGIES",
    "SEED_ALIASES",
    "ApiConfig",
    "Cc",
    "ChannelsConfig",
    "Config",
    "ConfigError",
    "ControlConfig",
    "ExchangeConfig",
    "JournalConfig",
    "KellyVolatilityParams",
    "LoadedConfig",
    "LogConfig",
    "MeanReversionParams",
    "Problem",
    "RiskConfig",
    "RuntimeConfig",
    "SimConfig",
    "StrategiesConfig",
    "TradingConfig",
    "env_name",
    "load_config",
]
