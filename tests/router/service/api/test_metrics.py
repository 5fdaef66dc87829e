"""GET /metrics: requests, latencies, tokens and cost, in Prometheus' text format."""

from __future__ import annotations

from fastapi.testclient import TestClient
from prometheus_client.parser import text_string_to_metric_families

from tests.router.service.api.conftest import EASY, HARD, MakeClient, user
from tests.upstream_server import PROMPT_TOKENS, UpstreamServer

Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]


def scrape(client: TestClient) -> Samples:
    response = client.get("/metrics")
    assert response.headers["content-type"].startswith("text/plain")
    return {
        (sample.name, frozenset(sample.labels.items())): sample.value
        for family in text_string_to_metric_families(response.text)
        for sample in family.samples
    }


def value(samples: Samples, name: str, **labels: str) -> float:
    return samples.get((name, frozenset(labels.items())), 0.0)


def chat(client: TestClient, text: str, model: str = "auto") -> None:
    client.post("/v1/chat/completions", json={"model": model, "messages": user(text)})


def test_requests_are_counted_by_tier_model_and_status(
    client: TestClient, upstream: UpstreamServer
) -> None:
    chat(client, EASY)
    chat(client, EASY)
    chat(client, EASY, model="unknown-model")
    samples = scrape(client)

    endpoint = "/v1/chat/completions"
    fast = {"tier": "fast", "model": "openai/fast-model", "key": "open"}
    assert value(samples, "router_requests_total", endpoint=endpoint, status="200", **fast) == 2
    none = {"tier": "none", "model": "none", "key": "open"}
    assert value(samples, "router_requests_total", endpoint=endpoint, status="404", **none) == 1
    assert not any("unknown-model" in str(labels) for _, labels in samples)


def test_tokens_reasoning_tokens_and_cost_are_counted_by_tier_and_model(
    client: TestClient, upstream: UpstreamServer
) -> None:
    upstream.script("o3-mini", answers=["the answer"], reasoning_tokens=30)
    chat(client, HARD)
    samples = scrape(client)

    deep = {"tier": "deep", "model": "openai/o3-mini", "key": "open"}
    assert value(samples, "router_tokens_total", kind="prompt", **deep) == PROMPT_TOKENS
    assert value(samples, "router_tokens_total", kind="completion", **deep) == 32
    assert value(samples, "router_tokens_total", kind="reasoning", **deep) == 30
    assert value(samples, "router_cost_usd_total", **deep) > 0.0
    seconds = {"tier": "deep", "model": "openai/o3-mini"}
    assert value(samples, "router_upstream_seconds_count", **seconds) == 1


def test_decision_latency_is_observed_for_chat_and_route(client: TestClient) -> None:
    chat(client, EASY)
    client.post("/v1/route", json={"text": HARD})
    samples = scrape(client)

    assert value(samples, "router_decision_seconds_count") == 2
    assert 0.0 < value(samples, "router_decision_seconds_sum") < 1.0


def test_each_app_has_its_own_registry(make_client: MakeClient) -> None:
    first, second = make_client(), make_client()
    chat(first, EASY)

    assert value(scrape(first), "router_decision_seconds_count") == 1
    assert value(scrape(second), "router_decision_seconds_count") == 0
