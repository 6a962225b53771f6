"""The CLI in-process: config check (sources, redaction, JSON), keygen, usage errors, run refusals."""

import json
import stat
import uuid
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ed25519

from kalshid import cli
from kalshid.credentials import load_private_key

KEY_ID = "9d8c7b6a-1234-4abc-9def-0123456789ab"


def test_config_check_shows_sources_and_no_secret(clean_env: Path, key_file: Path,
                                                  monkeypatch: pytest.MonkeyPatch,
                                                  capsys: pytest.CaptureFixture[str]) -> None:
    (clean_env / "k.toml").write_text("[risk]\nmax_daily_loss = 123.45\n")
    (clean_env / ".env").write_text("KALSHID_API__TOKEN=super-secret-api-token\nMAX_CONCURRENT_POSITIONS=2\n")
    monkeypatch.setenv("KALSHI_API_KEY", KEY_ID)
    monkeypatch.setenv("KALSHI_PRIVATE_KEY_PATH", str(key_file))
    monkeypatch.setenv("KALSHI_PRIVATE_KEY_PASSPHRASE", "")
    assert cli.main(["config", "check", "--config", "k.toml"]) == 0
    out = capsys.readouterr().out
    assert KEY_ID not in out and "super-secret-api-token" not in out
    assert 'exchange.api_key' in out and '"9d8c…"' in out and "env var KALSHI_API_KEY" in out
    assert '"123.4500"' in out and f"file {clean_env / 'k.toml'}" in out
    assert f".env file {clean_env / '.env'} var MAX_CONCURRENT_POSITIONS" in out
    assert '"<redacted>"' in out  # the API token
    assert "(private key loads)" in out

    assert cli.main(["config", "check", "--config", "k.toml", "--json"]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert doc["settings"]["exchange.api_key"] == {"value": "9d8c…", "source": "env var KALSHI_API_KEY"}
    assert doc["settings"]["api.token"]["value"] == "<redacted>"
    assert doc["settings"]["risk.max_daily_loss"]["value"] == "123.4500"
    assert doc["config_file"] == str(clean_env / "k.toml")


def test_config_check_reports_problems_and_credential_errors(clean_env: Path, key_file: Path,
                                                             monkeypatch: pytest.MonkeyPatch,
                                                             capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setenv("DRY_RUN_MODE", "flase")
    monkeypatch.setenv("KALSHID_NOPE", "1")
    assert cli.main(["config", "check"]) == 2
    err = capsys.readouterr().err.splitlines()
    assert len(err) == 3 and "DRY_RUN_MODE" in err[0] + err[1] and "KALSHID_NOPE" in err[0] + err[1]
    monkeypatch.delenv("DRY_RUN_MODE")
    monkeypatch.delenv("KALSHID_NOPE")
    key_file.chmod(0o644)
    monkeypatch.setenv("KALSHI_API_KEY", KEY_ID)
    monkeypatch.setenv("KALSHI_PRIVATE_KEY_PATH", str(key_file))
    assert cli.main(["config", "check"]) == 2
    assert f"chmod 600 {key_file}" in capsys.readouterr().err


def test_keygen_writes_a_loadable_pair(clean_env: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["keygen", "--out", "keys"]) == 0
    key_id = capsys.readouterr().out.strip()
    assert uuid.UUID(key_id).version == 4
    private = clean_env / "keys" / "kalshi.pem"
    assert stat.S_IMODE(private.stat().st_mode) == 0o600
    assert private.read_text().startswith("-----BEGIN PRIVATE KEY-----")
    assert load_private_key(private).key_size == 2048
    assert (clean_env / "keys" / "kalshi.key_id").read_text().strip() == key_id
    assert cli.main(["keygen", "--out", "keys"]) == 2  # never overwrites silently
    assert "--force" in capsys.readouterr().err


def test_keygen_ed25519(clean_env: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["keygen", "--type", "ed25519", "--out", "ed"]) == 0
    key_id = capsys.readouterr().out.strip()
    assert uuid.UUID(key_id).version == 4
    private = clean_env / "ed" / "kalshi.pem"
    assert stat.S_IMODE(private.stat().st_mode) == 0o600
    assert isinstance(load_private_key(private), ed25519.Ed25519PrivateKey)
    public = serialization.load_pem_public_key((clean_env / "ed" / "kalshi.pub.pem").read_bytes())
    assert isinstance(public, ed25519.Ed25519PublicKey)
    with pytest.raises(SystemExit) as exc:
        cli.main(["keygen", "--type", "dsa", "--out", "x"])
    assert exc.value.code == 2


@pytest.mark.parametrize("argv", [[], ["bogus"], ["config"], ["run", "--nope"], ["keygen", "extra"]])
def test_usage_errors_exit_2(clean_env: Path, argv: list[str]) -> None:
    with pytest.raises(SystemExit) as info:
        cli.main(argv)
    assert info.value.code == 2


@pytest.mark.parametrize("argv", [["--help"], ["run", "--help"], ["config", "check", "--help"],
                                  ["keygen", "--help"]])
def test_help_exits_0(clean_env: Path, argv: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as info:
        cli.main(argv)
    assert info.value.code == 0
    assert "usage: kalshid" in capsys.readouterr().out


@pytest.mark.parametrize(("env", "argv", "needle"), [
    ({"KALSHI_API_KEY": KEY_ID}, [], "no private key is configured"),
    ({"KALSHI_ENV": "prod", "DRY_RUN_MODE": "false"}, [], "needs credentials"),
    ({"KALSHI_ENV": "demo"}, [], "a dry run on demo needs credentials too"),
    ({"KALSHI_API_BASE_URL": "http://127.0.0.1:9/trade-api/v2"}, [], "the exchange at http://127.0.0.1:9"),
    ({"DRY_RUN_MODE": "true"}, ["--live"], "--live contradicts"),
])
def test_run_refuses_unsafe_or_incomplete_setups(clean_env: Path, monkeypatch: pytest.MonkeyPatch,
                                                 capsys: pytest.CaptureFixture[str], env: dict[str, str],
                                                 argv: list[str], needle: str) -> None:
    for k, v in env.items():
        monkeypatch.setenv(k, v)
    assert cli.main(["run", *argv]) == 2
    assert needle in capsys.readouterr().err
    assert not (clean_env / "var").exists()  # no journal, lock or token: nothing started


def test_prod_live_orders_need_the_live_flag(clean_env: Path, key_file: Path, monkeypatch: pytest.MonkeyPatch,
                                             capsys: pytest.CaptureFixture[str]) -> None:
    for k, v in {"KALSHI_ENV": "prod", "DRY_RUN_MODE": "false", "KALSHI_API_KEY": KEY_ID,
                 "KALSHI_PRIVATE_KEY_PATH": str(key_file)}.items():
        monkeypatch.setenv(k, v)
    assert cli.main(["run"]) == 2
    assert "--live" in capsys.readouterr().err


@pytest.mark.parametrize(("name", "value", "says"), [
    ("KALSHID_RUNTIME__LOOP_CPU", "4096", "runtime.loop_cpu = 4096 (from env var KALSHID_RUNTIME__LOOP_CPU): "
                                          "not one of this process's CPUs"),
    ("KALSHID_ALERTS__URLS_FILE", "missing/urls", "alerts.urls_file = 'missing/urls' (from env var "
                                                  "KALSHID_ALERTS__URLS_FILE): no such file"),
    ("KALSHID_API__TOKEN_FILE", "missing/api-token", "api.token_file = 'missing/api-token' (from env var "
                                                     "KALSHID_API__TOKEN_FILE): no such file, and its directory"),
    ("KALSHID_CONTROL__SOCKET_PATH", "", "control.socket_path = '' (from env var KALSHID_CONTROL__SOCKET_PATH): "
                                         "must not be empty"),
    ("KALSHID_SIM__HOST", "0.0.0.0", "sim.host = '0.0.0.0' (from env var KALSHID_SIM__HOST): the simulator "
                                     "binds to loopback only"),
])
def test_run_refuses_what_this_machine_cannot_honour_before_starting(
        clean_env: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str],
        name: str, value: str, says: str) -> None:
    monkeypatch.setenv(name, value)
    assert cli.main(["run"]) == 2
    err = capsys.readouterr().err
    assert f"kalshid: config error: {says}" in err and "nothing was started" in err
    assert not (clean_env / "var").exists()  # no journal, lock or token: nothing started
    assert cli.main(["config", "check"]) == 2


def test_an_alert_url_apprise_cannot_use_stops_the_start_before_anything_starts(
        clean_env: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setenv("KALSHID_ALERTS__URLS", "nosuchscheme://secret-token-value/x")
    assert cli.main(["run"]) == 2
    err = capsys.readouterr().err
    assert "kalshid: config error: alerts: Apprise does not understand the URL nosuchscheme://***" in err
    assert "nothing was started" in err and "secret-token-value" not in err
    assert not (clean_env / "var").exists()
    assert cli.main(["config", "check"]) == 2
    assert "secret-token-value" not in capsys.readouterr().err
    monkeypatch.setenv("KALSHID_RUNTIME__LOOP_CPU", "4096")  # reported with the other problems, at once
    assert cli.main(["config", "check"]) == 2
    assert "2 configuration problem(s)" in capsys.readouterr().err
    monkeypatch.delenv("KALSHID_RUNTIME__LOOP_CPU")
    monkeypatch.setenv("KALSHID_ALERTS__URLS", "json://127.0.0.1:9/hook")
    assert cli.main(["config", "check"]) == 0
