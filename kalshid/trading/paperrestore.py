"""A dry run continues where it stopped: the paper account is rebuilt from the dry-run journal at start.

A dry run against a real exchange (demo, prod, an external ``kalshid sim``) keeps its journal across
restarts, stamped with the paper account's identity (:func:`kalshid.store.identity.paper_identity`).
:func:`restore_paper_account` replays it into the new, empty :class:`~kalshid.exchange.paper.PaperExchange`
before startup reconciliation runs, so the two agree by construction:

* cash is the paper bankroll of the journal's first run plus every journaled fill's cash flow and fee
  and every settlement's revenue; positions come from the journaled fill parts (netted as the live
  path nets them); the paper account lists the same fills (same ``fill_id``) and settlements;
* the bankroll is the journal's: a ``trading.bankroll`` changed between runs does not rewrite the
  history of a dry run, it is logged (``paper_bankroll_changed``) and applies to a fresh dry-run journal;
* paper orders the journal has resting at the stop are cancelled in the journal with
  :data:`CANCELLED_AT_RESTART` as the reason, never resurrected (the book they waited in is gone);
* markets held that closed while the daemon was down are settled by reconciliation's read of
  settlements (:meth:`~kalshid.exchange.paper.PaperExchange.settle_ended_markets`, from the
  exchange's published result).
"""

from __future__ import annotations

from datetime import datetime

from kalshid.core.portfolio import PortfolioError
from kalshid.core.units import ONE_DOLLAR_CC
from kalshid.exchange.paper_account import PaperAccount
from kalshid.exchange.types import Fill, Settlement
from kalshid.logs import get_logger
from kalshid.store import Journal, records
from kalshid.trading.reconcile import ReconciliationError

log = get_logger("kalshid.exchange.paper")

BANKROLL_KEY = "paper_bankroll_cc"
CANCELLED_AT_RESTART = "dry run restarted: a paper order resting at the stop is cancelled, not resurrected"
_RESTING = (records.OrderState.RESTING, records.OrderState.PARTIALLY_FILLED)


async def paper_bankroll(journal: Journal, configured_cc: int) -> int:
    """The paper account's starting cash: the journal's (stored by its first run), else ``configured_cc``
    (stored now). A different ``configured_cc`` is logged, not applied."""
    stored = await journal.get_meta(BANKROLL_KEY)
    if stored is None:
        await journal.set_meta(BANKROLL_KEY, str(configured_cc))
        return configured_cc
    bankroll = int(stored)
    if bankroll != configured_cc:
        log.warning("paper_bankroll_changed", journal_bankroll_cc=bankroll, configured_bankroll_cc=configured_cc,
                    detail="the dry-run journal's bankroll stays; move the journal away to start with the new one")
    return bankroll


async def restore_paper_account(paper: PaperAccount, journal: Journal, now: datetime) -> dict[str, int]:
    """Cancel the journal's resting paper orders and replay its fills and settlements into ``paper``
    (unused, started with :func:`paper_bankroll`); returns counts for the log. Raises
    :class:`~kalshid.trading.reconcile.ReconciliationError` when the fills do not replay (a sale of
    more than was held): the daemon does not start on a dry-run history it cannot account for."""
    cancelled = 0
    for order in await journal.live_orders():
        if order.order_id is None or order.state not in _RESTING:
            continue  # not acknowledged: reconciliation finds it never reached the paper account
        await journal.apply_order_update(records.OrderUpdate(
            state=records.OrderState.CANCELED, ts=now, filled=order.filled, remaining=0, fees_cc=order.fees_cc,
            client_order_id=order.client_order_id, order_id=order.order_id, source="restart",
            detail=CANCELLED_AT_RESTART))
        log.info("paper_order_cancelled_at_restart", order_id=order.order_id,
                 client_order_id=order.client_order_id, market=order.ticker, remaining=order.remaining)
        cancelled += 1
    fills = [_fill(f) for f in await journal.fills_in_time_order()]
    settlements = [_settlement(r.settlement) for r in await journal.settlements()]
    try:
        paper.restore(fills, settlements)
    except PortfolioError as exc:
        raise ReconciliationError(f"the dry-run journal {journal.path} does not replay into a paper account "
                                  f"({exc}): move it away to start the dry run afresh") from None
    counts = {"fills": len(fills), "settlements": len(settlements), "orders_cancelled": cancelled,
              "cash_cc": paper.cash_cc}
    log.info("paper_account_restored", **counts)
    return counts


def _fill(f: records.Fill) -> Fill:
    yes_price = f.price_cc if f.side.value == "yes" else ONE_DOLLAR_CC - f.price_cc
    return Fill(fill_id=f.fill_id, order_id=f.order_id, ticker=f.ticker, side=f.side.value, action=f.action.value,
                count=f.count, yes_price_cc=yes_price, no_price_cc=ONE_DOLLAR_CC - yes_price, is_taker=f.is_taker,
                fee_cc=f.fee_cc, ts=f.ts, client_order_id=f.client_order_id)


def _settlement(s: records.Settlement) -> Settlement:
    # the costs settled are the account's basis then: PaperAccount.restore fills them in
    return Settlement(ticker=s.ticker, event_ticker=s.ticker.rsplit("-", 1)[0], market_result=s.result.value,
                      yes_count=s.yes_count, no_count=s.no_count, yes_total_cost_cc=0, no_total_cost_cc=0,
                      revenue_cc=s.revenue_cc, fee_cc=s.fee_cc, settled_time=s.settled_ts,
                      value_cc=s.yes_payout_cc)
