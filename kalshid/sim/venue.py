"""The running simulator's shared state: engine, clock, keys, rate limits, index, fan-out hub.

One object that the REST and WebSocket handlers and the background tasks share. Only the Trio
thread touches it, so handlers call the engine and then :meth:`Venue.publish` without locks.
"""

from __future__ import annotations

import attrs

from kalshid.sim.authn import KeyRegistry
from kalshid.sim.clock import SimClock
from kalshid.sim.engine import Exchange
from kalshid.sim.faults import FaultInjector
from kalshid.sim.hub import Hub
from kalshid.sim.index import IndexSource
from kalshid.sim.ratelimit import RateLimiter


@attrs.define
class Venue:
    exchange: Exchange
    clock: SimClock
    keys: KeyRegistry
    limiter: RateLimiter
    hub: Hub
    index: IndexSource
    faults: FaultInjector | None = None
    listing_delay_s: float = 0.0  # GET /markets lists a market this long after it opens

    def now(self) -> float:
        return self.clock.now()

    def publish(self) -> None:
        """Fan out everything the engine emitted since the last call."""
        self.hub.publish_all(self.exchange.drain_events())
