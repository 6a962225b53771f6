"""Order-request signatures computed ahead of time, so an order does not wait ~270 µs for RSA.

Kalshi signs ``timestamp_ms + METHOD + path`` — not the body — so the signature of the next
``POST /portfolio/orders`` can be computed before the order exists. :class:`PresignedOrders` keeps
**one** such header set ready, signed in a worker thread (OpenSSL releases the GIL while it signs, so
the event loop keeps running):

* each presigned header set is used **at most once** (never two requests with one signature) and
  only while it is younger than ``max_age_s`` (default 0.5 s: a request that spent half a second in
  transit would carry the same timestamp; Kalshi's tolerance is undocumented, API-NOTES §2, and any
  sane one is seconds, not milliseconds);
* a set that ages out unused is replaced every ``refresh_s`` (0.2 s), so the one an order takes is
  0–0.2 s old plus the thread's signing time;
* when none is ready (two orders in a row, the refill still signing) the caller signs inline as
  before: presigning can only make an order faster, never hold it back.

Cost: about five RSA signatures a second in a worker thread (~0.15 % of a core). Disabled with
``exchange.presign_orders = false`` and in tests under Trio's ``MockClock`` (a worker thread looks
like idleness to the autojumping clock).
"""

from __future__ import annotations

from collections.abc import Callable

import trio

from kalshid.exchange.kalshi.auth import Signer

ORDERS_PATH = "/portfolio/orders"


class PresignedOrders:
    """One ready header set for ``POST <base path>/portfolio/orders``; refilled by :meth:`run`."""

    def __init__(self, signer: Signer, path: str, *, wall_ms: Callable[[], int],
                 max_age_s: float = 0.5, refresh_s: float = 0.2) -> None:
        if not 0 < refresh_s < max_age_s:
            raise ValueError(f"presign: need 0 < refresh_s < max_age_s, got {refresh_s} and {max_age_s}")
        self._signer = signer
        self.path = path
        self._wall_ms = wall_ms
        self._max_age_ms = int(max_age_s * 1000)
        self._refresh_s = refresh_s
        self._ready: tuple[int, dict[str, str]] | None = None
        self._taken = trio.Event()
        self._signed = trio.Event()
        self.stats = {"used": 0, "missed": 0, "expired": 0, "signed": 0}

    def take(self, method: str, path: str) -> dict[str, str] | None:
        """The ready headers for this request, consumed; ``None`` if the request is not an order POST
        or none is ready and fresh (the caller then signs inline)."""
        if method != "POST" or path != self.path:
            return None
        ready, self._ready = self._ready, None
        self._taken.set()
        if ready is None:
            self.stats["missed"] += 1
            return None
        ts, headers = ready
        if not 0 <= self._wall_ms() - ts <= self._max_age_ms:  # too old, or the wall clock stepped back
            self.stats["expired"] += 1
            return None
        self.stats["used"] += 1
        return headers

    async def wait_signed(self, count: int) -> None:
        """Until :meth:`run` has made ``count`` header sets since it started (its progress, for tests and
        start-up checks)."""
        while self.stats["signed"] < count:
            await self._signed.wait()

    async def run(self, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        """Keep one fresh header set ready until cancelled."""
        task_status.started()
        while True:
            self._taken = trio.Event()
            ts = self._wall_ms()
            headers = await trio.to_thread.run_sync(self._signer.headers, ts, "POST", self.path)
            self._ready = (ts, headers)
            self.stats["signed"] += 1
            self._signed.set()
            self._signed = trio.Event()
            with trio.move_on_after(self._refresh_s):
                await self._taken.wait()
