"""How Kalshi applies a fill to a netted position (one signed position per market).

On the YES-quoted book a ``bid`` (buy YES, or sell NO) first sells NO that is held, then buys YES; an
``ask`` (sell YES, or buy NO) first sells YES that is held, then buys NO. A pair of one YES and one NO
is worth exactly $1, so buying NO at q while holding YES *is* selling YES at 1 − q, to the centi-cent.
:func:`net_parts` splits a fill that way: at most two parts, the closing sell then the opening buy; the
first part carries the whole fee, so totals are exact. The daemon books fills with it and the backtest
replays them with it, so both hold what the exchange holds.
"""

from __future__ import annotations

import attrs

from kalshid.core.units import ONE_DOLLAR_CC
from kalshid.core.vocab import Action, Side


@attrs.frozen
class FillPart:
    """One part of a netted fill; ``opening`` is the part that opens a position after a close."""

    side: Side
    action: Action
    count: int
    price_cc: int
    fee_cc: int
    opening: bool


def net_parts(side: Side, action: Action, count: int, price_cc: int, fee_cc: int,
              held_yes: int, held_no: int) -> list[FillPart]:
    """A fill of ``count`` at ``price_cc`` (the price of ``side``) applied to holdings of
    ``held_yes``/``held_no``: the closing sell (if anything opposite is held), then the opening buy."""
    bid = (side is Side.YES) == (action is Action.BUY)
    close_side = Side.NO if bid else Side.YES
    open_side = Side.YES if bid else Side.NO
    closing = min(held_no if bid else held_yes, count)
    opening = count - closing
    parts: list[FillPart] = []

    def price_of(s: Side) -> int:
        return price_cc if s is side else ONE_DOLLAR_CC - price_cc

    if closing:
        parts.append(FillPart(close_side, Action.SELL, closing, price_of(close_side), fee_cc, False))
    if opening:
        parts.append(FillPart(open_side, Action.BUY, opening, price_of(open_side), 0 if parts else fee_cc,
                              bool(parts)))
    return parts


def reduce_only_cap(side: str, action: str, yes_held: int, no_held: int) -> int:
    """The count a reduce-only order may trade: Kalshi caps it at placement at the part that reduces
    the net position (``CreateOrderV2Request.reduce_only``; the WS ``ReduceOnlyCancel`` reason "means
    reduce_only capped the order at placement") and cancels the rest. A sale reduces what is held of
    its side; a buy of one side reduces only while the other side is held more."""
    if action == "sell":
        return yes_held if side == "yes" else no_held
    return max(0, (no_held - yes_held) if side == "yes" else (yes_held - no_held))
