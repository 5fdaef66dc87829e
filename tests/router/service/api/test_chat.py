"""POST /v1/chat/completions through the real app, litellm and a real local upstream."""

from __future__ import annotations

import asyncio
import hashlib
import json
import random
import time
from collections.abc import Iterator
from functools import partial
from typing import Any

import anyio
import httpx
import numpy as np
import pytest
from fastapi.testclient import TestClient

from classifiers.encoder import HashingEncoder
from classifiers.features import text_features
from tests.router.service.api.conftest import (
    CLASSIFIER_VERSION,
    EASY,
    HARD,
    KEY,
    ListSink,
    MakeApp,
    MakeClient,
    policy_data,
    tier,
    user,
)
from tests.router.service.api.live import serving
from tests.upstream_server import PROMPT_TOKENS, UpstreamServer

DECISION_HEADERS = (
    "x-router-tier",
    "x-router-model",
    "x-router-score",
    "x-router-budget",
    "x-router-policy-version",
    "x-router-classifier-version",
)


def chat(client: TestClient, model: str = "auto", text: str = EASY, **extra: Any) -> httpx.Response:
    return client.post(
        "/v1/chat/completions", json={"model": model, "messages": user(text)} | extra
    )


def events(response: httpx.Response) -> list[str]:
    """The ``data:`` payloads of an SSE response, in order."""
    lines = response.text.splitlines()
    return [line.removeprefix("data: ") for line in lines if line.startswith("data: ")]


# --- routing --------------------------------------------------------------------------------


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


# --- what the upstream receives --------------------------------------------------------------


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


# --- streaming ------------------------------------------------------------------------------


def test_a_stream_sends_chunks_the_usage_and_done(
    client: TestClient, upstream: UpstreamServer
) -> None:
    upstream.script("fast-model", answers=["the capital is Rome"], reasoning_tokens=2)
    payload = {
        "model": "auto",
        "messages": user(EASY),
        "stream": True,
        "stream_options": {"include_usage": True},
    }
    with client.stream("POST", "/v1/chat/completions", json=payload) as response:
        response.read()

    assert response.headers["content-type"].startswith("text/event-stream")
    assert response.headers["x-router-tier"] == "fast"
    data = events(response)
    assert data[-1] == "[DONE]"
    chunks = [json.loads(item) for item in data[:-1]]
    assert all(chunk["object"] == "chat.completion.chunk" for chunk in chunks)
    text = "".join(c["choices"][0]["delta"].get("content", "") for c in chunks if c["choices"])
    assert text.strip() == "the capital is Rome"
    assert chunks[-1]["choices"] == []
    assert chunks[-1]["usage"]["completion_tokens_details"]["reasoning_tokens"] == 2
    assert upstream.requests[0].body["stream"] is True


def test_a_stream_without_include_usage_sends_no_usage_chunk(
    client: TestClient, upstream: UpstreamServer
) -> None:
    with client.stream("POST", "/v1/chat/completions", json=_stream_payload()) as response:
        response.read()

    data = events(response)
    assert data[-1] == "[DONE]"
    assert all("usage" not in json.loads(item) for item in data[:-1])


def test_a_stream_is_recorded_when_it_ends(
    client: TestClient, upstream: UpstreamServer, sink: ListSink
) -> None:
    upstream.script("fast-model", answers=["one two three"], reasoning_tokens=1)
    with client.stream("POST", "/v1/chat/completions", json=_stream_payload()) as response:
        response.read()

    (record,) = sink.wait_for(1)
    assert (record.stream, record.status, record.upstream_model) == (
        True,
        "ok",
        "openai/fast-model",
    )
    assert (record.prompt_tokens, record.completion_tokens, record.reasoning_tokens) == (
        PROMPT_TOKENS,
        4,
        1,
    )
    assert record.request_id == response.headers["x-router-request-id"]


def test_a_stream_that_fails_before_its_first_chunk_gets_an_error_response(
    make_client: MakeClient, upstream: UpstreamServer
) -> None:
    upstream.script("o3-mini", failures=[503, 503])
    client = make_client(upstream_retries=0)
    payload = _stream_payload() | {"model": "deep"}
    with client.stream("POST", "/v1/chat/completions", json=payload) as response:
        response.read()

    assert response.status_code == 502
    assert response.json()["error"]["code"] == "UpstreamError"
    assert response.headers["x-router-tier"] == "deep"


def _stream_payload() -> dict[str, Any]:
    return {"model": "auto", "messages": user(EASY), "stream": True}


@pytest.mark.anyio
async def test_a_client_that_disconnects_mid_stream_cancels_the_upstream_call(
    make_app: MakeApp, upstream: UpstreamServer, sink: ListSink
) -> None:
    upstream.script("fast-model", answers=[" ".join(["word"] * 300)], chunk_delay_s=0.02)
    with serving(make_app()) as base_url:
        async with (
            httpx.AsyncClient(base_url=base_url, timeout=5.0) as http,
            http.stream("POST", "/v1/chat/completions", json=_stream_payload()) as response,
        ):
            assert response.status_code == 200
            lines = response.aiter_lines()
            assert (await anext(lines)).startswith("data: ")
            assert (await anext(lines)) == ""
        abandoned = await upstream.wait_for_abandoned(timeout_s=3.0)
        records = await anyio.to_thread.run_sync(sink.wait_for)

    assert abandoned == ["fast-model"]
    assert [record.status for record in records] == ["cancelled"]


# --- retries, fallbacks, sampling ----------------------------------------------------------


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


# --- the decision record --------------------------------------------------------------------


def test_each_answer_is_recorded_with_its_decision_and_cost(
    client: TestClient, upstream: UpstreamServer, sink: ListSink
) -> None:
    upstream.script("o3-mini", answers=["done"], reasoning_tokens=4)
    response = chat(client, text=HARD)

    (record,) = sink.wait_for(1)
    assert record.request_id == response.headers["x-router-request-id"]
    assert record.prompt_hash == hashlib.sha256(HARD.encode()).hexdigest()
    assert record.prompt == HARD
    assert (record.tier, record.model, record.upstream_model) == (
        "deep",
        "openai/o3-mini",
        "openai/o3-mini",
    )
    assert record.score == pytest.approx(float(response.headers["x-router-score"]), abs=1e-4)
    assert (record.prompt_tokens, record.completion_tokens, record.reasoning_tokens) == (
        PROMPT_TOKENS,
        5,
        4,
    )
    assert record.cost_usd > 0.0
    assert record.classifier_version == CLASSIFIER_VERSION
    assert record.policy_version == "api-policy-1"
    assert record.choice_probability == 1.0
    assert record.latency_ms >= (record.upstream_ms or 0.0) > 0.0
    assert record.status == "ok"
    assert record.tier_index == 3
    expected = HashingEncoder(384).encode([HARD])[0]
    assert np.frombuffer(record.embedding, dtype="<f2") == pytest.approx(expected, abs=1e-3)
    assert list(record.features) == pytest.approx(text_features(HARD))


def test_prompts_stay_out_of_the_record_when_not_kept(
    make_client: MakeClient, upstream: UpstreamServer, sink: ListSink
) -> None:
    chat(make_client(store_prompt_text=False))

    (record,) = sink.wait_for(1)
    assert record.prompt is None
    assert record.prompt_hash == hashlib.sha256(EASY.encode()).hexdigest()
    assert len(record.embedding) == 2 * 384
    assert list(record.features) == pytest.approx(text_features(EASY))


def test_by_default_records_go_to_sqlite_under_the_data_dir(
    models_dir: Any, tmp_path: Any, upstream: UpstreamServer
) -> None:
    import yaml

    from classifiers.encoder import HashingEncoder
    from router.log.store.sqlite import SQLiteStore
    from router.service.app import create_app
    from router.settings import Settings

    path = tmp_path / "default-sink.yaml"
    path.write_text(yaml.safe_dump(policy_data(upstream.url)), encoding="utf-8")
    settings = Settings(models_dir=models_dir, policy_path=path, data_dir=tmp_path / "data")
    app = create_app(settings, encoder_loader=lambda _: HashingEncoder(384))
    with TestClient(app, base_url="http://127.0.0.1") as client:
        response = chat(client)

    store = SQLiteStore(tmp_path / "data" / "decisions.sqlite3")
    (logged,) = store.logged()
    store.close()
    assert logged.record.request_id == response.headers["x-router-request-id"]


# --- exploration ----------------------------------------------------------------------------


def test_exploration_moves_some_auto_requests_and_records_their_probability(
    make_client: MakeClient, upstream: UpstreamServer, sink: ListSink
) -> None:
    client = make_client(exploration_rate=0.5, rng=random.Random(4))
    tiers = [chat(client, text=f"{EASY} ({n})").headers["x-router-tier"] for n in range(40)]

    records = sink.wait_for(40)
    assert {record.tier for record in records} == {"fast", "qwen"}  # fast has one neighbour
    assert [record.tier for record in records] == tiers
    assert {(r.tier, r.tier_index, r.choice_probability) for r in records} == {
        ("fast", 0, 0.5),
        ("qwen", 1, 0.5),
    }
    explored = next(record for record in records if record.tier == "qwen")
    assert explored.score < 0.5  # the policy's tier would have been fast


def test_pinned_requests_and_route_are_never_explored(
    make_client: MakeClient, upstream: UpstreamServer, sink: ListSink
) -> None:
    client = make_client(exploration_rate=0.5, rng=random.Random(4))
    pinned = {
        chat(client, model="fast", text=f"{EASY} {n}").headers["x-router-tier"] for n in range(20)
    }
    routed = {
        client.post("/v1/route", json={"text": f"{EASY} {n}"}).json()["tier"] for n in range(20)
    }

    assert pinned == routed == {"fast"}
    assert {record.choice_probability for record in sink.wait_for(20)} == {1.0}


# --- keys -----------------------------------------------------------------------------------


def test_a_missing_provider_key_is_a_502_naming_the_variable(
    make_client: MakeClient, upstream: UpstreamServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("ROUTER_TEST_ABSENT_KEY", raising=False)
    hosted = tier("hosted", (0.0, 1.0), "openai/gpt-4o-mini", upstream.url)
    del hosted["api_base"]
    hosted["api_key_env"] = "ROUTER_TEST_ABSENT_KEY"
    client = make_client({"version": "keyless", "tiers": [hosted]})
    response = chat(client)

    assert response.status_code == 502  # the router's configuration, not the client's key
    error = response.json()["error"]
    assert error["type"] == "provider_key_error"
    assert "ROUTER_TEST_ABSENT_KEY" in error["message"]
    assert response.headers["x-router-tier"] == "hosted"
    assert upstream.requests == []


def test_provider_keys_never_reach_responses_metrics_or_logs(
    client: TestClient, upstream: UpstreamServer, caplog: pytest.LogCaptureFixture
) -> None:
    upstream.script("o3-mini", failures=[400], error_message=f"bad key {KEY}")
    with caplog.at_level("DEBUG"):
        refused = chat(client, model="deep")
        answered = chat(client)
        metrics = client.get("/metrics")

    assert upstream.requests[0].headers["authorization"] == f"Bearer {KEY}"
    assert refused.status_code == 400
    for response in (refused, answered, metrics):
        assert KEY not in response.text
        assert all(KEY not in value for value in response.headers.values())
    assert KEY not in caplog.text


# --- concurrency ----------------------------------------------------------------------------


class SlowEncoder:
    """The stand-in encoder, slowed down like a real forward pass that holds the CPU; it
    records the texts of each pass."""

    def __init__(self, delay_s: float) -> None:
        self._inner = HashingEncoder(384)
        self.delay_s = delay_s
        self.passes: list[list[str]] = []

    @property
    def name(self) -> str:
        return self._inner.name

    @property
    def dimension(self) -> int:
        return self._inner.dimension

    @property
    def files_sha256(self) -> str | None:
        return None

    def encode(self, texts: Any) -> Any:
        self.passes.append(list(texts))
        time.sleep(self.delay_s)
        return self._inner.encode(texts)


def serve_slowly(
    encoder: SlowEncoder, models_dir: Any, tmp_path: Any, upstream: UpstreamServer
) -> Any:
    import yaml

    from router.service.app import create_app
    from router.settings import Settings

    path = tmp_path / "slow.yaml"
    path.write_text(yaml.safe_dump(policy_data(upstream.url)), encoding="utf-8")
    app = create_app(
        Settings(models_dir=models_dir, policy_path=path),
        encoder_loader=lambda _: encoder,  # type: ignore[arg-type,return-value]
        sink=ListSink(),
    )
    return serving(app)


@pytest.fixture
def slow_app(models_dir: Any, tmp_path: Any, upstream: UpstreamServer) -> Iterator[str]:
    with serve_slowly(SlowEncoder(0.6), models_dir, tmp_path, upstream) as base_url:
        yield base_url


@pytest.mark.anyio
async def test_scoring_does_not_block_other_requests(slow_app: str) -> None:
    async with (
        httpx.AsyncClient(base_url=slow_app, timeout=5.0) as http,
        anyio.create_task_group() as group,
    ):
        group.start_soon(partial(http.post, "/v1/route", json={"text": EASY}))
        await anyio.sleep(0.1)
        started = time.monotonic()
        health = await http.get("/healthz")
        waited = time.monotonic() - started

    assert health.status_code == 200
    assert waited < 0.3


@pytest.mark.anyio
async def test_requests_that_arrive_while_the_encoder_is_busy_share_its_next_pass(
    models_dir: Any, tmp_path: Any, upstream: UpstreamServer
) -> None:
    encoder = SlowEncoder(0.5)
    texts = [f"Question {n}: how many primes are there below {10 * n}?" for n in range(1, 6)]
    with serve_slowly(encoder, models_dir, tmp_path, upstream) as base_url:
        async with httpx.AsyncClient(base_url=base_url, timeout=10.0) as http:
            first = asyncio.create_task(http.post("/v1/route", json={"text": EASY}))
            await asyncio.sleep(0.1)  # the first pass is under way
            chats = [
                http.post("/v1/chat/completions", json={"model": "auto", "messages": user(t)})
                for t in texts[:2]
            ]
            routes = [http.post("/v1/route", json={"text": t}) for t in texts[2:]]
            responses = await asyncio.gather(*chats, *routes)
            await first
            alone = [await http.post("/v1/route", json={"text": t}) for t in texts]

    assert encoder.passes[0] == [EASY]
    assert sorted(encoder.passes[1]) == sorted(texts)
    assert [r.status_code for r in responses] == [200] * len(texts)
    scores = [r.headers["x-router-score"] for r in responses]
    assert scores == [r.headers["x-router-score"] for r in alone]


# --- bad input ------------------------------------------------------------------------------


def _refused(response: httpx.Response, status: int = 400) -> dict[str, Any]:
    assert response.status_code == status, response.text
    assert response.headers["x-router-request-id"].startswith("req_")
    error: dict[str, Any] = response.json()["error"]
    assert set(error) == {"message", "type", "param", "code"}
    return error


def test_malformed_json_is_a_400(client: TestClient, upstream: UpstreamServer) -> None:
    response = client.post(
        "/v1/chat/completions",
        content=b'{"model": "auto", "messages": [',
        headers={"content-type": "application/json"},
    )

    error = _refused(response)
    assert "not valid JSON" in error["message"]
    assert error["type"] == "invalid_request_error"
    assert upstream.requests == []


def test_a_body_that_is_not_an_object_is_a_400(client: TestClient) -> None:
    error = _refused(client.post("/v1/chat/completions", json=["model", "auto"]))

    assert "JSON object" in error["message"]


def test_an_empty_body_is_a_400(client: TestClient) -> None:
    _refused(client.post("/v1/chat/completions"))


@pytest.mark.parametrize(
    ("payload", "param"),
    [
        ({"model": "auto"}, "messages"),
        ({"messages": user(EASY)}, "model"),
        ({"model": "auto", "messages": []}, "messages"),
        ({"model": "auto", "messages": "hello"}, "messages"),
        ({"model": "auto", "messages": ["hello"]}, "messages[0]"),
        ({"model": "auto", "messages": [{"role": "user", "content": 42}]}, "messages[0].content"),
        ({"model": "auto", "messages": [{"role": "robot", "content": "hi"}]}, "messages[0].role"),
        ({"model": "auto", "messages": [{"role": "user", "content": "  "}]}, "messages"),
        ({"model": 7, "messages": user(EASY)}, "model"),
        ({"model": "auto", "messages": user(EASY), "temperature": "hot"}, "temperature"),
        ({"model": "auto", "messages": user(EASY), "temperature": 9}, "temperature"),
        ({"model": "auto", "messages": user(EASY), "stream": "yes please"}, "stream"),
        ({"model": "auto", "messages": user(EASY), "n": 3}, "n"),
        ({"model": "auto", "messages": user(EASY), "frobnicate": True}, "frobnicate"),
    ],
)
def test_bad_requests_are_400s_naming_the_field(
    client: TestClient, upstream: UpstreamServer, payload: dict[str, Any], param: str
) -> None:
    error = _refused(client.post("/v1/chat/completions", json=payload))

    assert error["param"] == param
    assert upstream.requests == []


@pytest.mark.parametrize(
    ("extra", "param"),
    [
        ({"api_base": "http://evil.example"}, "api_base"),
        ({"base_url": "http://evil.example"}, "base_url"),
        ({"api_key": "sk-mine"}, "api_key"),
        ({"api_version": "2024-01-01"}, "api_version"),
        ({"custom_llm_provider": "openai"}, "custom_llm_provider"),
        ({"extra_headers": {"x": "y"}}, "extra_headers"),
        ({"headers": {"x": "y"}}, "headers"),
        ({"organization": "org-1"}, "organization"),
        ({"litellm_params": {"api_base": "http://evil.example"}}, "litellm_params"),
        ({"mock_response": "pwned"}, "mock_response"),
        ({"extra_body": {"api_base": "http://evil.example"}}, "extra_body.api_base"),
        ({"extra_body": {"nested": {"api_key": "sk-mine"}}}, "extra_body.nested.api_key"),
        ({"metadata": {"api_key": "sk-mine"}}, "metadata.api_key"),
    ],
)
def test_fields_that_would_steer_the_upstream_are_refused(
    client: TestClient, upstream: UpstreamServer, extra: dict[str, Any], param: str
) -> None:
    error = _refused(chat(client, **extra))

    assert error["code"] == "ForbiddenFieldError"
    assert error["param"] == param
    assert param in error["message"]
    assert upstream.requests == []


def test_an_oversized_body_is_a_413(make_client: MakeClient, upstream: UpstreamServer) -> None:
    client = make_client(max_body_bytes=2048)
    response = chat(client, text="x" * 4096)

    error = _refused(response, 413)
    assert error["code"] == "PayloadTooLargeError"
    assert "2048 bytes" in error["message"]
    assert upstream.requests == []


def test_an_oversized_body_without_a_content_length_is_a_413(
    make_client: MakeClient, upstream: UpstreamServer
) -> None:
    client = make_client(max_body_bytes=2048)
    body = json.dumps({"model": "auto", "messages": user("y" * 4096)}).encode()

    def chunks() -> Iterator[bytes]:
        for start in range(0, len(body), 512):
            yield body[start : start + 512]

    response = client.post(
        "/v1/chat/completions", content=chunks(), headers={"content-type": "application/json"}
    )

    assert "content-length" not in response.request.headers
    _refused(response, 413)
    assert upstream.requests == []


def test_an_unknown_path_is_an_openai_shaped_404(client: TestClient) -> None:
    error = _refused(client.get("/v1/nothing-here"), 404)

    assert error["type"] == "invalid_request_error"


def test_a_wrong_method_is_an_openai_shaped_405(client: TestClient) -> None:
    response = client.get("/v1/chat/completions")

    _refused(response, 405)
    assert response.headers["allow"] == "POST"
