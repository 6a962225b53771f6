"""The configuration tree's leaves and the rules the loader checks over them.

:func:`leaves` addresses every value of :class:`~kalshid.config.schema.Config` as ``section.key``;
:func:`range_problems` checks one value against its field's bounds, :func:`cross_field_problems` the
rules that read several values. Both report problems and never raise: the loader collects every
problem at once.
"""

from decimal import Decimal
from typing import Any

import attrs

from kalshid.config.schema import KNOWN_STRATEGIES, Config

STRONG_TOKEN_CHARS = 32
STRONG_TOKEN_DISTINCT = 10


def is_loopback(host: str) -> bool:
    """``localhost``, any address in ``127.0.0.0/8``, or ``::1`` (also in brackets)."""
    import ipaddress

    name = host.strip("[]")
    if name == "localhost":
        return True
    try:
        return ipaddress.ip_address(name).is_loopback
    except ValueError:
        return False


def weak_token(token: str) -> str | None:
    """Why ``token`` is too weak for an API reachable off loopback, or None when it is strong enough."""
    if len(token) < STRONG_TOKEN_CHARS or len(set(token)) < STRONG_TOKEN_DISTINCT:
        return (f"too weak: use at least {STRONG_TOKEN_CHARS} random characters, e.g. the output of "
                "python3 -c 'import secrets; print(secrets.token_urlsafe(32))'")
    return None


@attrs.frozen
class Leaf:
    """One configurable value: its dotted key, the attribute path, its type and field metadata."""

    key: str
    attr_path: tuple[str, ...]
    type: Any
    default: Any
    metadata: Any

    @property
    def is_money(self) -> bool:
        return self.attr_path[-1].endswith("_cc")

    @property
    def secret(self) -> str | None:
        s = self.metadata.get("secret")
        return s if isinstance(s, str) else None


def leaves(cls: type = Config, prefix: tuple[str, ...] = ()) -> list[Leaf]:
    """Every configurable leaf of ``cls``, in declaration order."""
    out: list[Leaf] = []
    for a in attrs.fields(cls):
        path = (*prefix, a.name)
        if attrs.has(a.type):
            out.extend(leaves(a.type, path))
            continue
        key_parts = (*prefix, a.name.removesuffix("_cc"))
        out.append(Leaf(".".join(key_parts), path, a.type, a.default, a.metadata))
    return out


def range_problems(leaf: Leaf, value: Any) -> str | None:
    """The bound ``value`` breaks, in words, or None. Numbers have bounds; a ``nonempty`` string must
    hold more than blanks."""
    if isinstance(value, str):
        return f"must not be empty: expected {leaf.metadata['expect']}" \
            if leaf.metadata.get("nonempty") and not value.strip() else None
    if not isinstance(value, int | float | Decimal) or isinstance(value, bool):
        return None
    m = leaf.metadata
    ok = (
        ("gt" not in m or value > m["gt"])
        and ("ge" not in m or value >= m["ge"])
        and ("lt" not in m or value < m["lt"])
        and ("le" not in m or value <= m["le"])
    )
    return None if ok else f"expected {m['expect']}"


def cross_field_problems(cfg: Config) -> list[tuple[str, str, tuple[str, ...]]]:
    """Rules that involve more than one value: ``(key, message, every key the rule reads)``."""
    out: list[tuple[str, str, tuple[str, ...]]] = []
    mr = cfg.strategies.mean_reversion
    z = "strategies.mean_reversion.zscore_threshold_"
    ex = cfg.exchange
    if ex.spot_url and not ex.spot_url.startswith(("ws://", "wss://")):
        out.append(("exchange.spot_url", f"expected a ws:// or wss:// URL, got {ex.spot_url!r}",
                    ("exchange.spot_url",)))
    if not mr.zscore_threshold_medium <= mr.zscore_threshold_high:
        out.append((
            z + "medium",
            f"contradictory thresholds: expected medium <= high, "
            f"got medium={mr.zscore_threshold_medium}, high={mr.zscore_threshold_high}",
            (z + "medium", z + "high"),
        ))
    if cfg.sim.host.strip() and (not is_loopback(cfg.sim.host) or cfg.sim.host.startswith("[")):
        out.append(("sim.host", f"the simulator binds to loopback only; {cfg.sim.host!r} is not a loopback "
                                "address", ("sim.host",)))
    es = "trading.enabled_strategies"
    if not cfg.trading.enabled_strategies:
        out.append((es, f"expected at least one of {', '.join(KNOWN_STRATEGIES)}", (es,)))
    seen: set[str] = set()
    for name in cfg.trading.enabled_strategies:
        if name not in KNOWN_STRATEGIES:
            expected = ", ".join(KNOWN_STRATEGIES)
            out.append((es, f"unknown strategy {name!r}: expected one of {expected}", (es,)))
        elif name in seen:
            out.append((es, f"strategy {name!r} is listed twice", (es,)))
        seen.add(name)
    if not is_loopback(cfg.api.host) and not (cfg.api.token or cfg.api.token_file):
        out.append(("api.host", f"the API listens on {cfg.api.host!r}, off loopback: set api.token or "
                                "api.token_file so it is not open to the network",
                    ("api.host", "api.token", "api.token_file")))
    elif not is_loopback(cfg.api.host) and cfg.api.token and (why := weak_token(cfg.api.token)):
        out.append(("api.token", f"the API listens on {cfg.api.host!r}, off loopback, and its token is {why}",
                    ("api.host", "api.token")))
    return out
