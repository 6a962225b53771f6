"""``kalshid backtest`` and ``kalshid sweep`` from the command line: reports written, bad input refused."""

import json
import warnings
from pathlib import Path

import pytest

from kalshid.cli import main
from kalshid.research.recorder import Recorder
from kalshid.research.sources.shared import default_data_dir
from tests.research.test_recorder import TICKER, session_messages

DATA = default_data_dir()


@pytest.fixture
def data() -> Path:
    if not (DATA / "kalshi").is_dir():
        pytest.fail(f"shared data not found at {DATA}")
    return DATA


def test_backtest_writes_the_report_and_prints_the_headline(data: Path, tmp_path: Path,
                                                            capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "bt"
    status = main(["backtest", "--data", str(data), "--from", "2026-06-01T12:00", "--to", "2026-06-02",
                   "--set", "kelly_volatility.min_edge=0.05", "--no-progress", "--no-charts", "--out", str(out)])
    assert status == 0
    summary = json.loads((out / "summary.json").read_text())
    assert summary["period"]["from"].startswith("2026-06-01T12:00")
    assert summary["settings"]["strategy_params"]["kelly_volatility"]["min_edge"] == 0.05
    assert summary["fill_model"]["latency_seconds"] == 0.25
    out_text = capsys.readouterr().out
    assert f"P&L net of fees ${summary['pnl']}  fees ${summary['fees']}" in out_text
    assert "open at the end" not in out_text  # every market of the period settled in the data


def test_a_backtest_names_the_markets_left_open_at_the_end(tmp_path: Path,
                                                          capsys: pytest.CaptureFixture[str]) -> None:
    # a recorded session whose market has not settled yet: the account's recorded fill opens a position
    with Recorder(tmp_path / "rec", flush_seconds=0.01) as rec:
        for e in session_messages()[:-1]:  # without the lifecycle message that settles it
            rec.offer(e)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        status = main(["backtest", "--source", "recorded", "--recordings", str(tmp_path / "rec"),
                       "--fills-as-recorded", "--no-progress", "--out", str(tmp_path / "bt")])
    assert status == 0
    # charts without a settled market say so in each panel, without a warning about empty legends
    assert (tmp_path / "bt" / "reliability.png").is_file() and (tmp_path / "bt" / "scores.png").is_file()
    assert [str(w.message) for w in caught] == []
    out = capsys.readouterr().out
    assert "markets settled 0  traded 1  fills 1  contracts 3" in out
    assert f"open at the end, not in the P&L: 1 market(s) without a settlement in the data ({TICKER})" in out


@pytest.mark.parametrize("argv, message", [
    (["--set", "nope.x=1"], "unknown backtest parameter 'nope.x'"),
    (["--set", "kelly_volatility.min_edge=2"], "min_edge must be a number in [0.0, 1.0]"),
    (["--set", "mean_reversion.lookback_window=300.5"],
     "parameter lookback_window must be whole seconds in (0, 86400], got 300.5"),
    (["--data", "/nonexistent-dir"], "shared data directory not found"),
    (["--source", "recorded"], "--source recorded needs --recordings DIR"),
])
def test_backtest_refuses_bad_input_with_a_clear_message(argv: list[str], message: str,
                                                         capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["backtest", "--no-progress", *argv]) == 2
    assert message in capsys.readouterr().err


@pytest.mark.parametrize("period, message", [
    (["--from", "2026-06-02", "--to", "2026-06-01"],
     "empty period: --from 2026-06-02T00:00:00+00:00 is not before --to 2026-06-01T00:00:00+00:00"),
    (["--from", "2025-06-01", "--to", "2025-06-02"],
     "no market closes between 2025-06-01T00:00:00+00:00 and 2025-06-02T00:00:00+00:00: the 23 markets of "
     "shared-data:KXSOL15M:underlying=perp close from 2026-06-01T01:00:00+00:00 to 2026-06-02T08:00:00+00:00"),
    (["--from", "2026-06-03"], "no market closes between 2026-06-03T00:00:00+00:00 and the end"),
])
def test_backtest_refuses_a_period_with_no_market(data: Path, tmp_path: Path, period: list[str], message: str,
                                                  capsys: pytest.CaptureFixture[str]) -> None:
    # a mistyped date would otherwise replay nothing and report a backtest of zeros
    assert main(["backtest", "--data", str(data), *period, "--no-progress", "--out", str(tmp_path / "bt")]) == 2
    assert message in capsys.readouterr().err
    assert not (tmp_path / "bt").exists()


def test_a_recorded_backtest_names_the_recordings_span(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    with Recorder(tmp_path / "rec", flush_seconds=0.01) as rec:
        for e in session_messages():
            rec.offer(e)
    assert main(["backtest", "--source", "recorded", "--recordings", str(tmp_path / "rec"), "--to", "2020-01-01",
                 "--no-progress"]) == 2
    err = capsys.readouterr().err
    assert "no market closes between the start and 2020-01-01T00:00:00+00:00: the 1 markets of recorded:" in err


def test_sweep_reports_out_of_sample_only(data: Path, tmp_path: Path) -> None:
    out = tmp_path / "sw"
    status = main(["sweep", "--data", str(data), "--from", "2026-06-01", "--to", "2026-06-02T12:00",
                   "--split", "2026-06-01T18:00", "--trials", "2", "--workers", "1", "--batch", "2",
                   "--param", "kelly_volatility.min_edge=0.0:0.2", "--no-progress", "--no-charts", "--out", str(out)])
    assert status == 0
    report = json.loads((out / "sweep.json").read_text())
    (fold,) = report["folds"]
    assert fold["train"][1] == fold["test"][0] == "2026-06-01T18:00:00+00:00"
    assert set(fold["chosen_params"]) == {"kelly_volatility.min_edge"}
    oos = json.loads((out / "out_of_sample" / "summary.json").read_text())
    assert oos["pnl_cc"] == report["out_of_sample"]["pnl_cc"]
    assert (out / "study.journal").exists() and report["storage"] == str((out / "study.journal").resolve())


@pytest.mark.parametrize("period, message", [
    (["--from", "2026-06-02", "--to", "2026-06-01"], "empty period: --from 2026-06-02T00:00:00+00:00 is not before"),
    # three slices of 12 h: the first holds no market of the data, so its trials would score nothing
    (["--from", "2026-05-31", "--to", "2026-06-01T12:00", "--folds", "2"],
     "slice 1 of 3 (2026-05-31 00:00 to 2026-05-31 12:00): no market closes between"),
])
def test_sweep_refuses_a_slice_with_no_market(data: Path, tmp_path: Path, period: list[str], message: str,
                                             capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["sweep", "--data", str(data), *period, "--trials", "2", "--no-progress",
                 "--out", str(tmp_path / "sw")]) == 2
    assert message in capsys.readouterr().err
    assert not (tmp_path / "sw").exists()


@pytest.mark.parametrize("option", ["--batch", "--trials", "--workers"])
def test_sweep_refuses_a_count_below_one(data: Path, tmp_path: Path, option: str,
                                        capsys: pytest.CaptureFixture[str]) -> None:
    # no trial to choose from, or a local cluster with no worker to run one (it would wait for ever)
    status = main(["sweep", "--data", str(data), "--from", "2026-06-01", "--to", "2026-06-02", option, "0",
                   "--no-progress", "--out", str(tmp_path / "sw")])
    assert status == 2
    assert f"{option} must be >= 1, got 0" in capsys.readouterr().err
    assert not (tmp_path / "sw").exists()


@pytest.mark.parametrize("space, value", [("60.5:900", "60.5"), ("60:900.0", "60.0"), ("60,300.5", "300.5")])
def test_sweep_refuses_a_space_with_a_value_the_parameter_refuses(data: Path, tmp_path: Path, space: str, value: str,
                                                                  capsys: pytest.CaptureFixture[str]) -> None:
    # every trial would fail: the whole-seconds lookback is searched over whole numbers only
    assert main(["sweep", "--data", str(data), "--from", "2026-06-01", "--to", "2026-06-02", "--trials", "2",
                 "--param", f"mean_reversion.lookback_window={space}", "--no-progress",
                 "--out", str(tmp_path / "sw")]) == 2
    assert (f"--param mean_reversion.lookback_window: parameter lookback_window must be whole seconds in (0, 86400], "
            f"got {value}") in capsys.readouterr().err
    assert not (tmp_path / "sw").exists()
