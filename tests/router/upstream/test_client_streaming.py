"""Streamed answers: their chunks and the usage counted for them.

router.upstream.client against a real local upstream over HTTP, through litellm's Router.
"""

from __future__ import annotations

from router.upstream.client import Upstream
from router.upstream.results import Usage
from tests.router.upstream.conftest import CLIENT_MARKS, MESSAGES, target
from tests.upstream_server import PROMPT_TOKENS, UpstreamServer

pytestmark = CLIENT_MARKS


async def test_stream_sends_chunks_then_usage_when_asked(upstream: UpstreamServer) -> None:
    upstream.script("plain", answers=["the answer is 42"], reasoning_tokens=3)
    chosen = target(upstream, "openai/plain")
    client = Upstream([chosen])
    stream = await client.stream(chosen, MESSAGES, {"stream_options": {"include_usage": True}})
    chunks = [chunk async for chunk in stream]

    text = "".join(c["choices"][0]["delta"].get("content", "") for c in chunks if c["choices"])
    assert text.strip() == "the answer is 42"
    assert chunks[-1]["choices"] == []
    assert chunks[-1]["usage"]["completion_tokens_details"]["reasoning_tokens"] == 3
    assert stream.usage == Usage(PROMPT_TOKENS, 7, 3)
    assert stream.model == "openai/plain"
    assert upstream.requests[0].body["stream"] is True


async def test_stream_counts_usage_but_keeps_it_from_a_client_that_did_not_ask(
    upstream: UpstreamServer,
) -> None:
    chosen = target(upstream, "openai/plain")
    client = Upstream([chosen])
    stream = await client.stream(chosen, MESSAGES)
    chunks = [chunk async for chunk in stream]

    assert all(chunk["choices"] and "usage" not in chunk for chunk in chunks)
    assert stream.usage.prompt_tokens == PROMPT_TOKENS
    assert upstream.requests[0].body["stream_options"] == {"include_usage": True}
