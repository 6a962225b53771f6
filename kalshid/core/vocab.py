"""The trading vocabulary every layer shares: :class:`Side`, :class:`Action`, :class:`TimeInForce` and
:class:`BookSide`, each defined here and nowhere else.

They are :class:`enum.StrEnum`: a member *is* its wire string (``Side.YES == "yes"``, same hash, same
JSON, same SQLite text), so a member goes to Kalshi, the journal and the API unchanged, a plain string
from the wire finds the member's entry in a dict, and ``Side(raw)`` parses a wire value or raises
``ValueError`` naming it. Under mypy a bare ``"yes"`` is not a ``Side``: code that means a side says so.

- :class:`Side` — the contract whose holding changes: ``yes`` or ``no`` (Kalshi's ``side`` /
  ``outcome_side``).
- :class:`Action` — ``buy`` adds to the holding of ``side``, ``sell`` removes from it.
- :class:`TimeInForce` — Kalshi's ``time_in_force``; an order that omits it rests until canceled, which
  is :attr:`TimeInForce.GOOD_TILL_CANCELED`.
- :class:`BookSide` — the side of the YES-quoted book (Kalshi's V2 ``book_side``): ``bid`` (buy YES, or
  sell NO) or ``ask`` (sell YES, or buy NO).
"""

from __future__ import annotations

import enum

__all__ = ["Action", "BookSide", "Side", "TimeInForce", "book_side_of"]


class Side(enum.StrEnum):
    YES = "yes"
    NO = "no"

    @property
    def other(self) -> Side:
        """The opposite contract of the same market."""
        return Side.NO if self is Side.YES else Side.YES


class Action(enum.StrEnum):
    BUY = "buy"
    SELL = "sell"


class TimeInForce(enum.StrEnum):
    FILL_OR_KILL = "fill_or_kill"
    GOOD_TILL_CANCELED = "good_till_canceled"
    IMMEDIATE_OR_CANCEL = "immediate_or_cancel"


class BookSide(enum.StrEnum):
    BID = "bid"
    ASK = "ask"


def book_side_of(side: Side, action: Action) -> BookSide:
    """The YES-quoted book side of a (side, action): buy YES and sell NO bid, sell YES and buy NO ask."""
    return BookSide.BID if (side == Side.YES) == (action == Action.BUY) else BookSide.ASK
