"""Which lifecycle messages refresh the followed markets: Kalshi's ``market_lifecycle_v2`` carries every
market's, and only the series' can change what kalshid follows (each refresh costs reads)."""

from __future__ import annotations

from pathlib import Path

import trio
from daemonkit import running_daemon

from kalshid.exchange.base import MarketLifecycle


async def test_only_the_series_lifecycle_messages_refresh_the_markets(tmp_path: Path, autojump_clock: object) -> None:
    async with running_daemon(tmp_path) as (daemon, _sup):
        daemon.p.markets_changed = changed = trio.Event()
        for other in ("KXBTC15M-26DEC051215-15", "INXD-23SEP14-B4487", "KXSOL15MX-26DEC051215-15"):
            daemon.feed._observe(MarketLifecycle(other, "created", 0.0))
        assert not changed.is_set()
        daemon.feed._observe(MarketLifecycle("KXSOL15M-26DEC051230-30", "created", 0.0))
        assert changed.is_set()
