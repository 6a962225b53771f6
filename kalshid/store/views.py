"""Journal records as the control plane shows them (``/api/orders``, ``/api/trades``, ``/api/pnl``,
``kalshid ctl`` and ``kalshid journal``): one JSON shape each, money as dollar strings."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from kalshid.core.units import format_dollars
from kalshid.store import records
from kalshid.store.sql_read import PnlGrouping

JSON = dict[str, Any]

# an order status as the control plane names it (``?status=``) -> the journal's states it covers
STATUS_STATES: Mapping[str, tuple[records.OrderState, ...]] = {
    "resting": (records.OrderState.RESTING, records.OrderState.PARTIALLY_FILLED),
    "in_flight": (records.OrderState.PENDING, records.OrderState.IN_FLIGHT),
    "executed": (records.OrderState.EXECUTED,),
    "canceled": (records.OrderState.CANCELED,),
    "rejected": (records.OrderState.REJECTED,),
}


def order_json(o: records.OrderRecord) -> JSON:
    return {"id": o.client_order_id, "client_order_id": o.client_order_id, "order_id": o.order_id,
            "ts": o.ts.isoformat(), "strategy": o.strategy, "ticker": o.ticker, "side": o.side.value,
            "action": o.action.value, "price": format_dollars(o.price_cc), "count": o.count,
            "status": o.state.value, "filled": o.filled, "remaining": o.remaining,
            "fees": format_dollars(o.fees_cc), "external": o.external}


def fill_json(f: records.Fill) -> JSON:
    return {"id": f.fill_id, "fill_id": f.fill_id, "order_id": f.order_id, "client_order_id": f.client_order_id,
            "ts": f.ts.isoformat(), "strategy": f.strategy, "ticker": f.ticker, "side": f.side.value,
            "action": f.action.value, "count": f.count, "price": format_dollars(f.price_cc),
            "fee": format_dollars(f.fee_cc), "is_taker": f.is_taker}


def decision_json(d: records.Decision) -> JSON:
    s = d.signal
    verdict = None if d.approved is None else "approved" if d.approved else "refused"
    return {"id": d.signal_id, "ts": s.ts.isoformat(), "strategy": s.strategy, "ticker": s.ticker,
            "action": s.action.value, "side": s.side.value, "count": s.count, "price": format_dollars(s.price_cc),
            "fair": round(s.fair_prob, 4), "edge": round(s.edge, 4), "verdict": verdict, "reason": d.reason_code,
            "detail": d.detail, "order": d.client_order_id, "ordered": d.ordered, "signal_reason": s.reason}


def pnl_grouping(group_by: str) -> PnlGrouping:
    """The journal's grouping for the control plane's ``group_by`` (``window`` is the market's ticker)."""
    groupings: Mapping[str, PnlGrouping] = {"day": "day", "strategy": "strategy", "window": "ticker"}
    if group_by not in groupings:
        raise ValueError(f"group by day, strategy or window, not {group_by!r}")
    return groupings[group_by]


def pnl_json(rows: Sequence[records.PnlRow], group_by: str) -> list[JSON]:
    """P&L rows keyed by ``group_by`` (``day``, ``strategy`` or ``window``)."""
    return [{group_by: r.key, "realized": format_dollars(r.realized_cc), "fees": format_dollars(r.fees_cc),
             "net": format_dollars(r.net_cc), "fills": r.fills, "contracts": r.contracts} for r in rows]
