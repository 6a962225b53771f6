"""Bench: tick-to-order latency of the whole daemon, measured at the simulator (docs/performance.md).

Run: ``.venv/bin/python bench/bench_tick_to_order.py [--sim process|inprocess] [--speed 10] [--orders 200]
[--clients 0,100] [--rounds 2]`` (about four minutes at the defaults: ~7 orders/s at speed 10x).
Prints figures; not a test. Exits 0 when it measured something and the daemon stopped cleanly.

What is measured, per order, **wire to wire**: from the simulator *writing* the market-data message
that triggered the signal to its socket (the WebSocket frame handed to the socket's ``send``, a wrapper
around Hypercorn's stream) to the order request's first bytes *reaching* the simulator's socket: the
kernel's receive timestamp (``SO_TIMESTAMPNS``), read by the same wrapper through ``recvmsg`` and joined
to the order by the connection's peer address in Quart's ``before_request``. The simulator's loop
*reading* those bytes would add however long that loop takes to get to its socket (its makers, takers
and other connections, or a wait for its CPU): the exchange's scheduling, not the trader's latency, and
as much as 2-5 ms at the 99th percentile with the simulator at 10x on a shared CPU. That total is
printed too (``to the sim's read``), with the receipt -> read delay apart.
In between: loopback, the daemon's WebSocket reader and feed parse, strategy, risk, execution (journal
intent write), RSA-2048 signing, the HTTP/1.1 request on a keep-alive connection. What the simulator
does on either side is the exchange's processing, not ours, and is printed apart, not in the total:
its publish queue (the hub queuing the message for the daemon's connection -> the frame written:
its sender task, Quart and Hypercorn behind whatever else its loop is doing), its read delay (bytes
received -> read) and its request parsing (bytes read -> its request handler). The total from the
hub's queuing is printed too (``from the sim's publish``).

How the trigger is found (exact, not "the last message before the order"): the daemon's
``ApprovedOrder.data_local_time`` is the Trio time its feed began handling the triggering message.
The bench stamps every raw message as the feed starts handling it, so the triggering message is the
last one stamped at or before ``data_local_time``; its text (unique: ``sid``/``seq`` or the index
print's second) maps back to the simulator's publish stamp.

Set-up and caveats:
- ``--sim process`` (the default): the simulator runs in a **child process** (this script with
  ``--sim-child``, see ``_simchild.py``) with the settings the embedded one gets (seed, start,
  balance, rate limits; 30 s signature skew), and the daemon is pointed at it as at any
  external exchange (``KALSHI_API_BASE_URL``/``KALSHI_WS_URL``, a fresh RSA key registered with the
  child, ``DRY_RUN_MODE=false``), so the simulator's makers, takers, index and HTTP parsing are not on
  the daemon's thread. Both processes stamp with ``time.perf_counter()`` (CLOCK_MONOTONIC, one clock
  system-wide on Linux; the daemon's Trio time is that plus ``SystemClock.offset``). The child keeps
  publish stamps by a digest of the message text and answers the parent's lookups over its stdin;
  they are joined at the end. Placement (``--placement pinned``, the default with 2+ CPUs): the
  daemon's loop thread is pinned to the last CPU (``runtime.loop_cpu``; its helper threads then use
  the others) and the simulator and ws-client children are confined to the other CPUs, as if they
  ran elsewhere; the kernel otherwise wakes the simulator onto the loop's CPU and gives it the next
  slice (~2.5 ms stalls). ``--placement shared``: no pinning, the child competes for every CPU.
  The child runs under Linux's ``SCHED_BATCH`` by default (``--sim-policy``): the
  same CPU share, but its wake-ups do not preempt the running task — without it, the daemon's own
  order write wakes the simulator onto the daemon's core, and the daemon waits ~1-2 ms on the run
  queue in the middle of sending (a real exchange runs elsewhere). The daemon does not know an
  external simulator's speed (only the embedded one tells it): its ``ExchangeClock`` advances at
  speed 1 between messages (journal timestamps run a little behind; orders still trade at 10x), and
  it polls the market list every ``MARKET_POLL_S`` (5 s) of wall time instead of every 5 s / speed,
  so it does ~10x fewer of those REST round trips than in ``inprocess`` mode at 10x (a little less load on its loop).
- ``--sim inprocess``: daemon and simulator run **in one process and one Trio loop** (the embedded
  simulator, as ``kalshid run`` uses it). At ``--speed`` N the simulator's makers, takers and index
  do N times their real-time work on the same thread, so the figure is pessimistic: a real
  exchange's work is not on our CPU. Both modes stamp, look up and join the simulator's side the same way
  (``_simchild.SimStamps``, perf_counter seconds).
- The WebSocket API clients run in a **child process** (this script with ``--ws-child``) in both
  modes, so only the daemon's side of their traffic lands on the daemon's loop.
- Strategies are made to trade often (``min_edge`` 0, small Kelly fraction, wide risk limits).
- Phases are interleaved (0, 100, 0, 100 clients, ...) so drift in market conditions affects each
  client count alike. The journal runs as in production (SQLite in a worker thread, WAL, the intent
  written before the send and fsynced while the order is in flight) in a temporary directory under
  ``$TMPDIR``.
- Rate limits: Kalshi's Basic tier allows 10 orders/s (100 write tokens/s, 10 per request) per *real*
  second. At ``--speed`` N the strategies want N times the orders per real second, so both the
  daemon's client-side buckets and the simulator's get N times the Basic tier (the embedded
  simulator enforces the limits the daemon is configured with). Any wait in the daemon's own token
  bucket is still stamped as its own segment ("client rate limit") and counted in the total: it
  would be throttling, not latency.
- The total is split into segments at the stage boundaries (feed, risk in/out, execution, the
  ``submit`` call, the request's first write to the daemon's socket); each segment's
  percentiles are its own, so they do not add up to the total's.
"""

from __future__ import annotations

import argparse
import bisect
import collections
import contextvars
import math
import os
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any, NamedTuple

import trio
from _benchenv import isolated_env  # bench/ is sys.path[0]
from _simchild import (
    BALANCE_DOLLARS,
    SEED,
    SIM_POLICIES,
    START,
    SimChild,
    SimStamps,
    child_main,
    digest,
    install_sim_hooks,
    place_process,
    prune_forever,
    sim_child,
)

from kalshid import logs
from kalshid.config import load_config
from kalshid.credentials import generate_keypair, load_signer
from kalshid.daemon.supervisor import Runtime, Supervisor
from kalshid.daemon.tuning import run_tuned
from kalshid.exchange.kalshi import ws as kalshi_ws
from kalshid.exchange.kalshi.ratelimit import RateLimiter
from kalshid.exchange.kalshi.rest import KalshiRest
from kalshid.exchange.types import Order, OrderRequest
from kalshid.trading import app
from kalshid.trading import placement as placement_mod
from kalshid.trading import risk as risk_mod
from kalshid.trading.messages import ApprovedOrder, Proposal
from kalshid.trading.wiring import TradingDaemon

TOKEN = "b" * 40
HISTORY_S = 30.0  # stamps older than this are dropped (risk refuses data older than 5 s anyway)
GOAL_P50_MS, GOAL_P99_MS, GOAL_WS_RATIO = 2.0, 5.0, 1.20
SIM_MODES = {"process": "in its own process", "inprocess": "in the daemon's process and Trio loop"}


class Sample(NamedTuple):
    """One order's stamps (Trio seconds); ``received`` is filled in from the simulator's side."""

    phase: str
    published: float      # the simulator queued the triggering message for the daemon's connection
    wired: float          # the simulator wrote that message's WebSocket frame to its socket
    arrived: float        # the daemon's feed began handling it (= ApprovedOrder.data_local_time)
    risk_in: float        # risk took the strategy's proposal
    risk_out: float       # risk finished with it (journal writes, ApprovedOrder sent)
    placed: float         # execution took the ApprovedOrder
    sent: float           # execution called KalshiRest.submit (intent journaled)
    limited: float = math.nan  # submit got its write tokens from the client-side rate limiter
    written: float = math.nan  # the request's first bytes were handed to the daemon's socket


class TaskSteps(trio.abc.Instrument):
    """``--task-steps``: every Trio task step of the daemon's loop (start, end, task), the last
    :data:`STEPS_KEPT`; :meth:`window` sums them per task between a trigger's feed stamp and risk
    taking its proposal, to show what the loop did meanwhile."""

    STEPS_KEPT = 50_000

    def __init__(self) -> None:
        self.steps: collections.deque[tuple[float, float, str]] = collections.deque(maxlen=self.STEPS_KEPT)
        self._started: dict[trio.lowlevel.Task, float] = {}
        self.windows: list[tuple[float, dict[str, float]]] = []  # (gap, busy time per task), seconds

    def before_task_step(self, task: trio.lowlevel.Task) -> None:
        self._started[task] = time.perf_counter()

    def after_task_step(self, task: trio.lowlevel.Task) -> None:
        t0 = self._started.pop(task, None)
        if t0 is not None:
            self.steps.append((t0, time.perf_counter(), self._name(task)))

    @staticmethod
    def _name(task: trio.lowlevel.Task) -> str:
        """The task's function; for the supervisor's guard of a component, the component's name."""
        frame = getattr(task.coro, "cr_frame", None)
        comp = frame.f_locals.get("comp") if frame is not None else None
        if comp is not None:
            return f"component {comp.name}"
        return ".".join(task.name.rsplit(".", 2)[-2:])

    def window(self, start: float, end: float) -> None:
        """The loop's steps between ``start`` and ``end`` (perf_counter seconds), per task."""
        per: dict[str, float] = {}
        for t0, t1, name in reversed(self.steps):
            if t1 <= start:
                break
            if t0 < end:
                per[name] = per.get(name, 0.0) + min(t1, end) - max(t0, start)
        self.windows.append((end - start, per))

    def report(self) -> None:
        if not self.windows:
            return
        n = len(self.windows)
        gaps = sorted(g for g, _ in self.windows)
        busy = sorted(sum(per.values()) for _, per in self.windows)
        print(f"\nthe loop between a trigger's feed stamp and risk taking its proposal (--task-steps, {n} "
              f"proposals): gap p50 {pct(gaps, .5) * 1e6:.0f} µs, tasks running p50 {pct(busy, .5) * 1e6:.0f} µs")
        totals: dict[str, float] = {}
        for _, per in self.windows:
            for name, d in per.items():
                totals[name] = totals.get(name, 0.0) + d
        for name, d in sorted(totals.items(), key=lambda kv: -kv[1])[:8]:
            print(f"  {d / n * 1e6:8.1f} µs a proposal  {name}")


class Recorder:
    """Publish stamps (simulator), arrival stamps (daemon feed), send and receipt stamps per order."""

    def __init__(self) -> None:
        self.arr_t: list[float] = []
        self.arr_raw: list[str] = []
        self.sent: dict[str, Sample] = {}  # by client_order_id
        self.risk: dict[float, list[tuple[float, float]]] = {}  # data_local_time -> (risk in, risk out)
        self.arrived: dict[str, float] = {}   # the order request's first bytes reached the sim's socket
        self.received: dict[str, float] = {}  # the simulator read the order request's first bytes
        self.handled: dict[str, float] = {}   # the simulator's request handler began (after HTTP parsing)
        self.unmatched = 0
        self.child: SimChild | None = None  # --sim process: the simulator's stamps, looked up in the child
        self.local: SimStamps | None = None  # --sim inprocess: the simulator's stamps, in this process
        self.offset = 0.0  # Trio time - perf_counter() in this process (the child stamps perf_counter)
        self.phase = "warmup"
        self.count: dict[str, int] = {}
        self.target: tuple[str, int, trio.Event] | None = None
        self.order_cid: contextvars.ContextVar[str | None] = contextvars.ContextVar("bench_cid", default=None)
        self.current: contextvars.ContextVar[tuple[ApprovedOrder, float] | None] = contextvars.ContextVar(
            "bench_item", default=None)
        self.task_steps: TaskSteps | None = None

    # --- daemon side ------------------------------------------------------------------------
    def on_arrival(self, raw: str, t: float) -> None:
        self.arr_t.append(t)
        self.arr_raw.append(raw)
        if len(self.arr_t) > 50_000:
            cut = bisect.bisect_left(self.arr_t, t - HISTORY_S)
            del self.arr_t[:cut], self.arr_raw[:cut]

    def on_send(self, cid: str, t: float) -> None:
        current = self.current.get()
        if current is None:
            return
        item, placed = current
        d = item.data_local_time
        i = bisect.bisect_right(self.arr_t, d) - 1
        if i < 0:
            self.unmatched += 1
            return
        raw, arrival = self.arr_raw[i], d - self.offset  # the simulator stamps perf_counter seconds
        if self.child is not None:
            self.child.query(cid, raw, arrival)  # answered in the child
        elif self.local is not None:
            self.local.answer(cid, digest(raw), arrival)
        published = wired = math.nan  # filled in by join_stamps
        pairs = self.risk.get(d, [])
        done = [(i, o) for i, o in pairs if o <= placed]  # two strategies may act on one message
        r_in, r_out = done[-1] if done else (math.nan, math.nan)
        if done:
            pairs.remove(done[-1])
        self.sent[cid] = Sample(self.phase, published, wired, d, r_in, r_out, placed, t)
        n = self.count[self.phase] = self.count.get(self.phase, 0) + 1
        if self.target is not None and self.target[0] == self.phase and n >= self.target[1]:
            self.target[2].set()

    def join_stamps(self, published: Mapping[str, Sequence[float | None]], arrived: dict[str, float],
                    received: dict[str, float], handled: dict[str, float]) -> None:
        """Fill in the simulator's stamps (perf_counter seconds, converted to this process's Trio time)."""
        for cid, x in list(self.sent.items()):
            pub, wire = published.get(cid) or (None, None)
            if pub is None or wire is None:
                self.unmatched += 1
                del self.sent[cid]
            else:
                self.sent[cid] = x._replace(published=pub + self.offset, wired=wire + self.offset)
        self.arrived = {cid: t + self.offset for cid, t in arrived.items()}
        self.received = {cid: t + self.offset for cid, t in received.items()}
        self.handled = {cid: t + self.offset for cid, t in handled.items()}

    async def wait_orders(self, phase: str, n: int) -> None:
        self.phase = phase
        done = trio.Event()
        self.target = (phase, n, done)
        await done.wait()


def install_sim(rec: Recorder) -> None:
    """The in-process simulator's publish, write and receipt points (``--sim inprocess``)."""
    rec.local = SimStamps()
    install_sim_hooks(time.perf_counter, rec.local.on_publish, rec.local.on_write, rec.local.on_order)


def install_daemon(rec: Recorder) -> None:
    """Monkeypatch the daemon's instrumentation points (this process only)."""
    orig_handle = kalshi_ws.KalshiFeed._handle

    async def handle(self: kalshi_ws.KalshiFeed, conn: Any, raw: str | bytes) -> None:
        rec.on_arrival(raw if isinstance(raw, str) else raw.decode(), trio.current_time())
        await orig_handle(self, conn, raw)

    kalshi_ws.KalshiFeed._handle = handle  # type: ignore[method-assign]

    # execution took the ApprovedOrder (in its order loop, or in a placement task when it could not
    # send right away) when it began journaling it; it sends it in Placer.transmit
    orig_begin = placement_mod.Placer.begin
    orig_transmit = placement_mod.Placer.transmit
    placed: dict[str, float] = {}

    async def begin(self: Any, item: ApprovedOrder) -> Any:
        placed[item.client_order_id] = trio.current_time()
        return await orig_begin(self, item)

    async def transmit(self: Any, placement: Any) -> None:
        item = placement.item
        token = rec.current.set((item, placed.pop(item.client_order_id, math.nan)))
        try:
            await orig_transmit(self, placement)
        finally:
            rec.current.reset(token)

    placement_mod.Placer.begin = begin  # type: ignore[method-assign]
    placement_mod.Placer.transmit = transmit  # type: ignore[method-assign]

    orig_proposal = risk_mod.RiskStage._on_proposal

    class StampedSend:
        """Stamps the moment risk hands the ApprovedOrder over (execution may run before risk resumes)."""

        def __init__(self, inner: Any, t_in: float) -> None:
            self.inner, self.t_in = inner, t_in

        async def send(self, item: ApprovedOrder) -> None:
            rec.risk.setdefault(item.data_local_time, []).append((self.t_in, trio.current_time()))
            await self.inner.send(item)

    async def on_proposal(self: Any, proposal: Proposal, orders: Any) -> None:
        t = trio.current_time()
        if rec.task_steps is not None and rec.phase != "warmup":
            rec.task_steps.window(proposal.data_local_time - rec.offset, t - rec.offset)
        await orig_proposal(self, proposal, StampedSend(orders, t))  # type: ignore[arg-type]  # duck-typed
        if len(rec.risk) > 10_000:
            old = [k for k in rec.risk if k < t - HISTORY_S]
            for k in old:
                del rec.risk[k]

    risk_mod.RiskStage._on_proposal = on_proposal  # type: ignore[method-assign]

    orig_submit = KalshiRest.submit

    class StampedReply:
        """The reply of an order submit could not send at once: it sends it (stamps as above)."""

        def __init__(self, inner: Any, cid: str) -> None:
            self.inner, self.cid = inner, cid

        async def order(self) -> Order:
            token = rec.order_cid.set(self.cid)
            try:
                return await self.inner.order()  # type: ignore[no-any-return]
            finally:
                rec.order_cid.reset(token)

    async def submit(self: KalshiRest, request: OrderRequest) -> Any:
        rec.on_send(request.client_order_id, trio.current_time())
        token = rec.order_cid.set(request.client_order_id)
        try:
            return StampedReply(await orig_submit(self, request), request.client_order_id)
        finally:
            rec.order_cid.reset(token)

    KalshiRest.submit = submit  # type: ignore[method-assign]

    # At --speed N the daemon may want more than Kalshi's Basic-tier 10 orders/s; the client-side
    # token bucket then holds orders back. Stamped apart so it is not read as latency.
    orig_acquire = RateLimiter.acquire_write
    orig_try = RateLimiter.try_acquire_write

    def limited() -> None:
        cid = rec.order_cid.get()
        if cid is not None and (x := rec.sent.get(cid)) is not None and math.isnan(x.limited):
            rec.sent[cid] = x._replace(limited=trio.current_time())

    async def acquire_write(self: RateLimiter, cost: int | None = None) -> None:
        await orig_acquire(self, cost)
        limited()

    def try_acquire_write(self: RateLimiter, cost: int | None = None) -> bool:
        ok = orig_try(self, cost)
        if ok:
            limited()
        return ok

    RateLimiter.acquire_write = acquire_write  # type: ignore[method-assign]
    RateLimiter.try_acquire_write = try_acquire_write  # type: ignore[method-assign]

    # The request's first bytes handed to the socket (on the order lane or through httpx, both end in
    # SocketStream.send_all): what is left after that is loopback and the simulator's own event loop
    # getting round to reading them (its process is busy at --speed N).
    orig_send_all = trio.SocketStream.send_all

    async def send_all(self: trio.SocketStream, data: Any) -> None:
        cid = rec.order_cid.get()
        if cid is not None and (x := rec.sent.get(cid)) is not None and math.isnan(x.written):
            rec.sent[cid] = x._replace(written=trio.current_time())
        await orig_send_all(self, data)

    trio.SocketStream.send_all = send_all  # type: ignore[method-assign]


def env_for(tmp: Path, speed: float) -> dict[str, str]:
    return {
        "KALSHID_SIM__SEED": str(SEED),
        "KALSHID_SIM__SPEED": str(speed),
        "KALSHID_SIM__START": START,
        **isolated_env(tmp, TOKEN),
        "MAX_DAILY_LOSS": "1000000",
        "DEFAULT_BANKROLL": "1000000",
        "KALSHID_SIM__BALANCE": BALANCE_DOLLARS,
        "KALSHID_RISK__BREAKER_DAILY_LOSS_FRACTION": "1",
        "KALSHID_RISK__BREAKER_DRAWDOWN_FRACTION": "1",
        "KALSHID_RISK__MAX_CONCURRENT_POSITIONS": "100",
        "KALSHID_RISK__MAX_POSITION_SIZE": "20",  # small orders: many before any window limit binds
        "KALSHID_RISK__MAX_WINDOW_EXPOSURE": "1000000",
        "KALSHID_STRATEGIES__KELLY_VOLATILITY__MIN_EDGE": "0",
        "KALSHID_STRATEGIES__MEAN_REVERSION__MIN_EDGE": "0",
        "KALSHID_STRATEGIES__MEAN_REVERSION__ZSCORE_THRESHOLD_MEDIUM": "0.5",
        "KALSHID_STRATEGIES__MEAN_REVERSION__ZSCORE_THRESHOLD_HIGH": "1.0",
        "KALSHID_STRATEGIES__KELLY_VOLATILITY__KELLY_FRACTION": "0.01",
        "KALSHID_STRATEGIES__MEAN_REVERSION__KELLY_FRACTION": "0.01",
        # Kalshi's Basic-tier limits are per real second; at N x speed the strategies want N x the orders
        # per real second, so both sides get N x the tier (otherwise the figure measures throttling)
        "KALSHID_EXCHANGE__READ_RATE_LIMIT": str(200.0 * speed),
        "KALSHID_EXCHANGE__WRITE_RATE_LIMIT": str(100.0 * speed),
    }


SEGMENTS: list[tuple[str, Callable[[Sample, float], float]]] = [
    ("sim socket write -> daemon feed", lambda x, r: x.arrived - x.wired),
    ("feed -> risk (strategy, queue)", lambda x, r: x.risk_in - x.arrived),
    ("risk (check)", lambda x, r: x.risk_out - x.risk_in),
    ("risk -> execution (queue)", lambda x, r: x.placed - x.risk_out),
    ("execution (intent write)", lambda x, r: x.sent - x.placed),
    ("submit: client rate limit", lambda x, r: x.limited - x.sent),
    ("rate limit -> socket write (HTTP)", lambda x, r: x.written - x.limited),
    ("socket write -> sim's socket has it", lambda x, r: r - x.written),
]


def pct(sorted_ms: list[float], q: float) -> float:
    return sorted_ms[min(len(sorted_ms) - 1, int(q * len(sorted_ms)))]


def line(label: str, ms: list[float], goal: str = "") -> str:
    s = sorted(ms)
    if not s:
        return f"  {label:<34} n=0"
    return (f"  {label:<34} n={len(s):4d}  p50={pct(s, .5):7.3f}  p90={pct(s, .9):7.3f}  "
            f"p99={pct(s, .99):7.3f}  max={s[-1]:7.3f} ms{('   ' + goal) if goal else ''}")


class WsClients:
    """N WebSocket API clients in a child process (this script with ``--ws-child``)."""

    def __init__(self, url: str, n: int, cpus: set[int] | None) -> None:
        self.url, self.n, self.cpus = url, n, cpus
        self.proc: trio.Process | None = None

    async def __aenter__(self) -> WsClients:
        self.proc = await trio.lowlevel.open_process(
            [sys.executable, __file__, "--ws-child", self.url, str(self.n)], stdout=subprocess.PIPE)
        place_process(self.proc.pid, self.cpus)
        assert self.proc.stdout is not None
        buf = b""
        with trio.fail_after(60):
            while b"\n" not in buf:
                chunk = await self.proc.stdout.receive_some()
                if not chunk:
                    raise RuntimeError("ws client process exited before connecting")
                buf += chunk
        print(f"  [ws child] {buf.decode().strip()}", flush=True)
        return self

    async def __aexit__(self, *exc: object) -> None:
        assert self.proc is not None and self.proc.stdout is not None
        self.proc.send_signal(signal.SIGTERM)
        out = b""
        with trio.move_on_after(10):
            while chunk := await self.proc.stdout.receive_some():
                out += chunk
            await self.proc.wait()
        if self.proc.returncode is None:
            self.proc.kill()
            await self.proc.wait()
        print(f"  [ws child] {out.decode().strip()}", flush=True)


async def ws_child(url: str, n: int) -> None:
    """Connect ``n`` authenticated clients to the daemon's ``/ws`` and read until SIGTERM. Reports
    them connected once each has its greeting (the daemon's set-up of a client, ~0.6 ms of its loop
    each, is then over: a phase measures 100 connected clients, not 100 connecting)."""
    import trio_websocket

    received = [0]
    closed = [0]
    by_type: dict[str, int] = {}
    headers = [(b"Authorization", f"Bearer {TOKEN}".encode())]

    async def client(task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        async with trio_websocket.open_websocket_url(url, extra_headers=headers) as ws:
            started = False
            try:
                while True:
                    text = await ws.get_message()
                    if not started:  # the greeting status_update: subscribed, the server's set-up done
                        started = True
                        task_status.started()
                    received[0] += 1
                    # '{"type":"<kind>",...' (encode_event writes type first): no JSON parse per message,
                    # which would load the 2 cores the daemon is measured on
                    kind = text[9:text.find('"', 9)] if isinstance(text, str) else "?"
                    by_type[kind] = by_type.get(kind, 0) + 1
            except trio_websocket.ConnectionClosed:
                closed[0] += 1

    with trio.open_signal_receiver(signal.SIGTERM) as sigs:
        async with trio.open_nursery() as nursery:
            for _ in range(n):
                await nursery.start(client)
            print(f"{n} clients connected to {url}", flush=True)
            async for _ in sigs:
                break
            nursery.cancel_scope.cancel()
    kinds = ", ".join(f"{k} {v}" for k, v in sorted(by_type.items(), key=lambda kv: -kv[1]))
    print(f"{n} clients received {received[0]} messages ({closed[0]} closed by the server): {kinds}", flush=True)


async def bench(args: argparse.Namespace, tmp: Path) -> int:
    rec = Recorder()
    clock = trio.lowlevel.current_clock()
    offset = getattr(clock, "offset", None)  # SystemClock: current_time() = offset + perf_counter()
    if not isinstance(offset, float):
        raise RuntimeError(f"cannot relate Trio's clock ({type(clock).__name__}) to time.perf_counter()")
    rec.offset = offset
    install_daemon(rec)
    if args.task_steps:
        rec.task_steps = TaskSteps()
        trio.lowlevel.add_instrument(rec.task_steps)
    environ = env_for(tmp, args.speed)
    if args.loop_cpu is not None:
        environ["KALSHID_RUNTIME__LOOP_CPU"] = str(args.loop_cpu)
    environ["KALSHID_RECORD__ENABLED"] = "true" if args.record == "on" else "false"
    if args.sim == "inprocess":
        install_sim(rec)
        return await measure(args, tmp, rec, environ)
    keys = generate_keypair(tmp / "keys")
    async with sim_child(__file__, args.speed, keys.key_id, keys.public_path, args.sim_policy,
                         args.others) as child:
        rec.child = child
        environ |= {  # as tests/trading/test_process_kill9.py points `kalshid run` at `kalshid sim`
            "KALSHI_API_BASE_URL": child.rest_url,
            "KALSHI_WS_URL": child.ws_url,
            "KALSHI_API_KEY": keys.key_id,
            "KALSHI_PRIVATE_KEY_PATH": str(keys.private_path),
            "DRY_RUN_MODE": "false",
        }
        return await measure(args, tmp, rec, environ)


async def measure(args: argparse.Namespace, tmp: Path, rec: Recorder, environ: dict[str, str]) -> int:
    log_file = (tmp / "daemon.log").open("w")
    logs.configure_logging(level="info", fmt="json", file="off", stream=log_file)
    loaded = load_config(environ=environ, cwd=tmp)
    runtime = Runtime(loaded, load_signer(loaded.config.exchange, environ))
    daemon = TradingDaemon(runtime)
    supervisor = Supervisor(runtime, app.components(daemon))
    clients = [int(c) for c in args.clients.split(",")]
    plan = [c for _ in range(args.rounds) for c in clients]
    status: list[int] = []
    t0 = time.monotonic()
    sim_desc = SIM_MODES[args.sim] + (f" under SCHED_{args.sim_policy.upper()}" if args.sim == "process" else "")
    sim_desc += (f"; daemon loop pinned to CPU {args.loop_cpu}, simulator and ws clients on CPUs "
                 f"{sorted(args.others)}" if args.loop_cpu is not None else "; no CPU pinning")

    async def run() -> None:
        status.append(await run_tuned(supervisor))  # as `kalshid run` does
        nursery.cancel_scope.cancel()  # the daemon stopped (early, if it failed): stop waiting for orders

    async with trio.open_nursery() as nursery:
        nursery.start_soon(run)
        if rec.child is not None:
            nursery.start_soon(rec.child.flusher)
        if rec.local is not None:
            nursery.start_soon(prune_forever, rec.local)
        with trio.fail_after(args.timeout):
            await supervisor.wait_ready()
            assert daemon.api_url is not None
            ws_url = daemon.api_url.replace("http://", "ws://", 1) + "/ws"
            print(f"daemon ready in {time.monotonic() - t0:.2f} s; sim {sim_desc}, speed "
                  f"{args.speed:g}x; warming up ({args.warmup} orders)", flush=True)
            await rec.wait_orders("warmup", args.warmup)
            for i, n in enumerate(plan):
                phase = f"{n}:{i}"
                t1 = time.monotonic()
                if n:
                    async with WsClients(ws_url, n, args.others):
                        await rec.wait_orders(phase, args.orders)
                else:
                    await rec.wait_orders(phase, args.orders)
                evicted = daemon.broadcaster.statistics().evicted
                print(f"  phase {i + 1}/{len(plan)}: {n} ws clients, {args.orders} orders in "
                      f"{time.monotonic() - t1:.1f} s; slow clients evicted so far: {evicted}", flush=True)
        rec.phase = "done"
        supervisor.request_stop("bench finished")
    logs.shutdown_logging()  # the writer thread drains its queue into the file before it is closed
    log_file.close()
    if rec.child is not None:
        rec.join_stamps(*await rec.child.finish())
    elif rec.local is not None:
        rec.join_stamps(rec.local.answers, rec.local.arrived, rec.local.received, rec.local.handled)

    print(f"\nTick-to-order, wire to wire: the simulator writes the triggering message to its socket -> the "
          f"order reaches its socket (kernel receive stamp) (sim {sim_desc}, speed {args.speed:g}x, "
          f"{time.monotonic() - t0:.0f} s wall)")
    print(f"goal: p50 <= {GOAL_P50_MS:g} ms, p99 <= {GOAL_P99_MS:g} ms (floor ~0.4 ms); "
          f"p99 with 100 ws clients within +20% of none")
    p99: dict[int, float] = {}
    for n in clients:
        cids = [cid for cid, x in rec.sent.items()
                if x.phase.split(":")[0] == str(n) and x.phase != "warmup" and cid in rec.arrived]
        rows = [(rec.sent[cid], rec.arrived[cid]) for cid in cids]
        total = [(r - x.wired) * 1000 for x, r in rows]
        print(f"\n{n} WebSocket API clients connected:")
        goal = ""
        if total:
            s = sorted(total)
            p99[n] = pct(s, .99)
            ok = pct(s, .5) <= GOAL_P50_MS and p99[n] <= GOAL_P99_MS
            goal = f"[goal p50<={GOAL_P50_MS:g}, p99<={GOAL_P99_MS:g}: {'MET' if ok else 'NOT MET'}]"
        print(line("tick -> order (total)", total, goal))
        # the simulator stamps an order's receipt, read and handler together (_simchild.SimStamps.on_order)
        print(line("  (to the sim's read of it: + its read delay)",
                   [(rec.received[cid] - rec.sent[cid].wired) * 1000 for cid in cids]))
        print(line("  (from the sim's publish: + its queue)", [(r - x.published) * 1000 for x, r in rows]))
        print(line("  (sim: publish -> socket write, not in total)", [(x.wired - x.published) * 1000
                                                                     for x, r in rows]))
        for label, seg in SEGMENTS:
            print(line("  " + label, [v * 1000 for x, r in rows if not math.isnan(v := seg(x, r))]))
        print(line("  (sim: socket has it -> reads it, not in total)",
                   [(rec.received[cid] - rec.arrived[cid]) * 1000 for cid in cids]))
        print(line("  (sim: read -> handler, not in total)",
                   [(rec.handled[cid] - rec.received[cid]) * 1000 for cid in cids]))
    if 0 in p99 and len(p99) > 1:
        for n, v in p99.items():
            if n:
                ratio = v / p99[0]
                print(f"\np99 with {n} clients / p99 with none = {v:.3f} / {p99[0]:.3f} ms = {ratio:.2f}x  "
                      f"[goal <= {GOAL_WS_RATIO:.2f}x: {'MET' if ratio <= GOAL_WS_RATIO else 'NOT MET'}]")
    if rec.task_steps is not None:
        rec.task_steps.report()
    lost = sum(1 for cid in rec.sent if cid not in rec.arrived)
    stats: dict[str, Any] = getattr(daemon.p.feed, "statistics", dict)()
    print(f"\norders timed: {len(rec.sent)}; sent but not seen at the sim: {lost}; orders whose trigger could "
          f"not be matched: {rec.unmatched}; daemon exit status {status[0] if status else '?'}; "
          f"feed coalesced book updates: {stats.get('coalesced', '?')}")
    lane = getattr(daemon.p.exchange, "lane", None)
    presigned = getattr(daemon.p.exchange, "presigned", None)
    print(f"order lane: {lane.stats if lane is not None else 'off'}; "
          f"presigned signatures: {presigned.stats if presigned is not None else 'off'}")
    return 0 if rec.sent and status == [0] else 1


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    ap.add_argument("--speed", type=float, default=10.0, help="simulator clock speed-up (default 10)")
    ap.add_argument("--orders", type=int, default=200,
                    help="orders per phase (default 200: a p99 over 400 orders per client count is the "
                         "fifth-worst, steadier than over 200, which moved by +-1.5 ms between identical runs)")
    ap.add_argument("--warmup", type=int, default=10, help="orders discarded first (default 10)")
    ap.add_argument("--clients", default="0,100", help="WebSocket API client counts (default 0,100)")
    ap.add_argument("--rounds", type=int, default=2, help="times each client count is run (default 2)")
    ap.add_argument("--timeout", type=float, default=1200.0, help="give up after this many s (default 1200)")
    ap.add_argument("--sim", choices=tuple(SIM_MODES), default="process",
                    help="simulator in its own process (default) or in the daemon's Trio loop (pessimistic)")
    ap.add_argument("--ws-child", nargs=2, metavar=("URL", "N"), help=argparse.SUPPRESS)
    ap.add_argument("--sim-policy", choices=SIM_POLICIES, default="batch",
                    help="--sim process: the simulator process's Linux scheduling policy (default batch: it "
                         "does not preempt the daemon when it wakes up; see _simchild.child_main)")
    ap.add_argument("--placement", choices=("pinned", "shared"), default="pinned",
                    help="pinned (default, with 2+ CPUs): the daemon's loop thread on the last CPU "
                         "(runtime.loop_cpu), the simulator and ws-client processes on the others, as "
                         "if they ran elsewhere; shared: the kernel places everything")
    ap.add_argument("--record", choices=("on", "off"), default="on",
                    help="market-data recording inside the daemon (record.enabled; default on, as kalshid run); "
                         "run once with each to see the recorder's cost on tick-to-order")
    ap.add_argument("--task-steps", action="store_true",
                    help="time every task step of the loop (slows it) and print what ran between each "
                         "trigger's feed stamp and risk taking its proposal")
    ap.add_argument("--sim-child", nargs=4, metavar=("SPEED", "KEY_ID", "PUBLIC_KEY", "POLICY"),
                    help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.ws_child:
        trio.run(ws_child, args.ws_child[0], int(args.ws_child[1]))
        return 0
    if args.sim_child:
        return child_main(float(args.sim_child[0]), *args.sim_child[1:])
    cpus = os.sched_getaffinity(0) if hasattr(os, "sched_getaffinity") else set()
    args.loop_cpu = max(cpus) if args.placement == "pinned" and len(cpus) >= 2 else None
    args.others = cpus - {args.loop_cpu} if args.loop_cpu is not None else None
    with tempfile.TemporaryDirectory(prefix="kalshid-bench-") as tmp:
        run: Callable[..., Any] = trio.run
        return int(run(bench, args, Path(tmp)))


if __name__ == "__main__":
    sys.exit(main())
