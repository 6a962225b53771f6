"""One P&L policy: for the same fills, ``/api/status``, ``/api/pnl``, the risk stage's loss measure and the
journal's positions give the same realised and unrealised P&L, to the centi-cent.

The fills go the daemon's booking path: netted as Kalshi applies them (``net_fill``), then into the
journal (``journal_fill``) and into the risk stage's portfolio (``core_fill``). The API is the real app
over the real :class:`DaemonControlImpl`, whose daemon is reduced to the state these routes read.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from kalshid.control.broadcaster import Broadcaster
from kalshid.core.breaker import Breaker
from kalshid.core.pnl import unrealized_cc
from kalshid.core.portfolio import Portfolio
from kalshid.core.risk import DayLedger, RiskState
from kalshid.core.signals import BookTop
from kalshid.core.units import CC_PER_CENT, ONE_DOLLAR_CC
from kalshid.core.vocab import Action, Side
from kalshid.exchange.types import Fill, Settlement
from kalshid.metrics import Metrics
from kalshid.server.app import create_app
from kalshid.server.settings import ApiSettings
from kalshid.sim.accounts import Account
from kalshid.sim.counts import CONTRACT
from kalshid.store import Journal, open_journal
from kalshid.store.records import Position
from kalshid.trading import convert
from kalshid.trading.control_impl import DaemonControlImpl
from kalshid.trading.messages import Counters, ExecutionSnapshot, Snapshots, StrategySnapshot, TradingState
from kalshid.trading.netting import net_fill
from tests.server.conftest import AUTH, TOKEN

A = "KXSOL15M-26JUL081900-00"  # settles YES
B = "KXSOL15M-26JUL081915-00"  # stays open, marked at the book
T0 = datetime(2026, 7, 8, 18, 50, tzinfo=UTC)
MARK_B_YES = 6_150

# (ticker, side, action, count, price of side, fee): partial closes at a new average, then NO bought
# against held YES (Kalshi nets it: YES sold at $1 − the NO price), then more NO than YES is held.
TRADES = [
    (A, Side.YES, Action.BUY, 10, 4_000, 170),
    (A, Side.YES, Action.BUY, 5, 4_601, 80),
    (A, Side.YES, Action.SELL, 4, 5_500, 100),
    (A, Side.NO, Action.BUY, 8, 4_500, 120),   # sells 8 of the 11 YES at 55 c
    (A, Side.NO, Action.BUY, 6, 4_000, 90),    # sells the last 3 YES at 60 c, opens 3 NO at 40 c
    (A, Side.YES, Action.BUY, 1, 6_100, 20),   # sells 1 of the 3 NO at 39 c
    (B, Side.NO, Action.BUY, 7, 3_333, 60),
    (B, Side.NO, Action.SELL, 2, 3_900, 30),
    (B, Side.YES, Action.BUY, 1, 6_500, 10),   # sells 1 NO at 35 c
]


def _exchange_fill(i: int, ticker: str, side: Side, action: Action, count: int, price_cc: int,
                   fee_cc: int) -> Fill:
    yes = price_cc if side is Side.YES else ONE_DOLLAR_CC - price_cc
    return Fill(fill_id=f"f{i}", order_id=f"o{i}", ticker=ticker, side=side, action=action, count=count,
                yes_price_cc=yes, no_price_cc=ONE_DOLLAR_CC - yes, is_taker=True, fee_cc=fee_cc,
                ts=T0 + timedelta(seconds=i))


@pytest.fixture
async def journal(tmp_path: Path) -> AsyncIterator[Journal]:
    async with open_journal(tmp_path / "journal-sim.sqlite3", "sim") as j:
        yield j


async def _book_everything(journal: Journal) -> Portfolio:
    """Book TRADES and A's settlement the way the daemon does; returns the risk stage's portfolio."""
    portfolio = Portfolio(cash_cc=1_000 * ONE_DOLLAR_CC)
    held: dict[str, dict[str, int]] = {}
    for i, trade in enumerate(TRADES):
        raw = _exchange_fill(i, *trade)
        h = held.setdefault(raw.ticker, {"yes": 0, "no": 0})
        for part in net_fill(raw, h["yes"], h["no"]):
            h[part.side] += part.count if part.action == "buy" else -part.count
            await journal.record_fill(convert.journal_fill(part, ts=T0, strategy="kelly" if i % 2 else "mr"))
            portfolio = portfolio.apply_fill(convert.core_fill(part, ts=T0))
    assert held[A] == {"yes": 0, "no": 2} and held[B] == {"yes": 0, "no": 4}
    settled = Settlement(ticker=A, event_ticker="KXSOL15M-26JUL081900", market_result="yes", yes_count=0,
                         no_count=2, yes_total_cost_cc=0, no_total_cost_cc=0, revenue_cc=0, fee_cc=0,
                         settled_time=T0 + timedelta(minutes=10), value_cc=ONE_DOLLAR_CC)
    await journal.record_settlement(convert.journal_settlement(settled, ts=T0))
    return portfolio.settle(A, Side.YES)


def _control(portfolio: Portfolio, journal: Journal) -> DaemonControlImpl:
    state = TradingState(mode="sim", portfolio=portfolio, ledger=DayLedger(T0.date(), 0),
                         breaker=Breaker.start(T0, portfolio.cash_cc), ready=True)
    # B's book: YES bid 61.00¢, YES ask 62.00¢ (NO bid 38.00¢): marked at the mid, MARK_B_YES
    tops = {B: BookTop(B, MARK_B_YES - 50, 1, ONE_DOLLAR_CC - MARK_B_YES - 50, 1, T0)}
    snapshots = Snapshots(ExecutionSnapshot(), state.risk_snapshot(), StrategySnapshot(tops=tops))
    daemon = SimpleNamespace(
        p=SimpleNamespace(state=state, snapshots=snapshots, require_journal=lambda: journal),
        gate=SimpleNamespace(as_status=lambda: {}), connected=True, rest_url="", ws_url="",
        operator_restored=False, clock=SimpleNamespace(known=False), notices=Counters(),
        feed=SimpleNamespace(recorder=None), cfg=SimpleNamespace(record=SimpleNamespace(enabled=False)))
    return DaemonControlImpl(daemon)  # type: ignore[arg-type]


def _cc(dollars: str) -> int:
    whole, _, frac = dollars.lstrip("-$").partition(".")
    value = int(whole) * ONE_DOLLAR_CC + int(frac.ljust(4, "0")[:4])
    return -value if dollars.startswith("-") else value


async def _get(control: DaemonControlImpl, path: str) -> Any:
    settings = ApiSettings(port=0, token=TOKEN, cors_origins=(), max_request_bytes=4096, ws_queue_size=4,
                           ws_auth_timeout_s=2.0, graceful_timeout_s=0.5)
    broadcaster = Broadcaster(now=lambda: "2026-07-08T19:00:00.000Z")
    app, _ = create_app(control, settings, token=TOKEN, broadcaster=broadcaster, metrics=Metrics())
    async with app.test_app():
        response = await app.test_client().get(path, headers=AUTH)
        assert response.status_code == 200, await response.get_data(as_text=True)
        return await response.get_json()


def _journal_unrealized(positions: list[Position], marks: dict[str, int]) -> int:
    total = 0
    for p in positions:
        assert p.yes_count == 0 or p.no_count == 0, "netted fills leave one side open"
        mark = marks[p.ticker]
        total += unrealized_cc(p.yes_count, p.cost_basis_cc if p.yes_count else 0, mark)
        total += unrealized_cc(p.no_count, p.cost_basis_cc if p.no_count else 0, ONE_DOLLAR_CC - mark)
    return total


async def test_status_pnl_risk_and_journal_agree(journal: Journal) -> None:
    portfolio = await _book_everything(journal)
    control = _control(portfolio, journal)

    status = await _get(control, "/api/status")
    rows = await _get(control, "/api/pnl?group_by=window")
    positions = await journal.positions()

    # realised, after fees
    journal_net = sum(_cc(r["net"]) for r in rows)
    assert _cc(status["realized_pnl"]) == _cc(status["pnl"]["realized"]) == journal_net
    assert portfolio.realized_pnl_cc == journal_net
    assert RiskState(portfolio, DayLedger(T0.date(), 0)).loss_measure_cc() == (
        -journal_net + portfolio.worst_case_loss_cc())
    assert {r["window"]: _cc(r["fees"]) for r in rows} == {A: 170 + 80 + 100 + 120 + 90 + 20, B: 60 + 30 + 10}

    # the open position: same holding, same average cost, same open P&L at the same mark
    [open_b] = positions
    assert (open_b.ticker, open_b.yes_count, open_b.no_count) == (B, 0, 4)
    pos_b = portfolio.position(B)
    assert (pos_b.yes_count, pos_b.no_count, pos_b.cost_basis_cc) == (0, 4, open_b.cost_basis_cc)
    # 7 NO cost 23 331; selling 2 then 1 at the average leaves 4 costing 23 331 − 6 666 − 3 333
    assert open_b.cost_basis_cc == 23_331 - 6_666 - 3_333
    unrealized = _journal_unrealized(positions, {B: MARK_B_YES})
    assert unrealized == 4 * (ONE_DOLLAR_CC - MARK_B_YES) - open_b.cost_basis_cc
    assert _cc(status["pnl"]["unrealized"]) == unrealized
    assert pos_b.unrealized_cc(MARK_B_YES) == unrealized

    # realised before fees, market by market, by hand (average cost)
    a_realized = (4 * 5_500 - 63_005 * 4 // 15            # 15 YES cost 63 005; sell 4
                  + 8 * 5_500 - (63_005 - 16_801) * 8 // 11  # NO bought against YES: YES sold at 55 c
                  + 3 * 6_000 - (46_204 - 33_602)          # the last 3 YES at 60 c
                  + 1 * 3_900 - 12_000 // 3                # 1 of 3 NO (cost 12 000) at 39 c
                  + 2 * 0 - 8_000)                         # 2 NO left, A settles YES
    assert {r["window"]: _cc(r["realized"]) for r in rows}[A] == a_realized


def test_the_simulators_accounts_book_the_same_figures() -> None:
    """The simulator nets a buy against the other side itself and counts hundredths of a contract on
    the $0.01 grid; on that grid its positions match the portfolio's."""
    trades = [(t, s, a, c, p - p % CC_PER_CENT, f) for t, s, a, c, p, f in TRADES]
    account = Account("u", cash_cc=1_000 * ONE_DOLLAR_CC)
    portfolio = Portfolio(cash_cc=1_000 * ONE_DOLLAR_CC)
    held: dict[str, dict[str, int]] = {}
    for i, trade in enumerate(trades):
        ticker, side, action, count, price_cc, fee_cc = trade
        account.apply_fill(ticker, side, action, count * CONTRACT, price_cc, fee_cc, now=float(i))
        raw = _exchange_fill(i, *trade)
        h = held.setdefault(ticker, {"yes": 0, "no": 0})
        for part in net_fill(raw, h["yes"], h["no"]):
            h[part.side] += part.count if part.action == "buy" else -part.count
            portfolio = portfolio.apply_fill(convert.core_fill(part, ts=T0))
    for ticker in (A, B):  # the open holdings and their average cost
        sim, ours = account.position(ticker), portfolio.position(ticker)
        assert (sim.yes, sim.no, sim.yes_cost_cc, sim.no_cost_cc) == (
            ours.yes_count * CONTRACT, ours.no_count * CONTRACT, ours.yes_cost_cc, ours.no_cost_cc)
    # realised after fees (a portfolio position that went flat is dropped: compare the account's totals)
    assert sum(account.position(t).realized_pnl_cc for t in (A, B)) == portfolio.realized_pnl_cc
    assert sum(account.position(t).fees_paid_cc for t in (A, B)) == portfolio.fees_paid_cc
    assert account.cash_cc == portfolio.cash_cc


async def test_a_positions_fees_are_its_markets_in_the_api_and_the_journal(journal: Journal) -> None:
    # C's YES is closed by a NO buy that opens 3 NO: Kalshi nets it, the fee goes with the closing part
    c = "KXSOL15M-26JUL081930-00"
    portfolio = await _book_everything(journal)
    held = {"yes": 0, "no": 0}
    for i, trade in enumerate([(c, Side.YES, Action.BUY, 2, 5_000, 10), (c, Side.NO, Action.BUY, 5, 4_000, 40)],
                              start=len(TRADES)):
        for part in net_fill(_exchange_fill(i, *trade), held["yes"], held["no"]):
            held[part.side] += part.count if part.action == "buy" else -part.count
            await journal.record_fill(convert.journal_fill(part, ts=T0, strategy="kelly"))
            portfolio = portfolio.apply_fill(convert.core_fill(part, ts=T0))
    assert (portfolio.position(c).no_count, portfolio.position(c).fees_cc) == (3, 0)  # since it opened
    api = {p["ticker"]: _cc(p["fees"]) for p in await _get(_control(portfolio, journal), "/api/positions")}
    assert api == {p.ticker: p.fees_cc for p in await journal.positions()} == {B: 60 + 30 + 10, c: 10 + 40}
