"""Budgets and reasoning controls as each provider receives them.

router.upstream.client against a real local upstream over HTTP, through litellm's Router.
"""

from __future__ import annotations

import logging

import pytest

from records import Budget
from router.upstream.client import Upstream
from tests.router.upstream.conftest import CHAT_TEMPLATE, CLIENT_MARKS, KEY, MESSAGES, target
from tests.upstream_server import UpstreamServer

pytestmark = CLIENT_MARKS


async def test_openai_reasoning_model_gets_reasoning_effort(upstream: UpstreamServer) -> None:
    chosen = target(upstream, "openai/o3-mini", budget=Budget(effort="high", max_tokens=40000))
    client = Upstream([chosen])
    await client.complete(chosen, MESSAGES)

    body = upstream.requests[0].body
    assert body["reasoning_effort"] == "high"
    assert body["max_completion_tokens"] == 40000
    assert "max_tokens" not in body


async def test_qwen_on_vllm_gets_enable_thinking_and_a_token_budget(
    upstream: UpstreamServer,
) -> None:
    thinking = target(
        upstream, "hosted_vllm/qwen3-8b", budget=Budget(budget_tokens=4096, max_tokens=8192)
    )
    quick = target(upstream, "hosted_vllm/qwen3-8b", budget=Budget(effort="none", max_tokens=1024))
    client = Upstream([thinking, quick])
    await client.complete(thinking, MESSAGES)
    await client.complete(quick, MESSAGES)

    first, second = (request.body for request in upstream.requests)
    assert first["chat_template_kwargs"] == {"enable_thinking": True}
    assert first["thinking_token_budget"] == 4096
    assert first["max_tokens"] == 8192
    assert second["chat_template_kwargs"] == {"enable_thinking": False}
    assert "thinking_token_budget" not in second


async def test_anthropic_budget_arrives_as_thinking_budget_tokens(
    upstream: UpstreamServer,
) -> None:
    upstream.script("claude-sonnet-4-5", answers=["42"])
    chosen = target(
        upstream,
        "anthropic/claude-sonnet-4-5",
        budget=Budget(effort="medium", max_tokens=4096),
        api_base=upstream.root_url,
    )
    client = Upstream([chosen])
    result = await client.complete(chosen, MESSAGES)

    (sent,) = upstream.requests
    assert sent.path == "/v1/messages"
    assert sent.body["thinking"] == {"type": "enabled", "budget_tokens": 8192}
    assert sent.body["max_tokens"] == 8192 + 1024
    assert sent.headers["x-api-key"] == KEY
    assert result.response["choices"][0]["message"]["content"] == "42"
    assert result.cost_usd > 0.0


async def test_gemini_budget_arrives_as_thinking_budget(upstream: UpstreamServer) -> None:
    upstream.script("gemini-2.5-flash", reasoning_tokens=7)
    chosen = target(
        upstream, "gemini/gemini-2.5-flash", budget=Budget(budget_tokens=3000, max_tokens=8000)
    )
    client = Upstream([chosen])
    result = await client.complete(chosen, MESSAGES)

    (sent,) = upstream.requests
    assert sent.path == "/v1/models/gemini-2.5-flash:generateContent"
    config = sent.body["generationConfig"]
    assert config["thinkingConfig"]["thinkingBudget"] == 3000
    assert config["max_output_tokens"] == 8000
    assert result.usage.reasoning_tokens == 7


async def test_the_budget_overrides_the_clients_own_limits(upstream: UpstreamServer) -> None:
    chosen = target(upstream, "openai/plain")
    client_params = {"max_tokens": 5, "reasoning_effort": "high", "temperature": 0.25}
    client = Upstream([chosen])
    await client.complete(chosen, MESSAGES, client_params)

    body = upstream.requests[0].body
    assert body["max_tokens"] == 512
    assert "reasoning_effort" not in body
    assert body["temperature"] == 0.25


async def test_a_named_control_steers_a_model_its_id_says_nothing_about(
    upstream: UpstreamServer,
) -> None:
    budget = Budget(effort="high", budget_tokens=2048, max_tokens=4096)
    served = target(upstream, "openai/local-reasoner", budget=budget, reasoning=CHAT_TEMPLATE)
    client = Upstream([served])
    await client.complete(served, MESSAGES)

    body = upstream.requests[0].body
    assert body["chat_template_kwargs"] == {"enable_thinking": True}
    assert body["thinking_token_budget"] == 2048


async def test_a_fallback_is_steered_as_the_tier_that_serves_it_says(
    upstream: UpstreamServer,
) -> None:
    upstream.script("primary", failures=[500])
    budget = Budget(effort="low", max_tokens=2048)
    primary = target(upstream, "openai/primary", budget=budget, fallbacks=["openai/local-medium"])
    served = target(upstream, "openai/local-medium", budget=budget, reasoning=CHAT_TEMPLATE)
    client = Upstream([primary, served], num_retries=0)
    result = await client.complete(primary, MESSAGES)

    assert result.model == "openai/local-medium"
    assert "chat_template_kwargs" not in upstream.requests[0].body
    assert upstream.requests[1].body["chat_template_kwargs"] == {"enable_thinking": True}


async def test_model_without_reasoning_control_is_reported_once(
    upstream: UpstreamServer, caplog: pytest.LogCaptureFixture
) -> None:
    thinking = Budget(effort="high", max_tokens=4096)
    targets = [target(upstream, "openai/gpt-4o", budget=thinking, timeout_s=t) for t in (1, 2)]
    with caplog.at_level(logging.INFO, logger="router.upstream.client"):
        client = Upstream(targets)
        await client.complete(targets[0], MESSAGES)

    (record,) = caplog.records
    assert "'openai/gpt-4o' has no reasoning control" in record.getMessage()
    assert upstream.requests[0].body["max_tokens"] == 4096
