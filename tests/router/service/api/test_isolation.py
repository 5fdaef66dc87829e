"""One client's input never fails another's request, and bad input is a 400, never a 5xx."""

from __future__ import annotations

import json
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import httpx
import pytest
from fastapi.testclient import TestClient

from tests.router.service.api.conftest import EASY, user

SURROGATE = "what is \ud800 plus one?"
STOP = "\udfff"
PATH = "/v1/chat/completions"


def post(client: TestClient, path: str, body: dict[str, Any]) -> httpx.Response:
    """``body`` as JSON with \\u escapes: the way a client sends text with lone surrogates."""
    content = json.dumps(body, ensure_ascii=True)
    return client.post(path, content=content, headers={"content-type": "application/json"})


@pytest.mark.parametrize(
    ("path", "body", "param"),
    [
        ("/v1/chat/completions", {"model": "auto", "messages": user(SURROGATE)}, "messages[0]"),
        ("/v1/route", {"text": SURROGATE}, "text"),
        (
            "/v1/chat/completions",
            {"model": "auto", "messages": user(EASY), "stop": ["\udfff"]},
            "stop[0]",
        ),
        ("/v1/feedback", {"request_id": "req_\ud800", "outcome": "success"}, "request_id"),
    ],
)
def test_text_that_cannot_be_encoded_is_a_400_naming_the_field(
    client: TestClient, path: str, body: dict[str, Any], param: str
) -> None:
    response = post(client, path, body)

    assert response.status_code == 400, response.text
    error = response.json()["error"]
    assert error["param"].startswith(param)
    assert "lone surrogate" in error["message"]


def test_one_poisoned_request_among_24_concurrent_fails_alone(client: TestClient) -> None:
    bodies = [{"model": "auto", "messages": user(f"{EASY} ({n})")} for n in range(23)]
    bodies.insert(7, {"model": "auto", "messages": user(SURROGATE)})

    with ThreadPoolExecutor(max_workers=24) as pool:
        responses = list(pool.map(lambda body: post(client, PATH, body), bodies))
    statuses = [response.status_code for response in responses]

    assert statuses[7] == 400
    assert statuses[:7] + statuses[8:] == [200] * 23


@pytest.mark.parametrize("max_tokens", [0, -5])
def test_max_tokens_below_one_is_a_400(client: TestClient, max_tokens: int) -> None:
    for field in ("max_tokens", "max_completion_tokens"):
        body = {"model": "auto", "messages": user(EASY), field: max_tokens}
        response = client.post("/v1/chat/completions", json=body)
        assert response.status_code == 400
        assert response.json()["error"]["param"] == field
