"""Kalshi nets YES and NO in one position per market; the journal books fills the same way.

On Kalshi a trade on the YES-quoted book first closes the opposite holding and only then opens: a
``bid`` (buy YES, or sell NO) while NO is held sells NO first; an ``ask`` (sell YES, or buy NO) while
YES is held sells YES first. A pair of one YES and one NO is worth exactly $1, so buying NO at q while
holding YES *is* selling YES at 1 − q, to the centi-cent. :func:`net_fill` splits a fill the way the
exchange applied it (at most two parts: the closing sell, then the opening buy), so the journal's
holdings, settlements and positions are the exchange's.

The first part keeps the exchange's ``fill_id`` and carries the whole fee; an opening remainder gets
``<fill_id>:open`` and no fee, so the total is exact. A fill seen again (the feed, then a REST catch-up
or a restart) is recognised by its ``fill_id`` before it is split, and booked once.

:class:`AccountHoldings` is the account's YES/NO holdings per market (all strategies), read from the
journal the first time a market is seen and kept up to date as fills are booked.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, datetime

import attrs

from kalshid.core.netting import net_parts
from kalshid.core.units import ONE_DOLLAR_CC
from kalshid.core.vocab import Action as CoreAction
from kalshid.core.vocab import Side as CoreSide
from kalshid.exchange.types import Fill
from kalshid.store import Journal

OPEN_SUFFIX = ":open"


def net_fill(fill: Fill, held_yes: int, held_no: int) -> list[Fill]:
    """``fill`` as the exchange applied it to holdings of ``held_yes``/``held_no``: closing first
    (:func:`kalshid.core.netting.net_parts`). Pure."""
    parts = net_parts(CoreSide(fill.side), CoreAction(fill.action), fill.count, fill.price_cc, fill.fee_cc,
                      held_yes, held_no)
    out: list[Fill] = []
    for part in parts:
        yes = part.price_cc if part.side is CoreSide.YES else ONE_DOLLAR_CC - part.price_cc
        out.append(attrs.evolve(fill, fill_id=fill.fill_id + OPEN_SUFFIX if part.opening else fill.fill_id,
                                side=part.side.value, action=part.action.value, count=part.count,
                                fee_cc=part.fee_cc, yes_price_cc=yes, no_price_cc=ONE_DOLLAR_CC - yes))
    return out


class AccountHoldings:
    """YES and NO contracts the account holds per market, from the journal's fills."""

    def __init__(self, journal: Journal) -> None:
        self._journal = journal
        self._held: dict[str, dict[str, int]] = {}

    async def get(self, ticker: str) -> tuple[int, int]:
        if ticker not in self._held:
            held = {"yes": 0, "no": 0}
            for f in await self._journal.all_fills(ticker=ticker):
                held[f.side.value] += f.count if f.action.value == "buy" else -f.count
            self._held[ticker] = held
        h = self._held[ticker]
        return h["yes"], h["no"]

    def booked(self, fill: Fill) -> None:
        """Count a booked (netted) fill part."""
        h = self._held.setdefault(fill.ticker, {"yes": 0, "no": 0})
        h[fill.side] += fill.count if fill.action == "buy" else -fill.count

    def forget(self, ticker: str) -> None:
        """A settled market: its holdings are gone."""
        self._held.pop(ticker, None)

    async def split(self, fill: Fill) -> list[Fill]:
        """``fill`` netted against the holdings now; nothing when the journal has booked it already
        (the split of a fill seen again would differ: the holdings moved when it was booked).

        A journal holding a fill's closing part without its opening part (parts written one at a
        time, the process ended between them) gets the opening part: the split is recomputed from
        the closing part's count, which is what was held then, so the fee stays where it was booked."""
        booked = await self._journal.list_fills(order_id=fill.order_id, limit=1000)
        mine = {f.fill_id: f for f in booked.items if f.fill_id in (fill.fill_id, fill.fill_id + OPEN_SUFFIX)}
        if not mine:
            held_yes, held_no = await self.get(fill.ticker)
            return net_fill(fill, held_yes, held_no)
        closing = mine.get(fill.fill_id)
        if closing is None or closing.action.value != "sell" or sum(f.count for f in mine.values()) >= fill.count:
            return []
        held = (closing.count, 0) if closing.side.value == "yes" else (0, closing.count)
        parts = net_fill(fill, *held)
        if (parts[0].side, parts[0].action, parts[0].count) != (closing.side.value, "sell", closing.count):
            return []  # not this fill's closing part: reconciliation reports the difference
        return [part for part in parts if part.fill_id not in mine]


_NO_TIME = datetime.max.replace(tzinfo=UTC)


def oldest_first(listed: Iterable[Fill]) -> list[Fill]:
    """Fills as an exchange lists them (newest first: Kalshi, the simulator and the paper account all
    do) in the order they happened: by time, fills of the same time in the reverse of the listing's
    order, a fill without a time last. Netting splits a fill by what is held when it comes, so fills of
    one instant must be taken in their own order, not the listing's."""
    return sorted(reversed(list(listed)), key=lambda f: f.ts or _NO_TIME)
