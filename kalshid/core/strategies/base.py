"""The strategy interface, its inputs, and strict parameter parsing.

A strategy is a small stateful object with a synchronous, deterministic ``analyze`` that never does
I/O and never reads a clock (``market.now`` is the time). It keeps whatever history it needs itself,
bounded by age, so the caller may pass only what is new since the last call (or the same history
again: already-seen points are skipped by timestamp).

Parameters are frozen attrs classes. :func:`params_from_mapping` builds them from a plain
``Mapping[str, object]`` (the config file's section) and rejects unknown keys, booleans, wrong types
and out-of-range values with a :class:`ParamError` that names the key.
"""

from __future__ import annotations

import abc
import math
from collections.abc import Mapping, Sequence
from typing import Any, ClassVar, Self, TypeVar

import attrs

from kalshid.core.signals import BookTop, IndexPrint, MarketView, PricePoint, Signal


class ParamError(ValueError):
    """A strategy parameter is unknown, of the wrong type, or out of range."""


@attrs.frozen
class PriceHistory:
    """Recent history handed to ``analyze``; each strategy reads the part it needs.

    ``index``: SOLUSD_RTI prints in time order (``KellyVolatility`` folds them into its EWMA).
    ``yes``: YES probabilities over time, e.g. book mids or trade prices (``MeanReversion``; it also
    samples the book mid itself on every call, so ``yes`` may be empty).
    """

    index: Sequence[IndexPrint] = ()
    yes: Sequence[PricePoint] = ()


def number_in(lo: float, hi: float, *, lo_open: bool = False, hi_open: bool = False) -> Any:
    """An attrs validator: a finite number in the interval, else :class:`ParamError` naming the field."""

    def check(_inst: object, attr: attrs.Attribute[float], value: float) -> None:
        ok = isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)
        ok = ok and (value > lo if lo_open else value >= lo) and (value < hi if hi_open else value <= hi)
        if not ok:
            interval = f"{'(' if lo_open else '['}{lo}, {hi}{')' if hi_open else ']'}"
            raise ParamError(f"parameter {attr.name} must be a number in {interval}, got {value!r}")

    return check


def whole_in(lo: int, hi: int, *, lo_open: bool = False, unit: str = "") -> Any:
    """An attrs validator: an ``int`` in the interval, else :class:`ParamError` naming the field.

    ``unit`` names what is counted (``"seconds"``: "must be whole seconds in ..."). A float is refused
    even when integral (``300.0``), as the configuration file refuses it: a whole-number parameter
    takes an int, and JSON can say 300."""

    what = f"whole {unit}" if unit else "a whole number"

    def check(_inst: object, attr: attrs.Attribute[int], value: int) -> None:
        ok = isinstance(value, int) and not isinstance(value, bool)
        ok = ok and (value > lo if lo_open else value >= lo) and value <= hi
        if not ok:
            interval = f"{'(' if lo_open else '['}{lo}, {hi}]"
            raise ParamError(f"parameter {attr.name} must be {what} in {interval}, got {value!r}")

    return check


P = TypeVar("P")


def params_from_mapping(cls: type[P], mapping: Mapping[str, object], base: P | None = None) -> P:
    """Build ``cls`` (a frozen attrs params class) from ``mapping``, on top of ``base`` or the defaults.

    Ints are accepted where floats are expected; booleans are accepted for neither. An int parameter
    gets the value as given, and its validator (e.g. :func:`whole_in`) refuses a float, even an
    integral one, with the same message as when the class is built directly.
    """
    fields = attrs.fields_dict(cls)  # type: ignore[arg-type]
    unknown = sorted(set(mapping) - set(fields))
    if unknown:
        raise ParamError(f"unknown parameter(s) {', '.join(unknown)} for {cls.__name__}; "
                         f"known: {', '.join(sorted(fields))}")
    start = base if base is not None else cls()
    whole = {key for key in mapping if type(getattr(start, key)) is int}
    values: dict[str, object] = {}
    for key, raw in mapping.items():
        if isinstance(raw, bool) or not isinstance(raw, int | float):
            raise ParamError(f"parameter {key} must be a number, got {raw!r}")
        values[key] = raw if key in whole else float(raw)
    try:
        built = attrs.evolve(start, **values)  # type: ignore[misc]
    except (TypeError, ValueError) as exc:
        if isinstance(exc, ParamError):
            raise
        raise ParamError(f"{cls.__name__}: {exc}") from exc
    for key in whole:  # the validator refused a float already; this is for an int parameter without one
        if not isinstance(values[key], int):
            raise ParamError(f"parameter {key} must be a whole number, got {values[key]!r}")
    return built


class BaseStrategy(abc.ABC):
    """A trading strategy. Subclasses set ``name`` and ``params_class`` and implement ``analyze``."""

    name: ClassVar[str]
    params_class: ClassVar[type[Any]]
    # the modelled P(YES) after the last analyze, for a strategy that models one (it sets its own);
    # None for the others (a class default, so that reading it never misses)
    last_fair_yes: float | None = None

    def __init__(self, params: Any = None) -> None:
        self.params = params if params is not None else self.params_class()
        if not isinstance(self.params, self.params_class):
            raise ParamError(f"{self.name}: params must be {self.params_class.__name__}, "
                             f"got {type(self.params).__name__}")

    @property
    def min_edge(self) -> float:
        """The net edge per contract below which the strategy does not buy: its ``min_edge`` parameter,
        0 for a strategy without one. The decision rule applies it to the rest of a target position."""
        value = getattr(self.params, "min_edge", 0.0)
        return float(value) if isinstance(value, int | float) else 0.0

    @classmethod
    def from_mapping(cls, mapping: Mapping[str, object]) -> Self:
        return cls(params_from_mapping(cls.params_class, mapping))

    def with_params(self, changes: Mapping[str, object] | None = None, **kw: object) -> Self:
        """A new strategy with some parameters changed, keeping this one's accumulated state."""
        merged = {**(changes or {}), **kw}
        new = type(self)(params_from_mapping(self.params_class, merged, base=self.params))
        new._adopt_state(self)
        return new

    @abc.abstractmethod
    def analyze(self, market: MarketView, current_price: IndexPrint | None, price_history: PriceHistory,
                orderbook: BookTop | None) -> Signal | None:
        """Fold in new data and return a signal, or ``None`` when there is nothing worth doing."""

    @abc.abstractmethod
    def _adopt_state(self, old: Self) -> None:
        """Take over ``old``'s accumulated state (history, EWMA) after a parameter change."""

    @abc.abstractmethod
    def statistics(self) -> Mapping[str, object]:
        """Current state for logs and the control API."""
