"""Graceful shutdown: streams drain for a while, then end with an error event; exit code 0."""

from __future__ import annotations

import asyncio
import signal
import subprocess
import sys
import textwrap
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from classifiers.encoder import HashingEncoder
from router.service.app import create_app
from router.settings import PROJECT_ROOT, Settings
from tests.router.service.api.conftest import DIMENSION, EASY, ListSink, policy_data, user
from tests.router.service.api.live import serving
from tests.upstream_server import UpstreamServer

DRAIN_S = 0.5


@pytest.fixture
def app(models_dir: Path, write_policy: Any, upstream: UpstreamServer, sink: ListSink) -> FastAPI:
    settings = Settings(
        models_dir=models_dir,
        policy_path=write_policy(policy_data(upstream.url)),
        shutdown_drain_s=DRAIN_S,
    )
    return create_app(settings, encoder_loader=lambda _: HashingEncoder(DIMENSION), sink=sink)


@pytest.fixture
def base_url(app: FastAPI) -> Iterator[str]:
    with serving(app) as url:
        yield url


async def _events(http: httpx.AsyncClient, text: str, started: asyncio.Event) -> list[str]:
    body = {"model": "auto", "messages": user(text), "stream": True}
    events = []
    async with http.stream("POST", "/v1/chat/completions", json=body) as response:
        assert response.status_code == 200
        async for line in response.aiter_lines():
            if line.startswith("data: "):
                events.append(line)
                started.set()
    return events


@pytest.mark.anyio
async def test_a_stream_outliving_the_drain_ends_with_an_error_event_and_a_short_one_finishes(
    app: FastAPI, base_url: str, upstream: UpstreamServer, sink: ListSink
) -> None:
    slow = " ".join(["word"] * 40)
    upstream.script("fast-model", answers=[slow, "short answer"], chunk_delay_s=0.2)
    async with httpx.AsyncClient(base_url=base_url, timeout=10.0) as http:
        first, second = asyncio.Event(), asyncio.Event()
        long_stream = asyncio.create_task(_events(http, EASY, first))
        await first.wait()
        short_stream = asyncio.create_task(_events(http, EASY + " again", second))
        await second.wait()
        app.state.shutdown.begin()
        began = time.monotonic()
        cut, finished = await long_stream, await short_stream
        ended_after = time.monotonic() - began

    assert finished[-1] == "data: [DONE]", "a stream that ends within the drain is untouched"
    assert "ServiceShuttingDownError" in cut[-1] and '"error"' in cut[-1]
    assert DRAIN_S <= ended_after < DRAIN_S + 1.5
    statuses = sorted(record.status for record in sink.wait_for(2))
    assert statuses == ["ServiceShuttingDownError", "ok"]


SERVER = textwrap.dedent(
    """
    import sys
    import uvicorn
    from starlette.applications import Starlette
    from router.service.shutdown import GracefulServer, Shutdown

    config = uvicorn.Config(Starlette(), host="127.0.0.1", port=0, log_level="warning")
    server = GracefulServer(config, Shutdown(0.1))
    print("starting", flush=True)
    server.run()
    print("stopped", flush=True)
    """
)


def test_sigterm_stops_the_server_with_exit_code_0() -> None:
    with subprocess.Popen(
        [sys.executable, "-c", SERVER], cwd=PROJECT_ROOT, stdout=subprocess.PIPE, text=True
    ) as process:
        assert process.stdout is not None
        assert process.stdout.readline().strip() == "starting"
        time.sleep(1.0)  # let it listen
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=20) == 0
        assert "stopped" in process.stdout.read()
