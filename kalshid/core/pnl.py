"""kalshid's one P&L policy: **average cost** per market side, fees expensed at the fill, exact integers.

Every figure kalshid shows (risk's loss measure, ``/api/status``, ``/api/pnl``, the journal's positions,
the paper exchange's and the simulator's accounts) comes from these functions, so they agree to the
centi-cent. ``docs/pnl.md`` explains the choice.

A *holding* is one side (YES or NO) of one market: ``held`` contracts and ``cost_cc``, what was paid for
the contracts still held (fees excluded). Kalshi nets YES and NO into one position per market, and
kalshid books every fill the way the exchange applied it (:mod:`kalshid.core.netting`: the closing sell,
then the opening buy), so a market has at most one side open.

- A buy of ``n`` at ``p`` adds ``n`` contracts and ``n × p`` of cost.
- A sale of ``n`` of ``held`` removes ``cost × n // held`` (the average cost; the floor keeps the
  integers exact, and selling the last contract removes whatever cost is left, so nothing is lost) and
  realises ``n × p − removed``.
- Settlement pays ``value_cc`` per contract ($1 per winning contract, 0 per losing one) and realises
  ``held × value − cost``.
- Unrealised P&L at a mark is ``held × mark − cost`` (YES at the YES mark, NO at $1 − mark).
- Fees reduce realised P&L when paid; the figure a trader reads as "realised" is after fees.

A sale of more than is held cannot happen on Kalshi; :func:`trade` books the excess as a short holding
(negative ``held`` and ``cost``: the proceeds) so a journal that records such a report stays exact. Callers
that must refuse it (the portfolio) check first.
"""

from __future__ import annotations

from collections.abc import Sequence

from kalshid.core.vocab import Action

__all__ = ["allocate_cost", "settlement_realized_cc", "trade", "unrealized_cc"]


def trade(held: int, cost_cc: int, action: Action | str, count: int, price_cc: int) -> tuple[int, int, int]:
    """One side's ``(held, cost_cc, realized_cc)`` after ``action`` of ``count`` contracts at
    ``price_cc`` (fees not included). Closes the opposite-signed part of the holding at its average
    cost first, then opens with the rest."""
    sign = 1 if action == Action.BUY else -1  # a wire string compares equal too
    if held == 0 or (held > 0) == (sign > 0):
        return held + sign * count, cost_cc + sign * count * price_cc, 0
    closing = min(count, abs(held))
    removed = allocate_cost(cost_cc, abs(held), (closing,))[0]
    realized = -sign * closing * price_cc - removed
    held, cost_cc = held + sign * closing, cost_cc - removed
    opening = count - closing
    return held + sign * opening, cost_cc + sign * opening * price_cc, realized


def allocate_cost(cost_cc: int, held: int, parts: Sequence[int]) -> list[int]:
    """The average cost of each of ``parts`` (counts taken in turn out of ``held`` contracts that cost
    ``cost_cc``): each removes ``cost × part // remaining`` (rounded toward zero), and a part that takes
    the last contract gets everything left, so the shares of a whole holding add up to ``cost_cc``."""
    out: list[int] = []
    for part in parts:
        if not 0 <= part <= held:
            raise ValueError(f"cannot take {part} of {held} contracts")
        share = cost_cc if part == held else _toward_zero(cost_cc * part, held)
        out.append(share)
        cost_cc, held = cost_cc - share, held - part
    return out


def settlement_realized_cc(held: int, cost_cc: int, value_cc: int) -> int:
    """What settlement realises on a holding: ``held × value_cc − cost_cc``."""
    return held * value_cc - cost_cc


def unrealized_cc(held: int, cost_cc: int, mark_cc: int | None) -> int:
    """The holding marked at ``mark_cc`` (this side's price) less its cost; 0 without a mark."""
    return 0 if mark_cc is None else held * mark_cc - cost_cc


def _toward_zero(numerator: int, denominator: int) -> int:
    quotient = abs(numerator) // denominator
    return quotient if numerator >= 0 else -quotient
