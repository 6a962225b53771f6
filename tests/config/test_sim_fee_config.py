"""The simulator's fee settings: exact numbers from a file or a variable, bad ones named."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

import pytest

from kalshid.config import ConfigError, load_config
from kalshid.config.render import flat_view


def test_defaults_are_kalshis_kxsol15m_structure(tmp_path: Path) -> None:
    sim = load_config(environ={}, cwd=tmp_path).config.sim
    assert (sim.fee_type, sim.fee_multiplier) == ("quadratic", Decimal(1))
    assert sim.event_fee_type_override is None and sim.event_fee_multiplier_override is None


def test_multipliers_are_exact_from_a_file_and_from_variables(tmp_path: Path) -> None:
    path = tmp_path / "k.toml"
    path.write_text('[sim]\nfee_multiplier = 1.10\nevent_fee_type_override = "quadratic_with_maker_fees"\n')
    loaded = load_config(config_path=path, environ={"KALSHID_SIM__EVENT_FEE_MULTIPLIER_OVERRIDE": "0.5"},
                         cwd=tmp_path)
    sim = loaded.config.sim
    assert sim.fee_multiplier == Decimal("1.10") and sim.event_fee_multiplier_override == Decimal("0.5")
    assert sim.event_fee_type_override == "quadratic_with_maker_fees"
    assert flat_view(loaded.config)["sim.fee_multiplier"] == "1.10"


@pytest.mark.parametrize(("var", "value", "said"), [
    ("KALSHID_SIM__FEE_MULTIPLIER", "two", "sim.fee_multiplier"),
    ("KALSHID_SIM__FEE_MULTIPLIER", "-1", "sim.fee_multiplier"),
    ("KALSHID_SIM__EVENT_FEE_TYPE_OVERRIDE", "flat", "sim.event_fee_type_override"),
])
def test_a_bad_fee_setting_is_refused_by_name(tmp_path: Path, var: str, value: str, said: str) -> None:
    with pytest.raises(ConfigError) as caught:
        load_config(environ={var: value}, cwd=tmp_path)
    assert said in str(caught.value)
