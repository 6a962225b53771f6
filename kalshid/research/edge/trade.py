"""The trading part of the edge study: taker, maker and mean-reversion rules on Kalshi ladder paths.

Every rule sees one market's per-minute YES quotes from 14 minutes left down to 2 (the risk engine
takes no entries in the last minute), takes **at most one entry per market** (the first minute its
condition holds) of one contract, and is settled on the market's real result.

- **Taker**: buy YES at the ask close ``ac`` or NO at ``1 − bc``; fee = Kalshi's taker fee of a
  100-contract order at that price, per contract (:func:`kalshid.core.fees.taker_fee_cc`).
- **Maker** (post-only, fee 0 on KXSOL15M): a YES bid at the bid close ``bc`` or a NO bid at
  ``1 − ac`` (a YES offer at ``ac``), resting for the next minute; it can fill only if the market
  trades *through* it in that minute (next YES ask low ``< bc``, or next YES bid high ``> ac``), and
  then with the adverse-selection probabilities measured on Kalshi 15-minute crypto markets:
  P(fill | the order's side loses) = 0.962, P(fill | it wins) = 0.843. P&L and stake are expectations.
- **Mean reversion**: z-score of the mid against the mean of the previous ``lookback`` minutes'
  mids; ``z ≥ z0`` buys NO at ``1 − bc``, ``z ≤ −z0`` buys YES at ``ac`` (taker, fee as above).

**Stake** is the backtest report's (:mod:`kalshid.research.report`): the all-in cash a contract cost,
price and fee (``price + fee`` for a taker, ``price`` for a maker at fee 0), so that P&L per dollar
staked here and in a backtest report is one figure. For a maker it is an expectation like its P&L.

``fair`` is a function ``(ml, mid) → P(YES)``: the recalibrated market mid fitted on the training
period (the only fair value the shared data supports on every market).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import date

from kalshid.core.fees import taker_fee_cc
from kalshid.core.units import ONE_DOLLAR_CC
from kalshid.research.edge.data import LadderMarket, Quote

Fair = Callable[[int, float], float]
FIRST_ML, LAST_ML = 14, 2
P_FILL_LOSES, P_FILL_WINS = 0.962, 0.843
FEE_ORDER_SIZE = 100


@dataclass(frozen=True)
class Trade:
    """One contract: ``pnl`` net of the fee, ``stake`` the cash it cost (price and fee), in dollars."""

    day: date
    ticker: str
    ml: int
    side_yes: bool
    price: float
    pnl: float
    stake: float


def taker_fee(price: float) -> float:
    cc = round(price * ONE_DOLLAR_CC)
    return taker_fee_cc(FEE_ORDER_SIZE, cc) / FEE_ORDER_SIZE / ONE_DOLLAR_CC


def taker_trade(day: date, ticker: str, ml: int, yes: bool, price: float, won: bool) -> Trade:
    """One contract bought at ``price`` as a taker: it costs the price and the fee, pays $1 if it wins."""
    cost = price + taker_fee(price)
    return Trade(day, ticker, ml, yes, price, (1.0 if won else 0.0) - cost, cost)


def _taker(m: LadderMarket, q: Quote, yes: bool) -> Trade:
    price = q.ac if yes else 1.0 - q.bc
    return taker_trade(m.day, m.ticker, q.ml, yes, price, m.yes if yes else not m.yes)


def _minutes(m: LadderMarket) -> list[Quote]:
    return [m.quotes[ml] for ml in range(FIRST_ML, LAST_ML - 1, -1) if ml in m.quotes]


def all_taker_entries(markets: Sequence[LadderMarket]) -> list[Trade]:
    """Every market-minute, both sides, where the ask is inside (0, 1): the unconditional table."""
    out = []
    for m in markets:
        for q in _minutes(m):
            if q.ac < 1.0:
                out.append(_taker(m, q, True))
            if q.bc > 0.0:
                out.append(_taker(m, q, False))
    return out


def taker_rule(markets: Sequence[LadderMarket], fair: Fair, theta: float) -> list[Trade]:
    """Buy the side whose net edge ``p − ask − fee`` is largest and at least ``theta``."""
    out = []
    for m in markets:
        for q in _minutes(m):
            p = fair(q.ml, q.mid)
            edges = []
            if q.ac < 1.0:
                edges.append((p - q.ac - taker_fee(q.ac), True))
            if q.bc > 0.0:
                edges.append(((1 - p) - (1 - q.bc) - taker_fee(1 - q.bc), False))
            if edges and max(edges)[0] >= theta:
                out.append(_taker(m, q, max(edges)[1]))
                break
    return out


def maker_rule(markets: Sequence[LadderMarket], fair: Fair, theta: float) -> list[Trade]:
    """Rest a bid on each side whose ``fair − bid`` is at least ``theta``; first trade-through fills."""
    out = []
    for m in markets:
        for q in _minutes(m):
            nxt = m.quotes.get(q.ml - 1)
            if nxt is None:
                continue
            p = fair(q.ml, q.mid)
            fills = []
            if q.bc > 0.0 and p - q.bc >= theta and nxt.al < q.bc:
                fills.append((True, q.bc))
            if q.ac < 1.0 and (1 - p) - (1 - q.ac) >= theta and nxt.bh > q.ac:
                fills.append((False, 1.0 - q.ac))
            if not fills:
                continue
            for yes, price in fills:  # both sides traded through in one minute: both fill
                won = m.yes if yes else not m.yes
                pf = P_FILL_WINS if won else P_FILL_LOSES
                out.append(Trade(m.day, m.ticker, q.ml, yes, price, pf * ((1.0 if won else 0.0) - price),
                                 pf * price))
            break
    return out


def mean_reversion_rule(markets: Sequence[LadderMarket], z0: float, lookback: int = 5,
                        min_std: float = 0.005) -> list[Trade]:
    """Fade the mid's z-score against the previous ``lookback`` minutes (all present), taker."""
    out = []
    for m in markets:
        for q in _minutes(m):
            prev = [m.quotes[q.ml + k].mid for k in range(1, lookback + 1) if q.ml + k in m.quotes]
            if len(prev) < lookback:
                continue
            mean = sum(prev) / lookback
            std = math.sqrt(sum((v - mean) ** 2 for v in prev) / (lookback - 1))
            if std < min_std:
                continue
            z = (q.mid - mean) / std
            if z >= z0 and q.bc > 0.0:
                out.append(_taker(m, q, False))
                break
            if z <= -z0 and q.ac < 1.0:
                out.append(_taker(m, q, True))
                break
    return out


def per_dollar(trades: Sequence[Trade]) -> float:
    stake = sum(t.stake for t in trades)
    return sum(t.pnl for t in trades) / stake if stake else float("nan")
