"""What the upstream receives (reasoning controls, budgets, safe parameters) and the usage.

POST /v1/chat/completions through the real app, litellm and a real local upstream.
"""

from __future__ import annotations

from fastapi.testclient import TestClient

from tests.router.service.api.conftest import HARD, chat
from tests.upstream_server import UpstreamServer


def test_a_qwen_tier_on_vllm_gets_enable_thinking_and_a_token_budget(
    client: TestClient, upstream: UpstreamServer
) -> None:
    chat(client, model="qwen")

    body = upstream.requests[0].body
    assert body["chat_template_kwargs"] == {"enable_thinking": True}
    assert body["thinking_token_budget"] == 2048
    assert body["max_tokens"] == 4096


def test_an_openai_reasoning_tier_gets_reasoning_effort(
    client: TestClient, upstream: UpstreamServer
) -> None:
    chat(client, text=HARD)

    body = upstream.requests[0].body
    assert body["reasoning_effort"] == "high"
    assert "max_tokens" not in body and body["max_completion_tokens"] >= 8192


def test_safe_params_pass_through_and_the_tier_decides_the_budget(
    client: TestClient, upstream: UpstreamServer
) -> None:
    extra = {
        "temperature": 0.3,
        "top_p": 0.9,
        "seed": 7,
        "stop": ["END"],
        "user": "u-1",
        "max_tokens": 5,
        "max_completion_tokens": 6,
        "reasoning_effort": "high",
        "metadata": {"team": "a"},
    }
    response = chat(client, **extra)

    assert response.status_code == 200
    body = upstream.requests[0].body
    assert (body["temperature"], body["top_p"], body["seed"]) == (0.3, 0.9, 7)
    assert body["stop"] == ["END"]
    assert body["max_tokens"] == 256
    assert "max_completion_tokens" not in body and "reasoning_effort" not in body
    assert "metadata" not in body


def test_tools_and_response_format_pass_through(
    client: TestClient, upstream: UpstreamServer
) -> None:
    tool = {"type": "function", "function": {"name": "lookup", "parameters": {"type": "object"}}}
    chat(client, tools=[tool], tool_choice="auto", response_format={"type": "json_object"})

    body = upstream.requests[0].body
    assert body["tools"] == [tool]
    assert body["tool_choice"] == "auto"
    assert body["response_format"] == {"type": "json_object"}


def test_reasoning_tokens_reach_the_usage(client: TestClient, upstream: UpstreamServer) -> None:
    upstream.script("o3-mini", answers=["done"], reasoning_tokens=40)
    usage = chat(client, text=HARD).json()["usage"]

    assert usage["completion_tokens_details"]["reasoning_tokens"] == 40
    assert usage["completion_tokens"] == 41
