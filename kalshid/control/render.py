"""Human-readable rendering of control results for ``kalshid ctl`` (pure: data in, text out)."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any


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
    """``key: value`` lines, keys aligned; nested objects shown as compact JSON."""
    if not obj:
        return "ok"
    width = max(len(k) for k in obj)
    return "\n".join(f"{k.ljust(width)}  {_cell(v)}" for k, v in obj.items())


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
