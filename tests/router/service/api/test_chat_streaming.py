"""Streamed answers, their records, failures and client disconnects.

POST /v1/chat/completions through the real app, litellm and a real local upstream.
"""

from __future__ import annotations

import json

import anyio
import httpx
import pytest
from fastapi.testclient import TestClient

from tests.router.service.api.conftest import (
    EASY,
    ListSink,
    MakeApp,
    MakeClient,
    _stream_payload,
    events,
    user,
)
from tests.router.service.api.live import serving
from tests.upstream_server import PROMPT_TOKENS, UpstreamServer


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
