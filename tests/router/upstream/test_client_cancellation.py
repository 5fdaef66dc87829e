"""Cancelled or closed calls close their upstream connection.

router.upstream.client against a real local upstream over HTTP, through litellm's Router.
"""

from __future__ import annotations

import asyncio
import gc
import threading
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any

import pytest

from router.upstream.client import Upstream
from tests.router.upstream.conftest import CLIENT_MARKS, MESSAGES, _read_all, target
from tests.upstream_server import UpstreamServer

pytestmark = CLIENT_MARKS


async def test_cancelling_the_stream_reader_closes_the_upstream_stream(
    upstream: UpstreamServer,
) -> None:
    upstream.script("talker", answers=[" ".join(["word"] * 200)], chunk_delay_s=0.02)
    chosen = target(upstream, "openai/talker")
    client = Upstream([chosen])
    stream = await client.stream(chosen, MESSAGES)
    reader = asyncio.create_task(_read_all(stream))
    await asyncio.sleep(0.2)
    reader.cancel()
    with pytest.raises(asyncio.CancelledError):
        await reader

    assert await upstream.wait_for_abandoned() == ["talker"]


async def test_closing_a_stream_before_reading_it_closes_the_upstream_stream(
    upstream: UpstreamServer,
) -> None:
    upstream.script("talker", answers=[" ".join(["word"] * 200)], chunk_delay_s=0.02)
    chosen = target(upstream, "openai/talker")
    client = Upstream([chosen])
    async with await client.stream(chosen, MESSAGES):
        pass

    assert await upstream.wait_for_abandoned() == ["talker"]


async def test_cancelling_a_completion_closes_the_upstream_connection(
    upstream: UpstreamServer,
) -> None:
    upstream.script("slow", hang=True)
    chosen = target(upstream, "openai/slow")
    client = Upstream([chosen])
    call = asyncio.create_task(client.complete(chosen, MESSAGES))
    await asyncio.sleep(0.2)
    call.cancel()
    with pytest.raises(asyncio.CancelledError):
        await call

    assert await upstream.wait_for_abandoned() == ["slow"]


class _HeldResults(ThreadPoolExecutor):
    """An executor that, once a job has run, holds its result until ``release`` is set."""

    def __init__(self) -> None:
        super().__init__(max_workers=2)
        self.ran = threading.Event()
        self.release = threading.Event()

    def submit(self, fn: Callable[..., Any], /, *args: Any, **kwargs: Any) -> Future[Any]:
        def run() -> Any:
            result = fn(*args, **kwargs)
            self.ran.set()
            self.release.wait(5)
            return result

        return super().submit(run)


async def test_a_completion_cancelled_before_it_is_sent_sends_nothing_and_warns_of_nothing(
    upstream: UpstreamServer,
) -> None:
    """litellm builds the request coroutine in the loop's executor; cancelled while that job is
    finishing, the call drops the coroutine unstarted. Collecting it must not raise an
    unawaited-coroutine warning (pytest makes one an error in whichever test is then running)."""
    upstream.script("slow", hang=True)
    chosen = target(upstream, "openai/slow")
    client = Upstream([chosen])
    executor = _HeldResults()
    asyncio.get_running_loop().set_default_executor(executor)
    call = asyncio.create_task(client.complete(chosen, MESSAGES))
    while not executor.ran.is_set():
        await asyncio.sleep(0.01)
    call.cancel()
    executor.release.set()
    with pytest.raises(asyncio.CancelledError):
        await call
    executor.shutdown(wait=True)
    gc.collect()

    assert upstream.requests_for("slow") == []
