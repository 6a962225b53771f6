"""Request authentication exactly as Kalshi does it (API-NOTES §1): RSA-PSS over ``ts + METHOD + path``.

Keys are registered at start (``--key KEY_ID=public.pem``). A request is accepted iff all three
``KALSHI-ACCESS-*`` headers are present, the key id is registered, the timestamp is a decimal
integer of milliseconds within ``max_skew_s`` of the *wall clock* (clients sign with wall-clock
time whatever the simulated time is; ``None`` disables the check, e.g. under a mock clock), and
the signature verifies. Every key trades the account it is mapped to (by default one shared account).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from typing import Protocol

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from kalshid.exchange.kalshi.auth import HEADER_KEY, HEADER_SIGNATURE, HEADER_TIMESTAMP, redact_key_id, verify

DEFAULT_MAX_SKEW_S = 30.0


class HeaderLookup(Protocol):
    """Case-insensitive header access (Werkzeug ``Headers``, or a plain dict with exact names)."""

    def get(self, key: str, /) -> str | None: ...


class AuthError(Exception):
    """Authentication failed; the message says why (never echoes the signature)."""


def load_public_key(path: Path) -> rsa.RSAPublicKey:
    data = path.read_bytes()
    try:
        key = serialization.load_pem_public_key(data)
    except ValueError:
        try:  # a private key file also carries its public half
            key = serialization.load_pem_private_key(data, password=None).public_key()
        except (ValueError, TypeError) as exc:
            raise ValueError(f"{path}: not a PEM RSA public or private key") from exc
    if not isinstance(key, rsa.RSAPublicKey):
        raise ValueError(f"{path}: not an RSA key")
    return key


def parse_key_arg(arg: str) -> tuple[str, Path]:
    """``KEY_ID=path.pem`` → ``(key_id, path)``; raises ValueError naming what is wrong."""
    key_id, sep, path = arg.partition("=")
    if not sep or not key_id or not path:
        raise ValueError(f"--key expects KEY_ID=PUBLIC_KEY.pem, got {arg!r}")
    return key_id, Path(path)


class KeyRegistry:
    """Registered public keys and the account each trades."""

    def __init__(
        self, *, max_skew_s: float | None = DEFAULT_MAX_SKEW_S, wall_clock: Callable[[], float] = time.time
    ) -> None:
        self._keys: dict[str, tuple[rsa.RSAPublicKey, str]] = {}
        self.max_skew_s = max_skew_s
        self._wall = wall_clock

    def register(self, key_id: str, public_key: rsa.RSAPublicKey, user_id: str) -> None:
        self._keys[key_id] = (public_key, user_id)

    def __len__(self) -> int:
        return len(self._keys)

    def authenticate(self, headers: HeaderLookup, method: str, path: str) -> tuple[str, str]:
        """``(key_id, user_id)`` for a correctly signed request, else :class:`AuthError`."""
        key_id, ts, sig = (headers.get(h) for h in (HEADER_KEY, HEADER_TIMESTAMP, HEADER_SIGNATURE))
        if not key_id or not ts or not sig:
            raise AuthError("missing authentication headers (KALSHI-ACCESS-KEY, -TIMESTAMP, -SIGNATURE)")
        entry = self._keys.get(key_id)
        if entry is None:
            raise AuthError(f"unknown API key {redact_key_id(key_id)}")
        if not ts.isdigit():
            raise AuthError("KALSHI-ACCESS-TIMESTAMP must be Unix milliseconds")
        ts_ms = int(ts)
        if self.max_skew_s is not None:
            skew = ts_ms / 1000 - self._wall()
            if abs(skew) > self.max_skew_s:
                raise AuthError(
                    f"stale timestamp: {skew:+.1f} s from server time (limit ±{self.max_skew_s:g} s)"
                )
        if not verify(entry[0], ts_ms, method, path, sig):
            raise AuthError("invalid signature")
        return key_id, entry[1]
