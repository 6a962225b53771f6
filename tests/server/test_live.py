"""A real hypercorn on 127.0.0.1:0 driven by httpx and trio-websocket."""

from __future__ import annotations

import json

import httpx
import pytest
import trio
from trio_websocket import CloseReason, ConnectionClosed, open_websocket_url

from kalshid.control.broadcaster import Broadcaster
from kalshid.control.fake import FakeDaemon
from kalshid.metrics import Metrics
from kalshid.server.app import api_server_task
from kalshid.server.settings import ApiSettings
from tests.server.conftest import AUTH, TOKEN


def _reason(exc: ConnectionClosed) -> CloseReason:
    assert exc.reason is not None
    return exc.reason


async def test_http_over_real_server(live: str) -> None:
    assert live.startswith("http://127.0.0.1:")
    async with httpx.AsyncClient(base_url=live) as http:
        assert (await http.get("/api/health")).json()["status"] == "ok"
        resp = await http.get("/api/status")
        assert resp.status_code == 401 and resp.json()["error"]["code"] == "unauthorized"
        assert (await http.get("/api/status", headers=AUTH)).json()["state"] == "stopped"
        assert (await http.post("/api/start", headers=AUTH)).json()["state"] == "running"
        resp = await http.post("/api/start", headers=AUTH, content=b"x" * 5000)  # httpx sends Content-Length
        assert resp.status_code == 413
        assert "server" not in resp.headers


async def test_websocket_over_real_server_and_graceful_shutdown(
    nursery: trio.Nursery, fake: FakeDaemon, settings: ApiSettings, broadcaster: Broadcaster, metrics: Metrics
) -> None:
    shutdown = trio.Event()
    stopped = trio.Event()

    async def run(task_status: trio.TaskStatus[str] = trio.TASK_STATUS_IGNORED) -> None:
        await api_server_task(
            fake,
            settings,
            shutdown=shutdown,
            broadcaster=broadcaster,
            metrics=metrics,
            task_status=task_status,
        )
        stopped.set()

    url = await nursery.start(run)
    ws_url = url.replace("http://", "ws://") + "/ws"
    async with open_websocket_url(
        ws_url, extra_headers=[(b"Authorization", f"Bearer {TOKEN}".encode())]
    ) as ws:
        assert json.loads(await ws.get_message())["type"] == "status_update"
        await ws.send_message(json.dumps({"type": "command", "id": 1, "command": "start"}))
        replies = [json.loads(await ws.get_message()) for _ in range(2)]
        ack = next(r for r in replies if r["type"] == "ack")
        assert ack["id"] == 1 and ack["result"]["state"] == "running"
        broadcaster.publish({"type": "alert", "data": {"msg": "hello"}})
        assert json.loads(await ws.get_message())["data"] == {"msg": "hello"}
        start = trio.current_time()
        shutdown.set()
        with pytest.raises(ConnectionClosed) as info:
            with trio.fail_after(5):
                while True:
                    await ws.get_message()
        assert _reason(info.value).code == 1001  # closed by us, not 1006 after graceful_timeout
        with trio.fail_after(5):
            await stopped.wait()
        assert trio.current_time() - start < settings.graceful_timeout_s


async def test_websocket_bad_first_message_close_reason(live: str) -> None:
    async with open_websocket_url(live.replace("http://", "ws://") + "/ws") as ws:
        await ws.send_message('{"type": "hello"}')
        with pytest.raises(ConnectionClosed) as info, trio.fail_after(5):
            await ws.get_message()
    assert _reason(info.value).code == 1008
    assert "auth" in (_reason(info.value).reason or "")


async def test_bind_failure_raises_before_started(
    nursery: trio.Nursery, fake: FakeDaemon, broadcaster: Broadcaster, metrics: Metrics
) -> None:
    holder = trio.socket.socket()
    await holder.bind(("127.0.0.1", 0))
    holder.listen()
    port = holder.getsockname()[1]
    settings = ApiSettings(port=port, token=TOKEN)
    with pytest.raises(OSError):
        await nursery.start(
            lambda task_status: api_server_task(
                fake,
                settings,
                shutdown=trio.Event(),
                broadcaster=broadcaster,
                metrics=metrics,
                task_status=task_status,
            )
        )
    holder.close()
