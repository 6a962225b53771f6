"""Validate simulator output against Kalshi's published OpenAPI (v3.31.0) / AsyncAPI specs (test helper).

The specs are found relative to the repository: ``<repo>/../shared/kalshi/{openapi,asyncapi}.yaml``.
A missing spec *fails* the test that needs it, naming the path it looked for; nothing is skipped.

Validation is strict: every object schema that lists ``properties`` (and says nothing about extra
keys) rejects keys it does not list, so a field Kalshi removed (``tick_size``, ``service``, an
integer-cent WS field…) fails as surely as a missing required one. Kalshi's error envelope
``{"error": ErrorResponse}`` is checked as exactly that: one ``error`` key holding an ``ErrorResponse``.
"""

from __future__ import annotations

import copy
import json
from functools import cache
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import yaml

from tests.conftest import SHARED_ROOT

SHARED = SHARED_ROOT / "kalshi"
OPENAPI = SHARED / "openapi.yaml"
ASYNCAPI = SHARED / "asyncapi.yaml"
OPENAPI_VERSION = "3.31.0"

WS_SCHEMAS = {
    "subscribed": "subscribedResponsePayload",
    "unsubscribed": "unsubscribedResponsePayload",
    "error": "errorResponsePayload",
    "orderbook_snapshot": "orderbookSnapshotPayload",
    "orderbook_delta": "orderbookDeltaPayload",
    "ticker": "tickerPayload",
    "trade": "tradePayload",
    "fill": "fillPayload",
    "user_order": "userOrderPayload",
    "market_position": "marketPositionPayload",
    "market_lifecycle_v2": "marketLifecycleV2Payload",
    "cfbenchmarks_value": "cfbenchmarksValuePayload",
    "cfbenchmarks_value_indexlist": "cfbenchmarksIndexListPayload",
}


def _convert(node: Any) -> Any:
    """OpenAPI 3.0 → strict JSON Schema: ``nullable`` becomes a null alternative, objects with listed
    ``properties`` get ``additionalProperties: false``, YAML 1.1 yes/no keys are fixed."""
    if isinstance(node, list):
        return [_convert(n) for n in node]
    if not isinstance(node, dict):
        return node
    out = {("yes" if k is True else "no" if k is False else k): _convert(v) for k, v in node.items()}
    if isinstance(out.get("properties"), dict) and "additionalProperties" not in out:
        out["additionalProperties"] = False
    if out.pop("nullable", False):
        if "type" in out and isinstance(out["type"], str):
            out["type"] = [out["type"], "null"]
            if "enum" in out:
                out["enum"] = [*out["enum"], None]
        else:
            out = {"anyOf": [out, {"type": "null"}]}
    out.pop("example", None)
    out.pop("examples", None)
    return out


@cache
def load_spec(path: Path) -> dict[str, Any]:
    """The converted spec at ``path``; fails the calling test (never skips) when it is missing."""
    if not path.is_file():
        pytest.fail(f"Kalshi spec not found: looked for {path} (the repository's ../shared/kalshi/)")
    loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)  # libyaml when present: 15x faster
    with path.open(encoding="utf-8") as fh:
        return _convert(yaml.load(fh, Loader=loader))  # type: ignore[no-any-return]


_VALIDATORS: dict[tuple[int, str], jsonschema.Draft202012Validator] = {}


def _validate(doc: dict[str, Any], schema: dict[str, Any], instance: Any) -> None:
    key = (id(doc), json.dumps(schema, sort_keys=True))
    validator = _VALIDATORS.get(key)
    if validator is None:  # building one walks the whole spec: build each once
        root = {"components": doc["components"], **copy.deepcopy(schema)}
        validator = _VALIDATORS[key] = jsonschema.Draft202012Validator(root)
    validator.validate(instance)


def _operation(path: str, method: str) -> dict[str, Any]:
    doc = load_spec(OPENAPI)
    assert path in doc["paths"], f"openapi.yaml has no path {path}"
    op = doc["paths"][path].get(method.lower())
    assert op is not None, f"openapi.yaml has no {method.upper()} {path}"
    return op  # type: ignore[no-any-return]


def validate_rest(path: str, method: str, status: int, body: Any) -> None:
    """Validate a REST response against ``paths[path][method].responses[status]``: the status must be
    one the operation declares; a declared body schema must match; a bodiless status must have no body.
    Error bodies are the ``{"error": ErrorResponse}`` envelope."""
    doc = load_spec(OPENAPI)
    responses = _operation(path, method)["responses"]
    response = responses.get(str(status)) or responses.get(status)
    assert response is not None, f"spec declares no {status} for {method.upper()} {path} (has {sorted(responses)})"
    while "$ref" in response:
        response = doc["components"]["responses"][response["$ref"].rsplit("/", 1)[1]]
    content = response.get("content")
    if content is None:  # a bodiless success, or an error the spec describes without a schema
        if status >= 400:
            validate_error(body)
        else:
            assert body in (None, b"", ""), f"{method} {path} {status} has no body in the spec, got {body!r}"
        return
    schema = content["application/json"]["schema"]
    if status >= 400:
        validate_error(body)
        _validate(doc, schema, body["error"])
    else:
        _validate(doc, schema, body)


def validate_error(body: Any) -> None:
    """Kalshi's error envelope: exactly ``{"error": ErrorResponse}`` with a code and a message."""
    doc = load_spec(OPENAPI)
    assert isinstance(body, dict) and set(body) == {"error"}, f"not an error envelope: {body!r}"
    _validate(doc, {"$ref": "#/components/schemas/ErrorResponse"}, body["error"])
    assert isinstance(body["error"].get("code"), str) and isinstance(body["error"].get("message"), str)


def validate_request(path: str, method: str, body: Any) -> None:
    """Validate a request body against the operation's ``requestBody`` schema."""
    doc = load_spec(OPENAPI)
    schema = _operation(path, method)["requestBody"]["content"]["application/json"]["schema"]
    _validate(doc, schema, body)


def validate_ws(message: dict[str, Any]) -> None:
    """Validate one WS message by its ``type`` against the AsyncAPI payload schemas."""
    doc = load_spec(ASYNCAPI)
    kind = message["type"]
    if kind == "ok":
        msg = message.get("msg")
        if isinstance(msg, list):
            name = "listSubscriptionsResponsePayload"
        elif isinstance(msg, dict) and "index_ids" in msg:
            name = "subscribedIndicesResponsePayload"
        else:
            name = "okResponsePayload"
    elif kind == "market_lifecycle_v2" and message.get("msg", {}).get("event_type") == "metadata_updated":
        name = "marketMetadataUpdatedPayload"  # the channel's other message, a schema of its own
    else:
        assert kind in WS_SCHEMAS, f"message type {kind!r} has no schema mapping"
        name = WS_SCHEMAS[kind]
    _validate(doc, {"$ref": f"#/components/schemas/{name}"}, message)


def openapi_version() -> str:
    return str(load_spec(OPENAPI)["info"]["version"])
