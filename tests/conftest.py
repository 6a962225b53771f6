"""Shared fixtures: a clean configuration environment, RSA test keys generated at test time, and
``shared_dir``, which finds the shared specs and market data beside the repository."""

import os
import stat
import warnings
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import trio.testing
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from kalshid.research.sources.shared import SHARED_ENV, shared_root

REPO = Path(__file__).resolve().parents[1]
# The shared, read-only folder (Kalshi's specs, real market data): beside the repository (or beside the
# repository a scratch clone came from); the variable points elsewhere. Read once at import, so fixtures
# that clear the environment do not hide it.
SHARED_ENV_VAR = SHARED_ENV
SHARED_ROOT = shared_root().resolve()


def shared_dir(*parts: str) -> Path:
    """The path ``parts`` under the shared folder. Fails the calling test (never skips) naming the path
    it looked for when it does not exist."""
    path = SHARED_ROOT.joinpath(*parts)
    if not path.exists():
        pytest.fail(f"{path} not found: the shared specs and data are expected in {SHARED_ROOT} "
                    f"(the repository's sibling 'shared', or ${SHARED_ENV_VAR})", pytrace=False)
    return path


# Whole-daemon runs over many simulated windows, tests that start daemon processes, and long fuzzing:
# marked `slow` here (by node id: a file, or one test with all its parameters), so `make test-fast`
# (`-m "not slow"`) leaves them out; `make test` and CI run them. A test module may also mark itself.
SLOW_TESTS = (
    "tests/daemon/test_daemon_process.py",
    "tests/server/test_fuzz_openapi.py::test_fuzzed_requests_never_500",
    "tests/trading/test_pipeline_controls.py::test_breaker_trips_halts_trading_and_needs_a_reset",
    "tests/trading/test_pipeline_e2e.py",
    "tests/trading/test_pipeline_faults.py",
    "tests/trading/test_pipeline_spot.py",
    "tests/trading/test_process_kill9.py",
)


def is_slow(nodeid: str) -> bool:
    """Whether ``nodeid`` (``path::name[params]``, relative to the repository) is listed in SLOW_TESTS."""
    return any(nodeid == s or nodeid.startswith((s + "::", s + "[")) for s in SLOW_TESTS)


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if is_slow(item.nodeid):
            item.add_marker(pytest.mark.slow)
    gone = sorted(path for path in {s.split("::")[0] for s in SLOW_TESTS} if not (REPO / path).is_file())
    if gone:  # a moved test would silently join the fast set
        warnings.warn(pytest.PytestWarning(f"SLOW_TESTS in tests/conftest.py names missing files: {gone}"),
                      stacklevel=1)


# Variables that configure kalshid (or change how it logs/notifies); a test must never inherit them.
_CONFIG_VAR_PREFIXES = ("KALSHI_", "KALSHID_")
_CONFIG_VARS = (
    "DRY_RUN_MODE", "MAX_POSITION_SIZE", "MAX_DAILY_LOSS", "MAX_CONCURRENT_POSITIONS",
    "ENABLED_STRATEGIES", "DEFAULT_BANKROLL", "CREDENTIALS_DIRECTORY", "NOTIFY_SOCKET",
    "JOURNAL_STREAM", "INVOCATION_ID",
)


@pytest.fixture
def clean_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[Path]:
    """Remove every kalshid-related variable and chdir to an empty ``tmp_path`` (no stray ``.env``)."""
    for name in list(os.environ):
        if name.startswith(_CONFIG_VAR_PREFIXES) or name in _CONFIG_VARS:
            monkeypatch.delenv(name)
    monkeypatch.chdir(tmp_path)
    yield tmp_path


@pytest.fixture(scope="session")
def rsa_key() -> rsa.RSAPrivateKey:
    """One RSA-2048 key per test session (generation costs ~50 ms)."""
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


def _write_key(path: Path, key: Any, *, fmt: str = "pkcs8", passphrase: bytes | None = None,
               mode: int = 0o600) -> Path:
    """Write ``key`` as PEM (``pkcs8`` or ``pkcs1``), optionally encrypted, with ``mode``."""
    enc = (serialization.BestAvailableEncryption(passphrase) if passphrase
           else serialization.NoEncryption())
    private_format = (serialization.PrivateFormat.PKCS8 if fmt == "pkcs8"
                      else serialization.PrivateFormat.TraditionalOpenSSL)
    path.write_bytes(key.private_bytes(serialization.Encoding.PEM, private_format, enc))
    path.chmod(mode)
    assert stat.S_IMODE(path.stat().st_mode) == mode
    return path


@pytest.fixture
def write_key() -> Callable[..., Path]:
    """``write_key(path, key, fmt="pkcs8"|"pkcs1", passphrase=None, mode=0o600) -> path``."""
    return _write_key


@pytest.fixture
def key_file(tmp_path: Path, rsa_key: rsa.RSAPrivateKey) -> Path:
    """The session RSA key as a PKCS#8 PEM with mode 0600."""
    return _write_key(tmp_path / "kalshi.pem", rsa_key)


# Real seconds the event loop must sit idle before the virtual clock jumps to the next deadline. Zero (the
# pytest-trio fixture's) jumps at the first idle instant, and on a busy machine the kernel may deliver a
# loopback write (the daemon and its embedded simulator talk over sockets) only a little later: time would
# jump past the request's answer to whichever timeout comes next (a feed that "backs up" for 10 s, a
# daemon "not ready" in 60 s). One millisecond covers that delay; whole-daemon tests take about twice as
# long in real time.
AUTOJUMP_IDLE_S = 0.001


@pytest.fixture
def autojump_clock() -> trio.testing.MockClock:
    """Trio's virtual clock for tests, jumping once the loop has been idle :data:`AUTOJUMP_IDLE_S`."""
    return trio.testing.MockClock(autojump_threshold=AUTOJUMP_IDLE_S)
