"""Show a configuration to people and logs: flat ``key -> value`` with secrets redacted.

Money is shown in dollars (``"500.0000"``), as it is written in the config. An API key id keeps its
first 4 characters; tokens and passphrases are replaced entirely. Used by ``kalshid config check``,
the startup log line, and the SIGHUP reload diff.
"""

import datetime as dt
import json
from collections.abc import Mapping
from decimal import Decimal
from typing import Any

from kalshid.config.loader import LoadedConfig
from kalshid.config.rules import Leaf, leaves
from kalshid.config.schema import Config
from kalshid.core.units import format_dollars
from kalshid.exchange.kalshi.auth import redact_key_id

REDACTED = "<redacted>"


def _display(leaf: Leaf, value: Any) -> Any:
    if leaf.secret and value:
        return redact_key_id(value) if leaf.secret == "prefix" else REDACTED
    if leaf.is_money:
        return format_dollars(value)
    if isinstance(value, tuple):
        return list(value)
    if isinstance(value, dt.datetime):
        return value.isoformat()
    if isinstance(value, Decimal):
        return str(value)
    return value


def flat_view(config: Config) -> dict[str, Any]:
    """Every key's effective value, JSON-ready and redacted."""
    return {leaf.key: _display(leaf, _raw(config, leaf)) for leaf in leaves()}


def render_text(loaded: LoadedConfig) -> str:
    """One line per key: ``key = value    # source``, then the derived journal path."""
    view = flat_view(loaded.config)
    width = max(len(k) for k in view)
    lines = [f"{k.ljust(width)} = {json.dumps(v, ensure_ascii=False)}    # {loaded.sources[k]}"
             for k, v in view.items()]
    lines.append(f"{'(journal database)'.ljust(width)} = {json.dumps(loaded.config.journal_path)}"
                 "    # derived from journal.*, exchange.env and trading.dry_run")
    return "\n".join(lines)


def render_json(loaded: LoadedConfig) -> str:
    """``{"config_file", "dotenv_file", "journal_path", "settings": {key: {"value", "source"}}}``."""
    view = flat_view(loaded.config)
    doc = {
        "config_file": str(loaded.config_file) if loaded.config_file else None,
        "dotenv_file": str(loaded.dotenv_file) if loaded.dotenv_file else None,
        "journal_path": loaded.config.journal_path,
        "settings": {k: {"value": v, "source": loaded.sources[k]} for k, v in view.items()},
    }
    return json.dumps(doc, indent=2, ensure_ascii=False)


def diff(old: Config, new: Config) -> dict[str, tuple[Any, Any]]:
    """Keys whose (redacted) value differs: ``{key: (old, new)}``. A changed secret shows as redacted."""
    if old == new:
        return {}
    before: Mapping[str, Any] = flat_view(old)
    after = flat_view(new)
    changed = {k: (before[k], after[k]) for k in after if before[k] != after[k]}
    for leaf in leaves():  # redaction can hide a change (same 4-char prefix); still report it
        if leaf.secret and leaf.key not in changed and _raw(old, leaf) != _raw(new, leaf):
            changed[leaf.key] = (before[leaf.key], after[leaf.key])
    return changed


def _raw(config: Config, leaf: Leaf) -> Any:
    value: Any = config
    for name in leaf.attr_path:
        value = getattr(value, name)
    return value
