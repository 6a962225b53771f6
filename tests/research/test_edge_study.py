"""``kalshid backtest --study``: each part of the edge study writes its tables as markdown and JSON."""

import json
from pathlib import Path

import pytest

from kalshid.cli import main
from tests.conftest import shared_dir


@pytest.fixture
def data() -> Path:
    """The shared data folder (the test fails, naming the path, when it is missing)."""
    return shared_dir("data", "kalshi").parent


def _study(data: Path, name: str, out: Path) -> int:
    return main(["backtest", "--data", str(data), "--study", name, "--reps", "50", "--out", str(out),
                 "--no-progress"])


def test_the_overlap_part_writes_model_mid_and_the_fitted_pool(data: Path, tmp_path: Path) -> None:
    assert _study(data, "overlap", tmp_path) == 0
    text = (tmp_path / "overlap.md").read_text()
    assert text.startswith("## 4. Model against mid") and "| fitted pool |" in text
    doc = json.loads((tmp_path / "overlap.json").read_text())
    titles = [t["headers"][0] for t in doc["tables"]]
    assert titles == ["forecast", "forecast (test day)", "rule"]
    first = doc["tables"][0]["rows"]
    assert [r[0] for r in first][:2] == ["model (EwmaVol one-hour, no floor)", "market mid"]
    assert all(r[1] == "135" for r in first)


def test_the_pool_part_fits_before_the_split_and_scores_after(data: Path, tmp_path: Path) -> None:
    assert _study(data, "pool", tmp_path) == 0
    params = json.loads((tmp_path / "pool-params.json").read_text())
    assert params["fitted_on"]["days"] == ["2026-06-01"]
    doc = json.loads((tmp_path / "pool.json").read_text())
    assert doc["pool"] == params["params"]
    assert {r["forecast"] for r in doc["rows"]} == {"model", "mid", "pooled"}
    assert "--score-pool pool-params.json" in (tmp_path / "pool.md").read_text()
    assert (tmp_path / "pool.png").read_bytes().startswith(b"\x89PNG")


def test_a_study_needs_an_output_directory_and_the_data(data: Path, tmp_path: Path,
                                                         capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["backtest", "--study", "vol", "--no-progress"]) == 2
    assert "--study needs --out DIR" in capsys.readouterr().err
    missing = tmp_path / "nowhere"
    assert main(["backtest", "--study", "vol", "--data", str(missing), "--out", str(tmp_path)]) == 2
    assert f"no shared data at {missing}" in capsys.readouterr().err
    assert main(["backtest", "--study", "pool", "--source", "recorded", "--out", str(tmp_path)]) == 2
    assert "--study runs on the shared data" in capsys.readouterr().err
