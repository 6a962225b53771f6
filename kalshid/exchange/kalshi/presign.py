"""Order-request signatures computed ahead of time, so an order does not wait ~270 µs for RSA.

Kalshi signs ``timestamp_ms + METHOD + path`` — not the body — so the signature of the next
``POST /portfolio/events/orders`` can be computed before the order exists. :class:`PresignedOrders` keeps
``depth`` (2) such header sets ready, signed in a worker thread (OpenSSL releases the GIL while it
signs, so the event loop keeps running); two, so that the second of two orders sent back to back (two
strategies acting on one message) does not sign inline:

* each presigned header set is used **at most once** (never two requests with one signature) and
  only while it is younger than ``max_age_s`` (default 0.5 s: a request that spent half a second in
  transit would carry the same timestamp; Kalshi's tolerance is undocumented, and any
  sane one is seconds, not milliseconds);
* the oldest set is replaced every ``refresh_s`` (0.2 s) and an order takes the newest, so it is
  0–0.2 s old plus the thread's signing time (the other at most ``depth`` × ``refresh_s``);
* when none is ready (more orders in a row than ``depth``, the refill still signing) the caller
  signs inline as before: presigning can only make an order faster, never hold it back.

Cost: about five RSA signatures a second in a worker thread (~0.15 % of a core). Disabled with
``exchange.presign_orders = false`` and in tests under Trio's ``MockClock`` (a worker thread looks
like idleness to the autojumping clock).
"""

from __future__ import annotations

import collections
from collections.abc import Callable

import trio

from kalshid import threads
from kalshid.exchange.kalshi.auth import Signer

ORDERS_PATH = "/portfolio/events/orders"


class PresignedOrders:
    """Up to ``depth`` ready header sets for ``POST <base path>/portfolio/events/orders``; kept by :meth:`run`."""

    def __init__(self, signer: Signer, path: str, *, wall_ms: Callable[[], int],
                 max_age_s: float = 0.5, refresh_s: float = 0.2, depth: int = 2) -> None:
        if depth < 1 or not 0 < refresh_s * depth < max_age_s:
            raise ValueError(f"presign: need depth >= 1 and 0 < refresh_s * depth < max_age_s, got "
                             f"depth {depth}, refresh_s {refresh_s}, max_age_s {max_age_s}")
        self._depth = depth
        self._signer = signer
        self.path = path
        self._wall_ms = wall_ms
        self._max_age_ms = int(max_age_s * 1000)
        self._refresh_s = refresh_s
        self._ready: collections.deque[tuple[int, dict[str, str]]] = collections.deque()  # oldest first
        self._taken = trio.Event()
        self._signed = trio.Event()
        self.stats = {"used": 0, "missed": 0, "expired": 0, "signed": 0}

    def take(self, method: str, path: str) -> dict[str, str] | None:
        """The ready headers for this request, consumed; ``None`` if the request is not an order POST
        or none is ready and fresh (the caller then signs inline)."""
        if method != "POST" or path != self.path:
            return None
        self._taken.set()
        if not self._ready:
            self.stats["missed"] += 1
            return None
        ts, headers = self._ready.pop()  # the newest
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
        """Keep ``depth`` fresh header sets ready until cancelled: sign one whenever one was taken, and
        replace the oldest every ``refresh_s`` (so none is older than ``depth * refresh_s`` plus a
        signature's time)."""
        task_status.started()
        while True:
            self._taken = trio.Event()
            if len(self._ready) >= self._depth:
                with trio.move_on_after(self._refresh_s):
                    await self._taken.wait()
            ts = self._wall_ms()
            headers = await threads.run_sync(self._signer.headers, ts, "POST", self.path)
            if len(self._ready) >= self._depth:
                self._ready.popleft()
            self._ready.append((ts, headers))
            self.stats["signed"] += 1
            self._signed.set()
            self._signed = trio.Event()
