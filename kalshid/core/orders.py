"""Order bookkeeping: our live orders, their states, in-flight marks, seen fills, busy strategies.

:class:`LiveOrders` is what the execution stage knows about its orders, as a plain object: no I/O, no
clock (times are passed in as Trio seconds), no journal. The execution stage is its one writer; the
two narrow exceptions are made on the order path itself, in the same thread and before the next
await, so that no proposal is checked against a view that misses an order already decided:
:meth:`LiveOrders.claim` (the strategy stage, when it proposes) and :meth:`LiveOrders.reserve` /
:meth:`LiveOrders.release` (the risk stage, when it approves or rejects).

Each live order moves through :class:`OrderPhase`::

    INTENT ──► IN_FLIGHT ──► RESTING ──► PARTIALLY_FILLED ──► DONE
       │           │  ▲         │                ▲
       │           ▼  │         └────────────────┘
       │        UNKNOWN ───────────────────────────────────► DONE
       └────────────────────────────────────────────────────► DONE (dropped before sending)

An order whose request ended without an answer is ``UNKNOWN`` until it is resolved by its
``client_order_id`` (found: it takes the exchange's state; not found for long enough: it never
arrived, ``DONE``). It is never resent. If the exchange reports such a given-up order later after all
(its reads can lag), it is :meth:`LiveOrders.take_back` into the book as ``UNKNOWN`` and takes the
exchange's state from there. A ``DONE`` order leaves the book; if its answer reported
fills not yet booked, its strategy stays *busy* in that market until they are, so the strategy never
sizes a target against holdings that do not count them, and risk counts those contracts as resting at
the order's limit (:meth:`LiveOrders.resting_for_risk`), so no other order is checked against a
portfolio that lacks them.
"""

from __future__ import annotations

import enum
from collections import OrderedDict
from collections.abc import Iterator, Mapping

import attrs

from kalshid.core.risk import RestingOrder
from kalshid.core.vocab import Action, Side

# fill ids remembered as booked (a REST catch-up returns the last seconds' fills again); the journal's
# fill_id key stays the authority, this only spares it the repeated writes
SEEN_FILLS_REMEMBERED = 4096


class OrderPhase(enum.Enum):
    INTENT = "intent"                      # approved, not sent yet
    IN_FLIGHT = "in_flight"                # request under way, no answer yet
    UNKNOWN = "unknown"                    # request ended without an answer: resolve by client_order_id
    RESTING = "resting"                    # acknowledged and open, nothing filled
    PARTIALLY_FILLED = "partially_filled"  # acknowledged and open, partly filled
    DONE = "done"                          # executed, cancelled, rejected or never arrived


_NEXT: dict[OrderPhase, frozenset[OrderPhase]] = {
    OrderPhase.INTENT: frozenset({OrderPhase.IN_FLIGHT, OrderPhase.DONE}),
    OrderPhase.IN_FLIGHT: frozenset({OrderPhase.UNKNOWN, OrderPhase.RESTING, OrderPhase.PARTIALLY_FILLED,
                                     OrderPhase.DONE}),
    OrderPhase.UNKNOWN: frozenset({OrderPhase.RESTING, OrderPhase.PARTIALLY_FILLED, OrderPhase.DONE}),
    OrderPhase.RESTING: frozenset({OrderPhase.RESTING, OrderPhase.PARTIALLY_FILLED, OrderPhase.DONE}),
    OrderPhase.PARTIALLY_FILLED: frozenset({OrderPhase.PARTIALLY_FILLED, OrderPhase.DONE}),
    OrderPhase.DONE: frozenset(),
}
_UNANSWERED = frozenset({OrderPhase.INTENT, OrderPhase.IN_FLIGHT, OrderPhase.UNKNOWN})


class IllegalTransition(ValueError):
    """An order was asked to move to a phase it cannot reach from its own (a bookkeeping bug)."""


def can_move(src: OrderPhase, dst: OrderPhase) -> bool:
    return dst in _NEXT[src]


def _initial_phase(order: LiveOrder) -> OrderPhase:
    # an order built in flight (reconciliation, a test) has an outcome nobody knows yet
    if order.in_flight:
        return OrderPhase.UNKNOWN
    return OrderPhase.RESTING


@attrs.define
class LiveOrder:
    """One of our orders that is not finished. Changed only through :class:`LiveOrders`."""

    client_order_id: str
    strategy: str
    ticker: str
    side: Side
    action: Action
    price_cc: int
    remaining: int
    order_id: str | None = None
    in_flight: bool = False                # no answer from the exchange yet (INTENT, IN_FLIGHT, UNKNOWN)
    phase: OrderPhase = attrs.field(default=attrs.Factory(_initial_phase, takes_self=True))

    def as_resting(self) -> RestingOrder:
        return RestingOrder(self.ticker, self.side, self.action, self.remaining, self.price_cc)


@attrs.frozen
class OrderView:
    """A live order as the API shows it (immutable)."""

    client_order_id: str
    strategy: str
    ticker: str
    side: str
    action: str
    price_cc: int
    remaining: int
    order_id: str | None
    phase: str


@attrs.frozen
class OrdersSnapshot:
    """The book at one moment, for readers outside the execution stage."""

    orders: tuple[OrderView, ...] = ()
    paused_until: float = 0.0
    fills_seen: int = 0

    @property
    def open_count(self) -> int:
        return len(self.orders)

    @property
    def in_flight_count(self) -> int:
        return sum(1 for o in self.orders if o.phase in {p.value for p in _UNANSWERED})


class LiveOrders:
    """Our live orders by ``client_order_id`` and what depends on them (see the module docstring)."""

    def __init__(self) -> None:
        self._live: dict[str, LiveOrder] = {}
        self._unknown_since: dict[str, float] = {}
        self._seen_fills: OrderedDict[str, None] = OrderedDict()
        self._busy: set[tuple[str, str]] = set()
        # order_id -> (the finished order, contracts of it filled but not booked yet)
        self._unbooked: dict[str, tuple[LiveOrder, int]] = {}
        self._holdings: dict[tuple[str, str, str], int] = {}
        self.paused_until = 0.0  # Trio time: no order is placed before it (after a cancel-all)

    # --- reading ------------------------------------------------------------------------------
    def __len__(self) -> int:
        return len(self._live)

    def __iter__(self) -> Iterator[LiveOrder]:
        return iter(list(self._live.values()))

    def __contains__(self, client_order_id: object) -> bool:
        return client_order_id in self._live

    def get(self, client_order_id: str) -> LiveOrder | None:
        return self._live.get(client_order_id)

    def find(self, *, order_id: str | None = None, client_order_id: str | None = None) -> LiveOrder | None:
        """The live order with this ``client_order_id``, else with this exchange ``order_id``."""
        if client_order_id and client_order_id in self._live:
            return self._live[client_order_id]
        if order_id:
            for o in self._live.values():
                if o.order_id == order_id:
                    return o
        return None

    def resting_for_risk(self) -> list[RestingOrder]:
        """Every live order with contracts left, counted by risk as if resting (in flight included), and
        the contracts a finished order filled that are not booked yet, as if still resting at its limit:
        until they are in the portfolio, risk counts them there."""
        out = [o.as_resting() for o in self._live.values() if o.remaining > 0]
        for o, missing in self._unbooked.values():
            out.append(RestingOrder(o.ticker, o.side, o.action, missing, o.price_cc))
        return out

    def is_busy(self, strategy: str, ticker: str) -> bool:
        return (strategy, ticker) in self._busy

    def busy_in(self, ticker: str) -> set[str]:
        """Strategies with an intent working in ``ticker``."""
        return {name for (name, t) in self._busy if t == ticker}

    @property
    def holdings(self) -> Mapping[tuple[str, str, str], int]:
        """Contracts each strategy holds per ``(strategy, ticker, side)`` (booked fills only)."""
        return self._holdings

    def unknown(self) -> list[LiveOrder]:
        """Orders whose request ended without an answer, oldest first: to be looked up."""
        return [self._live[c] for c in sorted(self._unknown_since, key=self._unknown_since.__getitem__)
                if c in self._live]

    def unknown_since(self, client_order_id: str) -> float | None:
        return self._unknown_since.get(client_order_id)

    def paused(self, now: float) -> bool:
        return now < self.paused_until

    def snapshot(self) -> OrdersSnapshot:
        return OrdersSnapshot(
            orders=tuple(OrderView(o.client_order_id, o.strategy, o.ticker, o.side.value, o.action.value,
                                   o.price_cc, o.remaining, o.order_id, o.phase.value)
                         for o in self._live.values()),
            paused_until=self.paused_until, fills_seen=len(self._seen_fills))

    def statistics(self) -> dict[str, int]:
        return {"live": len(self._live), "unknown": len(self._unknown_since), "busy": len(self._busy),
                "unbooked": len(self._unbooked), "fills_remembered": len(self._seen_fills)}

    # --- the order path: strategy claims, risk reserves or releases ---------------------------------
    def claim(self, strategy: str, ticker: str) -> None:
        """``strategy`` proposed in ``ticker``: it is not asked again there until this intent ends."""
        self._busy.add((strategy, ticker))

    def reserve(self, order: LiveOrder) -> None:
        """Risk approved ``order``: it counts as ours (``INTENT``) before execution takes it."""
        order.phase, order.in_flight = OrderPhase.INTENT, True
        self._live[order.client_order_id] = order
        self._busy.add((order.strategy, order.ticker))

    def release(self, strategy: str, ticker: str) -> None:
        """Risk rejected the proposal: the strategy is free unless something else still holds it."""
        self._free(strategy, ticker)

    # --- execution's transitions --------------------------------------------------------------------
    def load(self, orders: Mapping[str, LiveOrder], holdings: Mapping[tuple[str, str, str], int]) -> None:
        """Start from a reconciliation's live orders and strategy holdings (replaces everything)."""
        self._live = dict(orders)
        self._unknown_since.clear()
        self._busy = {(o.strategy, o.ticker) for o in self._live.values()}
        self._unbooked.clear()
        self._holdings = dict(holdings)

    def adopt(self, order: LiveOrder) -> None:
        """An open exchange order this daemon did not place (``external``)."""
        self._live[order.client_order_id] = order

    def take_back(self, order: LiveOrder) -> None:
        """An order of ours given up as never sent that the exchange reports after all: back in the book
        as ``UNKNOWN`` (its strategy busy in its market again), to take the exchange's state with
        :meth:`answered`. An order already in the book stays as it is."""
        if order.client_order_id in self._live:
            return
        order.phase, order.in_flight = OrderPhase.UNKNOWN, True
        self._live[order.client_order_id] = order
        self._busy.add((order.strategy, order.ticker))

    def move(self, order: LiveOrder, phase: OrderPhase) -> None:
        """Move ``order`` to ``phase``; raises :class:`IllegalTransition` if it cannot go there."""
        if not can_move(order.phase, phase):
            raise IllegalTransition(f"order {order.client_order_id}: {order.phase.value} -> {phase.value}")
        order.phase = phase
        order.in_flight = phase in _UNANSWERED

    def sending(self, order: LiveOrder) -> None:
        """Its request is about to leave (the intent is journaled). Registers it if risk did not."""
        if order.client_order_id not in self._live:
            self.reserve(order)
        self.move(order, OrderPhase.IN_FLIGHT)

    def lost_answer(self, client_order_id: str, now: float) -> None:
        """The request ended without an answer (timeout, 5xx, transport): ``UNKNOWN`` since ``now``. An
        order the exchange has reported on meanwhile (the feed's update came first) is known: unchanged."""
        order = self._live.get(client_order_id)
        if order is None or order.phase not in _UNANSWERED:
            return
        if order.phase is not OrderPhase.UNKNOWN:
            self.move(order, OrderPhase.UNKNOWN)
        self._unknown_since.setdefault(client_order_id, now)

    def answered(self, order: LiveOrder, *, order_id: str, remaining: int, filled: int, is_open: bool) -> None:
        """The exchange's state of ``order``. Open: ``RESTING`` or ``PARTIALLY_FILLED``; not open:
        ``DONE`` (still in the book until :meth:`finish`). An order already ``DONE`` keeps its state
        (a late view of a finished order changes nothing)."""
        if order.phase is OrderPhase.DONE:
            return
        order.order_id = order_id
        order.remaining = remaining
        if not is_open:
            phase = OrderPhase.DONE
        elif filled > 0 or order.phase is OrderPhase.PARTIALLY_FILLED:
            phase = OrderPhase.PARTIALLY_FILLED
        else:
            phase = OrderPhase.RESTING
        if order.phase is OrderPhase.INTENT:
            self.move(order, OrderPhase.IN_FLIGHT)
        self.move(order, phase)
        self._unknown_since.pop(order.client_order_id, None)

    def finish(self, order: LiveOrder, *, unbooked: int = 0) -> None:
        """``order`` is done: it leaves the book. ``unbooked`` contracts of it were filled but not yet
        booked: its strategy stays busy in its market until :meth:`fills_booked` counts them. Finishing
        an order no longer in the book does nothing."""
        if self._live.get(order.client_order_id) is not order:
            return
        if order.phase is not OrderPhase.DONE:
            self.move(order, OrderPhase.DONE)
        self._live.pop(order.client_order_id, None)
        self._unknown_since.pop(order.client_order_id, None)
        if unbooked > 0 and order.order_id is not None:
            self._unbooked[order.order_id] = (order, unbooked)
        else:
            self._free(order.strategy, order.ticker)

    def first_sight(self, fill_id: str) -> bool:
        """Whether ``fill_id`` is new here; remembers it (bounded, oldest forgotten first)."""
        if fill_id in self._seen_fills:
            return False
        self._seen_fills[fill_id] = None
        if len(self._seen_fills) > SEEN_FILLS_REMEMBERED:
            self._seen_fills.popitem(last=False)
        return True

    def fill_booked(self, strategy: str | None, ticker: str, side: str, action: str, count: int) -> None:
        """A booked fill moves its strategy's holding (never below zero)."""
        if strategy is None:
            return
        key = (strategy, ticker, side)
        held = self._holdings.get(key, 0) + (count if action == "buy" else -count)
        self._holdings[key] = max(0, held)

    def fills_booked(self, order_id: str, count: int) -> None:
        """``count`` contracts of ``order_id`` were booked: its strategy is free once all of them are."""
        entry = self._unbooked.get(order_id)
        if entry is None:
            return
        order, missing = entry
        if missing > count:
            self._unbooked[order_id] = (order, missing - count)
            return
        del self._unbooked[order_id]
        self._free(order.strategy, order.ticker)

    def settled(self, ticker: str) -> None:
        """``ticker``'s settlement is booked: the strategies hold nothing there any more."""
        for key in [k for k in self._holdings if k[1] == ticker]:
            del self._holdings[key]

    def release_unbooked(self, ticker: str) -> None:
        """``ticker`` settled: fills still awaited there no longer hold their strategies."""
        for order_id, (order, _) in list(self._unbooked.items()):
            if order.ticker == ticker:
                del self._unbooked[order_id]
                self._free(order.strategy, ticker)

    def pause(self, until: float) -> None:
        self.paused_until = max(self.paused_until, until)

    def _free(self, strategy: str, ticker: str) -> None:
        waiting = any((o.strategy, o.ticker) == (strategy, ticker) for o, _ in self._unbooked.values())
        working = any((o.strategy, o.ticker) == (strategy, ticker) for o in self._live.values())
        if not waiting and not working:
            self._busy.discard((strategy, ticker))
