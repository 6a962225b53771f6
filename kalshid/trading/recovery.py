"""Before the first order: the trading state rebuilt from the exchange and the journal.

:func:`recover` is the first half of the ``execution`` component (it reports started only after it):
it waits for the exchange's time, reconciles (:func:`kalshid.trading.reconcile.reconcile`) until that
succeeds, retrying with backoff and logging each attempt's differences, and then restores the state
the stages start from: portfolio, strategy holdings, open orders, day ledger, the circuit breaker (a
HALTED breaker stays HALTED across a restart) and the operator's decisions.

The feed's events are let into the stages' inboxes for the length of each attempt, so nothing that
happens during a successful one is lost (fills are idempotent; everything before the attempt is read
from the exchange by it); after a failed one they are discarded and kept out until the next attempt,
so the feed never blocks on an inbox nobody reads.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import trio

from kalshid.config import Config
from kalshid.config.limits import breaker_config
from kalshid.core.breaker import Breaker, BreakerStatus
from kalshid.core.risk import DayLedger
from kalshid.exchange.errors import ExchangeError
from kalshid.logs import get_logger
from kalshid.trading.exchangeclock import ExchangeClock
from kalshid.trading.feed import Feed
from kalshid.trading.markets import wait_for_exchange_time
from kalshid.trading.messages import Pipeline
from kalshid.trading.operator_state import restore_operator_state, save_operator_state
from kalshid.trading.orderowner import uncertain_detail
from kalshid.trading.reconcile import ReconciliationError, reconcile, strategy_holdings

log = get_logger("kalshid.pipeline")

RECONCILE_RETRY_S = (1.0, 2.0, 5.0, 10.0, 30.0)


async def recover(cfg: Config, p: Pipeline, clock: ExchangeClock, feed: Feed,
                  inboxes: tuple[trio.MemoryReceiveChannel[Any], ...],
                  publish: Callable[[str, dict[str, Any]], None],
                  param_overrides: dict[str, dict[str, Any]], *, start_stopped: bool = False) -> bool:
    """Reconcile until it succeeds, then restore the trading state (module docstring). ``inboxes`` are
    the stages' inboxes the feed fills (emptied after a failed attempt). ``start_stopped``: trading
    stays stopped whatever the journal says, and the stop is journaled as the operator's (``kalshid
    run --stopped``). Returns whether the operator state came back from the journal."""
    exchange = p.require_exchange()
    journal = p.require_journal()
    await wait_for_exchange_time(clock)
    attempt = 0
    while True:
        feed.deliver_to_stages(True)
        try:
            now = clock.now()
            portfolio, open_orders, summary = await reconcile(exchange, journal, now)
            break
        except (ExchangeError, ReconciliationError) as exc:
            feed.deliver_to_stages(False)
            discarded = sum(_discard_waiting(inbox) for inbox in inboxes)
            delay = RECONCILE_RETRY_S[min(attempt, len(RECONCILE_RETRY_S) - 1)]
            attempt += 1
            log.error("reconciliation failed: not trading; retrying", error=f"{type(exc).__name__}: {exc}",
                      attempt=attempt, retry_in_s=delay, feed_events_discarded=discarded)
            p.state.reconciliation = {"ok": False, "error": str(exc), "attempt": attempt}
            publish("alert", {"level": "error", "kind": "reconciliation_failed", "detail": str(exc),
                              "attempt": attempt})
            await trio.sleep(delay)
    state = p.state
    state.portfolio = portfolio
    p.orders.load(open_orders, await strategy_holdings(journal, portfolio.open_tickers()))
    state.exchange_balance_cc = portfolio.cash_cc
    state.ledger = DayLedger.start(now, portfolio)
    equity = portfolio.equity_cc()
    breaker = Breaker.start(now, equity, breaker_config(cfg))
    last = await journal.latest_equity()
    events = await journal.breaker_events()
    if last is not None:
        breaker = Breaker(breaker.config, breaker.status, breaker.day, breaker.day_start_equity_cc,
                          max(equity, last.peak_cc))
    if events and events[-1].to_state == BreakerStatus.HALTED.value:
        breaker = Breaker(breaker.config, BreakerStatus.HALTED, breaker.day, breaker.day_start_equity_cc,
                          breaker.peak_equity_cc)
        log.critical("circuit breaker is HALTED from before the restart; reset it to trade")
    state.breaker = breaker
    state.peak_equity_cc = breaker.peak_equity_cc
    restored = await restore_operator_state(p, param_overrides, now) is not None
    if start_stopped and p.trading_enabled:
        p.trading_enabled = False  # before the stages start, as a restored stop is
        p.publish_execution()  # the state journaled is read from the snapshot
        await save_operator_state(p, param_overrides)
        log.warning("trading stopped from the start (kalshid run --stopped, or trading.start_stopped): "
                    "nothing is sent until `kalshid ctl start`")
    p.publish_execution()
    p.publish_risk()
    state.started_at = now
    state.ready = True
    state.reconciliation = {"ok": True, **summary}
    uncertain = summary.get("orders_of_uncertain_owner")
    for item in uncertain if isinstance(uncertain, list) else ():  # each logged as an error by reconcile
        publish("alert", {"level": "error", "kind": "order_owner_uncertain", **item, "detail": uncertain_detail(
            item["order_id"], item["ticker"], "resting", item["candidates"], "reconcile")})
    log.info("reconciled", **{k: v for k, v in summary.items() if k != "positions"},
             positions=summary.get("positions"), open_orders=len(open_orders),
             breaker=breaker.status.value)
    return restored


def _discard_waiting(inbox: trio.MemoryReceiveChannel[Any]) -> int:
    """Drop what waits in ``inbox`` (only feed events can, before the stages start); return how many."""
    n = 0
    while True:
        try:
            inbox.receive_nowait()
        except (trio.WouldBlock, trio.EndOfChannel):
            return n
        n += 1
