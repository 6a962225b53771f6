"""The order state machine: which updates the journal applies, and which it only logs.

::

    pending ──► in_flight ──► resting ──► partially_filled ──► executed
       │            │            │                │
       └────────────┴────────────┴────────────────┴──────────► canceled
       └────────────┴──► rejected

``pending`` may also jump straight to any exchange state (reconciliation after a crash may find a
``pending`` intent on the exchange). ``executed``, ``canceled`` and ``rejected`` are terminal and
sticky, with one exception: a rejection that is this daemon's conclusion (an order of unknown outcome
given up after it was not found by its ``client_order_id``, in flight or at a restart) is not the
exchange's word. Kalshi's reads can lag, so when the exchange later reports that order, its state
(``resting``, ``partially_filled``, ``executed`` or ``canceled``) is applied and the order is *taken
back* (``TAKEN_BACK``). A rejection by the exchange itself stays terminal.

An older message arriving late (``STALE``) is not applied: one that would lower the fill count, or one
reporting the order live (``resting``/``partially_filled``) after the journal has it in a state that
follows (cancelled, executed, or more filled) with no more fills than stored. Exchange messages race
each other: an immediate-or-cancel order's create answer (``canceled``, 150 of 160 filled) can overtake
the feed's ``user_order`` from the moment before its rest was cancelled (live, 150 filled, 10 left).

Pure functions: no I/O, no clock.
"""

from __future__ import annotations

from kalshid.store.records import OrderState, UpdateOutcome

_S = OrderState

_LEGAL: dict[OrderState, frozenset[OrderState]] = {
    _S.PENDING: frozenset(
        {_S.IN_FLIGHT, _S.RESTING, _S.PARTIALLY_FILLED, _S.EXECUTED, _S.CANCELED, _S.REJECTED}
    ),
    _S.IN_FLIGHT: frozenset({_S.RESTING, _S.PARTIALLY_FILLED, _S.EXECUTED, _S.CANCELED, _S.REJECTED}),
    # resting -> resting carries new counts (an amend); partial -> partial carries more fills
    _S.RESTING: frozenset({_S.RESTING, _S.PARTIALLY_FILLED, _S.EXECUTED, _S.CANCELED}),
    _S.PARTIALLY_FILLED: frozenset({_S.PARTIALLY_FILLED, _S.EXECUTED, _S.CANCELED}),
    _S.EXECUTED: frozenset(),
    _S.CANCELED: frozenset(),
    _S.REJECTED: frozenset(),
}


_LIVE = frozenset({_S.RESTING, _S.PARTIALLY_FILLED})  # the exchange's states of an order still working


def is_legal(current: OrderState, new: OrderState) -> bool:
    """Whether the state machine allows ``current -> new`` (ignoring counts)."""
    return new in _LEGAL[current]


_EXCHANGE_STATES = frozenset({_S.RESTING, _S.PARTIALLY_FILLED, _S.EXECUTED, _S.CANCELED})


def classify_update(
    current: OrderState,
    current_counts: tuple[int, int, int],
    new: OrderState,
    new_counts: tuple[int, int, int],
    *,
    given_up: bool = False,
) -> UpdateOutcome:
    """Decide what to do with an update; counts are ``(filled, remaining, fees_cc)``.

    Returns ``DUPLICATE`` for a repeat of what is stored (state and counts equal), ``STALE`` when
    the fill count would go down or a live state the order has already left comes with no more fills
    (module docstring), ``ILLEGAL`` for any other forbidden transition (including any other change to
    a terminal order), ``TAKEN_BACK`` for an exchange state of an order whose rejection was a give-up
    (``given_up``: see the module docstring), else ``APPLIED``. Never returns ``UNKNOWN`` (that is the
    caller's lookup).
    """
    if new == current and new_counts == current_counts:
        return UpdateOutcome.DUPLICATE
    if given_up and current is _S.REJECTED and new in _EXCHANGE_STATES:
        return UpdateOutcome.TAKEN_BACK
    if new_counts[0] < current_counts[0]:
        return UpdateOutcome.STALE
    if new in _LIVE and new != current and current in _LEGAL[new] and new_counts[0] <= current_counts[0]:
        return UpdateOutcome.STALE
    if new not in _LEGAL[current]:
        return UpdateOutcome.ILLEGAL
    return UpdateOutcome.APPLIED


def state_from_exchange(status: str, filled: int) -> OrderState:
    """Map Kalshi's order ``status`` (``resting``/``canceled``/``executed``) to an :class:`OrderState`.

    Kalshi has no ``partially_filled`` status: a live order with fills is still ``resting``, so the
    fill count decides. Raises :class:`ValueError` for any other status (a protocol change, loudly).
    """
    if status == "resting":
        return OrderState.PARTIALLY_FILLED if filled > 0 else OrderState.RESTING
    if status == "executed":
        return OrderState.EXECUTED
    if status == "canceled":
        return OrderState.CANCELED
    raise ValueError(f"order status: unknown Kalshi status {status!r}")
