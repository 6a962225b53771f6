"""Fixtures: the API app over a FakeDaemon, via quart-trio's test client or a real hypercorn."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest
import trio
from quart_trio import QuartTrio

from kalshid.control.broadcaster import Broadcaster
from kalshid.control.fake import FakeDaemon
from kalshid.metrics import Metrics
from kalshid.server.app import api_server_task, create_app
from kalshid.server.routes import ApiContext
from kalshid.server.settings import ApiSettings

TOKEN = "test-token-0123456789abcdef"
AUTH = {"Authorization": f"Bearer {TOKEN}"}


@pytest.fixture
def broadcaster() -> Broadcaster:
    return Broadcaster(now=lambda: "2024-10-01T12:00:00.000Z")


@pytest.fixture
def fake(broadcaster: Broadcaster) -> FakeDaemon:
    return FakeDaemon(broadcaster)


@pytest.fixture
def settings() -> ApiSettings:
    return ApiSettings(
        port=0,
        token=TOKEN,
        cors_origins=("https://ui.example",),
        max_request_bytes=4096,
        ws_queue_size=4,
        ws_auth_timeout_s=2.0,
        graceful_timeout_s=0.5,
    )


@pytest.fixture
def metrics() -> Metrics:
    return Metrics()


@pytest.fixture
async def app_ctx(
    fake: FakeDaemon, settings: ApiSettings, broadcaster: Broadcaster, metrics: Metrics
) -> AsyncIterator[tuple[QuartTrio, ApiContext]]:
    app, ctx = create_app(fake, settings, token=TOKEN, broadcaster=broadcaster, metrics=metrics)
    async with app.test_app():
        yield app, ctx


@pytest.fixture
def client(app_ctx: tuple[QuartTrio, ApiContext]) -> Any:
    return app_ctx[0].test_client()


@pytest.fixture
async def live(
    nursery: trio.Nursery, fake: FakeDaemon, settings: ApiSettings, broadcaster: Broadcaster, metrics: Metrics
) -> AsyncIterator[str]:
    """A real hypercorn on 127.0.0.1:0; yields its base URL and shuts it down gracefully."""
    shutdown = trio.Event()
    done = trio.Event()

    async def run(task_status: trio.TaskStatus[str] = trio.TASK_STATUS_IGNORED) -> None:
        try:
            await api_server_task(
                fake,
                settings,
                shutdown=shutdown,
                broadcaster=broadcaster,
                metrics=metrics,
                task_status=task_status,
            )
        finally:
            done.set()

    url = await nursery.start(run)
    yield url
    shutdown.set()
    with trio.fail_after(5):
        await done.wait()
