"""The shared-data source on the real public data: what it replays, determinism, the report, errors."""

import itertools
import json
from datetime import UTC, datetime
from pathlib import Path

import attrs
import pytest

from kalshid.research import BacktestSettings, SharedDataSource, run_backtest
from kalshid.research.events import BookTick, IndexTick, MarketListed, Settled, TradePrint
from kalshid.research.report import write_report
from kalshid.research.sources.base import SourceError
from kalshid.research.sources.shared import default_data_dir, shared_beside

DATA = default_data_dir()


@pytest.fixture(scope="module")
def source() -> SharedDataSource:
    if not (DATA / "kalshi").is_dir():
        pytest.fail(f"shared data not found at {DATA} (the repository's parent must hold shared/data)")
    return SharedDataSource(DATA)


def test_perp_mode_replays_the_markets_inside_the_perpetual_file(source: SharedDataSource) -> None:
    tickers = source.tickers()
    assert 15 <= len(tickers) <= 40  # the README: 23 ladder markets inside the perpetual's 35.75 h
    events = list(source.events())
    kinds = {type(e) for e in events}
    assert {MarketListed, IndexTick, BookTick, TradePrint, Settled} <= kinds
    assert all(a.ts <= b.ts for a, b in itertools.pairwise(events))
    assert sum(isinstance(e, Settled) for e in events) == len(tickers)
    info = source.info().as_dict()
    assert "100 contracts at every quote" in info["assumptions"]


def test_from_to_selects_markets_by_close(source: SharedDataSource) -> None:
    start, end = datetime(2026, 6, 1, 12, tzinfo=UTC), datetime(2026, 6, 2, tzinfo=UTC)
    for ticker in source.tickers(start, end):
        close = next(e for e in source.events(start, end) if isinstance(e, MarketListed) and e.ticker == ticker)
        assert start <= close.close_time < end


def test_backtest_is_deterministic_and_writes_the_report(source: SharedDataSource, tmp_path: Path) -> None:
    a = run_backtest(source, BacktestSettings())
    b = run_backtest(source, BacktestSettings())
    assert [attrs.asdict(t) for t in a.trades] == [attrs.asdict(t) for t in b.trades]
    assert a.trades, "the default kelly_volatility trades some of these markets"
    summary = write_report(a, tmp_path, charts=True)
    for name in ("trades.csv", "signals.csv", "summary.json", "equity.png", "reliability.png", "scores.png",
                 "report.html"):
        assert (tmp_path / name).stat().st_size > 0, name
    on_disk = json.loads((tmp_path / "summary.json").read_text())
    assert on_disk["pnl_cc"] == summary["pnl_cc"] == a.pnl_cc
    assert on_disk["trades"] == len(a.trades)
    assert {r["forecaster"] for r in on_disk["calibration"]} == {"kelly_volatility", "market_mid"}
    assert {r["minutes_left"] for r in on_disk["calibration"]} == {14, 10, 7, 5, 3, 1}
    lines = (tmp_path / "trades.csv").read_text().splitlines()
    assert len(lines) == len(a.trades) + 1


def test_a_missing_data_directory_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(SourceError, match=str(tmp_path / "nowhere")):
        SharedDataSource(tmp_path / "nowhere")
    (tmp_path / "kalshi").mkdir()
    with pytest.raises(SourceError, match="kxcrypto15m_settlements"):
        SharedDataSource(tmp_path)


def test_a_malformed_data_file_names_the_file_and_line(tmp_path: Path) -> None:
    import gzip

    kalshi = tmp_path / "kalshi"
    kalshi.mkdir()
    bad = kalshi / "kxcrypto15m_settlements_x.csv.gz"
    with gzip.open(bad, "wt") as f:
        f.write("ticker,series,coin,wkey,close,a0,a1,ret,result,volume\n")
        f.write("KXSOL15M-26JUN010815-15,KXSOL15M,SOL,w,2026-06-01T12:20:00Z,not-a-number,1,0,yes,1\n")
    with pytest.raises(SourceError, match=r"kxcrypto15m_settlements_x\.csv\.gz: line 2: ValueError"):
        SharedDataSource(tmp_path)


def test_a_period_s_events_are_built_once_and_the_same_every_time(source: SharedDataSource) -> None:
    start, end = datetime(2026, 6, 1, 12, tzinfo=UTC), datetime(2026, 6, 2, tzinfo=UTC)
    first, again = list(source.events(start, end)), list(source.events(start, end))
    assert first == again and all(a is b for a, b in zip(first, again, strict=True))  # shared, not rebuilt
    everything = list(source.events())
    assert len(everything) > len(first) and list(source.events(start, end)) == first


def test_a_worktree_finds_the_shared_folder_beside_its_main_checkout(tmp_path: Path) -> None:
    main, shared, worktree = tmp_path / "main", tmp_path / "shared", tmp_path / "wt" / "feature"
    (main / ".git" / "worktrees" / "feature").mkdir(parents=True)
    shared.mkdir()
    worktree.mkdir(parents=True)
    (worktree / ".git").write_text(f"gitdir: {main / '.git' / 'worktrees' / 'feature'}\n")
    assert shared_beside(worktree) == shared
    assert shared_beside(main) == shared
    (worktree / ".git").write_text("gitdir: elsewhere\n")  # not a worktree of a checkout: where it was expected
    assert shared_beside(worktree) == tmp_path / "wt" / "shared"
