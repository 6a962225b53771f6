"""An order given up as never sent (not found by its client_order_id) that the exchange reports later
after all is taken back by the journal; a rejection by the exchange itself stays terminal."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path
from typing import Any

import pytest
from storefakes import T0, at, intent, journal
from structlog.testing import capture_logs

from kalshid.store import Journal, sql_write
from kalshid.store.migrations import MIGRATIONS, migrate
from kalshid.store.orderstate import classify_update
from kalshid.store.records import OrderState, OrderUpdate, UpdateOutcome

__all__ = ["journal"]
S = OrderState
U = UpdateOutcome


def upd(state: str, filled: int = 0, remaining: int = 5, t: float = 1, **kw: Any) -> OrderUpdate:
    base: dict[str, Any] = dict(client_order_id="c1", order_id="oid-1", source="feed")
    base.update(kw)
    return OrderUpdate(state=state, ts=at(t), filled=filled, remaining=remaining, fees_cc=0, **base)


def give_up(cid: str = "c1", t: float = 1) -> OrderUpdate:
    return OrderUpdate(state="rejected", ts=at(t), filled=0, remaining=0, fees_cc=0, client_order_id=cid,
                       source="resolve", gives_up=True, detail="not found by client_order_id for 60s")


def test_only_a_give_up_rejection_is_left_for_an_exchange_state() -> None:
    for new in (S.RESTING, S.PARTIALLY_FILLED, S.EXECUTED, S.CANCELED):
        assert classify_update(S.REJECTED, (0, 0, 0), new, (0, 5, 0), given_up=True) is U.TAKEN_BACK
        assert classify_update(S.REJECTED, (0, 0, 0), new, (0, 5, 0)) is U.ILLEGAL
    # nothing else leaves a give-up: this daemon's own states, or a rejection again
    assert classify_update(S.REJECTED, (0, 0, 0), S.IN_FLIGHT, (0, 5, 0), given_up=True) is U.ILLEGAL
    assert classify_update(S.REJECTED, (0, 0, 0), S.PENDING, (0, 5, 0), given_up=True) is U.ILLEGAL
    assert classify_update(S.REJECTED, (0, 0, 0), S.REJECTED, (0, 0, 0), given_up=True) is U.DUPLICATE


def test_only_a_rejection_gives_an_order_up() -> None:
    with pytest.raises(ValueError, match="only a rejection gives an order up, not 'canceled'"):
        OrderUpdate(state="canceled", ts=T0, filled=0, remaining=0, fees_cc=0, client_order_id="c1",
                    gives_up=True)


async def test_an_order_given_up_then_reported_resting_is_taken_back_and_said(journal: Journal) -> None:
    await journal.record_intent(intent("c1"))
    await journal.mark_in_flight("c1", at(0.5))
    assert await journal.apply_order_update(give_up()) is U.APPLIED
    rec = await journal.get_order_by_client_id("c1")
    assert rec is not None and rec.state is S.REJECTED and rec.given_up
    assert await journal.apply_order_update(give_up(t=1.5)) is U.DUPLICATE  # a repeat keeps the mark
    with capture_logs() as logs:
        assert await journal.apply_order_update(upd("resting", 0, 5, t=2)) is U.TAKEN_BACK
    rec = await journal.get_order_by_client_id("c1")
    assert rec is not None
    assert (rec.state, rec.order_id, rec.remaining, rec.given_up) == (S.RESTING, "oid-1", 5, False)
    events = await journal.order_events("c1")
    assert events[-1].event == "taken_back"
    assert (events[-1].detail["from"], events[-1].detail["to"], events[-1].detail["source"]) == (
        "rejected", "resting", "feed")
    taken = [e for e in logs if e["event"].startswith("order given up as never sent")]
    assert [(e["log_level"], e["client_order_id"]) for e in taken] == [("warning", "c1")]
    # from here on the ordinary state machine: fills, then the cancel; nothing goes back to rejected
    assert await journal.apply_order_update(upd("partially_filled", 2, 3, t=3)) is U.APPLIED
    assert await journal.apply_order_update(upd("canceled", 2, 0, t=4)) is U.APPLIED
    assert await journal.apply_order_update(give_up(t=5)) is U.STALE  # fewer fills than known
    rec = await journal.get_order_by_client_id("c1")
    assert rec is not None and (rec.state, rec.filled, rec.given_up) == (S.CANCELED, 2, False)


async def test_an_order_given_up_then_reported_executed_takes_the_exchanges_fills(journal: Journal) -> None:
    await journal.record_intent(intent("c1"))
    await journal.apply_order_update(give_up())
    assert await journal.apply_order_update(upd("executed", 5, 0, t=2)) is U.TAKEN_BACK
    rec = await journal.get_order_by_client_id("c1")
    assert rec is not None and (rec.state, rec.filled, rec.remaining) == (S.EXECUTED, 5, 0)
    # executed is terminal, and no give-up any more: sticky
    assert await journal.apply_order_update(upd("resting", 5, 1, t=3)) is U.STALE
    assert await journal.apply_order_update(upd("canceled", 5, 0, t=3)) is U.ILLEGAL


async def test_a_rejection_by_the_exchange_stays_terminal(journal: Journal) -> None:
    await journal.record_intent(intent("c1"))
    await journal.mark_in_flight("c1", at(0.5))
    await journal.apply_order_update(OrderUpdate(
        state="rejected", ts=at(1), filled=0, remaining=0, fees_cc=0, client_order_id="c1", source="exchange",
        detail="BadRequest: 400 insufficient balance"))
    rec = await journal.get_order_by_client_id("c1")
    assert rec is not None and not rec.given_up
    assert await journal.apply_order_update(upd("resting", 0, 5, t=2)) is U.ILLEGAL
    rec = await journal.get_order_by_client_id("c1")
    assert rec is not None and rec.state is S.REJECTED and rec.order_id is None


def _old_order(conn: sqlite3.Connection, cid: str, source: str, detail: str) -> None:
    """An order rejected in a journal of schema version 1, with the update event that rejected it."""
    conn.execute(
        "INSERT INTO orders (client_order_id, ts_us, strategy, ticker, side, action, price_cc, count, tif, state,"
        " filled, remaining, fees_cc, last_update_us, external, dry_run) VALUES"
        " (?, 0, 'kelly', 'KXSOL15M-26JUL081900-00', 'yes', 'buy', 4200, 5, 'good_till_canceled', 'rejected',"
        " 0, 0, 0, 0, 0, 1)", (cid,))
    conn.execute(
        "INSERT INTO order_events (client_order_id, ts_us, event, detail) VALUES (?, 0, 'update', ?)",
        (cid, json.dumps({"from": "in_flight", "to": "rejected", "filled": 0, "remaining": 0, "fees_cc": 0,
                          "order_id": None, "source": source, "detail": detail})))


def test_an_old_journals_give_ups_are_marked_by_the_migration_and_can_be_taken_back(tmp_path: Path) -> None:
    conn = sqlite3.connect(tmp_path / "j.sqlite3", isolation_level=None)
    assert migrate(conn, MIGRATIONS[:1]) == (0, 1)
    _old_order(conn, "gave-up-in-flight", "resolve", "not found by client_order_id for 60s")
    _old_order(conn, "gave-up-at-restart", "reconcile", "not on the exchange after restart: never sent")
    _old_order(conn, "refused", "exchange", "BadRequest: 400 market closed")
    assert migrate(conn)[1] == MIGRATIONS[-1].version
    marks = dict(conn.execute("SELECT client_order_id, given_up FROM orders").fetchall())
    assert marks == {"gave-up-in-flight": 1, "gave-up-at-restart": 1, "refused": 0}
    taken = sql_write.apply_update(conn, upd("resting", client_order_id="gave-up-at-restart", order_id="o-2"))
    refused = sql_write.apply_update(conn, upd("resting", client_order_id="refused", order_id="o-3"))
    assert (taken, refused) == (U.TAKEN_BACK, U.ILLEGAL)
    conn.close()
