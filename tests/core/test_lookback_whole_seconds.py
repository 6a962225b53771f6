"""``mean_reversion.lookback_window`` is whole seconds on every path that sets it.

The strategy samples its window once per exchange second, so the window is a number of seconds; the
configuration file takes whole seconds, and so must the parameter class and everything that builds it
without the file (the API's parameter change, a restored override, backtest and sweep overrides). Like
``min_samples``, an integral float (``300.0``) is refused too: a whole-number parameter takes an int.
"""

from __future__ import annotations

import pytest

from kalshid.core.strategies import ParamError, StrategyRegistry, params_from_mapping
from kalshid.core.strategies.mean_reversion import MeanReversion, MeanReversionParams
from kalshid.research.settings import BacktestSettings
from kalshid.research.sweep import ParamSpace, check_space

BAD = [300.5, 0.5, 86_399.9, 300.0, 1.0, True, "300"]


def message(value: object) -> str:
    return f"parameter lookback_window must be whole seconds in (0, 86400], got {value!r}"


def test_the_default_and_whole_values_are_ints() -> None:
    assert MeanReversionParams().lookback_window == 300
    assert isinstance(MeanReversionParams().lookback_window, int)
    for value in (1, 300, 86_400):
        params = params_from_mapping(MeanReversionParams, {"lookback_window": value})
        assert params.lookback_window == value and isinstance(params.lookback_window, int)


@pytest.mark.parametrize("value", [0, -1, 86_401])
def test_whole_values_out_of_range_are_refused(value: int) -> None:
    with pytest.raises(ParamError) as exc:
        MeanReversionParams(lookback_window=value)
    assert str(exc.value) == message(value)


@pytest.mark.parametrize("value", BAD)
def test_the_parameter_class_refuses_a_value_that_is_not_whole_seconds(value: object) -> None:
    with pytest.raises(ParamError) as exc:
        MeanReversionParams(lookback_window=value)  # type: ignore[arg-type]
    assert str(exc.value) == message(value)


@pytest.mark.parametrize("value", [v for v in BAD if isinstance(v, int | float) and not isinstance(v, bool)])
def test_every_path_without_the_config_file_gives_the_class_s_message(value: float) -> None:
    with pytest.raises(ParamError) as exc:
        params_from_mapping(MeanReversionParams, {"lookback_window": value})
    assert str(exc.value) == message(value)
    with pytest.raises(ParamError) as exc:
        MeanReversion.from_mapping({"lookback_window": value})
    assert str(exc.value) == message(value)
    with pytest.raises(ParamError) as exc:
        MeanReversion().with_params({"lookback_window": value})
    assert str(exc.value) == message(value)
    registry = StrategyRegistry.from_config(["mean_reversion"], {})
    before = registry.get("mean_reversion")
    with pytest.raises(ParamError) as exc:
        registry.with_params("mean_reversion", {"lookback_window": value})
    assert str(exc.value) == message(value)
    assert registry.get("mean_reversion") is before
    with pytest.raises(ParamError) as exc:
        BacktestSettings().with_params({"mean_reversion.lookback_window": value})
    assert str(exc.value) == message(value)


def test_min_samples_keeps_its_own_message_on_every_path() -> None:
    # the rule for a whole-number parameter lives in its validator; params_from_mapping adds none of its own
    expected = "parameter min_samples must be a whole number >= 2, got 20.0"
    with pytest.raises(ParamError) as exc:
        MeanReversionParams(min_samples=20.0)  # type: ignore[arg-type]
    assert str(exc.value) == expected
    with pytest.raises(ParamError) as exc:
        params_from_mapping(MeanReversionParams, {"min_samples": 20.0})
    assert str(exc.value) == expected


def test_the_sweep_searches_whole_seconds() -> None:
    settings = BacktestSettings()
    whole = ParamSpace.parse("mean_reversion.lookback_window=60:900")
    assert whole.integer
    check_space(settings, [whole])
    check_space(settings, [ParamSpace.parse("mean_reversion.lookback_window=60,300,900")])
    for text, value in (("mean_reversion.lookback_window=60.5:900", 60.5),
                        ("mean_reversion.lookback_window=60:900.5", 60.0),
                        ("mean_reversion.lookback_window=60.0:900.0", 60.0),
                        ("mean_reversion.lookback_window=60,300.5", 300.5)):
        with pytest.raises(ValueError) as exc:
            check_space(settings, [ParamSpace.parse(text)])
        assert str(exc.value) == f"--param mean_reversion.lookback_window: {message(value)}"
    # a range built in code draws what its distribution says: floats unless integer
    with pytest.raises(ValueError, match="whole seconds"):
        check_space(settings, [ParamSpace("mean_reversion.lookback_window", 60, 900)])
    check_space(settings, [ParamSpace("mean_reversion.lookback_window", 60, 900, integer=True)])
