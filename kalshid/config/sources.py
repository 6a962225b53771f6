"""Where raw configuration values come from: the TOML file, ``.env`` and the process environment.

Each reader returns ``{key: Setting}`` for the keys it sets plus a list of :class:`Problem` for what it
could not accept (unknown keys, an unreadable file), so the loader can report everything at once.
Values stay raw here (TOML natives, strings from variables); :mod:`kalshid.config.loader` converts.

Variable names: every key ``a.b.c`` is ``KALSHID_A__B__C``; plain names such as
``DRY_RUN_MODE`` are aliases (:data:`SEED_ALIASES`). ``.env`` is read with ``dotenv_values`` and never
touches ``os.environ``.
"""

import difflib
import tomllib
from collections.abc import Mapping
from decimal import Decimal
from pathlib import Path
from typing import Any

import attrs
from dotenv import dotenv_values

from kalshid.config.rules import leaves
from kalshid.config.seed import SEED_REFUSED, is_seed_name, translate

PREFIX = "KALSHID_"
CONFIG_PATH_VAR = "KALSHID_CONFIG"
# ``KALSHID_*`` names that are not settings: each is read from the process environment by one command
# (the control socket for ``kalshid ctl``, the research data for the backtest and the tests, the browser
# for the dashboard's tests), so a shell that sets one still starts the daemon.
ENVIRONMENT_ONLY = {
    "KALSHID_SOCKET": "kalshid ctl's control socket",
    "KALSHID_SHARED_DIR": "the shared specs and data folder of the research commands and the tests",
    "KALSHID_DATA_DIR": "the research commands' data folder",
    "KALSHID_CHROMIUM": "the browser the dashboard's tests drive",
}

SEED_ALIASES: dict[str, str] = {
    "KALSHI_API_KEY": "exchange.api_key",
    "KALSHI_PRIVATE_KEY_PATH": "exchange.private_key_path",
    "KALSHI_PRIVATE_KEY_PASSPHRASE": "exchange.private_key_passphrase",
    "KALSHI_ENV": "exchange.env",
    "KALSHI_API_BASE_URL": "exchange.api_base_url",
    "KALSHI_WS_URL": "exchange.ws_url",
    "DRY_RUN_MODE": "trading.dry_run",
    "ENABLED_STRATEGIES": "trading.enabled_strategies",
    "DEFAULT_BANKROLL": "trading.bankroll",
    "MAX_POSITION_SIZE": "risk.max_position_size",
    "MAX_DAILY_LOSS": "risk.max_daily_loss",
    "MAX_CONCURRENT_POSITIONS": "risk.max_concurrent_positions",
}

KEYS: tuple[str, ...] = tuple(leaf.key for leaf in leaves())
SECTIONS: frozenset[str] = frozenset(
    ".".join(k.split(".")[:i]) for k in KEYS for i in range(1, k.count(".") + 1)
)


def env_name(key: str) -> str:
    """The variable that sets ``key``: ``risk.max_daily_loss`` -> ``KALSHID_RISK__MAX_DAILY_LOSS``."""
    return PREFIX + key.replace(".", "__").upper()


ENV_TO_KEY: dict[str, str] = {env_name(k): k for k in KEYS}


def names_for(key: str) -> list[str]:
    """Every variable name that sets ``key`` (canonical first, then plain aliases)."""
    return [env_name(key), *(n for n, k in SEED_ALIASES.items() if k == key)]


@attrs.frozen
class Setting:
    """A raw value for ``key`` and a human label for where it came from."""

    key: str
    value: Any
    source: str


@attrs.frozen
class Problem:
    """One reason the configuration is rejected. ``str()`` is the line the user sees."""

    key: str
    value: Any
    source: str
    message: str

    def __str__(self) -> str:
        shown = "" if self.value is None else f" = {self.value!r}"
        return f"{self.key}{shown} (from {self.source}): {self.message}"


def _suggest(name: str, candidates: list[str]) -> str:
    close = difflib.get_close_matches(name, candidates, n=1, cutoff=0.6)
    return f"; did you mean {close[0]!r}?" if close else ""


def read_toml(path: Path) -> tuple[dict[str, Setting], list[Problem]]:
    """Flatten a TOML file into settings; unknown sections/keys are problems naming the file."""
    label = f"file {path}"
    where = "--config/KALSHID_CONFIG"
    try:
        with path.open("rb") as f:
            # Decimal floats keep money exact ("max_daily_loss = 500.25" is never a binary float).
            data = tomllib.load(f, parse_float=Decimal)
    except FileNotFoundError:
        return {}, [Problem("config file", str(path), where, "no such file")]
    except OSError as exc:
        return {}, [Problem("config file", str(path), where, f"unreadable: {exc.strerror}")]
    except tomllib.TOMLDecodeError as exc:
        return {}, [Problem("config file", str(path), where, f"invalid TOML: {exc}")]

    settings: dict[str, Setting] = {}
    problems: list[Problem] = []

    def walk(table: Mapping[str, Any], prefix: str) -> None:
        for name, value in table.items():
            key = f"{prefix}{name}"
            if key in SECTIONS and isinstance(value, dict):
                walk(value, key + ".")
            elif key in KEYS:
                settings[key] = Setting(key, value, label)
            else:
                siblings = [k.removeprefix(prefix) for k in (*KEYS, *SECTIONS) if k.startswith(prefix)]
                what = "section" if isinstance(value, dict) else "key"
                shown = None if isinstance(value, dict) else value
                problems.append(Problem(key, shown, label, f"unknown {what}{_suggest(name, siblings)}"))

    walk(data, "")
    return settings, problems


def read_variables(
    variables: Mapping[str, str | None], place: str, *, strict: bool | None = None
) -> tuple[dict[str, Setting], list[Problem]]:
    """Settings from ``KALSHID_*`` names, the seed aliases and the seed's other names
    (:mod:`kalshid.config.seed`: honoured with a conversion, or refused with what to do instead).

    ``place`` is ``"env var"`` or ``".env file <path> var"``; each source is ``f"{place} {NAME}"``.
    Other names are ignored in the environment; in a ``.env`` file (``strict``, the default for a place
    starting with ".env") every other name is a problem, so nothing in it is silently ignored.
    Setting one key twice in the same place with different values is a problem.
    """
    strict = place.startswith(".env") if strict is None else strict
    settings: dict[str, Setting] = {}
    problems: list[Problem] = []
    for name in sorted(variables):
        value = variables[name]
        if name == CONFIG_PATH_VAR:
            continue
        if name in ENVIRONMENT_ONLY:
            if strict:
                problems.append(Problem(name, value, f"{place} {name}",
                                        f"not a setting: {ENVIRONMENT_ONLY[name]}, read from the process "
                                        "environment only (export it instead)"))
            continue
        key = ENV_TO_KEY.get(name) or SEED_ALIASES.get(name)
        if key is None and not is_seed_name(name, dotenv=strict):
            if not strict and (why := _near_miss(name)):  # the value is not shown: it may be a secret
                problems.append(Problem(name, None, f"{place} {name}", why))
            elif name.startswith(PREFIX) or strict:
                what = "unknown variable" if name.startswith(PREFIX) else (
                    "not a kalshid variable (the .env file is read for kalshid's settings only: remove it; "
                    "the seed's names are listed in docs/migration.md)")
                problems.append(Problem(name, value, f"{place} {name}", what
                                        + _suggest(name, [*ENV_TO_KEY, *SEED_ALIASES])))
            continue
        if value is None:  # a bare "NAME" line in .env, with no "="
            problems.append(Problem(name, None, f"{place} {name}", "no value given (expected NAME=value)"))
            continue
        mapped = {key: value} if key is not None else {}
        if key is None:
            mapped, refused = translate(name, value)
            if refused is not None:
                shown = None if name in SEED_REFUSED else value  # a refused name may hold a secret
                problems.append(Problem(name, shown, f"{place} {name}", refused))
                continue
        for key, raw in mapped.items():
            new = Setting(key, raw, f"{place} {name}")
            old = settings.get(key)
            if old is not None and old.value != raw:
                problems.append(Problem(key, raw, new.source,
                                        f"contradicts {old.source}={old.value!r}; set only one of them"))
                continue
            settings[key] = new
    return settings, problems


def _near_miss(name: str) -> str | None:
    """Why a variable the environment holds looks like a misspelled kalshid name, or None: a ``KALSHID_``
    prefix in the wrong case, or a name a letter or two from a plain alias (``MAX_DAILY_LOS``), which
    would otherwise leave its setting at the default without a word."""
    upper = name.upper()
    if upper.startswith(PREFIX) and not name.startswith(PREFIX):
        return "unknown variable: kalshid's variables are upper case" + _suggest(upper, [*ENV_TO_KEY])
    if name.startswith(PREFIX):
        return None
    close = difflib.get_close_matches(upper, list(SEED_ALIASES), n=1, cutoff=0.9)
    if close:
        return f"unknown variable, and so close to {close[0]!r} that it is taken for a misspelling of it: " \
               f"rename it to {close[0]}, or unset it"
    return None


def read_dotenv(cwd: Path) -> tuple[dict[str, str | None], Path | None]:
    """The ``.env`` file in ``cwd`` as a mapping (empty when there is none). Never mutates os.environ."""
    path = cwd / ".env"
    if not path.is_file():
        return {}, None
    return dict(dotenv_values(path)), path
