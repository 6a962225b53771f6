"""Validate simulator output against Kalshi's published OpenAPI / AsyncAPI specs (test helper)."""

from __future__ import annotations

import copy
from functools import cache
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import yaml

SHARED = Path(__file__).resolve().parents[2] / "../shared/kalshi"
OPENAPI = SHARED / "openapi.yaml"
ASYNCAPI = SHARED / "asyncapi.yaml"

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
}


def _convert(node: Any) -> Any:
    """OpenAPI 3.0 → JSON Schema: ``nullable`` becomes a null alternative; YAML 1.1 yes/no keys fixed."""
    if isinstance(node, list):
        return [_convert(n) for n in node]
    if not isinstance(node, dict):
        return node
    out = {("yes" if k is True else "no" if k is False else k): _convert(v) for k, v in node.items()}
    if out.pop("nullable", False):
        if "type" in out and isinstance(out["type"], str):
            out["type"] = [out["type"], "null"]
            if "enum" in out:
                out["enum"] = [*out["enum"], None]
        else:
            out = {"anyOf": [out, {"type": "null"}]}
    out.pop("example", None)
    return out


@cache
def _load(path: Path) -> dict[str, Any]:
    if not path.exists():
        pytest.skip(f"{path} is absent")
    with path.open() as fh:
        return _convert(yaml.safe_load(fh))  # type: ignore[no-any-return]


def _validate(doc: dict[str, Any], schema: dict[str, Any], instance: Any) -> None:
    root = {"components": doc["components"], **copy.deepcopy(schema)}
    jsonschema.Draft202012Validator(root).validate(instance)


def validate_rest(path: str, method: str, status: int, body: Any) -> None:
    """Validate a REST response body against ``paths[path][method].responses[status]``."""
    doc = _load(OPENAPI)
    responses = doc["paths"][path][method.lower()]["responses"]
    response = responses.get(str(status)) or responses.get(status)
    assert response is not None, f"spec has no {status} response for {method} {path}"
    while "$ref" in response:
        response = doc["components"]["responses"][response["$ref"].rsplit("/", 1)[1]]
    schema = response["content"]["application/json"]["schema"]
    _validate(doc, schema, body)


def validate_ws(message: dict[str, Any]) -> None:
    """Validate one WS message by its ``type`` (cfbenchmarks_value is newer than the spec copy)."""
    doc = _load(ASYNCAPI)
    kind = message["type"]
    if kind == "ok":
        name = (
            "listSubscriptionsResponsePayload"
            if isinstance(message.get("msg"), list)
            else "okResponsePayload"
        )
    elif kind == "cfbenchmarks_value":
        return
    else:
        name = WS_SCHEMAS[kind]
    _validate(doc, {"$ref": f"#/components/schemas/{name}"}, message)


def openapi_error_schema_ok(body: Any) -> None:
    doc = _load(OPENAPI)
    _validate(doc, {"$ref": "#/components/schemas/ErrorResponse"}, body["error"])
