"""Reconciliation against an account traded by hand too: fractional orders, fills and positions in other
series are reported and left alone; one in a market kalshid trades refuses start, by name."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
from cryptography.hazmat.primitives.asymmetric import rsa

from kalshid.exchange import errors
from kalshid.exchange.kalshi import auth
from kalshid.exchange.kalshi.rest import KalshiRest
from kalshid.store import open_journal
from kalshid.trading.reconcile import reconcile
from tests.exchange.kalshi.kalshi_fakes import TICKER, SigningTransport, fill_json, order_json

ELSEWHERE = "KXBTCD-26JUL0819-T100000"  # a market of another series, traded by hand on the same account
BASE = "http://127.0.0.1:9/trade-api/v2"
NOW = datetime(2026, 7, 8, 23, 0, tzinfo=UTC)


def _account(positions: list[dict[str, Any]], fills: list[dict[str, Any]],
             orders: list[dict[str, Any]]) -> Any:
    def respond(req: httpx.Request, n: int) -> httpx.Response:
        path = req.url.path.removeprefix("/trade-api/v2")
        bodies: dict[str, Any] = {
            "/portfolio/positions": {"market_positions": positions, "event_positions": [], "cursor": ""},
            "/portfolio/fills": {"fills": fills, "cursor": ""},
            "/portfolio/orders": {"orders": orders, "cursor": ""},
            "/portfolio/settlements": {"settlements": [], "cursor": ""},
            "/portfolio/balance": {"balance": 100_000, "balance_dollars": "1000.0000", "portfolio_value": 0,
                                   "updated_ts": 1_783_551_000},
        }
        return httpx.Response(200, json=bodies[path])
    return respond


def _client(rsa_key: rsa.RSAPrivateKey, respond: Any) -> KalshiRest:
    fake = SigningTransport(rsa_key.public_key(), respond)
    return KalshiRest(BASE, auth.Signer("key-123", rsa_key), transport=fake.transport, in_flight_settle_s=0.0)


def _position(ticker: str, count: str) -> dict[str, Any]:
    return {"ticker": ticker, "position_fp": count, "market_exposure_dollars": "1.0000",
            "total_traded_dollars": "1.0000", "realized_pnl_dollars": "0.0000", "fees_paid_dollars": "0.0200"}


async def test_reconciliation_reports_fractional_holdings_elsewhere_and_starts(rsa_key: rsa.RSAPrivateKey,
                                                                                tmp_path: Path) -> None:
    elsewhere_fill = {**fill_json(fill_id="f-x", trade_id="f-x", order_id="o-x", count_fp="2.50"),
                      "ticker": ELSEWHERE, "market_ticker": ELSEWHERE}
    resting = order_json("o-y", "", ticker=ELSEWHERE, fill_count_fp="0.00", remaining_count_fp="0.50",
                         initial_count_fp="0.50")
    respond = _account([_position(ELSEWHERE, "2.50")], [elsewhere_fill], [resting])
    async with _client(rsa_key, respond) as rest, open_journal(tmp_path / "j.sqlite3", "sim", inline=True) as journal:
        portfolio, open_orders, summary = await reconcile(rest, journal, NOW)
        assert summary["fractional_elsewhere"] == [
            f"fill f-x in {ELSEWHERE}: fill f-x.count_fp: '2.50' is a fractional count; kalshid trades and books "
            "whole contracts and never rounds one, so it does not trade while the exchange reports one. Keep "
            "fractional trades off the account kalshid trades (docs/kalshi-api.md, 'Fractional counts')",
            f"order o-y in {ELSEWHERE}: order o-y.remaining_count_fp: '0.50' is a fractional count; kalshid "
            "trades and books whole contracts and never rounds one, so it does not trade while the exchange "
            "reports one. Keep fractional trades off the account kalshid trades (docs/kalshi-api.md, "
            "'Fractional counts')",
            f"position in {ELSEWHERE}: position {ELSEWHERE}.position_fp: '2.50' is a fractional count; kalshid "
            "trades and books whole contracts and never rounds one, so it does not trade while the exchange "
            "reports one. Keep fractional trades off the account kalshid trades (docs/kalshi-api.md, "
            "'Fractional counts')",
        ]
        assert portfolio.positions == {} and open_orders == {} and summary["fills_booked"] == 0
        assert await journal.all_fills() == []


@pytest.mark.parametrize("item", ["position", "fill", "order"])
async def test_a_fractional_item_in_a_traded_market_refuses_start_by_name(rsa_key: rsa.RSAPrivateKey,
                                                                          tmp_path: Path, item: str) -> None:
    positions = [_position(TICKER, "1.50")] if item == "position" else []
    fills = [fill_json(count_fp="1.50")] if item == "fill" else []
    orders = [order_json(fill_count_fp="0.00", remaining_count_fp="1.50", initial_count_fp="1.50")] \
        if item == "order" else []
    async with (_client(rsa_key, _account(positions, fills, orders)) as rest,
                open_journal(tmp_path / "j.sqlite3", "sim", inline=True) as journal):
        with pytest.raises(errors.ProtocolError) as refused:
            await reconcile(rest, journal, NOW)
    text = str(refused.value)
    assert "'1.50' is a fractional count" in text and "Keep fractional trades off the account kalshid trades" in text
    assert f"[{TICKER} is a KXSOL15M market, which kalshid trades" in text
