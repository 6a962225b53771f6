"""docs/api.md names every route, WebSocket message and ``kalshid ctl`` command there is, and nothing else;
the OpenAPI document lists every status a route answers when the daemon refuses it."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest
from quart_trio import QuartTrio

from kalshid.control.api import ControlError
from kalshid.control.broadcaster import EVENT_TYPES, Broadcaster
from kalshid.control.cli import CLI_COMMANDS
from kalshid.control.commands import WS_COMMANDS
from kalshid.control.fake import FakeDaemon
from kalshid.metrics import Metrics
from kalshid.server.app import create_app
from kalshid.server.compat import SEED_MESSAGES
from kalshid.server.routes import ApiContext
from kalshid.server.settings import ApiSettings
from tests.server.conftest import AUTH

API_MD = Path(__file__).resolve().parents[2] / "docs" / "api.md"
# a row of the REST table: | METHOD | `/path` | what |
ROW = re.compile(r"^\| (GET|POST|PUT|DELETE|PATCH) \| `([^`]+)` \|", re.MULTILINE)
# served, and described in their own places: the dashboard's page and files (dashboard.md), the WebSocket
UNTABLED = {"/", "/static/{filename}", "/ws"}


def served_routes() -> set[tuple[str, str]]:
    app, _ = create_app(FakeDaemon(Broadcaster()), ApiSettings(token="t" * 32), token="t" * 32,
                        broadcaster=Broadcaster(), metrics=Metrics())
    out = set()
    for rule in app.url_map.iter_rules():
        path = re.sub(r"<(?:\w+:)?(\w+)>", r"{\1}", rule.rule)
        if path in UNTABLED:
            continue
        out |= {(method, path) for method in rule.methods or () if method not in ("HEAD", "OPTIONS")}
    return out


def test_the_rest_table_lists_every_route_the_server_has() -> None:
    documented = set(ROW.findall(API_MD.read_text()))
    served = served_routes()
    assert ("GET", "/api/status") in served and ("GET", "/api/status") in documented
    assert {"undocumented": served - documented, "not served": documented - served} == \
        {"undocumented": set(), "not served": set()}


def test_every_websocket_message_and_ctl_command_is_named() -> None:
    text = API_MD.read_text()
    ws = text[text.index("## WebSocket"):text.index("## `kalshid ctl`")]
    missing = {name for name in WS_COMMANDS | SEED_MESSAGES | EVENT_TYPES if f"`{name}`" not in ws}
    ctl = text[text.index("## `kalshid ctl`"):]
    missing |= {f"ctl {name}" for name in CLI_COMMANDS if not re.search(rf"(?<![\w-]){re.escape(name)}(?![\w-])", ctl)}
    assert missing == set()


# What the daemon's DaemonControl may refuse as a conflict (a stage stopping or not started, the breaker
# tripped, no market data yet, a strategy gated on real money): each route that reaches one must say so.
REFUSING = ("start", "stop", "stop_entry", "cancel_all", "reset_breaker", "enable_strategy", "disable_strategy",
            "set_strategy_params", "reload", "risk")


async def test_a_refused_command_answers_a_status_its_openapi_entry_lists(
        app_ctx: tuple[QuartTrio, ApiContext], fake: FakeDaemon, monkeypatch: pytest.MonkeyPatch) -> None:
    async def refuse(*args: Any) -> Any:
        raise ControlError(None, "refused in the current state", code="conflict")

    for name in REFUSING:
        monkeypatch.setattr(fake, name, refuse)
    app, ctx = app_ctx
    client = app.test_client()
    doc = json.loads(ctx.openapi_json)
    undocumented = []
    for path, ops in doc["paths"].items():
        for method, op in ops.items():
            body = {"json": {"min_edge": 0.05}} if method == "put" else {}
            resp = await client.open(path.replace("{name}", "kelly_volatility"), method=method.upper(),
                                     headers=AUTH, **body)
            if str(resp.status_code) not in op["responses"]:
                undocumented.append(f"{method.upper()} {path}: {resp.status_code}")
    assert "409" in doc["paths"]["/api/start"]["post"]["responses"]
    assert undocumented == []
