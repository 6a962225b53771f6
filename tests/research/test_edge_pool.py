"""``kalshid backtest --fit-pool`` / ``--score-pool``: fitted on one period, scored on a later one."""

import json
from pathlib import Path

import pytest

from kalshid.cli import main
from kalshid.core.pooling import IDENTITY
from kalshid.research.edge.pool import PoolFileError, load
from tests.conftest import shared_dir


@pytest.fixture
def data() -> Path:
    """The shared data folder (the test fails, naming the path, when it is missing)."""
    return shared_dir("data", "kalshi").parent


def _bt(data: Path, *argv: str) -> int:
    return main(["backtest", "--data", str(data), "--no-progress", "--no-charts", *argv])


def test_fit_on_the_first_day_and_score_on_the_second(data: Path, tmp_path: Path,
                                                      capsys: pytest.CaptureFixture[str]) -> None:
    pool_file = tmp_path / "pool.json"
    assert _bt(data, "--to", "2026-06-02", "--fit-pool", str(pool_file)) == 0
    doc = json.loads(pool_file.read_text())
    assert doc["fitted_on"]["days"] == ["2026-06-01"] and doc["fitted_on"]["samples"] > 100
    pool = load(pool_file)
    assert not pool.is_identity and pool.as_params() == doc["params"]

    out = tmp_path / "test"
    assert _bt(data, "--from", "2026-06-02", "--score-pool", str(pool_file), "--out", str(out)) == 0
    scores = json.loads((out / "pool_scores.json").read_text())
    rows = {(r["minutes_left"], r["forecast"]): r for r in scores["rows"]}
    for h in ("14", "10", "7", "5", "3", "all six"):
        assert {(h, f) for f in ("model", "mid", "pooled")} <= set(rows)
        assert rows[(h, "pooled")]["n"] == rows[(h, "mid")]["n"] > 0
        lo, est, hi = rows[(h, "pooled")]["brier"][1], rows[(h, "pooled")]["brier"][0], rows[(h, "pooled")]["brier"][2]
        assert lo <= est <= hi
    assert scores["bootstrap"]["over"] == "markets"  # a single test day: intervals resample markets
    assert "| all six | pooled |" in (out / "pool_scores.md").read_text()
    assert (out / "pool_scores.png").read_bytes().startswith(b"\x89PNG")
    assert "| all six | pooled |" in capsys.readouterr().out


@pytest.mark.parametrize(("content", "message"), [
    (None, "no such pool file"),
    ("{", "not readable JSON"),
    ('{"format": "other"}', "not a pool file"),
    ('{"format": "kalshid.pool/1", "params": {"pool_bias": 0}}', "params must be exactly"),
    ('{"format": "kalshid.pool/1", "params": {"pool_bias": 1e9, "pool_model_at_close": 1, "pool_model_at_open": 1,'
     ' "pool_mid_at_close": 0, "pool_mid_at_open": 0}}', "pool weight bias"),
])
def test_a_bad_pool_file_is_refused_before_the_replay(data: Path, tmp_path: Path, content: str | None,
                                                       message: str, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "pool.json"
    if content is not None:
        path.write_text(content)
    with pytest.raises(PoolFileError, match=message):
        load(path)
    assert _bt(data, "--from", "2026-06-02", "--score-pool", str(path)) == 2
    err = capsys.readouterr().err
    assert message in err and "markets settled" not in err


def test_a_pooled_replay_cannot_be_fitted_on(data: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    status = _bt(data, "--set", "kelly_volatility.pool_mid_at_open=0.5", "--fit-pool", str(tmp_path / "p.json"))
    assert status == 2 and "leave out --set kelly_volatility.pool_mid_at_open" in capsys.readouterr().err
    assert not (tmp_path / "p.json").exists()
    assert IDENTITY.is_identity
