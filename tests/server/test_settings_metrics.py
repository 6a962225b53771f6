"""Token storage, ApiSettings validation and the metrics facade."""

from __future__ import annotations

import os
import stat
import sys
from pathlib import Path

import pytest

from kalshid.metrics import Metrics
from kalshid.server.settings import ApiSettings, load_or_create_token, resolve_token


def test_token_file_created_0600_and_reused(tmp_path: Path) -> None:
    path = tmp_path / "api-token"
    token = load_or_create_token(str(path))
    assert len(token) >= 40
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    assert load_or_create_token(str(path)) == token
    assert token != load_or_create_token(str(tmp_path / "other"))


def test_short_token_file_refused(tmp_path: Path) -> None:
    path = tmp_path / "api-token"
    path.write_text("\n")
    with pytest.raises(ValueError, match="shorter than 16"):
        load_or_create_token(str(path))


def test_resolve_token_precedence(tmp_path: Path) -> None:
    assert resolve_token(ApiSettings(token="x" * 20, token_file=str(tmp_path / "t"))) == "x" * 20
    assert not (tmp_path / "t").exists()
    assert resolve_token(ApiSettings(token_file=str(tmp_path / "t"))) == (tmp_path / "t").read_text().strip()
    with pytest.raises(ValueError, match=r"api\.token"):
        resolve_token(ApiSettings())
    with pytest.raises(ValueError, match="at least 16"):
        resolve_token(ApiSettings(token="short"))


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"port": 70000}, "api.port"),
        ({"cors_origins": ["*"]}, "cors_origins"),
        ({"cors_origins": ["https://a.example/"]}, "cors_origins"),
        ({"ws_queue_size": 0}, "ws_queue_size"),
        ({"status_interval_s": -1.0}, "status_interval_s"),
    ],
)
def test_settings_validation_names_the_field(kwargs: dict[str, object], match: str) -> None:
    with pytest.raises(ValueError, match=match):
        ApiSettings(**kwargs)  # type: ignore[arg-type]


def test_settings_repr_hides_token() -> None:
    assert "sekrit" not in repr(ApiSettings(token="sekrit-sekrit-sekrit"))


def test_metrics_facade_and_private_registry() -> None:
    a, b = Metrics(), Metrics()  # separate registries: no duplicate-timeseries error
    a.order_sent(latency_s=0.0015)
    a.order_status("executed")
    a.fill(strategy="fair_value", count=3)
    a.rejection(source="risk", reason="max_exposure")
    a.set_pnl(realized_cc=12_500, unrealized_cc=-5_000)
    a.set_exposure(45_000)
    a.set_breaker(True)
    a.feed_lag("kalshi", 0.05)
    a.book_staleness(1.5)
    a.reconnect("kalshi")
    a.channel_usage("book", 3, 16)
    a.log_lines_dropped(4)
    a.log_lines_dropped(4)  # a cumulative total: only the increase counts
    a.log_lines_dropped(7)
    text = a.exposition().decode()
    assert "kalshid_log_lines_dropped_total 7.0" in text
    assert 'kalshid_orders_total{status="sent"} 1.0' in text
    assert 'kalshid_filled_contracts_total{strategy="fair_value"} 3.0' in text
    assert 'kalshid_rejections_total{reason="max_exposure",source="risk"} 1.0' in text
    assert 'kalshid_pnl_dollars{kind="realized"} 1.25' in text
    assert 'kalshid_pnl_dollars{kind="unrealized"} -0.5' in text
    assert "kalshid_exposure_dollars 4.5" in text
    assert "kalshid_circuit_breaker_tripped 1.0" in text
    assert 'kalshid_tick_to_order_seconds_bucket{le="0.002"} 1.0' in text
    assert 'kalshid_tick_to_order_seconds_bucket{le="0.001"} 0.0' in text
    assert 'kalshid_channel_buffer_used{channel="book"} 3.0' in text
    assert "kalshid_orders_total{" not in b.exposition().decode()
    if sys.platform == "linux":  # the process collector reads /proc
        rss = next(float(line.split()[1]) for line in text.splitlines()
                   if line.startswith("process_resident_memory_bytes "))
        assert rss > 10 * 2**20
