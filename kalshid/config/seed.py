"""The seed's ``.env`` names beyond the one-to-one aliases: honoured with a conversion, or refused.

`SEED_NAMES` maps a name to the keys it sets and how its value converts (``KALSHI_DEMO_MODE=true`` is
``exchange.env = "demo"``; ``MIN_EDGE_THRESHOLD`` sets every strategy's ``min_edge``; ``*_PCT`` values are
percentages). `SEED_REFUSED` names what kalshid will not take, with what to do instead; every other
``CIRCUIT_BREAKER_*`` name is refused too. `translate` returns ``(settings, problem)`` for one variable.
"""

from __future__ import annotations

from collections.abc import Callable
from decimal import Decimal, InvalidOperation
from typing import Final

import attrs

from kalshid.config.schema import KNOWN_STRATEGIES

_TRUE: Final = frozenset({"true", "yes", "on", "1"})
_FALSE: Final = frozenset({"false", "no", "off", "0"})


class SeedValueError(ValueError):
    """A seed variable's value cannot be converted; the message says what it may be."""


def _demo_mode(raw: str) -> str:
    value = raw.strip().lower()
    if value in _TRUE:
        return "demo"
    if value in _FALSE:
        return "prod"
    raise SeedValueError("expected true (demo) or false (prod)")


def _percent(raw: str) -> str:
    try:
        value = Decimal(raw.strip().removesuffix("%"))
    except InvalidOperation:
        raise SeedValueError("expected a percentage such as 20 or 20%") from None
    return str(value / 100)


def _lower(raw: str) -> str:
    return raw.strip().lower()


def _same(raw: str) -> str:
    return raw


def _breaker_enabled(raw: str) -> str:
    value = raw.strip().lower()
    if value in _TRUE:
        return ""
    if value in _FALSE:
        raise SeedValueError("kalshid's circuit breaker cannot be turned off; widen "
                             "CIRCUIT_BREAKER_MAX_DRAWDOWN_PCT / CIRCUIT_BREAKER_DAILY_LOSS_PCT instead")
    raise SeedValueError("expected true")


@attrs.frozen
class SeedName:
    """A seed variable: the keys it sets (none: accepted, sets nothing) and its value conversion."""

    keys: tuple[str, ...]
    convert: Callable[[str], str] = _same


def _every_strategy(param: str) -> tuple[str, ...]:
    return tuple(f"strategies.{s}.{param}" for s in KNOWN_STRATEGIES)


SEED_NAMES: Final[dict[str, SeedName]] = {
    "KALSHI_DEMO_MODE": SeedName(("exchange.env",), _demo_mode),
    "API_HOST": SeedName(("api.host",)),
    "API_PORT": SeedName(("api.port",)),
    "API_TOKEN": SeedName(("api.token",)),
    "CORS_ORIGINS": SeedName(("api.cors_origins",)),
    "LOG_LEVEL": SeedName(("log.level",), _lower),
    "MIN_EDGE_THRESHOLD": SeedName(_every_strategy("min_edge")),
    "KELLY_FRACTION": SeedName(_every_strategy("kelly_fraction")),
    "CIRCUIT_BREAKER_DAILY_LOSS_PCT": SeedName(("risk.breaker_daily_loss_fraction",), _percent),
    "CIRCUIT_BREAKER_MAX_DAILY_LOSS_PCT": SeedName(("risk.breaker_daily_loss_fraction",), _percent),
    "CIRCUIT_BREAKER_DRAWDOWN_PCT": SeedName(("risk.breaker_drawdown_fraction",), _percent),
    "CIRCUIT_BREAKER_MAX_DRAWDOWN_PCT": SeedName(("risk.breaker_drawdown_fraction",), _percent),
    "CIRCUIT_BREAKER_ENABLED": SeedName((), _breaker_enabled),
}

_APPRISE: Final = "set KALSHID_ALERTS__URLS (or alerts.urls_file) to an Apprise URL, e.g. "
SEED_REFUSED: Final[dict[str, str]] = {
    "KALSHI_PRIVATE_KEY": "a private key inside a variable is refused (it leaks into process listings and "
                          "crash reports); save it to a file (chmod 600) and set KALSHI_PRIVATE_KEY_PATH",
    "KALSHI_API_SECRET": "Kalshi signs with an RSA key, not a secret: set KALSHI_PRIVATE_KEY_PATH",
    "DATABASE_URL": "kalshid keeps its journal in SQLite: set KALSHID_JOURNAL__DIR or KALSHID_JOURNAL__PATH",
    "REDIS_URL": "kalshid needs no Redis: remove it",
    "TELEGRAM_BOT_TOKEN": _APPRISE + "tgram://BOT_TOKEN/CHAT_ID",
    "TELEGRAM_CHAT_ID": _APPRISE + "tgram://BOT_TOKEN/CHAT_ID",
    "DISCORD_WEBHOOK_URL": _APPRISE + "discord://WEBHOOK_ID/WEBHOOK_TOKEN",
    "SLACK_WEBHOOK_URL": _APPRISE + "slack://TOKEN_A/TOKEN_B/TOKEN_C",
    "WEBHOOK_URL": _APPRISE + "json://host/path",
}
_BREAKER_PREFIX: Final = "CIRCUIT_BREAKER_"
# Names other software sets too: refused from a .env file (kalshid's own), left alone in the environment.
ONLY_IN_DOTENV: Final = frozenset({"DATABASE_URL", "REDIS_URL", "WEBHOOK_URL"})


def is_seed_name(name: str, *, dotenv: bool = True) -> bool:
    """True if ``name`` is a seed variable this module honours or refuses (from a .env file, or from the
    process environment when ``dotenv`` is false)."""
    if not dotenv and name in ONLY_IN_DOTENV:
        return False
    return name in SEED_NAMES or name in SEED_REFUSED or name.startswith(_BREAKER_PREFIX)


def translate(name: str, raw: str) -> tuple[dict[str, str], str | None]:
    """``({key: raw value}, None)`` for an honoured variable, or ``({}, message)`` when refused."""
    if name in SEED_REFUSED:
        return {}, f"not supported: {SEED_REFUSED[name]}"
    seed = SEED_NAMES.get(name)
    if seed is None:
        known = ", ".join(n for n in SEED_NAMES if n.startswith(_BREAKER_PREFIX))
        return {}, (f"not supported; the breaker is set with risk.breaker_daily_loss_fraction and "
                    f"risk.breaker_drawdown_fraction (seed names: {known})")
    try:
        value = seed.convert(raw)
    except SeedValueError as exc:
        return {}, str(exc)
    return {key: value for key in seed.keys}, None
