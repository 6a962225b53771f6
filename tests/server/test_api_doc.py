"""docs/api.md names every route, WebSocket message and ``kalshid ctl`` command there is, and nothing else."""

from __future__ import annotations

import re
from pathlib import Path

from kalshid.control.broadcaster import Broadcaster
from kalshid.control.cli import CLI_COMMANDS
from kalshid.control.commands import WS_COMMANDS
from kalshid.control.fake import FakeDaemon
from kalshid.metrics import Metrics
from kalshid.server.app import create_app
from kalshid.server.compat import SEED_MESSAGES
from kalshid.server.settings import ApiSettings

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
    missing = {name for name in WS_COMMANDS | SEED_MESSAGES if f"`{name}`" not in ws}
    ctl = text[text.index("## `kalshid ctl`"):]
    missing |= {f"ctl {name}" for name in CLI_COMMANDS if not re.search(rf"(?<![\w-]){re.escape(name)}(?![\w-])", ctl)}
    assert missing == set()
