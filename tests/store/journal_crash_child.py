"""Child process for the crash test: journals intents, in-flight marks and fills until killed.

Prints ``intent <cid>`` after each ``record_intent`` returns and ``fill <fill_id>`` after each
``record_fill`` returns, flushing every line: whatever it printed must be in the journal after a
``kill -9``.
"""

from __future__ import annotations

import sys
from datetime import UTC, datetime, timedelta

import trio

from kalshid.store import open_journal
from kalshid.store.records import Fill, OrderIntent

T0 = datetime(2026, 7, 8, 22, 50, tzinfo=UTC)
TICKER = "KXSOL15M-26JUL081900-00"


async def main(path: str) -> None:
    async with open_journal(path, "dry") as journal:
        i = 0
        while True:
            cid, ts = f"c{i:06d}", T0 + timedelta(milliseconds=i)
            await journal.record_intent(OrderIntent(
                client_order_id=cid, ts=ts, strategy="crash", ticker=TICKER, side="yes", action="buy",
                price_cc=4200, count=1, tif="immediate_or_cancel"))
            print(f"intent {cid}", flush=True)
            await journal.mark_in_flight(cid, ts)
            await journal.record_fill(Fill(
                fill_id=f"f{i:06d}", order_id=f"o{i:06d}", client_order_id=cid, ticker=TICKER, side="yes",
                action="buy", count=1, price_cc=4200, fee_cc=20, is_taker=True, ts=ts))
            print(f"fill f{i:06d}", flush=True)
            i += 1


if __name__ == "__main__":
    trio.run(main, sys.argv[1])
