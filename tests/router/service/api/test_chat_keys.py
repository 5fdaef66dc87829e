"""Provider keys, missing ones and never leaking them.

POST /v1/chat/completions through the real app, litellm and a real local upstream.
"""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

from tests.router.service.api.conftest import KEY, MakeClient, chat, tier
from tests.upstream_server import UpstreamServer


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
