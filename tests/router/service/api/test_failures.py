"""Failures reported as failures: empty answers, broken streams, the request's one deadline; and
a connection the upstream dropped unanswered, which is not a failure: the call is sent again."""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import openai
import pytest
from openai import AsyncOpenAI

from classifiers.encoder import HashingEncoder
from router.service.app import create_app
from router.settings import Settings
from tests.dropping_upstream import ANSWER, dropping_upstream
from tests.router.service.api.conftest import (
    DIMENSION,
    EASY,
    HARD,
    ListSink,
    MakeClient,
    tier,
    user,
)
from tests.router.service.api.live import serving
from tests.upstream_server import UpstreamServer


def chat(client: Any, text: str = EASY, **extra: Any) -> Any:
    return client.post(
        "/v1/chat/completions", json={"model": "auto", "messages": user(text), **extra}
    )


def single(url: str, **extra: Any) -> dict[str, Any]:
    """openai/primary for every prompt we send; openai/backup, its fallback if ``extra`` says so,
    has a tier of its own (which gives it an endpoint) that no test prompt reaches."""
    return {
        "version": "failures-1",
        "tiers": [
            tier("only", (0.0, 0.999), "openai/primary", url, **extra),
            tier("spare", (0.999, 1.0), "openai/backup", url),
        ],
    }


def test_an_answer_without_choices_goes_to_the_fallback(
    make_client: MakeClient, upstream: UpstreamServer, sink: ListSink
) -> None:
    upstream.script("primary", empty=True)
    upstream.script("backup", answers=["from the backup"])
    client = make_client(single(upstream.url, fallbacks=["openai/backup"]), upstream_retries=0)

    response = chat(client)

    assert response.status_code == 200
    assert response.json()["choices"][0]["message"]["content"] == "from the backup"
    assert sink.wait_for(1)[0].upstream_model == "openai/backup"


def test_a_call_dropped_unanswered_is_sent_again_answered_and_counted(
    make_client: MakeClient, sink: ListSink
) -> None:
    with dropping_upstream(drops=1) as dropping:
        client = make_client(single(dropping.url))
        response = chat(client)
        metrics = client.get("/metrics").text

    assert response.status_code == 200
    assert response.json()["choices"][0]["message"]["content"] == ANSWER
    assert dropping.received == 2
    assert sink.wait_for(1)[0].status == "ok"
    assert 'router_upstream_resent_total{model="openai/primary"} 1.0' in metrics


def test_an_answer_without_choices_and_no_fallback_is_a_502(
    make_client: MakeClient, upstream: UpstreamServer, sink: ListSink
) -> None:
    upstream.script("primary", empty=True)
    client = make_client(single(upstream.url), upstream_retries=0)

    response = chat(client)

    assert response.status_code == 502
    assert response.json()["error"]["code"] == "EmptyAnswerError"
    (record,) = sink.wait_for(1)
    assert record.status == "EmptyAnswerError"
    assert record.prompt_tokens > 0, "an empty answer is still billed and counted"


def test_a_stream_of_only_done_is_a_502_or_the_fallbacks_answer(
    make_client: MakeClient, upstream: UpstreamServer, sink: ListSink
) -> None:
    upstream.script("primary", empty=True)
    upstream.script("backup", answers=["streamed backup"])
    alone = make_client(single(upstream.url), upstream_retries=0)
    response = chat(alone, stream=True)
    assert response.status_code == 502
    assert response.json()["error"]["code"] == "EmptyAnswerError"
    assert sink.wait_for(1)[0].status == "EmptyAnswerError"

    backed = make_client(single(upstream.url, fallbacks=["openai/backup"]), upstream_retries=0)
    response = chat(backed, stream=True)
    assert response.status_code == 200
    assert "streamed" in response.text and response.text.endswith("data: [DONE]\n\n")


def test_a_hanging_upstream_is_a_504_within_the_tiers_timeout(
    make_client: MakeClient, upstream: UpstreamServer, sink: ListSink
) -> None:
    """Acceptance: timeout_s is the total for retries and fallbacks (scaled down from 30 s)."""
    upstream.script("primary", hang=True)
    upstream.script("backup", hang=True)
    policy = single(upstream.url, fallbacks=["openai/backup"], timeout_s=1)
    client = make_client(policy, upstream_retries=2)

    started = time.monotonic()
    response = chat(client)
    waited = time.monotonic() - started

    assert response.status_code == 504
    assert "deadline of 1 s" in response.json()["error"]["message"]
    assert waited < 1.0 + 0.8
    assert sink.wait_for(1)[0].status == "UpstreamTimeoutError"


def test_voting_needs_final_answers_else_the_first_sample_is_taken(
    make_client: MakeClient, upstream: UpstreamServer
) -> None:
    upstream.script("voter", answers=["a poem", "another poem", "a third poem"])
    client = make_client(upstream_retries=0)
    response = client.post("/v1/chat/completions", json={"model": "vote", "messages": user(HARD)})

    assert response.status_code == 200
    vote = response.headers["x-router-vote"]
    assert vote == "3 samples: the first states no final answer to vote on, the rest cancelled"
    assert response.json()["choices"][0]["message"]["content"] == "a poem"


@pytest.fixture
def live_url(
    models_dir: Any, write_policy: Any, upstream: UpstreamServer, sink: ListSink
) -> Iterator[str]:
    path = write_policy(single(upstream.url))
    settings = Settings(models_dir=models_dir, policy_path=path, upstream_retries=0)
    app = create_app(settings, encoder_loader=lambda _: HashingEncoder(DIMENSION), sink=sink)
    with serving(app) as url:
        yield f"{url}/v1"


@pytest.mark.anyio
async def test_a_stream_that_breaks_midway_ends_with_an_error_the_client_raises(
    live_url: str, upstream: UpstreamServer, sink: ListSink
) -> None:
    upstream.script("primary", answers=["one two three four five"], break_after=2)
    async with AsyncOpenAI(base_url=live_url, api_key="unused", max_retries=0) as client:
        stream = await client.chat.completions.create(
            model="auto", messages=user(EASY), stream=True
        )
        received: list[str] = []
        with pytest.raises(openai.APIError):
            async for chunk in stream:
                received.extend(choice.delta.content or "" for choice in chunk.choices)

    assert "one" in "".join(received)
    (record,) = sink.wait_for(1)
    assert record.status not in {"ok", "cancelled"}
