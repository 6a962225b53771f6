"""The seed's .env names: each one honoured (with its conversion) or refused with what to do instead."""

from __future__ import annotations

from pathlib import Path

import pytest

from kalshid.config import ConfigError, load_config
from kalshid.config.seed import SEED_NAMES, SEED_REFUSED


def problems(tmp_path: Path, env: str) -> list[str]:
    (tmp_path / ".env").write_text(env)
    with pytest.raises(ConfigError) as info:
        load_config(environ={}, cwd=tmp_path)
    return [str(p) for p in info.value.problems]


def test_honoured_names_with_their_conversions(tmp_path: Path) -> None:
    (tmp_path / ".env").write_text(
        "KALSHI_DEMO_MODE=true\nMIN_EDGE_THRESHOLD=0.05\nKELLY_FRACTION=0.5\nAPI_HOST=127.0.0.1\nAPI_PORT=8123\n"
        "CIRCUIT_BREAKER_MAX_DRAWDOWN_PCT=10\nCIRCUIT_BREAKER_DAILY_LOSS_PCT=12.5%\nCIRCUIT_BREAKER_ENABLED=true\n"
        "LOG_LEVEL=DEBUG\nAPI_TOKEN=a-long-enough-token-123\nCORS_ORIGINS=https://app.lovable.dev\n"
    )
    loaded = load_config(environ={}, cwd=tmp_path)
    cfg = loaded.config
    assert cfg.exchange.env == "demo" and cfg.dry_run is True  # demo without DRY_RUN_MODE stays a dry run
    assert cfg.strategies.kelly_volatility.min_edge == cfg.strategies.mean_reversion.min_edge == 0.05
    assert cfg.strategies.kelly_volatility.kelly_fraction == 0.5
    assert (cfg.api.host, cfg.api.port, cfg.api.token) == ("127.0.0.1", 8123, "a-long-enough-token-123")
    assert cfg.api.cors_origins == ("https://app.lovable.dev",)
    assert cfg.risk.breaker_drawdown_fraction == 0.1 and cfg.risk.breaker_daily_loss_fraction == 0.125
    assert cfg.log.level == "debug"
    assert loaded.sources["strategies.mean_reversion.min_edge"].endswith("var MIN_EDGE_THRESHOLD")
    (tmp_path / ".env").write_text("KALSHI_DEMO_MODE=false\n")
    assert load_config(environ={}, cwd=tmp_path).config.exchange.env == "prod"
    # the process environment works the same way
    assert load_config(environ={"API_PORT": "9001"}, cwd=tmp_path).config.api.port == 9001


def test_refused_names_say_what_to_do_and_never_echo_a_secret(tmp_path: Path) -> None:
    found = problems(tmp_path, "KALSHI_PRIVATE_KEY=-----BEGIN PRIVATE KEY-----sekret\nTELEGRAM_BOT_TOKEN=123:abc\n"
                               "CIRCUIT_BREAKER_ENABLED=false\nCIRCUIT_BREAKER_COOLDOWN_MINUTES=30\n"
                               "KALSHI_DEMO_MODE=maybe\nVITE_API_URL=http://localhost:8000\nDATABASE_URL=sqlite:///x\n")
    text = "\n".join(found)
    assert "sekret" not in text and "123:abc" not in text
    assert any("KALSHI_PRIVATE_KEY" in p and "KALSHI_PRIVATE_KEY_PATH" in p for p in found)
    assert any("TELEGRAM_BOT_TOKEN" in p and "tgram://" in p for p in found)
    assert any("CIRCUIT_BREAKER_ENABLED" in p and "cannot be turned off" in p for p in found)
    assert any("CIRCUIT_BREAKER_COOLDOWN_MINUTES" in p and "not supported" in p for p in found)
    assert any("KALSHI_DEMO_MODE = 'maybe'" in p and "true (demo) or false (prod)" in p for p in found)
    assert any("VITE_API_URL" in p and "not a kalshid variable" in p for p in found)
    assert any("DATABASE_URL" in p and "KALSHID_JOURNAL__PATH" in p for p in found)
    assert len(found) == 7


def test_contradicting_seed_names_are_refused(tmp_path: Path) -> None:
    found = problems(tmp_path, "KALSHI_ENV=demo\nKALSHI_DEMO_MODE=false\n")
    assert any("contradicts" in p and "exchange.env" in p for p in found)


def test_unrelated_process_environment_is_left_alone(tmp_path: Path) -> None:
    environ = {"PATH": "/bin", "VITE_API_URL": "x", "HOME": "/root", "DATABASE_URL": "postgres://x"}
    cfg = load_config(environ=environ, cwd=tmp_path).config
    assert cfg.api.port == 8000


def test_every_seed_name_is_documented() -> None:
    doc = (Path(__file__).resolve().parents[2] / "docs" / "migration.md")
    assert doc.is_file(), f"missing {doc}"
    text = doc.read_text()
    for name in (*SEED_NAMES, *SEED_REFUSED):
        assert f"`{name}`" in text, name
