"""router.upstream.client against a real local upstream over HTTP, through litellm's Router."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass, field
from typing import Any

import litellm
import pytest

from records import Budget, Price, Strategy
from router.decision.budgets import ReasoningControl
from router.errors import (
    MissingProviderKeyError,
    RequestError,
    UpstreamCoolingDownError,
    UpstreamError,
    UpstreamRateLimitedError,
    UpstreamTimeoutError,
)
from router.upstream.client import Upstream, close_clients
from router.upstream.results import Usage
from router.upstream.targets import UpstreamTarget
from tests.upstream_server import PROMPT_TOKENS, UpstreamServer

# litellm 1.110 trips two pydantic warnings: Router() builds adapters for TypedDicts with ReadOnly
# items, and its stream handler reads model_computed_fields off an instance. The same two lines
# belong in pyproject's filterwarnings; these marks stand in until they are there.
LITELLM_WARNINGS = [
    "ignore:Items? .* on TypedDict class .* using the `ReadOnly` qualifier:UserWarning",
    "ignore:Accessing the 'model_.*' attribute on the instance is deprecated"
    ":pydantic.warnings.PydanticDeprecatedSince211",
]
pytestmark = [pytest.mark.anyio, *map(pytest.mark.filterwarnings, LITELLM_WARNINGS)]

KEY_ENV = "DIFFICULTY_ROUTER_TEST_KEY"
KEY = "sk-test-secret-0123456789"
MESSAGES = [{"role": "user", "content": "What is 6 x 7?"}]
PLAIN = Budget(max_tokens=512)
CHAT_TEMPLATE = ReasoningControl.CHAT_TEMPLATE


@pytest.fixture(autouse=True)
def _provider_key(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(KEY_ENV, KEY)


@pytest.fixture(autouse=True)
async def _close_clients() -> AsyncIterator[None]:
    """Close litellm's pooled connections before the test's event loop ends."""
    yield
    await close_clients()


def target(
    server: UpstreamServer,
    model: str,
    *,
    budget: Budget = PLAIN,
    fallbacks: Sequence[str] = (),
    timeout_s: float = 5.0,
    samples: int = 1,
    select: str = "majority_vote",
    api_base: str | None = None,
    price: Price | None = None,
    reasoning: ReasoningControl | None = None,
) -> UpstreamTarget:
    return UpstreamTarget(
        model=model,
        budget=budget,
        strategy=Strategy(samples=samples, select=select),  # type: ignore[arg-type]
        fallbacks=tuple(fallbacks),
        timeout_s=timeout_s,
        api_base=api_base or server.url,
        api_key_env=KEY_ENV,
        price=price,
        reasoning=reasoning,
    )


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


async def test_litellm_keeps_its_per_call_info_lines_out_of_the_log(
    upstream: UpstreamServer, caplog: pytest.LogCaptureFixture
) -> None:
    chosen = target(upstream, "openai/plain")
    client = Upstream([chosen])
    with caplog.at_level(logging.INFO):
        await client.complete(chosen, MESSAGES)

    assert [record.name for record in caplog.records if record.name.startswith("LiteLLM")] == []


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


async def test_rate_limited_call_is_retried_after_retry_after(upstream: UpstreamServer) -> None:
    upstream.script("busy", failures=[429], retry_after_s=1, answers=["done"])
    chosen = target(upstream, "openai/busy")
    client = Upstream([chosen], num_retries=2)
    started = time.monotonic()
    result = await client.complete(chosen, MESSAGES)

    assert result.response["choices"][0]["message"]["content"] == "done"
    assert len(upstream.requests_for("busy")) == 2
    assert time.monotonic() - started >= 1.0


async def test_server_error_falls_back_to_the_fallback_model(upstream: UpstreamServer) -> None:
    upstream.script("primary", failures=[500])
    upstream.script("backup", answers=["from the backup"])
    chosen = target(upstream, "openai/primary", fallbacks=["openai/backup"])
    backup = target(upstream, "openai/backup")
    client = Upstream([chosen, backup], num_retries=0)
    result = await client.complete(chosen, MESSAGES)

    assert result.model == "openai/backup"
    assert result.response["choices"][0]["message"]["content"] == "from the backup"
    assert [request.model for request in upstream.requests] == ["primary", "backup"]
    assert upstream.requests[1].body["max_tokens"] == 512


async def test_timeout_falls_back_at_once(upstream: UpstreamServer) -> None:
    upstream.script("slow", hang=True)
    chosen = target(upstream, "openai/slow", fallbacks=["openai/backup"], timeout_s=0.5)
    backup = target(upstream, "openai/backup")
    client = Upstream([chosen, backup])
    started = time.monotonic()
    result = await client.complete(chosen, MESSAGES)

    assert result.model == "openai/backup"
    assert time.monotonic() - started < 1.5
    assert len(upstream.requests_for("slow")) == 1
    assert await upstream.wait_for_abandoned() == ["slow"]


async def test_timeout_without_fallback_raises_upstream_timeout(upstream: UpstreamServer) -> None:
    upstream.script("slow", hang=True)
    chosen = target(upstream, "openai/slow", timeout_s=0.5)
    client = Upstream([chosen])
    with pytest.raises(UpstreamTimeoutError) as raised:
        await client.complete(chosen, MESSAGES)

    assert raised.value.model == "openai/slow"
    assert isinstance(raised.value.__cause__, litellm.Timeout)


async def test_rate_limit_that_outlasts_the_retries_raises_rate_limited(
    upstream: UpstreamServer,
) -> None:
    upstream.script("busy", failures=[429, 429])
    chosen = target(upstream, "openai/busy")
    client = Upstream([chosen], num_retries=0)
    with pytest.raises(UpstreamRateLimitedError) as raised:
        await client.complete(chosen, MESSAGES)

    assert raised.value.status_code == 429
    assert isinstance(raised.value.__cause__, litellm.RateLimitError)


async def test_server_error_without_fallback_raises_upstream_error(
    upstream: UpstreamServer,
) -> None:
    upstream.script("broken", failures=[500, 500])
    chosen = target(upstream, "openai/broken")
    client = Upstream([chosen], num_retries=0)
    with pytest.raises(UpstreamError) as raised:
        await client.complete(chosen, MESSAGES)

    assert type(raised.value) is UpstreamError
    assert "HTTP 500" in raised.value.message
    assert isinstance(raised.value.__cause__, litellm.InternalServerError)


async def test_refused_request_is_a_request_error_without_the_key(
    upstream: UpstreamServer,
) -> None:
    upstream.script("picky", failures=[400], error_message=f"bad request from {KEY}")
    chosen = target(upstream, "openai/picky")
    client = Upstream([chosen])
    with pytest.raises(RequestError) as raised:
        await client.complete(chosen, MESSAGES)

    assert "bad request from ***" in raised.value.message
    assert KEY not in raised.value.message
    assert isinstance(raised.value.__cause__, litellm.BadRequestError)


async def test_a_refused_key_is_a_502_naming_its_variable_not_the_clients_fault(
    upstream: UpstreamServer,
) -> None:
    upstream.script("locked", failures=[401])
    chosen = target(upstream, "openai/locked")
    client = Upstream([chosen])
    with pytest.raises(MissingProviderKeyError) as raised:
        await client.complete(chosen, MESSAGES)

    assert raised.value.status_code == 502
    assert "openai/locked" in raised.value.message
    assert KEY_ENV in raised.value.message and KEY not in raised.value.message


async def test_missing_key_fails_before_anything_is_sent(
    upstream: UpstreamServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv(KEY_ENV)
    chosen = UpstreamTarget("openai/gpt-4o-mini", PLAIN, api_key_env=KEY_ENV)
    client = Upstream([chosen])
    with pytest.raises(MissingProviderKeyError, match=KEY_ENV):
        await client.complete(chosen, MESSAGES)
    with pytest.raises(MissingProviderKeyError, match=KEY_ENV):
        await client.stream(chosen, MESSAGES)

    assert upstream.requests == []


async def test_provider_default_key_is_checked_too(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    chosen = UpstreamTarget("openai/gpt-4o-mini", PLAIN)
    client = Upstream([chosen])
    with pytest.raises(MissingProviderKeyError, match="OPENAI_API_KEY"):
        await client.complete(chosen, MESSAGES)


async def test_local_server_never_sees_a_providers_real_key(
    upstream: UpstreamServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", KEY)
    chosen = UpstreamTarget("openai/local", PLAIN, api_base=upstream.url)
    client = Upstream([chosen])
    await client.complete(chosen, MESSAGES)

    assert upstream.requests[0].headers["authorization"] == "Bearer EMPTY"


async def test_fallback_without_its_key_is_skipped(
    upstream: UpstreamServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("OTHER_KEY_ENV", "")
    upstream.script("primary", failures=[500])
    chosen = target(upstream, "openai/primary", fallbacks=["anthropic/claude-sonnet-4-5"])
    other = UpstreamTarget("anthropic/claude-sonnet-4-5", PLAIN, api_key_env="OTHER_KEY_ENV")
    client = Upstream([chosen, other], num_retries=0)
    with pytest.raises(UpstreamError):
        await client.complete(chosen, MESSAGES)

    assert [request.model for request in upstream.requests] == ["primary"]


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


async def test_unknown_target_is_refused(upstream: UpstreamServer) -> None:
    known = target(upstream, "openai/plain")
    client = Upstream([known])
    with pytest.raises(UpstreamError, match="no route"):
        await client.complete(target(upstream, "openai/other"), MESSAGES)


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


async def _read_all(chunks: Any) -> None:
    async for _ in chunks:
        pass


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


async def test_a_deployment_cooling_down_after_anothers_failure_is_a_503_saying_so(
    upstream: UpstreamServer,
) -> None:
    upstream.script("fragile", failures=[401])
    upstream.script("spare", failures=[500, 500])
    spare = target(upstream, "openai/spare")
    chosen = target(upstream, "openai/fragile", fallbacks=["openai/spare"])
    client = Upstream([chosen, spare], num_retries=0, cooldown_s=30)
    with pytest.raises(UpstreamError):
        await client.complete(chosen, MESSAGES)  # someone else's request: the key is refused

    with pytest.raises(UpstreamCoolingDownError) as raised:
        await client.complete(chosen, MESSAGES)  # ours: the primary rests, the spare fails

    assert raised.value.status_code == 503
    assert "failures of other requests (not of this one)" in raised.value.message
    assert "no fallback answered this request" in raised.value.message
    assert 1 <= int(raised.value.headers["Retry-After"]) <= 30
    assert [request.model for request in upstream.requests] == ["fragile", "spare", "spare"]
