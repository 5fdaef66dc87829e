"""Targets, a plain completion and what it reports, litellm's log lines, unknown targets.

router.upstream.client against a real local upstream over HTTP, through litellm's Router.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field

import pytest

from records import Budget, Price, Strategy
from router.decision.budgets import ReasoningControl
from router.errors import UpstreamError
from router.upstream.client import Upstream
from router.upstream.results import Usage
from router.upstream.targets import UpstreamTarget
from tests.router.upstream.conftest import CLIENT_MARKS, KEY, MESSAGES, PLAIN, target
from tests.upstream_server import PROMPT_TOKENS, UpstreamServer

pytestmark = CLIENT_MARKS


async def test_target_is_taken_from_anything_shaped_like_a_tier() -> None:
    @dataclass(frozen=True)
    class Tier:
        model: str = "openai/o3"
        budget: Budget = PLAIN
        strategy: Strategy = field(default_factory=lambda: Strategy(samples=3))
        fallbacks: list[str] = field(default_factory=lambda: ["openai/o4-mini"])
        timeout_s: float = 12.0
        api_base: str | None = None
        api_key_env: str | None = "OPENAI_API_KEY"
        price: Price | None = None
        reasoning: ReasoningControl | None = ReasoningControl.OPENAI_EFFORT

    chosen = UpstreamTarget.of(Tier())

    assert chosen == UpstreamTarget(
        "openai/o3",
        PLAIN,
        Strategy(samples=3),
        ("openai/o4-mini",),
        12.0,
        None,
        "OPENAI_API_KEY",
        reasoning=ReasoningControl.OPENAI_EFFORT,
    )


async def test_complete_returns_the_answer_with_usage_and_reasoning_tokens(
    upstream: UpstreamServer,
) -> None:
    upstream.script("plain", answers=["forty two"], reasoning_tokens=5)
    chosen = target(upstream, "openai/plain")
    client = Upstream([chosen])
    result = await client.complete(chosen, MESSAGES)

    assert result.response["choices"][0]["message"]["content"] == "forty two"
    assert result.model == "openai/plain"
    assert result.usage == Usage(
        prompt_tokens=PROMPT_TOKENS, completion_tokens=7, reasoning_tokens=5
    )
    assert result.cost_usd == 0.0
    assert result.latency_ms > 0.0
    assert result.vote is None
    (sent,) = upstream.requests
    assert sent.body["messages"] == MESSAGES
    assert sent.body["max_tokens"] == 512
    assert sent.headers["authorization"] == f"Bearer {KEY}"


async def test_litellm_keeps_its_per_call_info_lines_out_of_the_log(
    upstream: UpstreamServer, caplog: pytest.LogCaptureFixture
) -> None:
    chosen = target(upstream, "openai/plain")
    client = Upstream([chosen])
    with caplog.at_level(logging.INFO):
        await client.complete(chosen, MESSAGES)

    assert [record.name for record in caplog.records if record.name.startswith("LiteLLM")] == []


async def test_unknown_target_is_refused(upstream: UpstreamServer) -> None:
    known = target(upstream, "openai/plain")
    client = Upstream([known])
    with pytest.raises(UpstreamError, match="no route"):
        await client.complete(target(upstream, "openai/other"), MESSAGES)
