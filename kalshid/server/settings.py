"""Settings for the HTTP/WebSocket control API, and the bearer token's storage.

`ApiSettings` is deliberately small and independent of the daemon's config file format; the config
module maps its ``[api]`` table onto it. The token comes from ``token`` or, failing that, ``token_file``
(created with a fresh random token, mode 0600, on first run — under systemd the file is usually the
``api-token`` credential, ``$CREDENTIALS_DIRECTORY/api-token``).
"""

from __future__ import annotations

import logging
import os
import secrets
import stat
from collections.abc import Iterable
from typing import Any, Final

import attrs

from kalshid.config.rules import is_loopback, weak_token

log = logging.getLogger("kalshid.server")

MIN_TOKEN_CHARS: Final = 16


def _positive(instance: object, attribute: attrs.Attribute[Any], value: float) -> None:
    if value <= 0:
        raise ValueError(f"api.{attribute.name} must be > 0, got {value!r}")


def _port(instance: object, attribute: attrs.Attribute[int], value: int) -> None:
    if not 0 <= value <= 65535:
        raise ValueError(f"api.port must be 0-65535, got {value!r}")


def _to_tuple(value: Iterable[str]) -> tuple[str, ...]:
    if isinstance(value, str):  # a lone string would become a tuple of characters
        raise ValueError(f"api.cors_origins must be a list of origins, got the string {value!r}")
    return tuple(value)


def _origins(instance: object, attribute: attrs.Attribute[tuple[str, ...]], value: tuple[str, ...]) -> None:
    for origin in value:
        # Exact-match CORS: an origin is scheme://host[:port], never a path, wildcard or trailing slash.
        if origin == "*" or origin.endswith("/") or "://" not in origin:
            raise ValueError(f"api.cors_origins entries must look like https://host[:port], got {origin!r}")


@attrs.frozen
class ApiSettings:
    """Where and how the control API listens.

    host/port: bind address (loopback by default: the API can move money; expose it deliberately).
    token / token_file: bearer token, or the file holding it (see module docstring).
    cors_origins: exact origins allowed to call the API from a browser; empty sends no CORS headers.
    max_request_bytes: largest request body or WebSocket message accepted (413 / close 1009 beyond).
    ws_queue_size: events buffered per WebSocket client before it is disconnected as too slow.
    status_interval_s: period of the pushed ``status_update`` events.
    ws_auth_timeout_s: how long a WebSocket client without an Authorization header has to send its
        ``{"type": "auth"}`` message.
    graceful_timeout_s: hypercorn's drain deadline at shutdown.
    """

    host: str = "127.0.0.1"
    port: int = attrs.field(default=8000, validator=_port)
    token: str | None = attrs.field(default=None, repr=False)
    token_file: str | None = None
    cors_origins: tuple[str, ...] = attrs.field(default=(), converter=_to_tuple, validator=_origins)
    max_request_bytes: int = attrs.field(default=64 * 1024, validator=_positive)
    ws_queue_size: int = attrs.field(default=64, validator=_positive)
    status_interval_s: float = attrs.field(default=5.0, validator=_positive)
    ws_auth_timeout_s: float = attrs.field(default=5.0, validator=_positive)
    graceful_timeout_s: float = attrs.field(default=2.0, validator=_positive)


def load_or_create_token(path: str) -> str:
    """The bearer token stored at ``path``; if the file is absent, create it (0600) with a new token.

    Raises ValueError if the file exists but holds a token shorter than 16 characters (an empty or
    truncated file must not become an easily guessed credential), OSError if it cannot be read/created.
    Warns if the file is readable by group or others.
    """
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0o600)
    except FileExistsError:
        return _read_token(path)
    token = secrets.token_urlsafe(32)
    with os.fdopen(fd, "w") as f:
        f.write(token + "\n")
    log.warning("generated a new API token in %s (mode 0600)", path)
    return token


def _read_token(path: str) -> str:
    mode = os.stat(path).st_mode
    if mode & (stat.S_IRWXG | stat.S_IRWXO):
        log.warning(
            "API token file %s is accessible by group/others (mode %o); chmod 600 it", path, mode & 0o777
        )
    with open(path, encoding="utf-8") as f:
        token = f.read().strip()
    if len(token) < MIN_TOKEN_CHARS:
        raise ValueError(f"API token in {path} is shorter than {MIN_TOKEN_CHARS} characters; replace it")
    return token


def resolve_token(settings: ApiSettings) -> str:
    """``settings.token`` if set, else the token in ``settings.token_file`` (created if absent).

    Off loopback the token must also be strong (:func:`kalshid.config.rules.weak_token`)."""
    if settings.token:
        if len(settings.token) < MIN_TOKEN_CHARS:
            raise ValueError(f"api.token must be at least {MIN_TOKEN_CHARS} characters")
        token = settings.token
    elif settings.token_file:
        token = load_or_create_token(settings.token_file)
    else:
        raise ValueError("the API needs api.token or api.token_file")
    if not is_loopback(settings.host) and (why := weak_token(token)):
        raise ValueError(f"the API listens on {settings.host!r}, off loopback, and its token is {why}")
    return token
