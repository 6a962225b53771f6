"""The ``markets`` component: which windows kalshid follows, found on the exchange and rolled over.

:class:`Markets` waits for the exchange's time (the feed's first index print), finds the open window
and the next one, subscribes the feed to them and publishes them in ``TradingState.current_market`` /
``next_market`` and, for the strategy stage, as a new :class:`~kalshid.trading.messages.FollowMarkets`
in ``TradingState.follow`` (the stage applies it in its own turn), then reports started: the strategy
knows the markets before it folds its first event. It refreshes every ``MARKET_POLL_S``
(of exchange time) or as soon as ``Pipeline.markets_changed`` is set (a lifecycle event of the series, the strategy
seeing a window close); a failed refresh is logged and retried on the next round.

Fees: each refresh also brings the followed markets' fee structure up to date (:class:`FeeWatch`, which
reads only what is due) and publishes it in ``TradingState.market_fees`` / ``fee_refusals`` together
with the markets, so risk refuses buys in a market whose structure is not kalshid's model or not known.
The feed's ``event_fee_update`` is applied as it arrives; after the feed reconnects, a refresh starts at
once and reads the followed events' fee structures again (an update may have been missed meanwhile).

Lifetime: started after the venue and the feed (it uses the REST client and subscribes the feed), and
ended before them; the stages started after it rely on the markets being known.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import trio

from kalshid.config import Config
from kalshid.core.tracker import MarketInfo
from kalshid.daemon.supervisor import Runtime
from kalshid.exchange.base import EventFeeUpdated
from kalshid.exchange.errors import ExchangeError
from kalshid.exchange.kalshi.discovery import find_next_market, find_open_market
from kalshid.exchange.types import Market
from kalshid.logs import get_logger
from kalshid.research.recording import MarketListing
from kalshid.trading.exchangeclock import ExchangeClock
from kalshid.trading.feed import Feed
from kalshid.trading.fees import FeeWatch
from kalshid.trading.messages import FollowMarkets, Pipeline

log = get_logger("kalshid.pipeline")

MARKET_POLL_S = 5.0
CLOCK_WAIT_LOG_S = 30


async def wait_for_exchange_time(clock: ExchangeClock) -> None:
    """Until the feed has told the exchange's time; says so every 30 s, never gives up."""
    waited = 0
    while not clock.known:
        with trio.move_on_after(CLOCK_WAIT_LOG_S):
            await clock.wait_known()
        if not clock.known:
            waited += CLOCK_WAIT_LOG_S
            log.warning("no exchange time yet: waiting for the feed's first index print", waited_s=waited)


class Markets:
    """The markets component of one daemon (module docstring)."""

    def __init__(self, cfg: Config, p: Pipeline, clock: ExchangeClock, feed: Feed,
                 publish: Callable[[str, dict[str, Any]], None]) -> None:
        self.cfg = cfg
        self.p = p
        self.clock = clock
        self.feed = feed
        self.publish = publish
        self.fees = FeeWatch(lambda kind, data: self.p.publish(kind, data))  # alerts, as every stage's
        feed.on_fee_update = self.apply_fee_update
        feed.on_reconnected = self.feed_reconnected

    async def run(self, runtime: Runtime, *, task_status: trio.TaskStatus[Any] = trio.TASK_STATUS_IGNORED) -> None:
        await wait_for_exchange_time(self.clock)
        await self.refresh()
        task_status.started()

        async with trio.open_nursery() as nursery:
            async def stop_on_shutdown() -> None:
                # a discovery under way is only reads (and a resubscription the stop makes moot): it is
                # cancelled, not waited for, so an exchange that does not answer cannot hold the stop
                await runtime.shutdown.wait()
                nursery.cancel_scope.cancel()

            nursery.start_soon(stop_on_shutdown)
            await self._poll(runtime)
            nursery.cancel_scope.cancel()

    async def _poll(self, runtime: Runtime) -> None:
        speed = self.cfg.sim.speed if self.p.sim_handle is not None else 1.0
        while not runtime.shutdown.is_set():
            with trio.move_on_after(MARKET_POLL_S / speed):
                await self.p.markets_changed.wait()
            self.p.markets_changed = trio.Event()
            if runtime.shutdown.is_set():
                break
            try:
                await self.refresh()
            except ExchangeError as exc:
                log.warning("market discovery failed; retrying", error=f"{type(exc).__name__}: {exc}")

    async def refresh(self) -> None:
        """Find the open and the next window now; subscribe the feed and announce them if they changed."""
        exchange = self.p.require_exchange()
        now = self.clock.now()
        status = await exchange.get_exchange_status()
        current = await find_open_market(exchange, now) if status.trading_active else None
        nxt = await find_next_market(exchange, current.close_time if current else now) if current else None
        # judged before the markets are announced (no checkpoint between the two): risk never sees a market
        # followed whose fee structure has not been judged, so a market not read yet refuses buys
        await self.fees.refresh(exchange, [m for m in (current, nxt) if m is not None], now)
        state = self.p.state
        old = (state.current_market.ticker if state.current_market else None,
               state.next_market.ticker if state.next_market else None)
        state.current_market, state.next_market = current, nxt
        state.exchange_trading_active = status.trading_active
        new = (current.ticker if current else None, nxt.ticker if nxt else None)
        followed = [m for m in (current, nxt) if m is not None]
        state.market_fees, state.fee_refusals = self.fees.markets, self.fees.refusals
        if self.feed.recorder is not None:  # before the strategy can apply (and record) the message below
            for m in followed:
                self.feed.record(MarketListing(m.ticker, m.open_time, m.close_time, m.floor_strike))
        state.follow = FollowMarkets(tuple(_info(m) for m in followed), new[0])
        if new != old:
            assert self.p.feed is not None, "the feed starts before the markets"
            await self.p.feed.set_markets([m.ticker for m in followed])
            log.info("markets", current=new[0], next=new[1], trading_active=status.trading_active)
            self.publish("market_update", {"current": new[0], "next": new[1],
                                           "trading_active": status.trading_active})


    def apply_fee_update(self, update: EventFeeUpdated) -> None:
        """The feed's ``event_fee_update``: applied to the followed markets' fee structures at once (risk
        reads ``fee_refusals`` on the next proposal), not at the next refresh."""
        if self.fees.apply_update(update):
            state = self.p.state
            state.market_fees, state.fee_refusals = self.fees.markets, self.fees.refusals

    def feed_reconnected(self) -> None:
        """The feed reconnected: an ``event_fee_update`` may have been missed while it was away, so the
        followed events' fee structures are read again, at a refresh started now."""
        self.fees.feed_reconnected()
        self.p.markets_changed.set()


def _info(m: Market) -> MarketInfo:
    return MarketInfo(m.ticker, m.open_time, m.close_time,
                      float(m.floor_strike) if m.floor_strike is not None else None)
