"""Strategy names → classes, construction from config mappings, and the runtime set of strategies.

:func:`build_strategy` is strict: unknown strategy names and unknown or bad parameters raise
:class:`ParamError` naming them. :meth:`StrategyRegistry.from_config` also accepts one *flat* mapping
of keys shared by all strategies (the config helper's ``min_edge``, ``vol_half_life_seconds``, …): each key is
given to every enabled strategy that has it, and a key no enabled strategy knows is an error.

:class:`StrategyRegistry` is the mutable runtime collection: ``enable``/``disable`` by name and
``with_params`` (replace a strategy by one with changed parameters, keeping its state).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

import attrs

from kalshid.core.strategies.base import BaseStrategy, ParamError
from kalshid.core.strategies.kelly_volatility import KellyVolatility
from kalshid.core.strategies.mean_reversion import MeanReversion

STRATEGY_CLASSES: Mapping[str, type[BaseStrategy]] = {
    KellyVolatility.name: KellyVolatility,
    MeanReversion.name: MeanReversion,
}


def strategy_class(name: str) -> type[BaseStrategy]:
    try:
        return STRATEGY_CLASSES[name]
    except KeyError:
        raise ParamError(f"unknown strategy {name!r}; known: {', '.join(sorted(STRATEGY_CLASSES))}") from None


def build_strategy(name: str, params: Mapping[str, object] | None = None) -> BaseStrategy:
    """A new strategy ``name`` with ``params`` over its defaults (strict keys)."""
    return strategy_class(name).from_mapping(params or {})


def parameter_names(name: str) -> frozenset[str]:
    return frozenset(attrs.fields_dict(strategy_class(name).params_class))


class StrategyRegistry:
    """The strategies the daemon runs, by name, each enabled or not."""

    def __init__(self, strategies: Iterable[BaseStrategy], *, enabled: Iterable[str] | None = None) -> None:
        self._strategies: dict[str, BaseStrategy] = {}
        for s in strategies:
            if s.name in self._strategies:
                raise ParamError(f"strategy {s.name!r} given twice")
            self._strategies[s.name] = s
        names = set(self._strategies) if enabled is None else set(enabled)
        for n in names:
            self._require(n)
        self._enabled = names
        self._active: list[BaseStrategy] | None = None

    @classmethod
    def from_config(cls, enabled: Iterable[str], params: Mapping[str, object]) -> StrategyRegistry:
        """Build every known strategy; enable those named. ``params`` is either flat (shared keys)
        or nested by strategy name (``{"mean_reversion": {...}}``), not a mix."""
        enabled = list(enabled)
        for n in enabled:
            strategy_class(n)
        nested = any(k in STRATEGY_CLASSES for k in params)
        per: dict[str, dict[str, object]] = {n: {} for n in STRATEGY_CLASSES}
        if nested:
            for key, sub in params.items():
                strategy_class(key)
                if not isinstance(sub, Mapping):
                    raise ParamError(f"parameters for strategy {key!r} must be a mapping, got {sub!r}")
                per[key] = dict(sub)
        else:
            targets = [n for n in STRATEGY_CLASSES if n in enabled] or list(STRATEGY_CLASSES)
            for key, value in params.items():
                owners = [n for n in targets if key in parameter_names(n)]
                if not owners:
                    accepted = sorted(set().union(*(parameter_names(n) for n in targets)))
                    raise ParamError(f"unknown strategy parameter {key!r}; enabled strategies accept: "
                                     f"{', '.join(accepted)}")
                for n in owners:
                    per[n][key] = value
        return cls([build_strategy(n, per[n]) for n in STRATEGY_CLASSES], enabled=enabled)

    def _require(self, name: str) -> BaseStrategy:
        try:
            return self._strategies[name]
        except KeyError:
            have = ", ".join(sorted(self._strategies))
            raise ParamError(f"no strategy {name!r} here; have: {have}") from None

    def get(self, name: str) -> BaseStrategy:
        return self._require(name)

    def enable(self, name: str) -> None:
        self._require(name)
        self._enabled.add(name)
        self._active = None

    def disable(self, name: str) -> None:
        self._require(name)
        self._enabled.discard(name)
        self._active = None

    def is_enabled(self, name: str) -> bool:
        self._require(name)
        return name in self._enabled

    def active(self) -> list[BaseStrategy]:
        """Enabled strategies, in registration order (deterministic)."""
        if self._active is None:  # asked on every evaluation; rebuilt after a change
            self._active = [s for n, s in self._strategies.items() if n in self._enabled]
        return self._active.copy()

    def names(self) -> list[str]:
        return list(self._strategies)

    def with_params(self, name: str, changes: Mapping[str, object]) -> BaseStrategy:
        """Replace strategy ``name`` by one with ``changes`` applied (validated first; on error nothing
        changes). Returns the new strategy."""
        new = self._require(name).with_params(changes)
        self._strategies[name] = new
        self._active = None
        return new

    def statistics(self) -> dict[str, Mapping[str, object]]:
        return {n: {**s.statistics(), "enabled": n in self._enabled} for n, s in self._strategies.items()}
