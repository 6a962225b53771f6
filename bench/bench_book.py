"""Orderbook throughput: parse a Kalshi ``orderbook_delta`` frame and apply it to a live book, on one
core. Goal: ≥ 100 000 messages/s. Prints figures; not a test.

Run: ``.venv/bin/python bench/bench_book.py``
"""

from __future__ import annotations

import json
import random
import time

from kalshid.core.book import Book
from kalshid.core.units import format_count, format_dollars
from kalshid.exchange.kalshi.wire import feed as wsmsg
from kalshid.exchange.kalshi.wire import fields as wire

TICKER = "KXSOL15M-26JUL081900-00"
N = 200_000


def frames(n: int) -> list[str]:
    """Realistic deltas: prices on the cent grid near the touch, sizes that never go negative."""
    rng = random.Random(7)
    sizes = {("yes", p): 1000 for p in range(3000, 5000, 100)} | {
        ("no", p): 1000 for p in range(5000, 7000, 100)
    }
    out = []
    for seq in range(2, n + 2):
        side, price = rng.choice(list(sizes))
        delta = rng.randint(-min(50, sizes[(side, price)]), 50) or 1
        sizes[(side, price)] += delta
        out.append(
            json.dumps(
                {
                    "type": "orderbook_delta",
                    "sid": 2,
                    "seq": seq,
                    "msg": {
                        "market_ticker": TICKER,
                        "market_id": "m",
                        "side": side,
                        "price": price // 100,
                        "price_dollars": format_dollars(price),
                        "delta": delta,
                        "delta_fp": format_count(delta),
                        "ts": "2026-07-08T22:55:00.123456Z",
                    },
                }
            )
        )
    return out


def main() -> None:
    msgs = frames(N)
    book = Book(TICKER)
    book.apply_snapshot(
        [(p, 100_000) for p in range(3000, 5000, 100)],  # 1000 contracts (sizes in hundredths)
        [(p, 100_000) for p in range(5000, 7000, 100)],
        exchange_ts=None,
        local_time=0.0,
    )
    t0 = time.perf_counter()
    for raw in msgs:
        env = wire.loads(raw)
        _ticker, side, price, delta, ts = wsmsg.parse_delta(env["msg"])
        book.apply_delta(side, price, delta, exchange_ts=ts, local_time=0.0)
        book.best_bid(side)
    dt = time.perf_counter() - t0
    print(
        f"orderbook_delta parse+apply+best: {N / dt:,.0f} msgs/s "
        f"({dt / N * 1e6:.2f} µs/msg, goal ≥ 100,000/s)"
    )

    t0 = time.perf_counter()
    for _ in range(20_000):
        book.snapshot()
    dt = time.perf_counter() - t0
    print(f"frozen snapshot of a 40-level book: {dt / 20_000 * 1e6:.2f} µs")


if __name__ == "__main__":
    main()
