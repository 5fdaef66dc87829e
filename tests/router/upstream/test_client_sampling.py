"""Sampling targets: the majority vote, failed samples, select-first, streamed votes.

router.upstream.client against a real local upstream over HTTP, through litellm's Router.
"""

from __future__ import annotations

import time

import pytest

from router.errors import UpstreamError
from router.upstream.client import Upstream
from tests.router.upstream.conftest import CLIENT_MARKS, MESSAGES, target
from tests.upstream_server import PROMPT_TOKENS, UpstreamServer

pytestmark = CLIENT_MARKS


async def test_majority_vote_picks_the_most_common_final_answer(
    upstream: UpstreamServer,
) -> None:
    answers = ["So the answer is 42.", "I get \\boxed{41}", "6 * 7 = 42"]
    upstream.script("voter", answers=answers, reasoning_tokens=2)
    chosen = target(upstream, "openai/voter", samples=3)
    client = Upstream([chosen])
    result = await client.complete(chosen, MESSAGES)

    assert result.vote == "3 samples: 2x'42', 1x'41'"
    assert result.samples == 3
    assert result.response["choices"][0]["message"]["content"] in {answers[0], answers[2]}
    assert result.usage.prompt_tokens == 3 * PROMPT_TOKENS
    assert result.usage.reasoning_tokens == 3 * 2
    assert result.response["usage"]["prompt_tokens"] == 3 * PROMPT_TOKENS
    assert len(upstream.requests) == 3


async def test_vote_goes_on_without_the_samples_that_failed(upstream: UpstreamServer) -> None:
    upstream.script("voter", failures=[500], answers=["42"])
    chosen = target(upstream, "openai/voter", samples=3)
    client = Upstream([chosen], num_retries=0)
    result = await client.complete(chosen, MESSAGES)

    assert result.vote == "3 samples (1 failed): 2x'42'"
    assert result.usage.prompt_tokens == 2 * PROMPT_TOKENS


async def test_vote_with_every_sample_failed_raises_the_first_error(
    upstream: UpstreamServer,
) -> None:
    upstream.script("voter", failures=[500, 500, 500])
    chosen = target(upstream, "openai/voter", samples=3)
    client = Upstream([chosen], num_retries=0)
    with pytest.raises(UpstreamError, match="HTTP 500"):
        await client.complete(chosen, MESSAGES)


async def test_select_first_takes_the_fastest_sample_and_cancels_the_rest(
    upstream: UpstreamServer,
) -> None:
    upstream.script("racer", delays_s=[0.0, 10.0, 10.0], answers=["quick", "slow", "slow"])
    chosen = target(upstream, "openai/racer", samples=3, select="first", timeout_s=20)
    client = Upstream([chosen])
    started = time.monotonic()
    result = await client.complete(chosen, MESSAGES)

    assert time.monotonic() - started < 2.0
    assert result.response["choices"][0]["message"]["content"] == "quick"
    assert result.vote == "first of 3 samples"
    assert await upstream.wait_for_abandoned(2) == ["racer", "racer"]


async def test_stream_of_a_voting_target_replays_the_chosen_answer(
    upstream: UpstreamServer,
) -> None:
    upstream.script("voter", answers=["42", "42", "41"])
    chosen = target(upstream, "openai/voter", samples=3)
    client = Upstream([chosen])
    stream = await client.stream(chosen, MESSAGES, {"stream_options": {"include_usage": True}})
    chunks = [chunk async for chunk in stream]

    assert chunks[0]["choices"][0]["delta"]["content"] == "42"
    assert chunks[-1]["usage"]["prompt_tokens"] == 3 * PROMPT_TOKENS
    assert stream.vote == "3 samples: 2x'42', 1x'41'"
