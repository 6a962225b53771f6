"""The issue's "done when", as processes: a live daemon against an external ``kalshid sim --speed 20``.

``kalshid run`` (``DRY_RUN_MODE=false``, pointed at the simulator with ``KALSHI_API_BASE_URL`` and a
registered key) trades and is killed with SIGKILL right as it sends an order; restarted, it reconciles,
trades and is killed again right as an order is acknowledged; restarted once more, it reconciles, trades
on until the window settles, and stops on SIGTERM with status 0. Then the exchange's own records are
read over its signed REST API and held against the journal: no ``client_order_id`` twice, no order the
journal cannot explain, the same fills (by trade id), the same settlements and the same net positions.

Wall time is ~40 s: the simulator starts 10 simulated minutes before the 23:00 close, i.e. 30 s at
speed 20. Every wait reads log lines under a deadline; nothing sleeps.
"""

from __future__ import annotations

import collections
import os
import signal
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import attrs
import pytest
import trio
from procutil import Daemon, Simulator, keygen

from kalshid.config import load_config
from kalshid.credentials import load_private_key
from kalshid.exchange.kalshi.auth import Signer
from kalshid.exchange.kalshi.rest import KalshiRest
from kalshid.exchange.types import OrderRequest, book_side_of
from kalshid.store import open_journal, records
from kalshid.store.orderstate import state_from_exchange
from kalshid.trading.netting import OPEN_SUFFIX

SPEED = 20
START = datetime(2026, 7, 8, 22, 50, tzinfo=UTC)  # inside the 22:45-23:00 UTC window
CLOSE = datetime(2026, 7, 8, 23, 0, tzinfo=UTC)
CLOSE_IN_S = (CLOSE - START).total_seconds() / SPEED  # 30 s of wall time
STARTUP_S = 20.0
TRADE_S = 15.0


@attrs.frozen
class Books:
    """What the exchange and the journal each say, read at one moment (the daemon not running)."""

    orders: list[Any]  # exchange Order
    fills: list[Any]  # exchange Fill
    positions: dict[str, int]  # ticker -> net (YES - NO), non-zero only
    settlements: list[Any]  # exchange Settlement
    balance_cc: int
    journal_orders: list[records.OrderRecord]
    journal_fills: list[records.Fill]
    journal_positions: dict[str, int]  # ticker -> net (YES - NO), open markets, non-zero only
    journal_settlements: list[records.SettlementRecord]
    unacknowledged: list[str]  # client_order_ids journaled as pending/in_flight


def fill_differences(books: Books) -> list[str]:
    """Every way the journal's fills and the exchange's differ. A fill that closed the opposite holding
    and opened the rest is journaled in two parts (Kalshi nets: ``<fill_id>`` and ``<fill_id>:open``),
    so they are compared as the exchange reports a fill: its book side and YES price (which netting
    keeps), and the parts' counts and fees added up."""
    def exchange_key(f: Any) -> tuple[Any, ...]:
        return (f.order_id, f.ticker, f.book_side, f.yes_price_cc, f.is_taker)

    def journal_key(f: records.Fill) -> tuple[Any, ...]:
        yes_price = f.price_cc if f.side.value == "yes" else 10_000 - f.price_cc
        return (f.order_id, f.ticker, book_side_of(f.side.value, f.action.value), yes_price, f.is_taker)  # type: ignore[arg-type]

    out: list[str] = []
    for kind, ids in (("exchange", [f.fill_id for f in books.fills]),
                      ("journal", [f.fill_id for f in books.journal_fills])):
        out += [f"{kind} fill {i} listed {n} times" for i, n in collections.Counter(ids).items() if n > 1]
    journal: dict[str, tuple[Any, ...]] = {}
    for f in sorted(books.journal_fills, key=lambda f: f.fill_id):
        base = f.fill_id.removesuffix(OPEN_SUFFIX)
        key, count, fee = journal.get(base, (journal_key(f), 0, 0))
        if key != journal_key(f):
            out.append(f"journal fill {f.fill_id}: its parts disagree ({key} against {journal_key(f)})")
        journal[base] = (key, count + f.count, fee + f.fee_cc)
    exchange = {f.fill_id: (exchange_key(f), f.count, f.fee_cc) for f in books.fills}
    out += [f"exchange fill {i} not in the journal" for i in exchange if i not in journal]
    out += [f"journal fill {i} unknown to the exchange" for i in journal if i not in exchange]
    out += [f"fill {i} differs: exchange {exchange[i]}, journal {journal[i]}" for i in exchange
            if i in journal and journal[i] != exchange[i]]
    return out


def daemon_env(tmp: Path, rest_url: str, key_id: str, private: Path) -> dict[str, str]:
    return {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "KALSHI_API_BASE_URL": rest_url,
        "KALSHI_API_KEY": key_id,
        "KALSHI_PRIVATE_KEY_PATH": str(private),
        "DRY_RUN_MODE": "false",
        "KALSHID_API__PORT": "0",
        "KALSHID_LOG__FORMAT": "json",
        "KALSHID_LOG__FILE": "off",
        "KALSHID_JOURNAL__DIR": str(tmp / "var"),
        "KALSHID_CONTROL__SOCKET_PATH": str(tmp / "k.sock"),
        # small bets and loose loss limits: the point is to keep trading, not to stop on a bad window
        "KALSHID_STRATEGIES__KELLY_VOLATILITY__KELLY_FRACTION": "0.02",
        "KALSHID_STRATEGIES__MEAN_REVERSION__KELLY_FRACTION": "0.02",
        "MAX_DAILY_LOSS": "100000",
        "KALSHID_RISK__BREAKER_DAILY_LOSS_FRACTION": "0.9",
        "KALSHID_RISK__BREAKER_DRAWDOWN_FRACTION": "0.9",
    }


async def _journal_pages(fetch: Any) -> list[Any]:
    items: list[Any] = []
    cursor: str | None = None
    while True:
        page = await fetch(limit=1000, cursor=cursor)
        items.extend(page.items)
        cursor = page.next_cursor
        if not cursor:
            return items


def read_books(rest_url: str, signer: Signer, journal_path: str, journal_mode: str) -> Books:
    async def read() -> Books:
        async with KalshiRest(rest_url, signer) as rest:
            orders = await rest.list_orders()  # every status, every page
            fills = await rest.list_fills()
            positions = {p.ticker: p.position for p in await rest.list_positions() if p.position != 0}
            settlements = await rest.list_settlements()
            balance = await rest.get_balance()
        async with open_journal(journal_path, journal_mode) as journal:
            j_orders = await _journal_pages(journal.list_orders)
            j_fills = await _journal_pages(journal.list_fills)
            j_positions = {p.ticker: p.yes_count - p.no_count for p in await journal.positions()}
            j_settlements = await journal.settlements()
            unacked = [r.client_order_id for r in await journal.unacknowledged_intents()]
        return Books(orders, fills, positions, settlements, balance.balance_cc, j_orders, j_fills,
                     {t: n for t, n in j_positions.items() if n != 0}, j_settlements, unacked)

    return trio.run(read)


def assert_exchange_matches_journal(books: Books) -> None:
    """No duplicate and no unexplained order; fills, settlements and positions agree exactly."""
    cids = collections.Counter(o.client_order_id for o in books.orders)
    assert books.orders, "the exchange has no orders from us at all"
    assert "" not in cids, "an order on the exchange has no client_order_id"
    assert [c for c, n in cids.items() if n > 1] == [], "a client_order_id was used twice on the exchange"

    journal_by_cid = {r.client_order_id: r for r in books.journal_orders}
    for order in books.orders:
        rec = journal_by_cid.get(order.client_order_id)
        assert rec is not None, f"exchange order {order.order_id} ({order.client_order_id}) is not in the journal"
        assert not rec.external, f"order {order.client_order_id} was adopted as external, not placed by us"
        # the exchange reports the YES-book side and price; the journal the intent behind them
        intent = OrderRequest(rec.ticker, rec.side.value, rec.action.value, rec.count, rec.price_cc,
                              rec.client_order_id)
        assert (rec.order_id, rec.ticker, intent.book_side, intent.yes_price_cc, rec.count) == (
            order.order_id, order.ticker, order.book_side, order.yes_price_cc, order.initial_count), rec
        assert rec.state == state_from_exchange(order.status, order.fill_count), (rec, order)
        assert rec.filled == order.fill_count, (rec, order)

    # The other direction: every journal order with an exchange id is that exchange order; one without
    # an id never reached the exchange and says so (rejected); nothing is left unresolved.
    on_exchange = {o.client_order_id: o.order_id for o in books.orders}
    for rec in books.journal_orders:
        if rec.order_id is not None:
            assert on_exchange.get(rec.client_order_id) == rec.order_id, rec
        else:
            assert rec.state is records.OrderState.REJECTED, rec
            assert rec.client_order_id not in on_exchange, rec
    assert books.unacknowledged == []

    assert fill_differences(books) == []

    assert {r.settlement.ticker for r in books.journal_settlements} == {s.ticker for s in books.settlements}
    assert [r.check_detail for r in books.journal_settlements
            if r.check is not records.JournalCheck.OK] == []
    assert books.journal_positions == books.positions


def assert_reconciled_to(daemon: Daemon, before: Books) -> dict[str, Any]:
    """The restarted daemon's ``reconciled`` line agrees with the exchange as it was at the kill."""
    _, rec = daemon.wait_event("reconciled", timeout=STARTUP_S)
    assert rec["in_flight_resolved"] + rec["in_flight_never_sent"] == len(before.unacknowledged), rec
    assert rec["external_orders_adopted"] == 0 and rec["settlement_mismatches"] == [], rec
    assert rec["open_orders"] == 0 and rec["breaker"] == "running", rec
    assert rec["cash_cc"] == before.balance_cc, rec
    assert {t: yes - no for t, (yes, no) in rec["positions"].items() if yes != no} == before.positions, rec
    return rec


def assert_clean_log(daemon: Daemon) -> None:
    assert daemon.problems() == []
    # With an explicit base URL the credentials are what signs every request: no warning that they are unused.
    assert [line for line in daemon.lines if str(line.get("event", "")).startswith("credentials are")] == []


# Where each run is killed: just as an order is sent (it may or may not reach the exchange), then just
# as an order is acknowledged (it is on the exchange; its journal update and fill may not be booked).
KILL_POINTS = ("order sending", "order acknowledged")


@pytest.mark.slow
def test_live_daemon_killed_with_sigkill_restarts_reconciles_and_the_exchange_agrees(tmp_path: Path) -> None:
    began = time.monotonic()
    timings: dict[str, float] = {}

    def mark(what: str) -> None:
        timings[what] = round(time.monotonic() - began, 2)

    key_id, private, public = keygen(tmp_path / "keys", tmp_path)
    signer = Signer(key_id, load_private_key(private))
    procs: list[Simulator | Daemon] = []
    try:
        sim = Simulator(tmp_path, ["--speed", str(SPEED), "--seed", "5", "--start", START.isoformat(),
                                   "--key", f"{key_id}={public}", "--balance", "10000"])
        procs.append(sim)
        sim_started = time.monotonic()
        mark("sim up")
        env = daemon_env(tmp_path, sim.rest_url, key_id, private)
        cfg = load_config(environ=env, cwd=tmp_path).config
        # An explicit loopback http URL on the default env: the external simulator, live orders.
        assert (cfg.exchange.env, cfg.dry_run, cfg.journal_mode) == ("sim", False, "sim")
        assert cfg.exchange.ws_url == sim.ws_url
        assert cfg.journal_path == f"{tmp_path}/var/kalshid-sim.sqlite3"

        # --- runs 1 and 2: trade, then SIGKILL at a chosen moment --------------------------------------
        before: Books | None = None
        # (the log line the run was killed on, the books at the kill, that run's reconciled line)
        kills: list[tuple[dict[str, Any], Books, dict[str, Any] | None]] = []
        for n, kill_on in enumerate(KILL_POINTS, 1):
            daemon = Daemon(tmp_path, env, name=f"kalshid run #{n}")
            procs.append(daemon)
            _, ready = daemon.wait_event("exchange ready", timeout=STARTUP_S)
            assert (ready["rest"], ready["ws"], ready["mode"], ready["journal"]) == (
                sim.rest_url, sim.ws_url, "sim", cfg.journal_path)
            rec = assert_reconciled_to(daemon, before) if before is not None else None
            i_ready, _ = daemon.wait_event("kalshid ready", timeout=STARTUP_S)
            mark(f"run {n} ready")
            i_fill, _ = daemon.wait_event("fill", timeout=TRADE_S, start=i_ready)
            _, line = daemon.wait_event(kill_on, timeout=TRADE_S, start=i_fill + 1)
            assert daemon.kill() == -signal.SIGKILL
            mark(f"run {n} killed on {kill_on!r}")
            assert_clean_log(daemon)
            before = read_books(sim.rest_url, signer, cfg.journal_path, cfg.journal_mode)
            # Every entry is immediate-or-cancel, so nothing can fill while the daemon is down: this
            # snapshot is what the restarted daemon must find.
            assert [o.order_id for o in before.orders if o.status == "resting"] == []
            if kill_on == "order acknowledged":
                assert line["order_id"] in {o.order_id for o in before.orders}
            kills.append((line, before, rec))
        assert before is not None

        # --- run 3: reconcile, trade on until a window settles, stop cleanly ----------------------------
        final = Daemon(tmp_path, env, name="kalshid run #3")
        procs.append(final)
        rec = assert_reconciled_to(final, before)
        final.wait_event("kalshid ready", timeout=STARTUP_S)
        mark("run 3 ready")
        until_close = CLOSE_IN_S - (time.monotonic() - sim_started)
        _, settled = final.wait_event("settled", timeout=until_close + 15)
        mark("settled")
        assert settled["market"] == "KXSOL15M-26JUL081900-00"  # the 23:00 UTC (19:00 EDT) close
        final.proc.send_signal(signal.SIGTERM)
        _, stopped = final.wait_event("kalshid stopped", timeout=15)
        assert stopped["exit_status"] == 0 and stopped["forced"] is False
        assert final.proc.wait(timeout=10) == 0
        mark("run 3 stopped")
        assert_clean_log(final)

        # --- the exchange's records against the journal ---------------------------------------------
        after = read_books(sim.rest_url, signer, cfg.journal_path, cfg.journal_mode)
        assert_exchange_matches_journal(after)
        assert len(after.settlements) >= 1
        report = []
        for (line, snapshot, _), rec_after in zip(kills, [k[2] for k in kills[1:]] + [rec], strict=True):
            # The order each kill interrupted is explained: placed (journaled with its exchange id) or
            # marked never sent; and every order seen at the kill is still exactly one exchange order.
            killed = next(r for r in after.journal_orders if r.client_order_id == line["client_order_id"])
            assert killed.order_id is not None or killed.state is records.OrderState.REJECTED
            assert {o.client_order_id for o in snapshot.orders} <= {o.client_order_id for o in after.orders}
            assert rec_after is not None
            report.append(f"kill on {line['event']!r}: {len(snapshot.unacknowledged)} unacknowledged, order "
                          f"{'placed' if killed.order_id else 'never sent'} ({killed.state.value}, "
                          f"{killed.filled}/{killed.count} filled); reconcile booked "
                          f"{rec_after['fills_booked']} fills, resolved {rec_after['in_flight_resolved']}, "
                          f"never sent {rec_after['in_flight_never_sent']}")
        mark("checked")
        print(f"\ntimings (s): {timings}\n" + "\n".join(report)
              + f"\nexchange: {len(after.orders)} orders, {len(after.fills)} fills, "
                f"{len(after.settlements)} settlements")
    finally:
        for proc in reversed(procs):
            proc.stop()
