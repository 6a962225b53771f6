"""The narrow seam between the trading pipeline and its control surfaces.

The REST/WebSocket API (`kalshid.server`) and the local control socket (`kalshid.control.server`) never
touch the pipeline's internals: they call a `DaemonControl`, an object the pipeline implements, and they
receive events from a `kalshid.control.broadcaster.Broadcaster` the pipeline publishes into.

Contract for implementers
-------------------------
* Every method is ``async`` (queries may read the SQLite journal through a thread).
* Every return value is plain JSON-able data (dict/list/str/int/float/bool/None). Money goes out as
  strings of dollars (``format_dollars``) or integer centi-cents with a ``_cc`` suffix, never floats.
* Bad input that only the pipeline can judge (an unknown strategy name, an out-of-range parameter, a
  cursor it did not issue) raises `ControlError(field, message)`; the API turns it into a 4xx naming the
  field. Any other exception is a bug and surfaces as a 500 with no details leaked.
* Commands are idempotent where that makes sense (``start`` on a running daemon returns its status).
* ``status()`` returns at least the keys in `STATUS_KEYS`; tools (``kalshid ctl status``) rely on them.

Paginated queries take an opaque ``cursor`` the pipeline issued earlier (or None for the first page) and
return a `Page`-shaped dict: ``{"items": [...], "cursor": "<next>" | None}``.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any, Final, Literal, Protocol, runtime_checkable

import attrs

from kalshid.store.views import STATUS_STATES

JSON = dict[str, Any]
"""A JSON object as produced by the pipeline (already JSON-able)."""

STATES: Final = ("running", "stopped", "stop_entry", "halted")
MODES: Final = ("sim", "dry", "live")
STATUS_KEYS: Final = (
    "state",  # one of STATES
    "mode",  # one of MODES
    "uptime_s",  # seconds since the daemon started
    "exchange",  # {"connected": bool, ...}
    "market",  # current market ticker or None
    "equity",  # dollars as a string, e.g. "1234.5600"
    "breaker",  # {"tripped": bool, "reason": str | None}
)

PnlGroup = Literal["day", "strategy", "window"]
PNL_GROUPS: Final[tuple[PnlGroup, ...]] = ("day", "strategy", "window")

ORDER_STATUSES: Final = tuple(STATUS_STATES)  # resting, in_flight, executed, canceled, rejected

MAX_PAGE_LIMIT: Final = 1000
DEFAULT_PAGE_LIMIT: Final = 100


class ControlError(Exception):
    """A request the pipeline refuses, naming what was wrong.

    ``field`` is the name of the offending argument (``"name"``, ``"params.edge_min"``, ``"cursor"``) or
    None when the request as a whole is refused (e.g. ``start`` while the breaker is tripped).
    ``code`` is machine-readable: ``invalid`` (HTTP 422), ``not_found`` (404) or ``conflict`` (409).
    """

    CODES: Final = ("invalid", "not_found", "conflict")

    def __init__(self, field: str | None, message: str, *, code: str = "invalid") -> None:
        if code not in self.CODES:
            raise ValueError(f"ControlError code must be one of {self.CODES}, got {code!r}")
        super().__init__(message)
        self.field = field
        self.message = message
        self.code = code

    def to_json(self) -> JSON:
        out: JSON = {"code": self.code, "message": self.message}
        if self.field is not None:
            out["field"] = self.field
        return out


@attrs.frozen
class TradeQuery:
    """Filter and page for `DaemonControl.trades`. Times are aware UTC datetimes; bounds are inclusive."""

    ticker: str | None = None
    strategy: str | None = None
    since: datetime | None = None
    until: datetime | None = None
    cursor: str | None = None
    limit: int = DEFAULT_PAGE_LIMIT


@attrs.frozen
class OrderQuery:
    """Filter and page for `DaemonControl.orders`; ``status`` is one of `ORDER_STATUSES` or None."""

    status: str | None = None
    ticker: str | None = None
    cursor: str | None = None
    limit: int = DEFAULT_PAGE_LIMIT


@runtime_checkable
class DaemonControl(Protocol):
    """What the control surfaces may ask of, and tell, the running daemon.

    Queries return JSON-able data; commands change state and return a JSON-able result (usually the new
    status). See the module docstring for the error contract.
    """

    # -- queries ---------------------------------------------------------------------------------
    async def status(self) -> JSON:
        """State, mode, uptime, exchange connectivity, current market, equity, breaker (`STATUS_KEYS`)."""
        ...

    async def positions(self) -> list[JSON]:
        """Open positions: ticker, side, count, average price, unrealized P&L."""
        ...

    async def orders(self, query: OrderQuery) -> JSON:
        """A page of orders, newest first: ``{"items": [...], "cursor": str | None}``."""
        ...

    async def trades(self, query: TradeQuery) -> JSON:
        """A page of fills, newest first: ``{"items": [...], "cursor": str | None}``."""
        ...

    async def pnl(self, group_by: PnlGroup) -> list[JSON]:
        """Realized/unrealized P&L and fees grouped by day (UTC), strategy or 15-minute window."""
        ...

    async def markets(self) -> JSON:
        """Current and next window: ticker, times, top of book, index, fair value, edge."""
        ...

    async def risk(self) -> JSON:
        """Limits, current usage and circuit-breaker state."""
        ...

    async def strategies(self) -> list[JSON]:
        """Each strategy: name, enabled, params."""
        ...

    async def config_redacted(self) -> JSON:
        """The effective configuration with secrets replaced by ``"***"``."""
        ...

    # -- commands --------------------------------------------------------------------------------
    async def start(self) -> JSON:
        """Resume trading (entries and exits). Refused with ``conflict`` while the breaker is tripped."""
        ...

    async def stop(self) -> JSON:
        """Stop trading: cancel resting orders, place nothing new."""
        ...

    async def stop_entry(self) -> JSON:
        """No new entries; exits and resting-order management continue."""
        ...

    async def cancel_all(self) -> JSON:
        """The kill switch: cancel every resting order of the account at once (the exchange's
        cancel-all) and place no order for the next minute; trading then resumes unless stopped."""
        ...

    async def reset_breaker(self) -> JSON:
        """Clear a tripped circuit breaker (trading stays stopped until ``start``)."""
        ...

    async def enable_strategy(self, name: str) -> JSON:
        """Enable a strategy; unknown name → ``ControlError("name", ..., code="not_found")``."""
        ...

    async def disable_strategy(self, name: str) -> JSON:
        """Disable a strategy; unknown name → ``ControlError("name", ..., code="not_found")``."""
        ...

    async def set_strategy_params(self, name: str, params: Mapping[str, Any]) -> JSON:
        """Validate and apply parameters atomically; returns the strategy's new params.

        Raises ``ControlError("params.<key>", ...)`` for an unknown key or a bad value, applying nothing.
        """
        ...

    async def reload(self) -> JSON:
        """Re-read the configuration file (as SIGHUP does); refuses with ``invalid`` if it is bad."""
        ...
