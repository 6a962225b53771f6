"""Startup reconciliation: the journal and the exchange agree before a single order is sent.

Steps, each against the exchange (never a guess):

1. every intent the journal has as ``pending`` or ``in_flight`` (a crash between journaling and the
   answer) is looked up by ``client_order_id``: found → its real state is applied; not found → it never
   reached the exchange and is marked ``rejected``;
2. every order resting on the exchange is matched to the journal (by ``client_order_id``, else by
   ``order_id``; one naming neither is read by its ``order_id`` first, :mod:`.orderowner`); unknown ones
   are *adopted* (journaled and flagged as external, counted by risk) and alerted, as an error naming
   the orders of ours it may be when one in its market has no ``order_id`` yet
   (``orders_of_uncertain_owner`` in the summary);
3. journal orders still open are refreshed from the exchange (they may have filled or been cancelled
   while we were down);
4. fills since the last one seen, and every fill of an order with more contracts filled (on the
   exchange as steps 1-3 read it, or in the journal) than the journal has booked (read by its market,
   whatever their time: a decision recovered from the intent log, or an order whose feed fill was
   still to come, may have filled before the journal's last booked fill), are joined with their orders by
   ``order_id`` (:mod:`kalshid.trading.fillowner`) and booked as the exchange netted them
   (:mod:`kalshid.trading.netting`; idempotent by ``fill_id``), settlements likewise. An order given up
   as never sent (not found by ``client_order_id``, earlier or in step 1) that shows up here or in step 2
   was sent after all: it is read and the journal takes it back with the exchange's state
   (``orders_taken_back`` in the summary);
5. the portfolio is rebuilt from the journal's fills and settlements, cash is taken from the exchange's
   balance, and every position is compared with the exchange's: any difference is a
   :class:`ReconciliationError` naming the market's exchange fills the journal lacks, and the daemon
   does not trade.

Items of the account with a fractional count in markets kalshid does not trade (traded there by hand)
are left out of the exchange's answers by the client and reported here instead: logged, listed in the
summary as ``fractional_elsewhere`` (``/api/status``, ``reconciliation``), and their markets left out of
the position comparison. One in a market kalshid trades makes a read fail with a message saying what,
where and what to do: reconciliation fails and the daemon does not trade.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime

from kalshid.core.audit import Difference, position_differences
from kalshid.core.portfolio import Portfolio, PortfolioError
from kalshid.core.vocab import Action, Side
from kalshid.exchange.base import Exchange
from kalshid.exchange.errors import ExchangeError, NotFound
from kalshid.exchange.types import Fill, Order
from kalshid.logs import get_logger
from kalshid.store import Journal, records
from kalshid.trading.convert import external_order, journal_fill, journal_settlement, order_update
from kalshid.trading.fillowner import FillOwners
from kalshid.trading.messages import LiveOrder
from kalshid.trading.netting import AccountHoldings, oldest_first
from kalshid.trading.orderowner import client_id_from_read, orders_without_order_id, uncertain_detail

log = get_logger("kalshid.reconcile")

TAKEN_BACK = records.UpdateOutcome.TAKEN_BACK
UNBOOKED_SHOWN = 20  # exchange fills named in a position mismatch's error, at most


class ReconciliationError(Exception):
    """The journal and the exchange disagree in a way that needs an operator; trading stays off."""


async def reconcile(exchange: Exchange, journal: Journal, now: datetime) -> tuple[Portfolio, dict[str, LiveOrder],
                                                                                  dict[str, object]]:
    """Run every step above; return the rebuilt portfolio, the live orders and a summary for the API."""
    summary: dict[str, object] = {}
    open_orders: dict[str, LiveOrder] = {}

    # 1. intents of unknown outcome
    resolved = never_sent = 0
    learned: list[Order] = []  # orders read in steps 1-3: step 4 books their fills
    for rec in await journal.unacknowledged_intents():
        order = await exchange.resolve_in_flight(rec.client_order_id, ticker=rec.ticker)
        if order is None:
            await journal.apply_order_update(records.OrderUpdate(
                state=records.OrderState.REJECTED, ts=now, filled=0, remaining=0, fees_cc=0,
                client_order_id=rec.client_order_id, source="reconcile", gives_up=True,
                detail="not on the exchange after restart: never sent"))
            never_sent += 1
            continue
        await journal.apply_order_update(order_update(order, ts=now, source="reconcile"))
        learned.append(order)
        resolved += 1
        if order.is_open:
            open_orders[rec.client_order_id] = LiveOrder(rec.client_order_id, rec.strategy, rec.ticker,
                                                         Side(rec.side.value), rec.action,
                                                         rec.price_cc, order.remaining_count, order.order_id)
    summary["in_flight_resolved"] = resolved
    summary["in_flight_never_sent"] = never_sent

    # 2. resting orders on the exchange
    adopted = taken_back = 0
    uncertain: list[dict[str, object]] = []
    exchange_open = await exchange.list_orders(status="resting")
    learned += exchange_open
    for order in exchange_open:
        known = await _journaled(journal, order)
        if known is None and not order.client_order_id:  # it may be ours, its answer lost (orderowner)
            order = await client_id_from_read(exchange, order) or order
            known = await _journaled(journal, order)
        if known is None or known.external:
            cid, new = await journal.adopt_external_order(external_order(order, ts=now))
            adopted += int(new)
            candidates = await orders_without_order_id(journal, order.ticker) if new and not order.client_order_id \
                else []
            if candidates:
                log.error("order of uncertain owner taken as external: it may be one of ours",
                          order_id=order.order_id, market=order.ticker, candidates=candidates,
                          detail=uncertain_detail(order.order_id, order.ticker, order.status, candidates, "reconcile"))
                uncertain.append({"order_id": order.order_id, "ticker": order.ticker, "candidates": candidates})
            elif new:
                log.warning("external order adopted: resting on the exchange, not placed by this daemon",
                            order_id=order.order_id, market=order.ticker)
            open_orders[cid] = LiveOrder(cid, "external", order.ticker, Side(order.side),
                                         Action(order.action or "buy"), order.price_cc,
                                         order.remaining_count, order.order_id)
            continue
        taken_back += await journal.apply_order_update(order_update(order, ts=now, source="reconcile")) is TAKEN_BACK
        open_orders[known.client_order_id] = LiveOrder(known.client_order_id, known.strategy, known.ticker,
                                                       Side(known.side.value), known.action,
                                                       known.price_cc, order.remaining_count, order.order_id)
    summary["external_orders_adopted"] = adopted
    summary["orders_of_uncertain_owner"] = uncertain

    # 3. journal orders open but no longer resting on the exchange
    still_open = {o.order_id for o in exchange_open}
    refreshed = 0
    for live in await journal.live_orders():
        if live.order_id is None or live.order_id in still_open or live.client_order_id in open_orders:
            continue
        try:
            order = await exchange.get_order(live.order_id)
        except NotFound:
            log.error("journal order unknown to the exchange", order_id=live.order_id,
                      client_order_id=live.client_order_id)
            continue
        await journal.apply_order_update(order_update(order, ts=now, source="reconcile"))
        learned.append(order)
        refreshed += 1
    summary["orders_refreshed"] = refreshed

    # 4. fills and settlements since the last ones seen
    last = await journal.last_fill_seen()
    new_fills = 0
    owners = FillOwners(journal, exchange)
    holdings = AccountHoldings(journal)
    nets = bool(getattr(exchange, "nets_positions", True))
    raws = {f.fill_id: f for f in await exchange.list_fills(since=last.ts if last else None)}
    for f in await _fills_of_unbooked_orders(exchange, journal, learned):
        raws.setdefault(f.fill_id, f)
    filled_orders: dict[str, str] = {}  # client_order_id -> order_id of our orders with fills here
    for raw in oldest_first(raws.values()):
        fill, owner = await owners.resolve(raw)
        if owner is not None:
            filled_orders[owner.client_order_id] = raw.order_id
        parts = await holdings.split(fill) if nets else [fill]
        if not parts:
            continue  # booked before
        strategy = owner.strategy if owner else None
        written = await journal.record_fill_parts([journal_fill(part, ts=now, strategy=strategy)
                                                   for part in parts])
        if not written[0]:
            continue  # booked before
        for part in parts:
            holdings.booked(part)
            new_fills += 1
    summary["fills_booked"] = new_fills
    for cid, order_id in filled_orders.items():
        given = await journal.get_order_by_client_id(cid)
        if given is None or not given.given_up:
            continue
        order = await exchange.get_order(order_id)
        taken_back += await journal.apply_order_update(order_update(order, ts=now, source="reconcile")) is TAKEN_BACK
        if order.is_open:
            open_orders[cid] = LiveOrder(cid, given.strategy, given.ticker, Side(given.side.value), given.action,
                                         given.price_cc, order.remaining_count, order.order_id)
    summary["orders_taken_back"] = taken_back
    new_settlements = 0
    mismatches: list[str] = []
    for s in await exchange.list_settlements():
        record, new = await journal.record_settlement(journal_settlement(s, ts=now))
        new_settlements += int(new)
        if new and record.check is records.JournalCheck.MISMATCH:
            mismatches.append(f"{s.ticker}: {record.check_detail}")
    summary["settlements_booked"] = new_settlements
    if mismatches:
        log.error("settlements do not match the journal", mismatches=mismatches)
    summary["settlement_mismatches"] = mismatches

    # 5. portfolio from the journal, cash from the exchange, positions compared
    portfolio = await rebuild_portfolio(journal)
    balance = await exchange.get_balance()
    portfolio = Portfolio(balance.balance_cc, portfolio.positions, portfolio.realized_pnl_cc, portfolio.fees_paid_cc)
    exchange_positions = {p.ticker: p.position for p in await exchange.list_positions() if p.position != 0}
    aside = list(getattr(exchange, "fractional_elsewhere", ()))
    left_alone = {e.ticker for e in aside}
    if aside:
        log.warning("fractional counts in markets kalshid does not trade: left alone",
                    items=[e.describe() for e in aside])
    summary["fractional_elsewhere"] = [e.describe() for e in aside]
    differences = position_differences(portfolio.positions, exchange_positions, left_alone)
    summary["positions"] = {t: (p.yes_count, p.no_count) for t, p in portfolio.positions.items()}
    summary["cash_cc"] = balance.balance_cc
    if differences:
        raise ReconciliationError("positions differ between the journal and the exchange: "
                                  + await describe_differences(exchange, journal, differences.values()))
    return portfolio, open_orders, summary


async def _journaled(journal: Journal, order: Order) -> records.OrderRecord | None:
    """The journal's record of ``order``: by its ``client_order_id``, else by its exchange ``order_id``."""
    known = await journal.get_order_by_client_id(order.client_order_id) if order.client_order_id else None
    return known if known is not None else await journal.get_order_by_order_id(order.order_id)


async def describe_differences(exchange: Exchange, journal: Journal, differences: Iterable[Difference]) -> str:
    """The differences, one a clause, and the exchange fills of those markets the journal lacks (or
    that there are none): what an operator needs to tell a missed fill from a change at the exchange."""
    differences = list(differences)
    unbooked = await _unbooked_fills(exchange, journal, [d.ticker for d in differences])
    shown = ", ".join(unbooked[:UNBOOKED_SHOWN]) + (f" and {len(unbooked) - UNBOOKED_SHOWN} more"
                                                    if len(unbooked) > UNBOOKED_SHOWN else "")
    return ("; ".join(d.describe() for d in differences)
            + ("; exchange fills not in the journal: " + shown if unbooked
               else "; every exchange fill of these markets is in the journal"))


async def _fills_of_unbooked_orders(exchange: Exchange, journal: Journal, orders: Iterable[Order]) -> list[Fill]:
    """Every exchange fill of each order short of its fills: in ``orders`` (read from the exchange) or in
    the journal (its ``filled`` count above the contracts booked; netted parts add up to the fill),
    read by market with no time bound."""
    short: dict[str, set[str]] = {}
    for order_id, ticker in await journal.orders_short_of_fills():
        short.setdefault(ticker, set()).add(order_id)
    for order in orders:
        if order.fill_count <= 0 or order.order_id in short.get(order.ticker, ()):
            continue
        booked = await journal.list_fills(order_id=order.order_id, limit=1000)
        if sum(f.count for f in booked.items) < order.fill_count:
            short.setdefault(order.ticker, set()).add(order.order_id)
    out: list[Fill] = []
    for ticker, order_ids in sorted(short.items()):
        out += [f for f in await exchange.list_fills(ticker=ticker) if f.order_id in order_ids]
    return out


async def _unbooked_fills(exchange: Exchange, journal: Journal, tickers: Iterable[str]) -> list[str]:
    """The exchange fills of ``tickers`` whose ``fill_id`` the journal lacks, described for the operator."""
    out: list[str] = []
    for ticker in tickers:
        booked = {f.fill_id for f in await journal.all_fills(ticker=ticker)}
        try:
            fills = await exchange.list_fills(ticker=ticker)
        except ExchangeError as exc:
            out.append(f"{ticker}: fills not readable ({type(exc).__name__}: {exc})")
            continue
        for f in fills:
            if f.fill_id not in booked:
                when = f.ts.isoformat() if f.ts else "?"
                out.append(f"{f.fill_id} (order {f.order_id}, {f.ticker}, {f.count} at {when})")
    return out


async def rebuild_portfolio(journal: Journal) -> Portfolio:
    """Replay every journaled fill and settlement, in time order, through the pure portfolio (fills of
    the same time in the order they were booked, settlements after them)."""
    fills = await journal.fills_in_time_order()
    settlements = {r.settlement.ticker: r.settlement for r in await journal.settlements()}
    events: list[tuple[datetime, int, object]] = [(f.ts, 0, f) for f in fills]
    events += [(s.settled_ts, 1, s) for s in settlements.values()]
    portfolio = Portfolio(0)
    from kalshid.core.portfolio import Fill as CoreFill

    for _ts, _kind, item in sorted(events, key=lambda e: (e[0], e[1])):  # stable: ties keep the fills' order
        if isinstance(item, records.Fill):
            try:
                portfolio = portfolio.apply_fill(CoreFill(item.ticker, Side(item.side.value), Action(item.action.value),
                                                          item.count, item.price_cc, item.fee_cc, item.ts))
            except PortfolioError as exc:
                raise ReconciliationError(f"journal fills do not replay: {exc}") from exc
        elif isinstance(item, records.Settlement) and item.result.value in ("yes", "no"):
            portfolio = portfolio.settle(item.ticker, Side(item.result.value))
    return portfolio


async def strategy_holdings(journal: Journal, open_tickers: frozenset[str]) -> dict[tuple[str, str, str], int]:
    """Contracts each strategy holds in the markets still open, from the journal's fills."""
    out: dict[tuple[str, str, str], int] = {}
    for ticker in open_tickers:
        for f in await journal.all_fills(ticker=ticker):
            if f.strategy:
                key = (f.strategy, f.ticker, f.side.value)
                out[key] = out.get(key, 0) + (f.count if f.action.value == "buy" else -f.count)
    return {k: v for k, v in out.items() if v > 0}


__all__ = ["ExchangeError", "ReconciliationError", "rebuild_portfolio", "reconcile"]
