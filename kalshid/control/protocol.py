"""The control-socket wire protocol: newline-delimited JSON, one request → one response. Pure.

Request (one line)::

    {"id": 7, "command": "enable_strategy", "args": {"name": "fair_value"}}

``id`` is optional (any JSON scalar, echoed back); ``args`` is optional. Response (one line)::

    {"id": 7, "ok": true, "result": {...}}
    {"id": 7, "ok": false, "error": {"code": "not_found", "message": "...", "field": "name"}}

A connection may carry many requests in sequence. Lines longer than `MAX_LINE_BYTES` are refused and the
connection closed, since a reader can't resynchronise reliably inside an oversized line.
The socket itself is the authentication: it is created mode 0600 (owner only), so no token is needed.
"""

from __future__ import annotations

import json
from typing import Any, Final

import attrs

from kalshid.control.commands import SOCKET_COMMANDS, Command, CommandError, parse_command

MAX_LINE_BYTES: Final = 64 * 1024
_SCALARS: Final = (str, int, float, bool, type(None))


@attrs.frozen
class Request:
    id: Any
    command: Command


@attrs.frozen
class Response:
    id: Any
    ok: bool
    result: Any = None
    error: dict[str, Any] | None = None


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not allowed")


MAX_NUMBER_CHARS = 40  # longer numerals are refused before conversion (no 5 000-digit integers)


def _no_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in pairs:
        if key in out:
            raise ValueError(f"duplicate key {key!r}")
        out[key] = value
    return out


def _bounded_int(text: str) -> int:
    if len(text) > MAX_NUMBER_CHARS:
        raise ValueError(f"number too long ({len(text)} characters)")
    return int(text)


def _finite_float(text: str) -> float:
    if len(text) > MAX_NUMBER_CHARS:
        raise ValueError(f"number too long ({len(text)} characters)")
    value = float(text)
    if value in (float("inf"), float("-inf")):
        raise ValueError(f"number out of range: {text}")
    return value


def strict_json_loads(raw: bytes | str) -> Any:
    """json.loads that refuses NaN/Infinity, duplicate object keys, numerals longer than
    :data:`MAX_NUMBER_CHARS` or beyond a float's range, and turns pathological nesting into ValueError.

    Every untrusted JSON input (HTTP bodies, WebSocket messages, socket lines) goes through this, so
    "[[[[…" 50 000 deep is a 400, not a RecursionError and a 500.
    """
    try:
        return json.loads(raw, parse_constant=_reject_constant, object_pairs_hook=_no_duplicates,
                          parse_int=_bounded_int, parse_float=_finite_float)
    except RecursionError:
        raise ValueError("JSON nested too deeply") from None


def _dumps(obj: Any) -> bytes:
    return json.dumps(obj, separators=(",", ":"), ensure_ascii=False).encode() + b"\n"


def parse_request(line: bytes) -> Request:
    """Decode and validate one request line (without or with its trailing newline).

    Raises CommandError (``bad_request`` for malformed JSON or shape, or the command table's errors).
    The error carries the request id as ``request_id`` when it could be read, so the reply can echo it.
    """
    try:
        obj = strict_json_loads(line)
    except ValueError as exc:
        raise CommandError("bad_request", f"request is not valid JSON: {exc}") from None
    if not isinstance(obj, dict):
        raise CommandError("bad_request", "request must be a JSON object")
    request_id = obj.get("id")
    if not isinstance(request_id, _SCALARS):
        raise CommandError("bad_request", "id must be a string, number, boolean or null", "id")
    try:
        command = parse_command(obj.get("command"), obj.get("args"), SOCKET_COMMANDS)
    except CommandError as exc:
        exc.request_id = request_id
        raise
    return Request(request_id, command)


def encode_request(command: str, args: dict[str, Any] | None = None, request_id: Any = None) -> bytes:
    obj: dict[str, Any] = {"id": request_id, "command": command}
    if args:
        obj["args"] = args
    return _dumps(obj)


def encode_result(request_id: Any, result: Any) -> bytes:
    """A success line. Raises TypeError if ``result`` is not JSON-able (a pipeline bug)."""
    return _dumps({"id": request_id, "ok": True, "result": result})


def encode_error(request_id: Any, error: dict[str, Any]) -> bytes:
    return _dumps({"id": request_id, "ok": False, "error": error})


def decode_response(line: bytes) -> Response:
    """Decode one response line; raises CommandError(``bad_response``) if the daemon sent garbage."""
    try:
        obj = strict_json_loads(line)
    except ValueError as exc:
        raise CommandError("bad_response", f"daemon sent invalid JSON: {exc}") from None
    if not isinstance(obj, dict) or not isinstance(obj.get("ok"), bool):
        raise CommandError("bad_response", "daemon response lacks a boolean 'ok'")
    error = obj.get("error")
    if not obj["ok"] and not (isinstance(error, dict) and isinstance(error.get("message"), str)):
        raise CommandError("bad_response", "daemon error response lacks error.message")
    return Response(obj.get("id"), obj["ok"], obj.get("result"), error if not obj["ok"] else None)


class LineSplitter:
    """Reassembles newline-terminated lines from arbitrary byte chunks, bounded by ``max_line``."""

    def __init__(self, max_line: int = MAX_LINE_BYTES) -> None:
        self._buf = bytearray()
        self._max = max_line

    def feed(self, chunk: bytes) -> list[bytes]:
        """Complete lines in ``chunk`` (newline stripped; blank lines skipped).

        Raises CommandError(``line_too_long``) once the pending partial line exceeds the bound.
        """
        self._buf += chunk
        lines: list[bytes] = []
        while (nl := self._buf.find(b"\n")) >= 0:
            line = bytes(self._buf[:nl]).strip()
            del self._buf[: nl + 1]
            if len(line) > self._max:
                raise CommandError("line_too_long", f"request line exceeds {self._max} bytes")
            if line:
                lines.append(line)
        if len(self._buf) > self._max:
            raise CommandError("line_too_long", f"request line exceeds {self._max} bytes")
        return lines

    @property
    def pending(self) -> bytes:
        return bytes(self._buf)
