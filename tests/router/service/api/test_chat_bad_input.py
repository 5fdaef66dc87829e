"""Malformed, forbidden and oversized requests get OpenAI-shaped errors.

POST /v1/chat/completions through the real app, litellm and a real local upstream.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from fastapi.testclient import TestClient

from tests.router.service.api.conftest import EASY, MakeClient, chat, user
from tests.upstream_server import UpstreamServer


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
