"""The journal's retention: refused decisions (a signal and the verdict that refused it) older than
``journal.refusals_retention_days`` of exchange time are deleted, once the exchange's time is known
after the start and then every day.

A strategy whose proposals a binding limit refuses can journal one refusal a second (about 30 MB a
day); orders, approved decisions, order events, fills, settlements, equity and breaker events are
kept for good. The deletion runs in small batches (:meth:`~kalshid.store.journalcalls.JournalCalls.
prune_refusals`), so an order's intent waits behind one batch at most.
"""

from __future__ import annotations

import sqlite3
from datetime import timedelta

import trio

from kalshid.logs import get_logger
from kalshid.store.journalcalls import JournalCalls
from kalshid.trading.exchangeclock import ExchangeClock

log = get_logger("kalshid.journal")

PRUNE_EVERY_S = 86_400.0


async def prune_refusals_forever(journal: JournalCalls, retention_days: float, clock: ExchangeClock, *,
                                 every_s: float = PRUNE_EVERY_S) -> None:
    """Delete refusals past ``retention_days`` (0: keep them) when the exchange time is known, then
    every ``every_s`` seconds; a failed deletion is logged and tried again at the next."""
    if retention_days <= 0:
        return
    await clock.wait_known()
    while True:
        before = clock.now() - timedelta(days=retention_days)
        try:
            deleted = await journal.prune_refusals(before)
        except sqlite3.Error as exc:
            log.error("journal: refused decisions past retention not deleted", error=str(exc),
                      before=before.isoformat())
        else:
            log.info("journal: refused decisions past retention deleted", deleted=deleted,
                     before=before.isoformat(), retention_days=retention_days)
        await trio.sleep(every_s)
