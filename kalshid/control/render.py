"""Human-readable rendering of control results for ``kalshid ctl`` (pure: data in, text out)."""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping, Sequence
from decimal import Decimal, InvalidOperation
from typing import Any, Final


def _cell(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, Mapping | list):
        return json.dumps(value, separators=(",", ":"), sort_keys=True)
    return str(value)


def table(rows: Sequence[Mapping[str, Any]]) -> str:
    """A left-aligned text table; columns are the union of keys in order of first appearance."""
    if not rows:
        return "(none)"
    columns: list[str] = []
    for row in rows:
        columns.extend(k for k in row if k not in columns)
    cells = [[_cell(row.get(c)) for c in columns] for row in rows]
    widths = [max(len(c), *(len(r[i]) for r in cells)) for i, c in enumerate(columns)]
    lines = ["  ".join(c.upper().ljust(w) for c, w in zip(columns, widths, strict=True)).rstrip()]
    lines += ["  ".join(v.ljust(w) for v, w in zip(r, widths, strict=True)).rstrip() for r in cells]
    return "\n".join(lines)


def key_values(obj: Mapping[str, Any]) -> str:
    """``key  value`` lines, keys aligned. A nested object is a section: its key alone on a line, its
    own keys below it, indented (narrow enough for a phone's terminal); a list of plain values is one
    comma-separated cell, and a list of objects one compact JSON line per object."""
    if not obj:
        return "ok"
    return "\n".join(_key_value_lines(obj, ""))


_INDENT: Final = "  "


def _key_value_lines(obj: Mapping[str, Any], indent: str) -> list[str]:
    width = max(len(str(k)) for k in obj)
    lines: list[str] = []
    for key, value in obj.items():
        label = f"{indent}{str(key).ljust(width)}"
        if isinstance(value, Mapping) and value:
            lines.append(f"{indent}{key}")
            lines += _key_value_lines(value, indent + _INDENT)
        elif isinstance(value, list) and value and all(isinstance(v, Mapping) for v in value):
            lines.append(f"{indent}{key}")
            lines += [f"{indent}{_INDENT}{_cell(v)}" for v in value]
        elif isinstance(value, list):
            lines.append(f"{label}  {', '.join(_cell(v) for v in value) if value else '(none)'}")
        elif isinstance(value, Mapping):
            lines.append(f"{label}  (none)")
        else:
            lines.append(f"{label}  {_cell(value)}")
    return [line.rstrip() for line in lines]


def render(result: Any) -> str:
    """Render any command result: a page (``items`` + ``cursor``), a list of rows, an object, a scalar."""
    if (
        isinstance(result, Mapping)
        and isinstance(result.get("items"), list)
        and set(result)
        <= {
            "items",
            "cursor",
        }
    ):
        text = table(result["items"])
        if result.get("cursor"):
            text += f"\n(more: --cursor {result['cursor']})"
        return text
    if isinstance(result, list) and all(isinstance(r, Mapping) for r in result):
        return table(result)
    if isinstance(result, Mapping):
        return key_values(result)
    return "ok" if result is None else _cell(result)


def _pct(used: Decimal | None, limit: Decimal | None) -> str:
    if used is None or not limit:
        return "-"
    return f"{used / limit * 100:.0f}%"


def _dec(value: Any) -> Decimal | None:
    try:
        return Decimal(str(value)) if value is not None else None
    except InvalidOperation:
        return None


def render_pnl(rows: Sequence[Mapping[str, Any]]) -> str:
    """P&L rows plus a total line (exact: dollar strings summed as Decimals)."""
    if not rows:
        return "(no realised P&L yet)"
    text = table(rows)
    totals = {k: sum((_dec(r.get(k)) or Decimal(0) for r in rows), Decimal(0)) for k in ("realized", "fees", "net")}
    return text + "\nTOTAL  " + "  ".join(f"{k} {v:.4f}" for k, v in totals.items())


def _page(page: Mapping[str, Any], columns: Sequence[str]) -> str:
    """A page of rows (``items`` + ``cursor``) as a table of ``columns``, then how to ask for more."""
    text = table([{k: row.get(k) for k in columns} for row in page.get("items", [])])
    if page.get("cursor"):
        text += f"\n(more: --cursor {page['cursor']})"
    return text


def render_trades(page: Mapping[str, Any]) -> str:
    return _page(page, ("ts", "strategy", "ticker", "action", "side", "count", "price", "fee", "is_taker"))


def render_orders(page: Mapping[str, Any]) -> str:
    """Orders, newest first; ``id`` is the client order id (the exchange's ``order_id`` and the
    repeated ``client_order_id`` are in ``--json``)."""
    return _page(page, ("ts", "id", "strategy", "ticker", "action", "side", "price", "count", "filled",
                        "remaining", "status", "fees", "external"))


def render_decisions_page(page: Mapping[str, Any]) -> str:
    """Journaled decisions, newest first: the signal, the verdict and its reason, the order it became
    (the verdict's detail and the signal's reason are in ``--json``)."""
    return _page(page, ("ts", "strategy", "ticker", "action", "side", "count", "price", "edge", "verdict",
                        "reason", "ordered", "order"))


def render_risk(risk: Mapping[str, Any]) -> str:
    """Each limit with its usage and the share used, then the breaker."""
    limits, usage, breaker = risk.get("limits", {}), risk.get("usage", {}), risk.get("breaker", {})
    windows = [_dec(v) for v in (usage.get("exposure_by_window") or {}).values()]
    worst_window = max((w for w in windows if w is not None), default=Decimal(0))
    rows = [
        {"limit": "open positions", "used": usage.get("open_positions"), "max": limits.get("max_concurrent_positions"),
         "share": _pct(_dec(usage.get("open_positions")), _dec(limits.get("max_concurrent_positions")))},
        {"limit": "daily loss (realised + worst case)", "used": usage.get("loss_measure"),
         "max": limits.get("max_daily_loss"),
         "share": _pct(_dec(usage.get("loss_measure")), _dec(limits.get("max_daily_loss")))},
        {"limit": "worst window exposure", "used": f"{worst_window:.4f}", "max": limits.get("max_window_exposure"),
         "share": _pct(worst_window, _dec(limits.get("max_window_exposure")))},
        {"limit": "order size", "used": "-", "max": limits.get("max_position_size"), "share": "-"},
    ]
    lines = [table(rows), ""]
    state = str(breaker.get("state", "?")).upper()
    lines.append(f"breaker {state}{' (TRIPPED)' if breaker.get('tripped') else ''}: peak equity "
                 f"{breaker.get('peak_equity')}, day start {breaker.get('day_start_equity')}, trips at "
                 f"{limits.get('breaker_drawdown_fraction')} drawdown or {limits.get('breaker_daily_loss_fraction')} "
                 f"daily loss")
    lines.append(f"resting orders {usage.get('resting_orders')}, realised today {usage.get('realized_today')}, "
                 f"entry cut-off {limits.get('entry_cutoff_seconds')} s, "
                 f"max data age {limits.get('max_data_age_seconds')} s")
    return "\n".join(lines)


def render_strategies(strategies: Sequence[Mapping[str, Any]]) -> str:
    """Each strategy as a section: its name and whether it is enabled, then its parameters, one a line
    (named as ``PUT /api/strategies/NAME/params`` and the dashboard take them)."""
    if not strategies:
        return "(none)"
    return "\n".join(
        key_values({f"{s.get('name')} ({'enabled' if s.get('enabled') else 'disabled'})": s.get("params") or {}})
        for s in strategies)


def _percents(values: Any) -> str | None:
    """``{"kelly_volatility": 0.5855}`` as ``kelly_volatility 58.6%`` (the dashboard's figures), entries
    joined by ", "; a value that is not a number is shown as it is; nothing to show: None."""
    if not isinstance(values, Mapping) or not values:
        return None
    shown = []
    for key, value in values.items():
        number = value if isinstance(value, int | float) and not isinstance(value, bool) else None
        shown.append(f"{key} {number * 100:.1f}%" if number is not None else f"{key} {_cell(value)}")
    return ", ".join(shown)


def _fees(fees: Any) -> str | None:
    """A market's fee structure as ``quadratic x1``, with ``(entries refused)`` when it is not the one
    kalshid models or is not known."""
    if not isinstance(fees, Mapping):
        return None
    shown = f"{fees.get('fee_type')} x{fees.get('fee_multiplier')}" if fees.get("fee_type") else "unknown"
    return shown if fees.get("modelled") else f"{shown} (entries refused)"


def render_markets(markets: Mapping[str, Any]) -> str:
    """Current and next window side by side (fair values and edges as percents, as the dashboard
    shows them, and the fee structure on the exchange), then the index."""
    rows = []
    for label in ("current", "next"):
        m = markets.get(label)
        if not isinstance(m, Mapping):
            rows.append({"window": label, "ticker": None})
            continue
        rows.append({"window": label, "ticker": m.get("ticker"), "strike": m.get("floor_strike"),
                     "closes": m.get("close_time"), "yes_bid": m.get("yes_bid"), "yes_ask": m.get("yes_ask"),
                     "fair": _percents(m.get("fair_value")), "edge": _percents(m.get("edge")),
                     "fees": _fees(m.get("fees"))})
    index = markets.get("index") or {}
    return table(rows) + f"\nindex {index.get('id')}: {index.get('value')} at {index.get('ts')}"


def render_decisions(snapshot: Mapping[str, Any]) -> str:
    """Per strategy: the last signal, the verdict and its reason; then verdict counts per reason."""
    rows = []
    for name, d in (snapshot.get("strategies") or {}).items():
        sig, verdict = d.get("last_signal") or {}, d.get("last_verdict") or {}
        price = sig.get("price") if sig.get("price") is not None else sig.get("price_cc")
        rows.append({
            "strategy": name,
            "last_signal": f"{sig.get('action')} {sig.get('count')} {sig.get('side')} {sig.get('ticker')} @ {price}"
            if sig else None,
            "verdict": ("approved" if verdict.get("approved") else "refused") if verdict else None,
            "reason": verdict.get("reason"),
            "detail": verdict.get("detail"),
            "at": verdict.get("ts") or sig.get("ts"),
        })
    if not rows:
        return "(no signal since the daemon started: volatility warm-up, or no edge yet)"
    reasons = snapshot.get("reasons") or {}
    counts = ", ".join(f"{k} x{v}" for k, v in reasons.items())
    return table(rows) + (f"\nverdicts since start: {counts}" if counts else "")


VIEWS: Final[Mapping[str, Callable[[Any], str]]] = {
    "pnl": render_pnl,
    "orders": render_orders,
    "trades": render_trades,
    "strategies": render_strategies,
    "risk": render_risk,
    "markets": render_markets,
    "decisions": render_decisions,
}


def render_view(command: str, result: Any) -> str:
    """The human view of ``command``'s result (`VIEWS`), or the generic `render`."""
    view = VIEWS.get(command)
    return view(result) if view is not None else render(result)
