"""Acceptance: the official ``openai`` client against a real uvicorn serving ``create_app`` with
examples/local-upstream.yaml, its ROUTER_LOCAL_UPSTREAM pointing at the test upstream."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from openai import AsyncOpenAI

from classifiers.encoder import HashingEncoder
from router.service.app import create_app
from router.settings import PROJECT_ROOT, Settings
from tests.router.service.api.conftest import EASY, HARD, ListSink
from tests.router.service.api.live import serving
from tests.upstream_server import PROMPT_TOKENS, UpstreamServer

pytestmark = pytest.mark.anyio

LOCAL_POLICY = PROJECT_ROOT / "examples" / "local-upstream.yaml"


@pytest.fixture
def base_url(
    models_dir: Path, upstream: UpstreamServer, monkeypatch: pytest.MonkeyPatch
) -> Iterator[str]:
    monkeypatch.setenv("ROUTER_LOCAL_UPSTREAM", upstream.url)
    monkeypatch.delenv("LOCAL_UPSTREAM_API_KEY", raising=False)
    settings = Settings(models_dir=models_dir, policy_path=LOCAL_POLICY)
    app = create_app(settings, encoder_loader=lambda _: HashingEncoder(384), sink=ListSink())
    with serving(app) as url:
        yield f"{url}/v1"


async def test_the_openai_client_gets_a_routed_completion(
    base_url: str, upstream: UpstreamServer
) -> None:
    upstream.script("local-small", answers=["Rome"])
    async with AsyncOpenAI(base_url=base_url, api_key="unused", max_retries=0) as client:
        raw = await client.chat.completions.with_raw_response.create(
            model="auto", messages=[{"role": "user", "content": EASY}]
        )
        completion = raw.parse()

    assert completion.choices[0].message.content == "Rome"
    assert completion.usage is not None and completion.usage.prompt_tokens == PROMPT_TOKENS
    assert raw.headers["x-router-tier"] == "fast"
    assert raw.headers["x-router-policy-version"] == "local-2026-11-29.1"
    assert upstream.requests[0].model == "local-small"
    assert upstream.requests[0].headers["authorization"] == "Bearer EMPTY"


async def test_the_openai_client_streams_with_usage(
    base_url: str, upstream: UpstreamServer
) -> None:
    upstream.script("local-reasoner", answers=["a long careful proof"], reasoning_tokens=6)
    async with AsyncOpenAI(base_url=base_url, api_key="unused", max_retries=0) as client:
        stream = await client.chat.completions.create(
            model="reasoning",
            messages=[{"role": "user", "content": HARD}],
            stream=True,
            stream_options={"include_usage": True},
        )
        chunks = [chunk async for chunk in stream]

    text = "".join(chunk.choices[0].delta.content or "" for chunk in chunks if chunk.choices)
    assert text.strip() == "a long careful proof"
    usage = chunks[-1].usage
    assert usage is not None and usage.completion_tokens_details is not None
    assert usage.completion_tokens_details.reasoning_tokens == 6
    sent = upstream.requests[0].body
    assert sent["model"] == "local-reasoner" and sent["stream"] is True


async def test_the_openai_client_sees_router_errors_as_api_errors(base_url: str) -> None:
    import openai

    async with AsyncOpenAI(base_url=base_url, api_key="unused", max_retries=0) as client:
        with pytest.raises(openai.NotFoundError) as raised:
            await client.chat.completions.create(
                model="gpt-who", messages=[{"role": "user", "content": EASY}]
            )

    assert raised.value.status_code == 404
    assert "gpt-who" in raised.value.message
