"""POST /v1/route: the decision alone, and no upstream call."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

from tests.router.service.api.conftest import CLASSIFIER_VERSION, EASY, HARD, user
from tests.upstream_server import UpstreamServer


def test_messages_get_the_whole_decision_and_nothing_is_called(
    client: TestClient, upstream: UpstreamServer
) -> None:
    response = client.post("/v1/route", json={"messages": user(HARD)})

    assert response.status_code == 200
    body = response.json()
    assert body["tier"] == "deep"
    assert body["model"] == "openai/o3-mini"
    assert 0.7 <= body["score"] <= 1.0
    assert body["budget"] == {
        "effort": "high",
        "budget_tokens": None,
        "max_tokens": 8192,
        "min_tokens": None,
    }
    assert body["strategy"] == {
        "samples": 1,
        "select": "first",
        "verifier": None,
        "cascade": False,
    }
    assert (body["classifier_version"], body["policy_version"]) == (
        CLASSIFIER_VERSION,
        "api-policy-1",
    )
    assert body["reasons"][0].startswith(f"score {body['score']:.3f} in band [0.7, 1]")
    assert "messages[0]" in body["reasons"][1]
    assert body["decision_ms"] > 0
    assert body["request_id"] == response.headers["x-router-request-id"]
    assert response.headers["x-router-tier"] == "deep"
    assert upstream.requests == []


def test_a_text_is_scored_as_it_is(client: TestClient) -> None:
    body = client.post("/v1/route", json={"text": EASY}).json()

    assert body["tier"] == "fast"
    assert "from the given text" in body["reasons"][1]


def test_messages_and_text_score_the_same_prompt_alike(client: TestClient) -> None:
    by_messages = client.post("/v1/route", json={"messages": user(EASY)}).json()
    by_text = client.post("/v1/route", json={"text": EASY}).json()

    assert by_messages["score"] == pytest.approx(by_text["score"])


def test_a_pinned_model_shows_the_pinned_tier_and_why(client: TestClient) -> None:
    body = client.post("/v1/route", json={"text": EASY, "model": "vote"}).json()

    assert (body["tier"], body["strategy"]["samples"]) == ("vote", 3)
    assert body["score"] < 0.5
    assert "pinned to tier 'vote' by the request's model 'vote'" in body["reasons"]


@pytest.mark.parametrize(
    ("payload", "param"),
    [
        ({}, "messages"),
        ({"messages": user(EASY), "text": EASY}, "messages"),
        ({"text": "   "}, "text"),
        ({"messages": []}, "messages"),
        ({"text": 3}, "text"),
        ({"text": EASY, "api_base": "http://evil.example"}, "api_base"),
    ],
)
def test_bad_route_requests_are_400s_naming_the_field(
    client: TestClient, payload: dict[str, object], param: str
) -> None:
    response = client.post("/v1/route", json=payload)

    assert response.status_code == 400
    assert response.json()["error"]["param"] == param


def test_an_unknown_model_is_404(client: TestClient) -> None:
    response = client.post("/v1/route", json={"text": EASY, "model": "nope"})

    assert response.status_code == 404
    assert response.json()["error"]["code"] == "UnknownModelError"
