"""No input produces a 500; the OpenAPI document lists every route; /docs is self-contained."""

from __future__ import annotations

import json
import re
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from jsonschema import Draft202012Validator
from quart_trio import QuartTrio

from kalshid.server.openapi import build_openapi
from kalshid.server.routes import ROUTES, ApiContext
from tests.server.conftest import AUTH

_PATHS = [r.path.replace("{name}", "fair_value") for r in ROUTES] + ["/api/strategies/x/params", "/ws", "/"]
_text = st.text(alphabet=st.characters(codec="utf-8", exclude_categories=["Cs"]), max_size=40)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    method=st.sampled_from(["GET", "POST", "PUT", "DELETE", "PATCH", "OPTIONS"]),
    path=st.sampled_from(_PATHS),
    query=st.dictionaries(
        st.sampled_from(["limit", "cursor", "since", "until", "ticker", "status", "group_by", "x"]),
        _text,
        max_size=3,
    ),
    body=st.one_of(
        st.binary(max_size=200),
        st.builds(
            lambda o: json.dumps(o).encode(),
            st.recursive(
                st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | _text,
                lambda inner: st.lists(inner, max_size=3) | st.dictionaries(_text, inner, max_size=3),
                max_leaves=8,
            ),
        ),
    ),
    authed=st.booleans(),
)
async def test_fuzzed_requests_never_500(
    client: Any, method: str, path: str, query: dict[str, str], body: bytes, authed: bool
) -> None:
    resp = await client.open(
        path, method=method, headers=AUTH if authed else {}, query_string=query, data=body
    )
    assert resp.status_code < 500, (method, path, query, body, await resp.get_data())
    if resp.status_code >= 400:
        assert "error" in json.loads(await resp.get_data())


async def test_openapi_lists_every_registered_route(app_ctx: tuple[QuartTrio, ApiContext]) -> None:
    app, ctx = app_ctx
    doc = json.loads(ctx.openapi_json)
    assert doc["openapi"].startswith("3.")
    registered = {
        (method, re.sub(r"<(\w+)>", r"{\1}", rule.rule))
        for rule in app.url_map.iter_rules()
        if rule.endpoint not in ("static", "ws", "dashboard")
        for method in rule.methods or ()
        if method not in ("HEAD", "OPTIONS")
    }
    documented = {(m.upper(), p) for p, ops in doc["paths"].items() for m in ops}
    assert registered == documented
    assert {(r.method, r.path) for r in ROUTES} <= documented


def test_openapi_structure_is_valid() -> None:
    doc = build_openapi(ROUTES)
    assert set(doc) >= {"openapi", "info", "paths", "components"}
    op_ids = []
    for path, ops in doc["paths"].items():
        assert path.startswith("/")
        for method, op in ops.items():
            assert method in {"get", "post", "put"}
            op_ids.append(op["operationId"])
            assert "200" in op["responses"]
            for param in op.get("parameters", []):
                assert param["in"] in {"query", "path"}
                Draft202012Validator.check_schema(param["schema"])
                if param["in"] == "path":
                    assert "{" + param["name"] + "}" in path and param["required"]
            for response in op["responses"].values():
                for media in response.get("content", {}).values():
                    schema = media["schema"]
                    if "$ref" not in schema:
                        Draft202012Validator.check_schema(schema)
            secured = op.get("security") != []
            assert secured == (path != "/api/health")
            assert ("401" in op["responses"]) == secured
    assert len(op_ids) == len(set(op_ids))
    Draft202012Validator.check_schema(doc["components"]["schemas"]["Error"])


async def test_docs_page_is_self_contained(client: Any) -> None:
    resp = await client.get("/docs", headers=AUTH)
    html = await resp.get_data(as_text=True)
    assert resp.status_code == 200 and resp.content_type.startswith("text/html")
    assert "<script" not in html.lower()
    assert not re.search(r"""(src|href)=['"]?(https?:)?//""", html)
    for route in ROUTES:
        assert route.path in html


async def test_openapi_and_docs_need_the_token_like_everything_but_health(client: Any) -> None:
    for path in ("/openapi.json", "/docs"):
        assert (await client.get(path)).status_code == 401
    resp = await client.get("/openapi.json", headers=AUTH)
    assert resp.status_code == 200
    assert "/api/status" in (await resp.get_json())["paths"]
