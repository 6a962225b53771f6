"""HTTP hygiene on a real hypercorn: keep-alive survives unread bodies, JSON only as JSON, strict
parameters, JSON errors for every path."""

from __future__ import annotations

import httpx
import trio
import trio.testing

from tests.server.conftest import AUTH


async def _exchange(stream: trio.SocketStream, request: bytes) -> bytes:
    """Send one request on a kept-alive connection and read its whole response (Content-Length framed)."""
    await stream.send_all(request)
    data = b""
    with trio.fail_after(5):
        while b"\r\n\r\n" not in data:
            data += await stream.receive_some(65536)
        head, _, body = data.partition(b"\r\n\r\n")
        length = next(int(line.split(b":")[1]) for line in head.split(b"\r\n")
                      if line.lower().startswith(b"content-length:"))
        while len(body) < length:
            body += await stream.receive_some(65536)
    return head


def _req(method: str, path: str, body: bytes = b"", ctype: str = "application/json") -> bytes:
    auth = AUTH["Authorization"]
    return (f"{method} {path} HTTP/1.1\r\nHost: x\r\nAuthorization: {auth}\r\nContent-Type: {ctype}\r\n"
            f"Content-Length: {len(body)}\r\n\r\n").encode() + body


async def test_keep_alive_survives_bodies_the_server_does_not_read(live: str) -> None:
    port = int(live.rsplit(":", 1)[1])
    stream = await trio.open_tcp_stream("127.0.0.1", port)
    async with stream:
        for request in (_req("POST", "/api/start", b'{"x": 1}'),  # a bodyless route sent a body
                        _req("POST", "/api/stop", b"y" * 3000),
                        _req("PUT", "/api/strategies/fair_value/params", b"[1, 2]"),  # rejected
                        _req("PUT", "/api/strategies/nope/params", b'{"min_edge": 0.1}'),
                        _req("PUT", "/api/strategies/fair_value/params", b'{"x": 1}', ctype="text/plain")):
            head, _, body = request.partition(b"\r\n\r\n")
            await stream.send_all(head + b"\r\n\r\n")  # the body follows once the server has answered
            await trio.testing.wait_all_tasks_blocked()
            await stream.send_all(body)
            status = await _exchange(stream, _req("GET", "/api/status"))
            assert status.startswith(b"HTTP/1.1 "), status


async def test_json_only_with_a_json_content_type_and_no_duplicate_keys(live: str) -> None:
    async with httpx.AsyncClient(base_url=live, headers=AUTH) as http:
        path = "/api/strategies/fair_value/params"
        resp = await http.put(path, content=b'{"min_edge": 0.05}', headers={"Content-Type": "text/plain"})
        assert resp.status_code == 415 and resp.json()["error"]["code"] == "unsupported_media_type"
        resp = await http.put(path, content=b'{"min_edge": 0.05, "min_edge": 0.5}',
                              headers={"Content-Type": "application/json"})
        assert resp.status_code == 400 and "duplicate key 'min_edge'" in resp.json()["error"]["message"]


async def test_limits_are_bounded_ascii_integers(live: str) -> None:
    async with httpx.AsyncClient(base_url=live, headers=AUTH) as http:
        for raw in ("9" * 5000, "\uff15\uff10", "0", "-1", "+5", " 5"):
            resp = await http.get("/api/orders", params={"limit": raw})
            assert resp.status_code == 422 and resp.json()["error"]["field"] == "limit", raw
        assert (await http.get("/api/orders", params={"limit": "50"})).status_code == 200


async def test_every_path_answers_json(live: str) -> None:
    async with httpx.AsyncClient(base_url=live, headers=AUTH) as http:
        for path in ("/api//status", "/api/status/", "//api/status", "/nope"):
            resp = await http.get(path)
            assert resp.headers["content-type"].startswith("application/json"), (path, resp.text[:80])
            assert resp.status_code == 404 and resp.json()["error"]["code"] == "not_found", path
