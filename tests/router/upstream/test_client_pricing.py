"""The cost of an answer: litellm's prices, the policy's, and a fallback's.

router.upstream.client against a real local upstream over HTTP, through litellm's Router.
"""

from __future__ import annotations

from typing import Any

import pytest

from records import Budget, Price
from router.upstream.client import Upstream
from tests.router.upstream.conftest import CLIENT_MARKS, MESSAGES, _read_all, target
from tests.upstream_server import PROMPT_TOKENS, UpstreamServer

pytestmark = CLIENT_MARKS


async def test_known_model_is_priced_once_streamed_or_not(
    upstream: UpstreamServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    repriced: list[str] = []

    def price_again(**kwargs: Any) -> Any:
        repriced.append(str(kwargs.get("model")))
        raise AssertionError("litellm priced this answer already")

    monkeypatch.setattr("router.upstream.cost.completion_cost", price_again)
    monkeypatch.setattr("router.upstream.cost.cost_per_token", price_again)
    chosen = target(upstream, "openai/o3-mini", budget=Budget(effort="low", max_tokens=8192))
    client = Upstream([chosen])
    result = await client.complete(chosen, MESSAGES)
    stream = await client.stream(chosen, MESSAGES)
    await _read_all(stream)

    assert result.cost_usd > 0.0
    assert stream.cost_usd == result.cost_usd
    assert repriced == []


async def test_a_priced_local_model_costs_its_tokens_streamed_or_not(
    upstream: UpstreamServer,
) -> None:
    upstream.script("local-qwen", answers=["forty two"], reasoning_tokens=5)
    price = Price(input_per_mtok=2.0, output_per_mtok=8.0)
    chosen = target(upstream, "openai/local-qwen", price=price)
    client = Upstream([chosen])

    result = await client.complete(chosen, MESSAGES)
    stream = await client.stream(chosen, MESSAGES)
    await _read_all(stream)

    expected = (PROMPT_TOKENS * 2.0 + 7 * 8.0) / 1e6  # reasoning tokens bill as output
    assert result.cost_usd == pytest.approx(expected)
    assert stream.cost_usd == pytest.approx(expected)


async def test_a_policy_price_wins_over_litellms_own(upstream: UpstreamServer) -> None:
    listed = target(upstream, "openai/gpt-4o-mini")
    repriced = target(
        upstream, "openai/gpt-4o-mini", price=Price(input_per_mtok=100.0, output_per_mtok=100.0)
    )
    client = Upstream([listed, repriced])

    at_list_price = await client.complete(listed, MESSAGES)
    at_policy_price = await client.complete(repriced, MESSAGES)

    tokens = at_policy_price.usage.total_tokens
    assert 0.0 < at_list_price.cost_usd < at_policy_price.cost_usd
    assert at_policy_price.cost_usd == pytest.approx(tokens * 100.0 / 1e6)


async def test_a_fallback_that_is_a_priced_tiers_model_keeps_that_price(
    upstream: UpstreamServer,
) -> None:
    upstream.script("broken", failures=[500, 500, 500])
    price = Price(input_per_mtok=1.0, output_per_mtok=1.0)
    chosen = target(upstream, "openai/broken", fallbacks=["openai/spare"])
    spare = target(upstream, "openai/spare", price=price)
    client = Upstream([chosen, spare], num_retries=0)

    result = await client.complete(chosen, MESSAGES)

    assert result.model == "openai/spare"
    assert result.cost_usd == pytest.approx(result.usage.total_tokens / 1e6)
