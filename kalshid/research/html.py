"""The one-page HTML report: headline figures, the fill model and source as stated, the charts and
the calibration table. Self-contained apart from the PNGs beside it; every value is escaped."""

from __future__ import annotations

from html import escape
from typing import Any

_STYLE = ("body{font-family:sans-serif;max-width:1000px;margin:2em auto;color:#222}"
          "table{border-collapse:collapse;margin:1em 0}td,th{border:1px solid #ccc;padding:3px 8px;"
          "text-align:right}th{background:#f4f4f4}td:first-child,th:first-child{text-align:left}"
          "img{max-width:100%}code{background:#f4f4f4}")


def _fmt(v: Any) -> str:
    if v is None:
        return "–"
    if isinstance(v, float):
        return f"{v:.4f}"
    if isinstance(v, list | tuple) and len(v) == 2 and all(isinstance(x, float) for x in v):
        return f"[{v[0]:+.4f}, {v[1]:+.4f}]"
    return str(v)


def _days(bootstrap: dict[str, Any]) -> str:
    """The days the interval over days resamples, and the fewest it needs (it is "–" below that)."""
    days, least = bootstrap.get("days"), bootstrap.get("min_days")
    return "–" if days is None else f"{days}" + (f" (an interval needs {least})" if least and days < least else "")


def _table(rows: list[tuple[str, Any]]) -> str:
    body = "".join(f"<tr><th>{escape(k)}</th><td>{escape(_fmt(v))}</td></tr>" for k, v in rows)
    return f"<table>{body}</table>"


def render(summary: dict[str, Any], images: list[str]) -> str:
    period = summary.get("period", {})
    head = [
        ("period", f"{period.get('from') or 'start'} → {period.get('to') or 'end'}"),
        ("events replayed", summary["events"]), ("markets settled", summary["markets_settled"]),
        ("markets traded", summary["markets_traded"]), ("trades (fills)", summary["trades"]),
        ("contracts", summary["contracts"]), ("P&L net of fees ($)", summary["pnl"]), ("fees ($)", summary["fees"]),
        ("turnover ($)", summary["turnover"]),
        ("hit rate (settled positions in profit after fees)", summary["hit_rate"]),
        ("settled positions (won / all)", f"{summary['positions_won']} / {summary['positions_settled']}"),
        ("P&L per $ staked", summary["pnl_per_dollar_staked"]),
        ("95 % CI, resampling markets", summary["pnl_per_dollar_staked_ci95_markets"]),
        ("95 % CI, resampling days", summary["pnl_per_dollar_staked_ci95_days"]),
        ("days with settled trades", _days(summary.get("bootstrap", {}))),
        ("max drawdown ($)", summary["max_drawdown"]), ("max drawdown (fraction)", summary["max_drawdown_fraction"]),
    ]
    cal = summary.get("calibration", [])
    cal_rows = "".join(
        f"<tr><td>{escape(str(r['forecaster']))}</td><td>{r['minutes_left']}</td><td>{r['n']}</td>"
        f"<td>{r['brier']:.4f}</td><td>{r['log_loss']:.4f}</td><td>{r['ece']:.4f}</td></tr>" for r in cal)
    source = summary.get("source", {})
    fills = summary.get("fill_model", {})
    lists = "".join(f"<li><b>{escape(k)}</b>: {escape(', '.join(map(str, v)) if isinstance(v, list) else str(v))}"
                    "</li>" for k, v in source.items())
    fill_items = "".join(f"<li><b>{escape(k)}</b>: {escape(str(v))}</li>" for k, v in fills.items())
    imgs = "".join(f'<p><img src="{escape(i)}" alt="{escape(i)}"></p>' for i in images)
    return (f"<!doctype html><html><head><meta charset='utf-8'><title>kalshid backtest</title>"
            f"<style>{_STYLE}</style></head><body><h1>kalshid backtest</h1>{_table(head)}"
            f"<h2>Source</h2><ul>{lists}</ul><h2>Fill model</h2><ul>{fill_items}</ul>{imgs}"
            f"<h2>Calibration by minutes left</h2><table><tr><th>forecaster</th><th>min left</th><th>n</th>"
            f"<th>Brier</th><th>log loss</th><th>ECE</th></tr>{cal_rows}</table>"
            f"<h2>Counters</h2>{_table(list(summary.get('counters', {}).items()))}</body></html>\n")
