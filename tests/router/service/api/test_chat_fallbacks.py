"""Retries, fallbacks, errors after the decision, and sampling tiers that vote.

POST /v1/chat/completions through the real app, litellm and a real local upstream.
"""

from __future__ import annotations

import json
import time

from fastapi.testclient import TestClient

from tests.router.service.api.conftest import (
    ListSink,
    MakeClient,
    _stream_payload,
    chat,
    events,
    policy_data,
)
from tests.upstream_server import PROMPT_TOKENS, UpstreamServer

DECISION_HEADERS = (
    "x-router-tier",
    "x-router-model",
    "x-router-score",
    "x-router-budget",
    "x-router-policy-version",
    "x-router-classifier-version",
)


def test_a_server_error_falls_back_to_the_fallback_model(
    client: TestClient, upstream: UpstreamServer, sink: ListSink
) -> None:
    upstream.script("fast-model", failures=[500])
    upstream.script("o3-mini", answers=["from the fallback"])
    response = chat(client)

    assert response.status_code == 200
    assert response.json()["choices"][0]["message"]["content"] == "from the fallback"
    assert response.headers["x-router-model"] == "openai/fast-model"
    assert [request.model for request in upstream.requests] == ["fast-model", "o3-mini"]
    (record,) = sink.wait_for(1)
    assert (record.model, record.upstream_model) == ("openai/fast-model", "openai/o3-mini")


def test_a_timeout_falls_back_to_the_fallback_model(
    make_client: MakeClient, upstream: UpstreamServer
) -> None:
    policy = policy_data(upstream.url)
    policy["tiers"][0]["timeout_s"] = 0.5
    client = make_client(policy)
    upstream.script("fast-model", hang=True)
    started = time.monotonic()
    response = chat(client)

    assert response.status_code == 200
    assert time.monotonic() - started < 3.0
    assert [request.model for request in upstream.requests] == ["fast-model", "o3-mini"]


def test_a_rate_limited_call_is_retried(make_client: MakeClient, upstream: UpstreamServer) -> None:
    client = make_client(upstream_retries=2)
    upstream.script("o3-mini", failures=[429], answers=["after the retry"])
    response = chat(client, model="deep")

    assert response.status_code == 200
    assert response.json()["choices"][0]["message"]["content"] == "after the retry"
    assert len(upstream.requests_for("o3-mini")) == 2


def test_an_error_after_the_decision_carries_the_decision_headers_and_is_recorded(
    client: TestClient, upstream: UpstreamServer, sink: ListSink
) -> None:
    upstream.script("o3-mini", failures=[429, 429])
    response = chat(client, model="deep")

    assert response.status_code == 429
    assert response.json()["error"]["type"] == "rate_limit_error"
    for header in DECISION_HEADERS:
        assert header in response.headers
    (record,) = sink.wait_for(1)
    assert record.status == "UpstreamRateLimitedError"
    assert record.request_id == response.headers["x-router-request-id"]


def test_a_sampling_tier_votes_and_says_how_in_a_header(
    client: TestClient, upstream: UpstreamServer, sink: ListSink
) -> None:
    upstream.script("voter", answers=["42", "41", "42"], reasoning_tokens=3)
    response = chat(client, model="vote")

    assert response.json()["choices"][0]["message"]["content"] == "42"
    assert response.headers["x-router-vote"] == "3 samples: 2x'42', 1x'41'"
    usage = response.json()["usage"]
    assert usage["prompt_tokens"] == 3 * PROMPT_TOKENS
    assert usage["completion_tokens_details"]["reasoning_tokens"] == 9
    assert len(upstream.requests_for("voter")) == 3
    (record,) = sink.wait_for(1)
    assert (record.vote, record.prompt_tokens) == ("3 samples: 2x'42', 1x'41'", 3 * PROMPT_TOKENS)


def test_a_sampling_tier_streams_the_chosen_answer_with_the_vote_header(
    client: TestClient, upstream: UpstreamServer
) -> None:
    upstream.script("voter", answers=["7", "7", "8"])
    payload = _stream_payload() | {"model": "vote"}
    with client.stream("POST", "/v1/chat/completions", json=payload) as response:
        response.read()

    assert response.headers["x-router-vote"] == "3 samples: 2x'7', 1x'8'"
    assert json.loads(events(response)[0])["choices"][0]["delta"]["content"] == "7"
