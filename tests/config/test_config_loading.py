"""Configuration: precedence, the plain alias variables, KALSHID_SECTION__KEY, strict parsing, all problems."""

import os
from pathlib import Path

import pytest

from kalshid.config import Config, ConfigError, load_config
from kalshid.config.rules import leaves
from kalshid.config.schema import DEMO_API_URL, PROD_API_URL, PROD_WS_URL
from kalshid.config.sources import SEED_ALIASES, env_name

ETC_TOML = Path(__file__).resolve().parents[2] / "etc" / "kalshid.toml"


def problems_of(**kwargs: object) -> list[str]:
    with pytest.raises(ConfigError) as info:
        load_config(**kwargs)  # type: ignore[arg-type]
    return [str(p) for p in info.value.problems]


def test_defaults_with_nothing_set(tmp_path: Path) -> None:
    loaded = load_config(environ={}, cwd=tmp_path)
    assert loaded.config == Config()
    assert set(loaded.sources.values()) == {"default"}
    cfg = loaded.config
    assert cfg.exchange.env == "sim" and cfg.trading.dry_run is None and cfg.dry_run is False
    assert cfg.risk.max_position_size_cc == 1000 * 10_000
    assert cfg.risk.max_daily_loss_cc == 500 * 10_000
    assert cfg.trading.bankroll_cc == 10_000 * 10_000
    assert cfg.trading.enabled_strategies == ("kelly_volatility",)
    assert cfg.journal_path == "var/kalshid-sim.sqlite3"


def test_precedence_default_file_dotenv_env(tmp_path: Path) -> None:
    toml = tmp_path / "k.toml"
    toml.write_text("[risk]\nmax_daily_loss = 100\nmax_concurrent_positions = 7\n[api]\nport = 9000\n")
    (tmp_path / ".env").write_text("MAX_DAILY_LOSS=200\nKALSHID_API__PORT=9100\n")
    loaded = load_config(config_path=toml, environ={"MAX_DAILY_LOSS": "300"}, cwd=tmp_path)
    assert loaded.config.risk.max_daily_loss_cc == 300 * 10_000
    assert loaded.sources["risk.max_daily_loss"] == "env var MAX_DAILY_LOSS"
    assert loaded.config.api.port == 9100
    assert loaded.sources["api.port"] == f".env file {tmp_path / '.env'} var KALSHID_API__PORT"
    assert loaded.config.risk.max_concurrent_positions == 7
    assert loaded.sources["risk.max_concurrent_positions"] == f"file {toml}"
    assert loaded.sources["risk.max_position_size"] == "default"

    without_env = load_config(config_path=toml, environ={}, cwd=tmp_path)
    assert without_env.config.risk.max_daily_loss_cc == 200 * 10_000
    (tmp_path / ".env").unlink()
    only_file = load_config(config_path=toml, environ={}, cwd=tmp_path)
    assert only_file.config.risk.max_daily_loss_cc == 100 * 10_000


def test_config_path_from_kalshid_config_variable(tmp_path: Path) -> None:
    (tmp_path / "c.toml").write_text("[log]\nlevel = 'debug'\n")
    loaded = load_config(environ={"KALSHID_CONFIG": "c.toml"}, cwd=tmp_path)
    assert loaded.config.log.level == "debug"
    assert loaded.config_file == tmp_path / "c.toml"


def test_dotenv_never_touches_os_environ(clean_env: Path) -> None:
    (clean_env / ".env").write_text("DRY_RUN_MODE=false\n")
    loaded = load_config(cwd=clean_env)
    assert loaded.config.trading.dry_run is False
    assert "DRY_RUN_MODE" not in os.environ


def test_every_seed_variable(tmp_path: Path) -> None:
    env = {
        "KALSHI_API_KEY": "0b5a1f2e-1111-4222-8333-444455556666",
        "KALSHI_PRIVATE_KEY_PATH": "/etc/kalshid/kalshi.pem",
        "DRY_RUN_MODE": "false",
        "MAX_POSITION_SIZE": "250.50",
        "MAX_DAILY_LOSS": "75",
        "MAX_CONCURRENT_POSITIONS": "3",
        "ENABLED_STRATEGIES": "mean_reversion",
        "DEFAULT_BANKROLL": "2500.0001",
        "KALSHI_ENV": "demo",
    }
    loaded = load_config(environ=env, cwd=tmp_path)
    cfg = loaded.config
    assert cfg.exchange.api_key == env["KALSHI_API_KEY"]
    assert cfg.exchange.private_key_path == "/etc/kalshid/kalshi.pem"
    assert cfg.trading.dry_run is False
    assert cfg.risk.max_position_size_cc == 2_505_000
    assert cfg.risk.max_daily_loss_cc == 750_000
    assert cfg.risk.max_concurrent_positions == 3
    assert cfg.trading.enabled_strategies == ("mean_reversion",)
    assert cfg.trading.bankroll_cc == 25_000_001
    assert cfg.exchange.env == "demo" and cfg.exchange.api_base_url == DEMO_API_URL
    for name in env:
        assert loaded.sources[SEED_ALIASES[name]] == f"env var {name}"
    assert cfg.journal_path == "var/kalshid-demo.sqlite3"


def test_generic_section_key_variables(tmp_path: Path) -> None:
    env = {
        "KALSHID_API__PORT": "8123",
        "KALSHID_RISK__MAX_DAILY_LOSS": "12.5",
        "KALSHID_STRATEGIES__KELLY_VOLATILITY__MIN_EDGE": "0.05",
        "KALSHID_API__CORS_ORIGINS": "http://a.example, http://b.example",
        "KALSHID_SIM__START": "2026-07-01T12:00:00+00:00",
        "KALSHID_SIM__SEED": "42",
    }
    cfg = load_config(environ=env, cwd=tmp_path).config
    assert cfg.api.port == 8123
    assert cfg.risk.max_daily_loss_cc == 125_000
    assert cfg.strategies.kelly_volatility.min_edge == 0.05
    assert cfg.api.cors_origins == ("http://a.example", "http://b.example")
    assert cfg.sim.start is not None and cfg.sim.start.utcoffset() is not None
    assert cfg.sim.seed == 42
    expected = "KALSHID_STRATEGIES__KELLY_VOLATILITY__MIN_EDGE"
    assert env_name("strategies.kelly_volatility.min_edge") == expected


@pytest.mark.parametrize(("text", "expected"), [("false", False), ("0", False), ("No", False),
                                                ("TRUE", True), ("on", True), ("1", True)])
def test_bool_parsing_is_strict_and_right(tmp_path: Path, text: str, expected: bool) -> None:
    assert load_config(environ={"DRY_RUN_MODE": text}, cwd=tmp_path).config.trading.dry_run is expected


def test_flase_is_rejected_naming_the_variable(tmp_path: Path) -> None:
    [line] = problems_of(environ={"DRY_RUN_MODE": "flase"}, cwd=tmp_path)
    assert "trading.dry_run" in line and "'flase'" in line and "env var DRY_RUN_MODE" in line
    assert "boolean" in line


def test_all_problems_are_collected_one_line_each(tmp_path: Path) -> None:
    env = {
        "DRY_RUN_MODE": "flase",
        "MAX_DAILY_LOSS": "-5",
        "MAX_CONCURRENT_POSITIONS": "2.5",
        "MAX_POSITION_SIZE": "0.00001",
        "KALSHID_RISK__MAX_DAYLY_LOSS": "3",
        "ENABLED_STRATEGIES": "kelly_volatility,high_confidence_threshold",
        "KALSHID_STRATEGIES__MEAN_REVERSION__ZSCORE_THRESHOLD_MEDIUM": "2.5",
        "KALSHI_API_BASE_URL": "not a url",
    }
    lines = problems_of(environ=env, cwd=tmp_path)
    assert len(lines) == 8, lines
    assert all("\n" not in line for line in lines)
    joined = "\n".join(lines)
    for needle in ("DRY_RUN_MODE", "MAX_DAILY_LOSS", "MAX_CONCURRENT_POSITIONS", "finer than $0.0001",
                   "KALSHID_RISK__MAX_DAYLY_LOSS", "did you mean 'KALSHID_RISK__MAX_DAILY_LOSS'",
                   "unknown strategy 'high_confidence_threshold'", "expected medium <= high",
                   "exchange.api_base_url = 'not a url'"):
        assert needle in joined


def test_toml_typo_names_key_and_file(tmp_path: Path) -> None:
    toml = tmp_path / "kalshid.toml"
    toml.write_text("[risk]\nmax_daly_loss = 5\n[riks]\nx = 1\n")
    lines = problems_of(config_path=toml, environ={}, cwd=tmp_path)
    assert len(lines) == 2
    assert f"risk.max_daly_loss = 5 (from file {toml}): unknown key; did you mean 'max_daily_loss'?" in lines
    assert any(line.startswith("riks (from file") and "unknown section" in line for line in lines)


def test_toml_type_errors_and_missing_file(tmp_path: Path) -> None:
    toml = tmp_path / "k.toml"
    toml.write_text("[trading]\ndry_run = 'maybe'\n[risk]\nmax_concurrent_positions = 2.5\n"
                    "[exchange]\napi_key = 5\n")
    lines = problems_of(config_path=toml, environ={}, cwd=tmp_path)
    assert len(lines) == 3
    assert any("exchange.api_key = '<redacted>'" in line for line in lines)
    [missing] = problems_of(config_path=tmp_path / "nope.toml", environ={}, cwd=tmp_path)
    assert "no such file" in missing and "nope.toml" in missing


def test_money_in_toml_is_exact(tmp_path: Path) -> None:
    toml = tmp_path / "k.toml"
    toml.write_text("[risk]\nmax_daily_loss = 500.1234\n[trading]\nbankroll = '99.99'\n")
    cfg = load_config(config_path=toml, environ={}, cwd=tmp_path).config
    assert cfg.risk.max_daily_loss_cc == 5_001_234
    assert cfg.trading.bankroll_cc == 999_900


def test_seed_json_list_strategies_and_duplicates(tmp_path: Path) -> None:
    cfg = load_config(environ={"ENABLED_STRATEGIES": '["mean_reversion"]'}, cwd=tmp_path).config
    assert cfg.trading.enabled_strategies == ("mean_reversion",)
    [line] = problems_of(environ={"ENABLED_STRATEGIES": "mean_reversion,mean_reversion"}, cwd=tmp_path)
    assert "listed twice" in line


def test_alias_and_canonical_conflict_is_a_problem(tmp_path: Path) -> None:
    [line] = problems_of(environ={"MAX_DAILY_LOSS": "5", "KALSHID_RISK__MAX_DAILY_LOSS": "6"}, cwd=tmp_path)
    assert "contradicts" in line


def test_credentials_alone_never_select_a_real_exchange(tmp_path: Path) -> None:
    cfg = load_config(environ={"KALSHI_API_KEY": "abcd-1234", "KALSHI_PRIVATE_KEY_PATH": "k.pem"},
                      cwd=tmp_path).config
    assert cfg.exchange.env == "sim" and cfg.exchange.api_base_url == ""


def test_known_host_url_implies_env_and_ws(tmp_path: Path) -> None:
    loaded = load_config(environ={"KALSHI_API_BASE_URL": PROD_API_URL + "/"}, cwd=tmp_path)
    assert loaded.config.exchange.env == "prod"
    assert loaded.config.exchange.ws_url == PROD_WS_URL
    assert "inferred from exchange.api_base_url" in loaded.sources["exchange.env"]


def test_local_simulator_url_derives_ws(tmp_path: Path) -> None:
    env = {"KALSHI_API_BASE_URL": "http://127.0.0.1:8765/trade-api/v2"}
    cfg = load_config(environ=env, cwd=tmp_path).config
    assert cfg.exchange.env == "sim"
    assert cfg.exchange.ws_url == "ws://127.0.0.1:8765/trade-api/ws/v2"


@pytest.mark.parametrize(("env", "needle"), [
    ({"KALSHI_ENV": "demo", "KALSHI_API_BASE_URL": PROD_API_URL}, "contradicts exchange.env='demo'"),
    ({"KALSHI_API_BASE_URL": "http://kalshi.example/trade-api/v2"}, "only allowed for loopback"),
    ({"KALSHI_API_BASE_URL": "https://kalshi.example/v1"}, "end in /trade-api/v2"),
    ({"KALSHI_WS_URL": "ws://127.0.0.1:1/trade-api/ws/v2"}, "set exchange.api_base_url too"),
    ({"KALSHI_ENV": "staging"}, "one of sim, demo, prod"),
    ({"KALSHID_API__HOST": "0.0.0.0"}, "off loopback"),
    ({"KALSHID_STRATEGIES__KELLY_VOLATILITY__WARMUP_SECONDS": "-1"}, "seconds in [0, 86400] of index evidence"),
    ({"KALSHID_RISK__BREAKER_DRAWDOWN_FRACTION": "1.5"}, "fraction in (0, 1]"),
    ({"KALSHID_LOG__FORMAT": "xml"}, "auto, json, console"),
])
def test_bad_values_are_rejected(tmp_path: Path, env: dict[str, str], needle: str) -> None:
    lines = problems_of(environ=env, cwd=tmp_path)
    assert any(needle in line for line in lines), lines


def test_example_env_file_loads_as_a_dotenv_with_the_default_strategies(tmp_path: Path) -> None:
    (tmp_path / ".env").write_text((ETC_TOML.parent / "env.example").read_text())
    loaded = load_config(environ={}, cwd=tmp_path)
    assert loaded.sources["risk.max_daily_loss"].startswith(".env file")
    assert loaded.config.trading.enabled_strategies == Config().trading.enabled_strategies


def test_example_toml_has_every_key_and_loads_to_defaults(tmp_path: Path) -> None:
    text = ETC_TOML.read_text()
    for leaf in leaves():
        name = leaf.key.rsplit(".", 1)[1]
        assert f"\n{name} = " in text or f"\n# {name} = " in text, leaf.key
    loaded = load_config(config_path=ETC_TOML, environ={}, cwd=tmp_path)
    assert loaded.config == Config()


@pytest.mark.parametrize("host", ["127.0.0.1", "127.0.0.2", "127.255.0.9", "::1", "[::1]", "localhost"])
def test_all_of_127_8_and_ipv6_loopback_count_as_loopback(tmp_path: Path, host: str) -> None:
    assert load_config(environ={"KALSHID_API__HOST": host}, cwd=tmp_path).config.api.host == host


@pytest.mark.parametrize(("token", "ok"), [("short-but-16-chars", False), ("a" * 40, False),
                                          ("Zk3-x9_QpL2mVt8RwY4nB7cD1eFgH6jK0sU5", True)])
def test_a_token_off_loopback_must_be_strong(tmp_path: Path, token: str, ok: bool) -> None:
    from kalshid.server.settings import ApiSettings, resolve_token

    env = {"KALSHID_API__HOST": "0.0.0.0", "KALSHID_API__TOKEN": token}
    if ok:
        assert load_config(environ=env, cwd=tmp_path).config.api.token == token
        assert resolve_token(ApiSettings(host="0.0.0.0", token=token)) == token
        return
    with pytest.raises(ConfigError) as err:
        load_config(environ=env, cwd=tmp_path)
    assert any(p.key == "api.token" and "too weak" in str(p) for p in err.value.problems)
    with pytest.raises(ValueError, match="off loopback, and its token is too weak"):
        resolve_token(ApiSettings(host="0.0.0.0", token=token))
    assert resolve_token(ApiSettings(host="127.0.0.3", token=token)) == token  # loopback: length is enough


def test_environment_variables_of_other_commands_are_not_refused_as_settings(tmp_path: Path) -> None:
    """A shell that exports ``kalshid ctl``'s socket or the research data folder still starts the
    daemon; the same names in a ``.env`` file (read for settings only) are refused with the reason."""
    others = {"KALSHID_SOCKET": str(tmp_path / "k.sock"), "KALSHID_SHARED_DIR": str(tmp_path),
              "KALSHID_DATA_DIR": str(tmp_path), "KALSHID_CHROMIUM": "/usr/bin/chromium"}
    assert load_config(environ=others, cwd=tmp_path).config == Config()
    (tmp_path / ".env").write_text(f"KALSHID_SOCKET={tmp_path / 'k.sock'}\n")
    [line] = problems_of(environ={}, cwd=tmp_path)
    assert "KALSHID_SOCKET" in line and "read from the process environment only" in line


@pytest.mark.parametrize(("name", "value", "says"), [
    ("KALSHID_RISK__ENTRY_CUTOFF_SECONDS", "900", "expected whole seconds in [0, 900)"),
    ("KALSHID_RISK__ENTRY_CUTOFF_SECONDS", "30.5", "expected whole seconds in [0, 900)"),
    ("KALSHID_STRATEGIES__MEAN_REVERSION__LOOKBACK_WINDOW", "1.5", "expected whole seconds in (0, 86400]"),
])
def test_an_error_states_the_bound_and_the_unit_the_value_broke(tmp_path: Path, name: str, value: str,
                                                                says: str) -> None:
    [line] = problems_of(environ={name: value}, cwd=tmp_path)
    assert line.endswith(says) or says + " " in line, line
    assert f"= {value!r} (from env var {name})" in line


@pytest.mark.parametrize("key", ["api.host", "sim.host", "control.socket_path", "journal.dir", "log.file_dir"])
@pytest.mark.parametrize("value", ["", "  "])
def test_a_host_or_path_the_daemon_needs_cannot_be_empty(tmp_path: Path, key: str, value: str) -> None:
    name = env_name(key)
    [line] = problems_of(environ={name: value}, cwd=tmp_path)
    assert line.startswith(f"{key} = {value!r} (from env var {name}): must not be empty: expected ")


@pytest.mark.parametrize(("host", "ok"), [("127.0.0.1", True), ("localhost", True), ("::1", True),
                                          ("0.0.0.0", False), ("example.com", False), ("[::1]", False)])
def test_the_simulator_host_is_loopback_as_the_simulator_requires(tmp_path: Path, host: str, ok: bool) -> None:
    from kalshid.sim.server import _check_loopback

    env = {"KALSHID_SIM__HOST": host}
    if ok:
        assert load_config(environ=env, cwd=tmp_path).config.sim.host == host
        _check_loopback(host)
        return
    [line] = problems_of(environ=env, cwd=tmp_path)
    assert f"sim.host = {host!r} (from env var KALSHID_SIM__HOST): the simulator binds to loopback only" in line
    with pytest.raises(ValueError, match="loopback only"):
        _check_loopback(host)


@pytest.mark.parametrize(("name", "says"), [
    ("MAX_DAILY_LOS", "so close to 'MAX_DAILY_LOSS' that it is taken for a misspelling of it"),
    ("max_daily_loss", "so close to 'MAX_DAILY_LOSS' that it is taken for a misspelling of it"),
    ("DRY_RUN_MOD", "so close to 'DRY_RUN_MODE' that it is taken for a misspelling of it"),
    ("KALSHI_PRIVATE_KEY_PASSPHRAS", "so close to 'KALSHI_PRIVATE_KEY_PASSPHRASE'"),
    ("kalshid_risk__max_daily_loss",
     "kalshid's variables are upper case; did you mean 'KALSHID_RISK__MAX_DAILY_LOSS'?"),
])
def test_a_misspelled_plain_or_lower_case_variable_is_refused_without_its_value(tmp_path: Path, name: str,
                                                                               says: str) -> None:
    [line] = problems_of(environ={name: "s3cret-value"}, cwd=tmp_path)
    assert line.startswith(f"{name} (from env var {name}): unknown variable") and says in line
    assert "s3cret-value" not in line


def test_unrelated_variables_in_the_environment_are_left_alone(tmp_path: Path) -> None:
    env = {"PATH": "/usr/bin", "MAX_POSITION": "2", "MAX_DAILY_LOSS_USD": "3", "DRY_RUN": "1", "HOME": "/root"}
    assert load_config(environ=env, cwd=tmp_path).config == Config()
