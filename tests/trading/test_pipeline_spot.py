"""The optional spot feed end to end: a Coinbase-compatible feed on loopback quotes SOL-USD 50 cents
above the simulator's settlement index; the daemon tracks that basis and shows it, and — configured
with ``underlying = coinbase`` — prices its strategies off the basis-adjusted spot and still trades."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from decimal import Decimal
from functools import partial
from pathlib import Path
from typing import Any

import pytest
import trio
import trio_websocket
from daemonkit import running_daemon, wait_for

PREMIUM = Decimal("0.5")


async def fake_coinbase(holder: dict[str, Any], request: trio_websocket.WebSocketRequest) -> None:
    ws = await request.accept()
    try:
        await ws.get_message()  # the subscribe request
        await ws.send_message(json.dumps({"type": "subscriptions",
                                          "channels": [{"name": "ticker", "product_ids": ["SOL-USD"]},
                                                       {"name": "heartbeat", "product_ids": ["SOL-USD"]}]}))
        seq = 0
        phased = False
        while True:
            venue = holder.get("venue")
            if venue is not None and not phased:
                # Quote half a venue second ahead of each index print, the price that print will
                # carry: the daemon pairs each index print with the nearest spot print *received*
                # before it, and a spot print arriving at the same instant as its index print would
                # make the pairing depend on which socket the scheduler reads first.
                phased = True
                await trio.sleep(((0.5 - venue.now() % 1) % 1) / holder.get("speed", 1.0))
                continue
            if venue is not None:
                now = int(venue.now()) + 1
                seq += 1
                price = venue.index.print_at(now) + PREMIUM
                stamp = datetime.fromtimestamp(now, UTC).isoformat().replace("+00:00", "Z")
                await ws.send_message(json.dumps({"type": "ticker", "sequence": seq, "product_id": "SOL-USD",
                                                  "price": str(price), "time": stamp}))
            await trio.sleep(1 / holder.get("speed", 1.0))
    except trio_websocket.ConnectionClosed:
        pass


@pytest.mark.parametrize("underlying", ["index", "coinbase"])
async def test_spot_feed_basis_is_tracked_and_can_drive_the_strategies(
        tmp_path: Path, autojump_clock: object, nursery: trio.Nursery, underlying: str) -> None:
    holder: dict[str, Any] = {}
    server = await nursery.start(trio_websocket.serve_websocket, partial(fake_coinbase, holder), "127.0.0.1", 0,
                                 None)
    url = f"ws://127.0.0.1:{server.port}"
    async with running_daemon(tmp_path, KALSHID_EXCHANGE__SPOT_URL=url,
                              KALSHID_EXCHANGE__UNDERLYING=underlying) as (daemon, _sup):
        holder["venue"] = daemon.p.sim_handle.venue
        control = daemon.control
        assert control is not None

        async def basis_known() -> bool:
            view = (await control.markets())["basis"]
            return view["samples"] >= 20

        await wait_for(basis_known, limit_s=600)
        view = (await control.markets())["basis"]
        assert Decimal(view["basis"]) == PREMIUM
        assert view["smoothed_bps"] > 0

        async def traded() -> bool:
            return daemon.p.snapshots.counters().get("fills", 0) >= 1

        await wait_for(traded, limit_s=1800)
        # The strategies priced off the settlement index (or the spot less the basis): the tracker's
        # prints equal the index, never the raw spot.
        last = daemon.strategy.tracker.last_print
        assert last is not None
        index_now = daemon.p.sim_handle.venue.index.print_at(int(last.ts.timestamp()))
        assert abs(Decimal(repr(last.price)) - index_now) < Decimal("0.05")
