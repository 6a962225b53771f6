"""Build the effective :class:`~kalshid.config.schema.Config` from defaults, a TOML file, ``.env`` and env.

Precedence, lowest first: built-in defaults < TOML file (``--config`` or ``KALSHID_CONFIG``) < ``.env`` in
the working directory < environment variables. Each leaf is converted on its own with strict cattrs hooks
(``"flase"`` is an error, not ``True``; ``3.7`` is not an int; money is parsed exactly from dollars), so
every problem is collected and reported together as a :class:`ConfigError`, one line each.

Exchange resolution (the safe default): ``exchange.env`` is ``sim`` unless set explicitly or implied by
a URL on a known Kalshi host. Credentials alone never select demo or prod. A URL on a known host must
agree with an explicit env; plain ``http``/``ws`` is accepted only for loopback hosts.
"""

import datetime as dt
import json
import math
import os
import re
import types
import typing
from collections.abc import Mapping
from decimal import Decimal
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import attrs
import cattrs

from kalshid.config import schema
from kalshid.config.rules import Leaf, cross_field_problems, is_loopback, leaves, range_problems
from kalshid.config.schema import Cc, Config
from kalshid.config.sources import (
    CONFIG_PATH_VAR,
    Problem,
    Setting,
    read_dotenv,
    read_toml,
    read_variables,
)
from kalshid.core.units import UnitError, dollars_to_cc

DEFAULT_SOURCE = "default"
_TRUE = frozenset({"true", "yes", "on", "1"})
_FALSE = frozenset({"false", "no", "off", "0"})
_INT = re.compile(r"[+-]?\d+")


class ConfigError(Exception):
    """The configuration was rejected. ``problems`` holds every reason, one line each when printed."""

    def __init__(self, problems: list[Problem]) -> None:
        super().__init__("\n".join(str(p) for p in problems))
        self.problems = problems


@attrs.frozen
class LoadedConfig:
    """A validated config plus where each key's value came from (``sources[key]``)."""

    config: Config
    sources: Mapping[str, str]
    config_file: Path | None
    dotenv_file: Path | None


# ---- strict leaf conversion ---------------------------------------------------------------------

def _bool(value: Any, _t: Any) -> bool:
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.strip().lower() in _TRUE | _FALSE:
        return value.strip().lower() in _TRUE
    raise ValueError("not a boolean")


def _int(value: Any, _t: Any) -> int:
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    if isinstance(value, str) and _INT.fullmatch(value.strip()):
        return int(value)
    raise ValueError("not an integer")


def _float(value: Any, _t: Any) -> float:
    if isinstance(value, int | float | Decimal) and not isinstance(value, bool):
        out = float(value)
    elif isinstance(value, str):
        out = float(value.strip())  # ValueError on junk
    else:
        raise ValueError("not a number")
    if not math.isfinite(out):
        raise ValueError("not a finite number")
    return out


def _decimal(value: Any, _t: Any) -> Decimal:
    """An exact number: an integer, a TOML decimal (read as ``Decimal``) or a string; never a float."""
    if isinstance(value, int | Decimal) and not isinstance(value, bool):
        out = Decimal(value)
    elif isinstance(value, str):
        try:
            out = Decimal(value.strip())
        except ArithmeticError:  # decimal.InvalidOperation on junk
            raise ValueError("not a number") from None
    else:
        raise ValueError("not a number")
    if not out.is_finite():
        raise ValueError("not a finite number")
    return out


def _str(value: Any, _t: Any) -> str:
    if not isinstance(value, str):
        raise ValueError("not a string")
    return value


def _money(value: Any, _t: Any) -> Cc:
    if isinstance(value, str | int | Decimal) and not isinstance(value, bool):
        return Cc(dollars_to_cc(value.strip() if isinstance(value, str) else value))
    raise ValueError("not a dollar amount")


def _str_tuple(value: Any, _t: Any) -> tuple[str, ...]:
    if isinstance(value, str):
        text = value.strip()
        # ENABLED_STRATEGIES may be a JSON list; a comma list is the documented form.
        items = json.loads(text) if text.startswith("[") else [p.strip() for p in text.split(",")]
    else:
        items = value
    if not isinstance(items, list) or not all(isinstance(i, str) for i in items):
        raise ValueError("not a list of strings")
    return tuple(i.strip() for i in items if i.strip())


def _datetime(value: Any, _t: Any) -> dt.datetime:
    parsed = value if isinstance(value, dt.datetime) else dt.datetime.fromisoformat(_str(value, str).strip())
    if parsed.tzinfo is None:
        raise ValueError("no UTC offset")
    return parsed


def _literal(value: Any, t: Any) -> str:
    text = _str(value, str).strip().lower()
    if text not in typing.get_args(t):
        raise ValueError("not an allowed value")
    return text


def _optional(value: Any, t: Any) -> Any:
    if value is None or (isinstance(value, str) and not value.strip()):
        return None
    inner = next(a for a in typing.get_args(t) if a is not type(None))
    return converter.structure(value, inner)


converter = cattrs.Converter(forbid_extra_keys=True)
converter.register_structure_hook(bool, _bool)
converter.register_structure_hook(int, _int)
converter.register_structure_hook(float, _float)
converter.register_structure_hook(str, _str)
converter.register_structure_hook(Decimal, _decimal)
converter.register_structure_hook(dt.datetime, _datetime)


def _is_optional(t: Any) -> bool:
    return typing.get_origin(t) in (typing.Union, types.UnionType) and type(None) in typing.get_args(t)


def _is_literal(t: Any) -> bool:
    return typing.get_origin(t) is typing.Literal


converter.register_structure_hook_func(lambda t: t is Cc, _money)
converter.register_structure_hook_func(lambda t: t == tuple[str, ...], _str_tuple)
converter.register_structure_hook_func(_is_literal, _literal)
converter.register_structure_hook_func(_is_optional, _optional)
converter.register_unstructure_hook(dt.datetime, lambda d: d.isoformat())


# ---- exchange resolution ----------------------------------------------------------------------

_KNOWN_HOSTS = {
    urlsplit(schema.PROD_API_URL).hostname: "prod",
    urlsplit(schema.PROD_WS_URL).hostname: "prod",
    "api.elections.kalshi.com": "prod",
    urlsplit(schema.DEMO_API_URL).hostname: "demo",
    urlsplit(schema.DEMO_WS_URL).hostname: "demo",
    "demo-api.kalshi.co": "demo",
}


def _url_problem(url: str, schemes: tuple[str, str], suffix: str) -> str | None:
    parts = urlsplit(url)
    if parts.scheme not in schemes or not parts.hostname:
        return f"expected a {schemes[0]}:// or {schemes[1]}:// URL with a host"
    if parts.scheme == schemes[0] and not is_loopback(parts.hostname):
        return f"plain {schemes[0]}:// is only allowed for loopback hosts; use {schemes[1]}://"
    if not parts.path.rstrip("/").endswith(suffix) or parts.query:
        return f"expected the path to end in {suffix} (requests are signed with the /trade-api/... path)"
    return None


def _resolve_exchange(values: dict[str, Any], sources: dict[str, str], problems: list[Problem]) -> None:
    """Fill in ``exchange.env`` and the URLs; reject URLs that contradict the env or do not parse."""
    api_key, ws_key, env_key = "exchange.api_base_url", "exchange.ws_url", "exchange.env"
    for key, schemes, suffix in ((api_key, ("http", "https"), "/trade-api/v2"),
                                 (ws_key, ("ws", "wss"), "/trade-api/ws/v2")):
        if values[key] and (why := _url_problem(values[key], schemes, suffix)):
            problems.append(Problem(key, values[key], sources[key], why))
            return
        values[key] = values[key].rstrip("/")
    url_envs = {k: _KNOWN_HOSTS.get(urlsplit(values[k]).hostname or "")
                for k in (api_key, ws_key) if values[k]}
    explicit = sources[env_key] != DEFAULT_SOURCE
    for key, url_env in url_envs.items():
        if url_env is None:
            continue
        if not explicit:
            values[env_key], sources[env_key] = url_env, f"inferred from {key} ({sources[key]})"
            explicit = True
        elif url_env != values[env_key]:
            problems.append(Problem(key, values[key], sources[key],
                                    f"contradicts exchange.env={values[env_key]!r} ({sources[env_key]}): "
                                    f"this is a Kalshi {url_env} host"))
    env = values[env_key]
    if not values[api_key] and env in ("demo", "prod"):
        values[api_key] = schema.PROD_API_URL if env == "prod" else schema.DEMO_API_URL
        sources[api_key] = f"derived from exchange.env={env}"
    if not values[ws_key] and values[api_key]:
        parts = urlsplit(values[api_key])
        host_env = _KNOWN_HOSTS.get(parts.hostname or "")
        if host_env is not None:
            values[ws_key] = schema.PROD_WS_URL if host_env == "prod" else schema.DEMO_WS_URL
        else:  # a simulator or proxy: same host, ws scheme, the WebSocket path
            scheme = "wss" if parts.scheme == "https" else "ws"
            values[ws_key] = f"{scheme}://{parts.netloc}{parts.path.removesuffix('/trade-api/v2')}/trade-api/ws/v2"
        sources[ws_key] = f"derived from {api_key}"
    if values[ws_key] and not values[api_key]:
        problems.append(Problem(ws_key, values[ws_key], sources[ws_key],
                                "set exchange.api_base_url too: a WebSocket URL alone is not enough"))


# ---- the loader ---------------------------------------------------------------------------------

def _build(cls: type, values: Mapping[tuple[str, ...], Any], prefix: tuple[str, ...] = ()) -> Any:
    kwargs = {}
    for a in attrs.fields(cls):
        path = (*prefix, a.name)
        kwargs[a.name] = _build(a.type, values, path) if attrs.has(a.type) else values[path]
    return cls(**kwargs)


def _convert(leaf: Leaf, setting: Setting) -> tuple[Any, Problem | None]:
    expect = leaf.metadata["expect"]
    # A rejected secret is still a secret: the message names the key and source, not the value.
    shown = "<redacted>" if leaf.secret else setting.value
    try:
        value = converter.structure(setting.value, leaf.type)
    except UnitError as exc:
        return None, Problem(leaf.key, shown, setting.source, f"{exc}; expected {expect}")
    except (ValueError, TypeError, cattrs.BaseValidationError):
        return None, Problem(leaf.key, shown, setting.source, f"expected {expect}")
    if why := range_problems(leaf, value):
        return None, Problem(leaf.key, shown, setting.source, why)
    return value, None


def load_config(
    *,
    config_path: str | os.PathLike[str] | None = None,
    environ: Mapping[str, str] | None = None,
    cwd: str | os.PathLike[str] | None = None,
) -> LoadedConfig:
    """Read, merge, convert and validate the configuration.

    ``config_path`` is ``--config``; without it ``KALSHID_CONFIG`` (env, then ``.env``) names the file,
    and with neither there is no file. ``environ`` defaults to ``os.environ`` (read only), ``cwd`` to the
    working directory (where ``.env`` is looked for). Raises :class:`ConfigError` listing every problem.
    """
    environ = os.environ if environ is None else environ
    base = Path.cwd() if cwd is None else Path(cwd)
    dotenv, dotenv_path = read_dotenv(base)
    problems: list[Problem] = []

    path_text = config_path or environ.get(CONFIG_PATH_VAR) or dotenv.get(CONFIG_PATH_VAR) or None
    file_path = (base / Path(path_text).expanduser()) if path_text else None
    layers: list[dict[str, Setting]] = []
    if file_path is not None:
        settings, found = read_toml(file_path)
        layers.append(settings)
        problems += found
    settings, found = read_variables(dotenv, f".env file {dotenv_path} var")
    layers.append(settings)
    problems += found
    settings, found = read_variables(environ, "env var")
    layers.append(settings)
    problems += found

    all_leaves = leaves()
    values: dict[str, Any] = {}
    sources: dict[str, str] = {}
    for leaf in all_leaves:
        values[leaf.key], sources[leaf.key] = leaf.default, DEFAULT_SOURCE
        winner = next((layer[leaf.key] for layer in reversed(layers) if leaf.key in layer), None)
        if winner is None:
            continue
        value, problem = _convert(leaf, winner)
        if problem is not None:
            problems.append(problem)  # the default stands in, so the checks below still run
        else:
            values[leaf.key], sources[leaf.key] = value, winner.source

    _resolve_exchange(values, sources, problems)
    config: Config = _build(Config, {leaf.attr_path: values[leaf.key] for leaf in all_leaves})
    # A bad leaf was replaced by its default; a cross-check that reads it would only add noise.
    bad = {p.key for p in problems}
    problems += [Problem(key, _shown(key, values), sources[key], msg)
                 for key, msg, reads in cross_field_problems(config) if bad.isdisjoint(reads)]
    if problems:
        raise ConfigError(problems)
    return LoadedConfig(config, sources, file_path, dotenv_path)


def _shown(key: str, values: Mapping[str, Any]) -> Any:
    value = values.get(key)
    return ",".join(value) if isinstance(value, tuple) else value
