"""The simulator's long-lived Trio tasks: lifecycle driver, index publisher, makers and takers.

Each task reads simulated time from the venue's clock, calls the pure engine/models, then
publishes the engine's events. Internal liquidity runs as separate users (``maker``, ``taker``)
with their own large balances; their orders are ordinary engine orders.
"""

from __future__ import annotations

import logging
from decimal import ROUND_HALF_EVEN, Decimal
from typing import Any

import trio

from kalshid.core.markets import AVERAGING_SECONDS, INDEX_ID
from kalshid.core.vocab import Action, Side, TimeInForce
from kalshid.sim import lifecycle, wsmsg
from kalshid.sim.counts import CONTRACT, contracts
from kalshid.sim.index import sigma_from_source
from kalshid.sim.makers import InformedTaker, MakerModel, fair_yes
from kalshid.sim.model import ExchangeError, Market, OrderRequest
from kalshid.sim.venue import Venue

log = logging.getLogger("kalshid.sim")
_TICK = Decimal("0.0001")
SIGMA_FLOOR = 1e-5  # per √s; a perfectly flat index would otherwise give a degenerate fair value


async def lifecycle_task(venue: Venue, *, task_status: Any = trio.TASK_STATUS_IGNORED) -> None:
    """List, open, close, determine and settle markets on schedule. Started after the first step,
    so the current window's market exists when the server starts answering."""
    nxt = lifecycle.step(venue.exchange, venue.index, venue.now())
    venue.publish()
    task_status.started()
    while True:
        await venue.clock.sleep_until(nxt)
        nxt = lifecycle.step(venue.exchange, venue.index, venue.now())
        venue.publish()


def index_message(venue: Venue, ts: int) -> dict[str, Any]:
    """The ``cfbenchmarks_value`` body for second ``ts`` (shape: :func:`kalshid.sim.wsmsg.cfbenchmarks_value`)."""
    prints = {t: venue.index.print_at(t) for t in range(ts - AVERAGING_SECONDS, ts + 1)}
    return wsmsg.cfbenchmarks_value(INDEX_ID, ts, prints)


def _avg(values: list[Decimal]) -> Decimal:
    return (sum(values, Decimal(0)) / len(values)).quantize(_TICK, rounding=ROUND_HALF_EVEN)


async def index_task(venue: Venue, *, task_status: Any = trio.TASK_STATUS_IGNORED) -> None:
    """One ``cfbenchmarks_value`` print per simulated second; also expires orders each second."""
    task_status.started()
    ts = int(venue.now()) + 1
    while True:
        await venue.clock.sleep_until(ts)
        if venue.hub.connections:
            venue.hub.publish_index(INDEX_ID, index_message(venue, ts))
        if venue.exchange.expire_orders(ts):
            venue.publish()
        ts = max(ts + 1, int(venue.now()))


def active_market(venue: Venue, now: float) -> Market | None:
    for m in venue.exchange.markets.values():
        if m.status == "active" and m.window.open_time.timestamp() <= now < m.window.close_time.timestamp():
            return m
    return None


class SigmaEstimate:
    """Realized σ per √s over the last 15 minutes, recomputed once per simulated minute."""

    def __init__(self, venue: Venue) -> None:
        self.venue = venue
        self._minute: int | None = None
        self._sigma = SIGMA_FLOOR

    def at(self, now: float) -> float:
        minute = int(now) // 60
        if minute != self._minute:
            self._minute = minute
            self._sigma = max(sigma_from_source(self.venue.index, minute * 60, 900), SIGMA_FLOOR)
        return self._sigma


class MarketContext:
    """What the liquidity models need about the open market at ``now``."""

    def __init__(self, venue: Venue, market: Market, now: float, sigma: SigmaEstimate) -> None:
        ts = int(now)
        close = int(market.window.close_time.timestamp())
        self.market = market
        self.index = venue.index.print_at(ts)
        self.seconds_to_close = close - now
        self.sigma = sigma.at(now)
        first = close - AVERAGING_SECONDS
        self.closing_avg: Decimal | None = (
            _avg([venue.index.print_at(t) for t in range(first, ts)]) if first < ts < close else None
        )


def _submit(venue: Venue, user: str, order: OrderRequest, now: float) -> None:
    try:
        venue.exchange.place_order(user, order, now)
    except ExchangeError as exc:  # e.g. the market closed between the check and now; expected, logged
        log.debug("internal order refused", extra={"user": user, "code": exc.code, "reason": exc.message})


async def maker_task(
    venue: Venue, model: MakerModel, user: str, *, task_status: Any = trio.TASK_STATUS_IGNORED
) -> None:
    """Reconcile the makers' desired bids with their resting orders every ``refresh_delay_s``."""
    task_status.started()
    ex = venue.exchange
    sigma = SigmaEstimate(venue)
    while True:
        now = venue.now()
        market = active_market(venue, now)
        if market is not None and market.floor_strike is not None:
            ctx = MarketContext(venue, market, now, sigma)
            pos = ex.account(user).position(market.ticker)
            quotes = model.quotes(
                now,
                ctx.index,
                market.floor_strike,
                ctx.seconds_to_close,
                ctx.sigma,
                closing_avg_so_far=ctx.closing_avg,
                inventory=(pos.yes - pos.no) // CONTRACT,
            )
            wanted: dict[tuple[str, int], int] = {}
            for q in quotes:
                wanted[(q.side, q.price_cc)] = wanted.get((q.side, q.price_cc), 0) + contracts(q.count)
            for order in [
                o
                for o in ex.orders.values()
                if o.user_id == user and o.status == "resting" and o.ticker == market.ticker
            ]:
                key = (order.side, order.price_cc)
                want = wanted.pop(key, 0)
                if want >= order.remaining_count:
                    if want > order.remaining_count:
                        wanted[key] = want - order.remaining_count
                    continue
                if want == 0:
                    ex.cancel_order(user, order.order_id, now)
                else:
                    ex.decrease_order(user, order.order_id, reduce_to=want, now=now)
            for (side, price), count in wanted.items():
                _submit(
                    venue,
                    user,
                    OrderRequest(market.ticker, side, "buy", count, price),  # type: ignore[arg-type]
                    now,
                )
            venue.publish()
        await venue.clock.sleep(max(model.refresh_delay_s, 0.5))


async def taker_task(
    venue: Venue, taker: InformedTaker, user: str, *, task_status: Any = trio.TASK_STATUS_IGNORED
) -> None:
    """Once per simulated second, let the informed/noise taker send its IOC buys."""
    task_status.started()
    ex = venue.exchange
    sigma = SigmaEstimate(venue)
    while True:
        await venue.clock.sleep(1.0)
        now = venue.now()
        market = active_market(venue, now)
        if market is None or market.floor_strike is None:
            continue
        ctx = MarketContext(venue, market, now, sigma)
        fair = fair_yes(ctx.index, market.floor_strike, ctx.seconds_to_close, ctx.sigma, ctx.closing_avg)
        yes, no = ex.books[market.ticker].best_bid(Side.YES), ex.books[market.ticker].best_bid(Side.NO)
        for order in taker.decide(now, fair, yes[0] if yes else None, no[0] if no else None):
            _submit(
                venue,
                user,
                OrderRequest(
                    market.ticker,
                    order.side,
                    Action.BUY,
                    contracts(order.count),
                    order.price_cc,
                    time_in_force=TimeInForce.IMMEDIATE_OR_CANCEL,
                ),
                now,
            )
        venue.publish()
