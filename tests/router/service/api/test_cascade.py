"""Verifiers and cascades end to end: the real app, litellm and the local upstream."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from router.log.store.sqlite import SQLiteStore
from tests.router.service.api.conftest import EASY, ListSink, MakeClient, tier, user
from tests.upstream_server import PROMPT_TOKENS, UpstreamServer

PRICE = {"input_per_mtok": 1.0, "output_per_mtok": 4.0}
JSON_ANSWER = {"kind": "json_schema", "schema": {"type": "object", "required": ["answer"]}}


def cascade_policy(url: str, **cheap_strategy: Any) -> dict[str, Any]:
    """cheap [0, 0.5) cascades to strong [0.5, 1] when its answer is not JSON with 'answer'."""
    strategy = {"samples": 1, "verifier": "json-answer", "cascade": True} | cheap_strategy
    return {
        "version": "cascade-1",
        "verifiers": {"json-answer": JSON_ANSWER},
        "tiers": [
            tier("cheap", (0.0, 0.5), "openai/cheap-model", url, strategy=strategy, price=PRICE),
            tier("strong", (0.5, 1.0), "openai/strong-model", url, price=PRICE),
        ],
    }


def cost(answer: str) -> float:
    return (PROMPT_TOKENS * PRICE["input_per_mtok"] + len(answer.split()) * 4.0) / 1e6


def chat(client: TestClient, **extra: Any) -> Any:
    return client.post(
        "/v1/chat/completions", json={"model": "auto", "messages": user(EASY)} | extra
    )


def test_a_rejected_answer_escalates_exactly_once_and_the_record_keeps_both_steps(
    make_client: MakeClient, upstream: UpstreamServer, sink: ListSink
) -> None:
    upstream.script("cheap-model", answers=["forty two"])
    upstream.script("strong-model", answers=['{"answer": 42}'])
    client = make_client(cascade_policy(upstream.url))

    response = chat(client)

    assert response.status_code == 200
    assert response.json()["choices"][0]["message"]["content"] == '{"answer": 42}'
    assert response.headers["x-router-tier"] == "cheap"
    assert response.headers["x-router-cascade"] == "cheap:failed > strong:passed"
    assert response.headers["x-router-verifier"] == "json-answer: passed"
    assert len(upstream.requests_for("cheap-model")) == 1
    assert len(upstream.requests_for("strong-model")) == 1
    [record] = sink.wait_for(1)
    cheap, strong = record.steps
    assert (cheap.tier, cheap.passed, cheap.detail) == ("cheap", False, "the answer is not JSON")
    assert (strong.tier, strong.passed, strong.verifier) == ("strong", True, "json-answer")
    assert cheap.cost_usd == pytest.approx(cost("forty two"))
    assert strong.cost_usd == pytest.approx(cost('{"answer": 42}'))
    assert record.cost_usd == pytest.approx(cheap.cost_usd + strong.cost_usd)
    assert record.prompt_tokens == 2 * PROMPT_TOKENS
    assert record.upstream_model == "openai/strong-model"
    assert response.json()["usage"]["prompt_tokens"] == 2 * PROMPT_TOKENS


def test_an_accepted_answer_stays_at_the_cheap_tier_with_one_step(
    make_client: MakeClient, upstream: UpstreamServer, sink: ListSink
) -> None:
    upstream.script("cheap-model", answers=['{"answer": 42}'])
    client = make_client(cascade_policy(upstream.url))

    response = chat(client)

    assert response.headers["x-router-cascade"] == "cheap:passed"
    assert upstream.requests_for("strong-model") == []
    [record] = sink.wait_for(1)
    assert [(step.tier, step.passed) for step in record.steps] == [("cheap", True)]


def test_a_streamed_cascade_sends_the_escalated_answer(
    make_client: MakeClient, upstream: UpstreamServer, sink: ListSink
) -> None:
    upstream.script("cheap-model", answers=["no"])
    upstream.script("strong-model", answers=['{"answer": 1}'])
    client = make_client(cascade_policy(upstream.url))

    response = chat(client, stream=True, stream_options={"include_usage": True})

    payloads = [line.removeprefix("data: ") for line in response.text.splitlines() if line]
    chunks = [json.loads(payload) for payload in payloads if payload != "[DONE]"]
    text = "".join(c["choices"][0]["delta"].get("content", "") for c in chunks if c["choices"])
    assert text == '{"answer": 1}'
    assert chunks[-1]["usage"]["prompt_tokens"] == 2 * PROMPT_TOKENS
    assert response.headers["x-router-cascade"] == "cheap:failed > strong:passed"
    [record] = sink.wait_for(1)
    assert len(record.steps) == 2


def test_select_verifier_answers_with_a_sample_that_passes(
    make_client: MakeClient, upstream: UpstreamServer
) -> None:
    upstream.script("cheap-model", answers=["no", "still no", '{"answer": 7}'])
    strategy = {"samples": 3, "select": "verifier", "cascade": False}
    client = make_client(cascade_policy(upstream.url, **strategy))

    response = chat(client)

    assert response.json()["choices"][0]["message"]["content"] == '{"answer": 7}'
    assert response.headers["x-router-vote"].startswith("3 samples: json-answer: passed (sample")
    assert response.headers["x-router-verifier"].startswith("json-answer: passed")
    assert "x-router-cascade" not in response.headers
    assert upstream.requests_for("strong-model") == []


def test_feedback_can_judge_one_step_of_a_cascade(
    make_client: MakeClient, upstream: UpstreamServer, tmp_path: Path
) -> None:
    upstream.script("cheap-model", answers=["no"])
    upstream.script("strong-model", answers=['{"answer": 1}'])
    data_dir = tmp_path / "data"
    client = make_client(cascade_policy(upstream.url), sink=None, data_dir=data_dir)
    request_id = chat(client).headers["x-router-request-id"]

    judged = client.post(
        "/v1/feedback", json={"request_id": request_id, "outcome": "success", "step": 0}
    )
    negative = {"request_id": request_id, "outcome": "success", "step": -1}
    refused = client.post("/v1/feedback", json=negative)

    assert judged.status_code == 200, judged.text
    assert refused.status_code == 400
    assert refused.json()["error"]["param"] == "step"
    client.close()
    store = SQLiteStore(data_dir / "decisions.sqlite3")
    try:
        [logged] = store.logged()
    finally:
        store.close()
    assert [len(logged.record.steps), logged.feedback[0].step] == [2, 0]
