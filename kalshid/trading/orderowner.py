"""Whose is an exchange order that names no ``client_order_id``?

Kalshi's ``user_order`` message may leave ``client_order_id`` out or empty. An order the journal
knows by its exchange ``order_id`` is found by that. One it does not know by ``order_id`` may still be
kalshid's: an order whose create answer was lost has no ``order_id`` in the journal (in flight, or
given up as never sent). So such an order is read by ``order_id`` (``GET /portfolio/orders/{id}``
carries the ``client_order_id``, :func:`client_id_from_read`) before anything decides it is external.

If the read cannot say either (it fails, or names no ``client_order_id``), the order is adopted as
external, which loses nothing (the journal has it, risk counts it, cancels reach it, its fills are
booked as the exchange applied them), but kalshid cannot tell whether it is its own: when an order
of ours in the same market has no ``order_id`` yet (:func:`orders_without_order_id`), the adoption is
an error and an ``order_owner_uncertain`` alert naming those orders, not the warning of an order
placed by hand.
"""

from __future__ import annotations

import attrs

from kalshid.exchange.base import Exchange
from kalshid.exchange.errors import ExchangeError
from kalshid.exchange.types import Order
from kalshid.logs import get_logger
from kalshid.store import Journal, records

log = get_logger("kalshid.execution")

# our orders whose exchange order_id the journal may lack: sent without an answer, or given up as never sent
_WITHOUT_ANSWER = (records.OrderState.PENDING, records.OrderState.IN_FLIGHT, records.OrderState.REJECTED)
CANDIDATES_READ = 200  # orders of one market read for candidates, newest first (a window has a few dozen)


async def client_id_from_read(exchange: Exchange, order: Order) -> Order | None:
    """``order`` with the ``client_order_id`` the exchange's read of its ``order_id`` gives, or None
    when the read fails (logged) or names none either."""
    try:
        read = await exchange.get_order(order.order_id)
    except ExchangeError as exc:
        log.warning("order without client_order_id not readable by its order_id", order_id=order.order_id,
                    market=order.ticker, error=f"{type(exc).__name__}: {exc}")
        return None
    if read is None or not read.client_order_id:
        return None
    log.info("order without client_order_id identified by its read", order_id=order.order_id,
             client_order_id=read.client_order_id, market=order.ticker)
    return attrs.evolve(order, client_order_id=read.client_order_id)


async def orders_without_order_id(journal: Journal, ticker: str) -> list[str]:
    """The ``client_order_id`` of each order of ours in ``ticker`` whose exchange ``order_id`` the
    journal lacks (in flight, or given up as never sent), oldest first: what an order reported
    without a ``client_order_id`` may be."""
    page = await journal.list_orders(ticker=ticker, states=_WITHOUT_ANSWER, external=False,
                                     limit=CANDIDATES_READ)
    found = [o for o in page.items if o.order_id is None
             and (o.state is not records.OrderState.REJECTED or o.given_up)]
    return [o.client_order_id for o in reversed(found)]


def uncertain_detail(order_id: str, ticker: str, status: str, candidates: list[str], source: str) -> str:
    """The alert's words for an order taken as external (adopted if it rests, its fills booked as
    external) that may be one of ``candidates``."""
    taken = "adopted as external" if status == "resting" else "its fills are booked as external"
    return (f"order {order_id} ({ticker}, {status}) reported with no client_order_id ({source}) and not "
            f"identified by a read: {taken}, but it may be kalshid's {', '.join(candidates)} "
            f"(sent, its answer lost, no order_id journaled); check it on the exchange")
