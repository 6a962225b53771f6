"""A strategy parameter the configuration accepts is one the strategy accepts, and the reverse.

`kalshid config check` and the start validate ``strategies.<name>.<param>`` against the schema's bounds
(:mod:`kalshid.config.schema`); the strategy validates the same value again when it is built, and again
for ``PUT /api/strategies/{name}/params``. If the two disagreed, a value could pass the check and then
stop ``kalshid run`` with a traceback, or be refused by the file but taken by the API.
"""

from pathlib import Path

import pytest

from kalshid.config import ConfigError, load_config
from kalshid.config.rules import leaves
from kalshid.config.sources import env_name
from kalshid.core.strategies import ParamError, params_from_mapping, strategy_class

# Each bound either side uses, and a step beyond it (also as whole numbers for the whole-number parameters).
PROBES = (-1e9, -100.5, -100.0, -1.0, -1e-9, 0.0, 1e-9, 0.5, 1.0, 1.5, 2.0, 99.5, 100.0, 100.5, 900.0,
          86_400.0, 86_400.5, 2_592_000.0, 2_592_000.5, 1e9)
STRATEGY_LEAVES = [leaf for leaf in leaves() if leaf.key.startswith("strategies.")]


def config_accepts(key: str, value: float | int, tmp_path: Path) -> bool:
    try:
        load_config(environ={env_name(key): str(value)}, cwd=tmp_path)
    except ConfigError:
        return False
    return True


def strategy_accepts(key: str, value: float | int) -> bool:
    _, strategy, param = key.split(".")
    try:
        params_from_mapping(strategy_class(strategy).params_class, {param: value})
    except ParamError:
        return False
    return True


def test_every_strategy_parameter_is_probed() -> None:
    keys = {leaf.key for leaf in STRATEGY_LEAVES}
    assert "strategies.kelly_volatility.vol_half_life_seconds" in keys
    assert "strategies.mean_reversion.zscore_threshold_high" in keys
    for key in keys:
        _, strategy, param = key.split(".")
        assert param in {f.name for f in strategy_class(strategy).params_class.__attrs_attrs__}, key


@pytest.mark.parametrize("key", [leaf.key for leaf in STRATEGY_LEAVES])
def test_config_and_strategy_accept_the_same_values(key: str, tmp_path: Path) -> None:
    leaf = next(leaf for leaf in STRATEGY_LEAVES if leaf.key == key)
    whole = leaf.type is int
    # a whole-number parameter is also probed with fractions and integral floats: both sides refuse them
    probes = sorted({int(v) for v in PROBES} | set(PROBES) if whole else set(PROBES))
    disagree = {v: (config_accepts(key, v, tmp_path), strategy_accepts(key, v)) for v in probes}
    assert {v: ab for v, ab in disagree.items() if ab[0] != ab[1]} == {}, "value: (config, strategy)"
