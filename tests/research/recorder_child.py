"""A recorder process for the crash test: records index prints until killed.

Usage: python recorder_child.py DIR. Prints "flushed N" after each finished file, so the parent
knows which rows are on disk before it sends SIGKILL.
"""

import sys
import time
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path

from kalshid.exchange.base import IndexPrinted
from kalshid.exchange.types import IndexPrint
from kalshid.research.recorder import Recorder


def main() -> None:
    rec = Recorder(Path(sys.argv[1]), flush_seconds=0.05).start()
    t0 = datetime(2026, 6, 1, tzinfo=UTC)
    i = 0
    reported = 0
    while True:
        i += 1
        rec.offer(IndexPrinted(IndexPrint("SOLUSD_RTI", Decimal("150") + i, t0 + timedelta(seconds=i), float(i)),
                               float(i)))
        if rec.files > reported:
            reported = rec.files
            print(f"flushed {rec.written_rows}", flush=True)
        time.sleep(0.001)


if __name__ == "__main__":
    main()
