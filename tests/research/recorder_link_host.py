"""A daemon stand-in for the crash test: a RecorderLink fed index prints until it is killed.

Usage: python recorder_link_host.py DIR. Prints "pid N" (the recorder process) once, then
"shipped N" as batches reach the recorder process, so the parent knows what was handed over before
it sends SIGKILL.
"""

import sys
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import trio

from kalshid.exchange.base import IndexPrinted
from kalshid.exchange.types import IndexPrint
from kalshid.research.recorder_link import RecorderLink


async def main() -> None:
    link = RecorderLink(Path(sys.argv[1]), flush_seconds=5.0, batch_seconds=0.01)
    t0 = datetime(2026, 6, 1, tzinfo=UTC)
    async with trio.open_nursery() as nursery:
        await nursery.start(link.run)
        print(f"pid {link.pid}", flush=True)
        i = reported = 0
        while True:
            i += 1
            link.offer(IndexPrinted(IndexPrint("SOLUSD_RTI", Decimal("150") + i, t0 + timedelta(seconds=i), float(i)),
                                    float(i)))
            if link.shipped > reported:
                reported = link.shipped
                print(f"shipped {reported}", flush=True)
            await trio.sleep(0.001)


if __name__ == "__main__":
    trio.run(main)
