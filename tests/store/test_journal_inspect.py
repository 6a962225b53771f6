"""``kalshid journal``: a journal read without a daemon, read-only, as ``kalshid ctl`` shows a live one."""

from __future__ import annotations

import hashlib
import json
import sqlite3
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import pytest
from storefakes import T0, TICKER, at, fill, intent, settlement, signal

from kalshid.cli import main
from kalshid.store import inspect, open_journal
from kalshid.store.records import BreakerEvent, OrderUpdate, RiskVerdict

APPROVED = RiskVerdict(signal_id=1, ts=T0, approved=True, reason_code="approved", detail="all limits pass")
REFUSED = RiskVerdict(signal_id=1, ts=T0, approved=False, reason_code="max_daily_loss",
                      detail="day's loss measure 510.0000 > 500.0000")


@asynccontextmanager
async def in_use(path: Path) -> AsyncIterator[None]:
    """A journal as a running daemon leaves it: two orders filled in one market, then settled; a stale
    update; a breaker trip; a third decision still only in the intent log."""
    async with open_journal(path, "sim") as journal:
        await journal.record_decision(signal(), APPROVED, intent("c-1"))
        await journal.apply_order_update(OrderUpdate(state="executed", ts=at(1), filled=5, remaining=0,
                                                     fees_cc=90, client_order_id="c-1", order_id="oid-1"))
        await journal.record_fill(fill("f-1", client_order_id="c-1", ts=at(1)))
        # a feed message overtaken by the REST answer: kept as an event, not applied
        await journal.apply_order_update(OrderUpdate(state="resting", ts=at(2), filled=0, remaining=5, fees_cc=0,
                                                     client_order_id="c-1", order_id="oid-1", source="feed"))
        await journal.record_decision(signal(side="no"), APPROVED, intent("c-2", side="no", price_cc=3000))
        await journal.record_fill(fill("f-2", order_id="oid-2", client_order_id="c-2", side="no", price_cc=3000,
                                       ts=at(5)))
        await journal.record_rejection(signal(ts=at(6), count=50), REFUSED)
        await journal.record_settlement(settlement(revenue_cc=50_000, yes_count=5, no_count=5))
        await journal.record_breaker_event(BreakerEvent(ts=at(10), from_state="running", to_state="halted",
                                                        reason="manual_halt: operator"))
        await journal.set_meta("operator_state", json.dumps({"trading_enabled": False}))
        await journal.record_decision(signal(), APPROVED, intent("c-3"))  # only in the intent log
        yield


def digests(directory: Path) -> dict[str, str]:
    """The journal's files (the -shm file is SQLite's shared index of the WAL, which readers mark)."""
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in directory.iterdir()
            if p.is_file() and not p.name.endswith("-shm")}


async def test_every_view_reads_the_journal_and_changes_nothing(tmp_path: Path) -> None:
    path = tmp_path / "kalshid-sim.sqlite3"
    async with in_use(path):
        before = digests(tmp_path)
        assert {"kalshid-sim.sqlite3", "kalshid-sim.sqlite3-wal", "kalshid-sim.sqlite3.intents"} <= set(before)
        read(path)
        assert digests(tmp_path) == before


def read(path: Path) -> None:
    with inspect.read_only(path) as conn:
        s = inspect.summary(conn, path)
        assert s["rows"]["orders"] == 2 and s["rows"]["fills"] == 2 and s["rows"]["settlements"] == 1
        assert s["rows"]["signals"] == 3 and s["rows"]["risk_verdicts"] == 3
        assert s["meta"]["trading_mode"] == "sim" and s["meta"]["operator_state"] == {"trading_enabled": False}
        # YES paid $1 a contract (5 bought at $0.42), NO expired (5 at $0.30): +$2.90 − $1.50, fees 2 × 90 cc
        assert (s["realized"], s["fees"], s["net"]) == ("1.4000", "0.0180", "1.3820")
        assert s["open_positions"] == 0 and s["last_fill"] == at(5).isoformat()
        assert s["breaker"].startswith("halted at ") and "manual_halt" in s["breaker"]
        assert s["intent_log"] == {"decisions_not_in_journal": ["c-3"]}

        orders = inspect.orders(conn, ticker=None, states=None, limit=1, cursor=None)
        assert [o["id"] for o in orders["items"]] == ["c-2"] and orders["cursor"]
        more = inspect.orders(conn, ticker=None, states=None, limit=1, cursor=orders["cursor"])
        assert [o["id"] for o in more["items"]] == ["c-1"] and more["items"][0]["status"] == "executed"
        trades = inspect.trades(conn, ticker=TICKER, limit=10, cursor=None)
        assert [t["fill_id"] for t in trades["items"]] == ["f-2", "f-1"] and trades["items"][1]["price"] == "0.4200"
        assert [r["window"] for r in inspect.pnl(conn, "window")] == [TICKER]
        decisions = inspect.decisions(conn, ticker=None, strategy=None, refused=False, limit=2, cursor=None)
        assert [(d["verdict"], d["reason"], d["order"], d["count"], d["ordered"]) for d in decisions["items"]] == [
            ("refused", "max_daily_loss", None, 50, None), ("approved", "approved", "c-2", 5, 5)]
        assert decisions["items"][0]["detail"] == REFUSED.detail
        rest = inspect.decisions(conn, ticker=None, strategy=None, refused=False, limit=2, cursor=decisions["cursor"])
        assert [d["order"] for d in rest["items"]] == ["c-1"] and rest["cursor"] is None
        refused = inspect.decisions(conn, ticker=TICKER, strategy="kelly", refused=True, limit=10, cursor=None)
        assert [d["verdict"] for d in refused["items"]] == ["refused"]
        assert inspect.positions(conn) == []  # settled
        assert inspect.breaker(conn) == [{"ts": at(10).isoformat(), "from": "running", "to": "halted",
                                          "reason": "manual_halt: operator"}]

        detail = inspect.order(conn, "c-1")
        assert [e["event"] for e in detail["events"]] == ["intent", "update", "fill", "stale_update"]
        assert detail["events"][3]["source"] == "feed" and [f["fill_id"] for f in detail["fills"]] == ["f-1"]
        with pytest.raises(inspect.InspectError, match="no order 'c-9'"):
            inspect.order(conn, "c-9")
        with pytest.raises(inspect.InspectError, match="group by day, strategy or window"):
            inspect.pnl(conn, "hour")


def test_what_is_not_a_journal_is_named(tmp_path: Path) -> None:
    with pytest.raises(inspect.InspectError, match="no journal there"), inspect.read_only(tmp_path / "none.sqlite3"):
        pass
    junk = tmp_path / "junk.sqlite3"
    junk.write_bytes(b"not a database" * 200)
    with pytest.raises(inspect.InspectError, match="not a kalshid journal"), inspect.read_only(junk):
        pass


async def test_kalshid_journal_prints_each_view(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "kalshid-sim.sqlite3"
    async with in_use(path):
        assert main(["journal", "--journal", str(path)]) == 0
        out = capsys.readouterr().out
    assert "trading_enabled  no" in out and "decisions_not_in_journal  c-3" in out
    assert main(["journal", "--journal", str(path)]) == 0  # closed: the decision reached SQLite
    assert "decisions_not_in_journal  (none)" in capsys.readouterr().out
    assert main(["journal", "--journal", str(path), "orders", "--status", "executed"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].split()[:3] == ["TS", "ID", "STRATEGY"] and len(lines) == 2 and "c-1" in lines[1]
    assert main(["journal", "--journal", str(path), "pnl", "--by", "strategy"]) == 0
    assert "TOTAL  realized 1.4000" in capsys.readouterr().out
    assert main(["journal", "--journal", str(path), "decisions", "--refused"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].split()[-4:] == ["VERDICT", "REASON", "ORDERED", "ORDER"] and lines[1].split()[-4:] == [
        "refused", "max_daily_loss", "-", "-"] and len(lines) == 2
    assert main(["journal", "--journal", str(path), "decisions", "--cursor", "bm90LWEtY3Vyc29y"]) == 1
    assert "not a valid journal cursor" in capsys.readouterr().err
    assert main(["journal", "--journal", str(path), "breaker"]) == 0
    assert capsys.readouterr().out.splitlines()[1].split()[1:3] == ["running", "halted"]
    assert main(["journal", "--journal", str(path), "order", "c-1"]) == 0
    assert "stale_update" in capsys.readouterr().out
    assert main(["journal", "--journal", str(path), "--json", "trades", "--limit", "1"]) == 0
    assert json.loads(capsys.readouterr().out)["items"][0]["fill_id"] == "f-2"
    # the default journal is the configuration's
    (tmp_path / "var").mkdir()
    path.rename(tmp_path / "var" / "kalshid-sim.sqlite3")
    monkey = pytest.MonkeyPatch()
    monkey.chdir(tmp_path)
    try:
        assert main(["journal", "positions"]) == 0
        assert capsys.readouterr().out.strip() == "(none)"
    finally:
        monkey.undo()
    # usage errors exit 2, a journal that cannot be read 1
    assert main(["journal", "--journal", str(path), "order"]) == 2
    assert "order needs a client order id" in capsys.readouterr().err
    assert main(["journal", "--journal", str(path), "--limit", "0", "orders"]) == 2
    assert main(["journal", "--journal", str(tmp_path / "gone.sqlite3")]) == 1
    assert "no journal there" in capsys.readouterr().err
    moved = tmp_path / "var" / "kalshid-sim.sqlite3"
    conn = sqlite3.connect(moved)  # a journal of another version: a column the views read is not there
    conn.execute("ALTER TABLE fills RENAME COLUMN fee_cc TO fee")
    conn.commit()
    conn.close()
    assert main(["journal", "--journal", str(moved), "trades"]) == 1
    assert "cannot be read (OperationalError" in capsys.readouterr().err
