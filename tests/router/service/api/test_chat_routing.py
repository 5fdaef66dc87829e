"""Which tier answers, pinned tiers and models, unknown models.

POST /v1/chat/completions through the real app, litellm and a real local upstream.
"""

from __future__ import annotations

from fastapi.testclient import TestClient

from tests.router.service.api.conftest import CLASSIFIER_VERSION, EASY, HARD, ListSink, chat
from tests.upstream_server import PROMPT_TOKENS, UpstreamServer


def test_an_easy_and_a_hard_prompt_go_to_different_tiers(
    client: TestClient, upstream: UpstreamServer
) -> None:
    easy, hard = chat(client, text=EASY), chat(client, text=HARD)

    assert (easy.status_code, hard.status_code) == (200, 200)
    assert easy.headers["x-router-tier"] == "fast"
    assert easy.headers["x-router-model"] == "openai/fast-model"
    assert float(easy.headers["x-router-score"]) < 0.5
    assert hard.headers["x-router-tier"] == "deep"
    assert float(hard.headers["x-router-score"]) >= 0.7
    assert [request.model for request in upstream.requests] == ["fast-model", "o3-mini"]


def test_the_answer_is_an_openai_chat_completion_with_decision_headers(
    client: TestClient, upstream: UpstreamServer
) -> None:
    upstream.script("fast-model", answers=["Rome"])
    response = chat(client)

    body = response.json()
    assert body["object"] == "chat.completion"
    message = body["choices"][0]["message"]
    assert (message["role"], message["content"]) == ("assistant", "Rome")
    assert body["choices"][0]["finish_reason"] == "stop"
    assert body["usage"]["prompt_tokens"] == PROMPT_TOKENS
    assert response.headers["x-router-request-id"].startswith("req_")
    assert response.headers["x-router-budget"] == "none/-/256"
    assert response.headers["x-router-policy-version"] == "api-policy-1"
    assert response.headers["x-router-classifier-version"] == CLASSIFIER_VERSION
    assert "x-router-vote" not in response.headers


def test_a_tier_name_pins_the_tier_but_the_prompt_is_still_scored(
    client: TestClient, upstream: UpstreamServer, sink: ListSink
) -> None:
    response = chat(client, model="deep", text=EASY)

    assert response.status_code == 200
    assert response.headers["x-router-tier"] == "deep"
    assert float(response.headers["x-router-score"]) < 0.5
    assert upstream.requests[0].model == "o3-mini"
    (record,) = sink.wait_for(1)
    assert (record.requested_model, record.tier, record.score < 0.5) == ("deep", "deep", True)


def test_a_model_id_pins_the_tier_that_serves_it(
    client: TestClient, upstream: UpstreamServer
) -> None:
    response = chat(client, model="hosted_vllm/qwen3-8b", text=HARD)

    assert response.headers["x-router-tier"] == "qwen"
    assert response.headers["x-router-model"] == "hosted_vllm/qwen3-8b"
    assert float(response.headers["x-router-score"]) >= 0.7


def test_an_unknown_model_is_404_and_nothing_is_sent(
    client: TestClient, upstream: UpstreamServer
) -> None:
    response = chat(client, model="gpt-who")

    assert response.status_code == 404
    error = response.json()["error"]
    assert error["param"] == "model"
    assert error["code"] == "UnknownModelError"
    assert "'gpt-who'" in error["message"] and "fast, qwen, vote, deep" in error["message"]
    assert response.headers["x-router-request-id"].startswith("req_")
    assert "x-router-tier" not in response.headers
    assert upstream.requests == []
