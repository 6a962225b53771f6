"""Kalshi's base URLs. The simulator's are passed in explicitly by config."""

from __future__ import annotations

from urllib.parse import urlsplit

import attrs

REST_PATH = "/trade-api/v2"
WS_PATH = "/trade-api/ws/v2"


@attrs.frozen
class Endpoints:
    """Where to reach one Kalshi environment: the REST base (ending in ``/trade-api/v2``) and the
    WebSocket URL (ending in ``/trade-api/ws/v2``). The signed paths are these URLs' paths."""

    rest_base: str = attrs.field()
    ws_url: str = attrs.field()

    @rest_base.validator
    def _check_rest(self, _a: attrs.Attribute[str], value: str) -> None:
        parts = urlsplit(value)
        if parts.scheme not in ("http", "https") or not parts.netloc:
            raise ValueError(f"rest_base must be an http(s) URL, got {value!r}")
        if parts.query or parts.fragment:
            raise ValueError(f"rest_base must not carry a query or fragment: {value!r}")

    @ws_url.validator
    def _check_ws(self, _a: attrs.Attribute[str], value: str) -> None:
        parts = urlsplit(value)
        if parts.scheme not in ("ws", "wss") or not parts.netloc:
            raise ValueError(f"ws_url must be a ws(s) URL, got {value!r}")


PROD = Endpoints("https://external-api.kalshi.com/trade-api/v2", "wss://external-api-ws.kalshi.com/trade-api/ws/v2")
DEMO = Endpoints("https://external-api.demo.kalshi.co/trade-api/v2",
                 "wss://external-api-ws.demo.kalshi.co/trade-api/ws/v2")

ENVIRONMENTS = {"prod": PROD, "demo": DEMO}


def endpoints(environment: str) -> Endpoints:
    """The endpoints of ``prod`` or ``demo``; anything else is a ``ValueError`` naming the choices."""
    try:
        return ENVIRONMENTS[environment]
    except KeyError:
        raise ValueError(f"unknown Kalshi environment {environment!r}; expected one of "
                         f"{sorted(ENVIRONMENTS)} or explicit URLs") from None


def local(host: str, port: int, *, tls: bool = False) -> Endpoints:
    """Endpoints of a Kalshi-compatible server (the simulator) at ``host:port``."""
    s = "s" if tls else ""
    return Endpoints(f"http{s}://{host}:{port}{REST_PATH}", f"ws{s}://{host}:{port}{WS_PATH}")
