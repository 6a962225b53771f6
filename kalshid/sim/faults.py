"""Seeded fault injection for the exchange simulator (``--faults name=value,...``).

:func:`parse_faults` turns the command-line string into a :class:`FaultSpec`;
:class:`FaultInjector` makes the per-request / per-message decisions from one seeded
``random.Random`` and records every injected fault in ``events`` (bounded) and ``counts``
(totals), so tests can assert exactly what happened. It is pure: no clock reads, no I/O; the
server shell passes ``now`` in and does the dropping, delaying and erroring.

Faults:

``ws_drop_every=SECONDS``   close each WebSocket connection once every SECONDS of its life
``seq_gap_rate=P``          skip a ``seq`` number on this fraction of seq'd WS messages
``latency_ms=MS``           delay every outgoing message / response by MS milliseconds
``http_5xx_rate=P``         answer this fraction of requests with 500 or 503 (half each)
``http_429_rate=P``         answer this fraction of requests with 429 (rate limited)
``lost_response_rate=P``    perform the request but never deliver its response
``repeat_private_rate=P``   send this fraction of ``fill`` and ``user_order`` messages again, after the
                            next private message on the connection: a fill seen twice, an order's older
                            state arriving after its newer one
"""

from __future__ import annotations

import math
import random
from collections import deque
from collections.abc import Callable, Hashable
from typing import Literal

import attrs

HttpFault = Literal["500", "503", "429", "lost"]

_RATE_NAMES = ("seq_gap_rate", "http_5xx_rate", "http_429_rate", "lost_response_rate", "repeat_private_rate")
_KNOWN = ("ws_drop_every", "latency_ms", *_RATE_NAMES)
MAX_EVENTS = 10_000


@attrs.frozen
class FaultSpec:
    """Which faults to inject and how often. The default is no faults at all."""

    ws_drop_every: float | None = None
    seq_gap_rate: float = 0.0
    latency_ms: float = 0.0
    http_5xx_rate: float = 0.0
    http_429_rate: float = 0.0
    lost_response_rate: float = 0.0
    repeat_private_rate: float = 0.0

    @property
    def any(self) -> bool:
        return self != FaultSpec()

    def to_spec_string(self) -> str:
        """The ``--faults`` string that parses back to this spec (only non-default pairs)."""
        pairs = [f"{f.name}={getattr(self, f.name):g}" for f in attrs.fields(FaultSpec)
                 if getattr(self, f.name) != f.default]
        return ",".join(pairs)


def parse_faults(spec: str) -> FaultSpec:
    """Parse ``name=value`` pairs separated by commas; the empty string means no faults.

    Raises ``ValueError`` naming the offending pair for: a pair without ``=``, an unknown name,
    a value that is not a finite number, a rate outside [0, 1], a non-positive ``ws_drop_every``,
    a negative ``latency_ms``, a name given twice, or HTTP rates (5xx + 429 + lost) summing over 1.
    """
    values: dict[str, float] = {}
    if not spec.strip():
        return FaultSpec()
    for raw in spec.split(","):
        pair = raw.strip()
        if not pair:
            raise ValueError(f"--faults {spec!r}: empty pair (stray comma?)")
        name, sep, text = pair.partition("=")
        name, text = name.strip(), text.strip()
        if not sep:
            raise ValueError(f"--faults pair {pair!r}: expected name=value")
        if name not in _KNOWN:
            raise ValueError(f"--faults pair {pair!r}: unknown fault {name!r}; known: {', '.join(_KNOWN)}")
        if name in values:
            raise ValueError(f"--faults pair {pair!r}: {name} given more than once")
        try:
            value = float(text)
        except ValueError:
            raise ValueError(f"--faults pair {pair!r}: {text!r} is not a number") from None
        if not math.isfinite(value):
            raise ValueError(f"--faults pair {pair!r}: {text!r} is not a finite number")
        if name in _RATE_NAMES and not 0.0 <= value <= 1.0:
            raise ValueError(f"--faults pair {pair!r}: {name} is a fraction and must be in [0, 1]")
        if name == "ws_drop_every" and value <= 0:
            raise ValueError(f"--faults pair {pair!r}: ws_drop_every must be a positive number of seconds")
        if name == "latency_ms" and value < 0:
            raise ValueError(f"--faults pair {pair!r}: latency_ms must not be negative")
        values[name] = value
    http_total = sum(values.get(n, 0.0) for n in ("http_5xx_rate", "http_429_rate", "lost_response_rate"))
    if http_total > 1.0 + 1e-12:
        raise ValueError(f"--faults {spec!r}: http_5xx_rate + http_429_rate + lost_response_rate = "
                         f"{http_total:g} > 1 (each request gets at most one fault)")
    return FaultSpec(**values)


@attrs.frozen
class FaultEvent:
    """One injected fault: ``kind`` (a key of ``FaultInjector.counts``), free-text detail, and
    the time the shell passed in (``None`` when it passed none)."""

    kind: str
    detail: str
    at: float | None


class FaultInjector:
    """Decides, from a seeded generator, which requests and messages get which fault.

    Kinds recorded: ``http_500``, ``http_503``, ``http_429``, ``lost_response``, ``seq_gap``,
    ``ws_drop``, ``repeat_private``. ``events`` keeps the latest ``MAX_EVENTS`` (a bounded deque, so a
    long run does not grow memory); ``counts`` keeps totals. ``on_event`` (optional) is called with each event,
    e.g. so the shell can log it. Decisions depend only on the seed and the call sequence.
    """

    def __init__(self, spec: FaultSpec, seed: int,
                 on_event: Callable[[FaultEvent], None] | None = None) -> None:
        self.spec = spec
        self._rng = random.Random(seed)
        self._on_event = on_event
        self.events: deque[FaultEvent] = deque(maxlen=MAX_EVENTS)
        self.counts: dict[str, int] = {}
        self._conn_since: dict[Hashable, float] = {}

    @property
    def latency_s(self) -> float:
        """The delay to apply to every outgoing message and response, in seconds."""
        return self.spec.latency_ms / 1000.0

    def http_fault(self, *, now: float | None = None, detail: str = "") -> HttpFault | None:
        """Decide one HTTP request's fate: ``"500"``/``"503"``/``"429"`` (answer with that status
        instead of handling it), ``"lost"`` (handle it, then never send the response) or ``None``."""
        s = self.spec
        u = self._rng.random()
        if u < s.http_5xx_rate:
            status: HttpFault = "500" if self._rng.random() < 0.5 else "503"
            self._record(f"http_{status}", detail, now)
            return status
        u -= s.http_5xx_rate
        if u < s.http_429_rate:
            self._record("http_429", detail, now)
            return "429"
        u -= s.http_429_rate
        if u < s.lost_response_rate:
            self._record("lost_response", detail, now)
            return "lost"
        return None

    def skip_seq(self, *, now: float | None = None, detail: str = "") -> bool:
        """For one outgoing seq'd WS message: True means bump ``seq`` by one extra (a gap)."""
        if self.spec.seq_gap_rate > 0 and self._rng.random() < self.spec.seq_gap_rate:
            self._record("seq_gap", detail, now)
            return True
        return False

    def repeat_private(self, *, now: float | None = None, detail: str = "") -> bool:
        """For one outgoing ``fill`` or ``user_order`` message: True means send it again later."""
        if self.spec.repeat_private_rate > 0 and self._rng.random() < self.spec.repeat_private_rate:
            self._record("repeat_private", detail, now)
            return True
        return False

    def ws_drop_due(self, now_s: float, conn_id: Hashable = 0) -> bool:
        """True once every ``ws_drop_every`` seconds per connection, counted from the first call
        for ``conn_id``; the shell should then close that connection. Call :meth:`forget` when a
        connection ends so the table stays bounded."""
        every = self.spec.ws_drop_every
        if every is None:
            return False
        since = self._conn_since.setdefault(conn_id, now_s)
        if now_s - since >= every:
            self._conn_since[conn_id] = now_s
            self._record("ws_drop", f"conn={conn_id}", now_s)
            return True
        return False

    def forget(self, conn_id: Hashable) -> None:
        """Drop the drop-timer of a closed connection."""
        self._conn_since.pop(conn_id, None)

    def _record(self, kind: str, detail: str, at: float | None) -> None:
        event = FaultEvent(kind=kind, detail=detail, at=at)
        self.events.append(event)
        self.counts[kind] = self.counts.get(kind, 0) + 1
        if self._on_event is not None:
            self._on_event(event)
