"""Trading strategies: pure, synchronous, deterministic (see :mod:`.base`)."""

from kalshid.core.strategies.base import BaseStrategy, ParamError, PriceHistory, params_from_mapping
from kalshid.core.strategies.kelly_volatility import KellyVolatility, KellyVolatilityParams
from kalshid.core.strategies.mean_reversion import MeanReversion, MeanReversionParams
from kalshid.core.strategies.registry import (
    STRATEGY_CLASSES,
    StrategyRegistry,
    build_strategy,
    parameter_names,
    strategy_class,
)

__all__ = [
    "STRATEGY_CLASSES",
    "BaseStrategy",
    "KellyVolatility",
    "KellyVolatilityParams",
    "MeanReversion",
    "MeanReversionParams",
    "ParamError",
    "PriceHistory",
    "StrategyRegistry",
    "build_strategy",
    "parameter_names",
    "params_from_mapping",
    "strategy_class",
]
