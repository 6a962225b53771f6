"""Request authentication exactly as Kalshi does it: a signature over ``ts + METHOD + path``.

Keys are RSA (RSA-PSS, SHA-256, MGF1-SHA-256, salt = digest length) or Ed25519 (RFC 8032), both over
the same pre-sign text: the timestamp in ms, the method upper-case, the path with its ``/trade-api``
prefix and without the query string; signatures are base64 with padding. Keys are registered at start
(``--key KEY_ID=public.pem``; a private key file also works, its public half is used). A request is
accepted iff all three ``KALSHI-ACCESS-*`` headers are present, the key id is registered, the timestamp is a decimal
integer of milliseconds within ``max_skew_s`` of the *wall clock* (clients sign with wall-clock
time whatever the simulated time is; ``None`` disables the check, e.g. under a mock clock), and
the signature verifies. Every key trades the account it is mapped to (by default one shared account).
"""

from __future__ import annotations

import base64
import binascii
import time
from collections.abc import Callable
from pathlib import Path
from typing import Protocol

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ed25519, padding, rsa

DEFAULT_MAX_SKEW_S = 30.0
HEADER_KEY = "KALSHI-ACCESS-KEY"
HEADER_TIMESTAMP = "KALSHI-ACCESS-TIMESTAMP"
HEADER_SIGNATURE = "KALSHI-ACCESS-SIGNATURE"
PublicKey = rsa.RSAPublicKey | ed25519.Ed25519PublicKey
_PSS = padding.PSS(mgf=padding.MGF1(hashes.SHA256()), salt_length=padding.PSS.DIGEST_LENGTH)


def redact_key_id(key_id: str) -> str:
    """An API key id safe to log: its first 4 characters only."""
    return f"{key_id[:4]}…" if len(key_id) > 4 else "…"


def verify(public_key: PublicKey, timestamp_ms: int, method: str, path: str, signature_b64: str) -> bool:
    """True iff ``signature_b64`` signs ``f"{timestamp_ms}{METHOD}{path}"`` (query removed) with ``public_key``."""
    try:
        sig = base64.b64decode(signature_b64, validate=True)
    except (binascii.Error, ValueError):
        return False
    message = f"{timestamp_ms}{method.upper()}{path.split('?', 1)[0]}".encode()
    try:
        if isinstance(public_key, ed25519.Ed25519PublicKey):
            public_key.verify(sig, message)
        else:
            public_key.verify(sig, message, _PSS, hashes.SHA256())
    except InvalidSignature:
        return False
    return True


class HeaderLookup(Protocol):
    """Case-insensitive header access (Werkzeug ``Headers``, or a plain dict with exact names)."""

    def get(self, key: str, /) -> str | None: ...


class AuthError(Exception):
    """Authentication failed; the message says why (never echoes the signature)."""


def load_public_key(path: Path) -> PublicKey:
    data = path.read_bytes()
    try:
        key = serialization.load_pem_public_key(data)
    except ValueError:
        try:  # a private key file also carries its public half
            key = serialization.load_pem_private_key(data, password=None).public_key()
        except (ValueError, TypeError) as exc:
            raise ValueError(f"{path}: not a PEM RSA or Ed25519 public or private key") from exc
    if not isinstance(key, (rsa.RSAPublicKey, ed25519.Ed25519PublicKey)):
        raise ValueError(f"{path}: not an RSA or Ed25519 key")
    if isinstance(key, rsa.RSAPublicKey) and key.key_size < 2048:
        raise ValueError(f"{path}: RSA key of {key.key_size} bits; Kalshi keys have at least 2048")
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
        self._keys: dict[str, tuple[PublicKey, str]] = {}
        self.max_skew_s = max_skew_s
        self._wall = wall_clock

    def register(self, key_id: str, public_key: PublicKey, user_id: str) -> None:
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
