"""Cancelled or closed calls close their upstream connection.

router.upstream.client against a real local upstream over HTTP, through litellm's Router.
"""

from __future__ import annotations

import asyncio

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
