"""Bearer-token checks and CORS decisions for the control API (pure)."""

from __future__ import annotations

import hmac
from collections.abc import Collection


def token_ok(candidate: object, token: str) -> bool:
    """Constant-time comparison of a presented token with the real one; non-strings never match."""
    if not isinstance(candidate, str) or not candidate:
        return False
    return hmac.compare_digest(candidate.encode("utf-8", "surrogateescape"), token.encode("utf-8"))


def bearer_ok(authorization: str | None, token: str) -> bool:
    """True if an ``Authorization`` header value is ``Bearer <token>`` (scheme case-insensitive)."""
    if not authorization:
        return False
    scheme, _, presented = authorization.strip().partition(" ")
    return scheme.lower() == "bearer" and token_ok(presented.strip(), token)


def allowed_origin(origin: str | None, allow_list: Collection[str]) -> str | None:
    """The origin to echo in ``Access-Control-Allow-Origin``, or None (exact match only, no wildcard)."""
    if origin is not None and origin in allow_list:
        return origin
    return None
