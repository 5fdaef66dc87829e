"""API keys through the real app: 401, 403, 429, feedback ownership, key ids in records."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi.testclient import TestClient

from records import new_request_id
from router.access.keys import Limits, Scope, issue
from router.access.keystore import KeyFile
from tests.router.service.api.conftest import EASY, ListSink, MakeClient, user


class Keys:
    """Keys in the data dir the test's app reads."""

    def __init__(self, data_dir: Path) -> None:
        self.store = KeyFile(data_dir / "api-keys.json")

    def create(self, *scopes: Scope, **limits: int) -> tuple[str, str]:
        key, token = issue("test", scopes, Limits(**limits))
        self.store.add(key)
        return key.id, token


@pytest.fixture
def keys(tmp_path: Path) -> Keys:
    (tmp_path / "var").mkdir(exist_ok=True)
    return Keys(tmp_path / "var")


@pytest.fixture
def client(make_client: MakeClient, keys: Keys) -> TestClient:
    keys.create(Scope.ADMIN)  # keys exist before the app starts
    return make_client(upstream_retries=0)


def chat(client: TestClient, token: str | None, model: str = "auto") -> httpx.Response:
    headers = {} if token is None else {"Authorization": f"Bearer {token}"}
    body = {"model": model, "messages": user(EASY)}
    return client.post("/v1/chat/completions", json=body, headers=headers)


def feedback(client: TestClient, token: str, request_id: str) -> httpx.Response:
    body: dict[str, Any] = {"request_id": request_id, "outcome": "failure"}
    return client.post("/v1/feedback", json=body, headers={"Authorization": f"Bearer {token}"})


def error_of(response: httpx.Response) -> dict[str, Any]:
    error: dict[str, Any] = response.json()["error"]
    return error


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("POST", "/v1/chat/completions"),
        ("POST", "/v1/route"),
        ("POST", "/v1/feedback"),
        ("GET", "/v1/models"),
        ("GET", "/metrics"),
    ],
)
def test_without_a_key_every_endpoint_is_a_401(client: TestClient, method: str, path: str) -> None:
    response = client.request(method, path, json={"model": "auto", "messages": user(EASY)})

    assert response.status_code == 401
    assert response.headers["www-authenticate"] == "Bearer"
    assert error_of(response)["type"] == "authentication_error"


def test_probes_answer_without_a_key(client: TestClient) -> None:
    assert client.get("/healthz").status_code == 200
    assert client.get("/readyz").status_code == 200


def test_a_wrong_token_is_a_401_that_reveals_nothing(client: TestClient, keys: Keys) -> None:
    _, token = keys.create(Scope.CHAT)
    forged = token[:-4] + "AAAA"
    for attempt in ("sk-not-a-router-key", forged):
        response = chat(client, attempt)
        assert response.status_code == 401
        assert error_of(response)["message"] == "invalid API key"


def test_a_key_without_pin_cannot_choose_a_tier_or_model(client: TestClient, keys: Keys) -> None:
    _, chat_only = keys.create(Scope.CHAT)
    _, pinning = keys.create(Scope.CHAT, Scope.PIN)

    assert chat(client, chat_only).status_code == 200
    for model in ("deep", "openai/o3-mini"):
        response = chat(client, chat_only, model)
        assert response.status_code == 403
        assert "'pin' scope" in error_of(response)["message"]
    assert chat(client, pinning, "deep").status_code == 200


def test_a_key_needs_the_endpoints_scope(client: TestClient, keys: Keys) -> None:
    _, route_only = keys.create(Scope.ROUTE)
    assert chat(client, route_only).status_code == 403
    headers = {"Authorization": f"Bearer {route_only}"}
    assert client.post("/v1/route", json={"text": EASY}, headers=headers).status_code == 200
    assert client.get("/metrics", headers=headers).status_code == 403


def test_feedback_only_from_the_requests_key_or_a_verifier(
    make_client: MakeClient, keys: Keys, tmp_path: Path
) -> None:
    _, owner = keys.create(Scope.CHAT, Scope.FEEDBACK)
    _, other = keys.create(Scope.CHAT, Scope.FEEDBACK)
    _, verifier = keys.create(Scope.VERIFIER)
    client = make_client(sink=None, data_dir=tmp_path / "var")
    request_id = chat(client, owner).headers["x-router-request-id"]

    refused = feedback(client, other, request_id)
    assert refused.status_code == 403
    assert "only on its own requests" in error_of(refused)["message"]
    assert feedback(client, owner, request_id).status_code == 200
    assert feedback(client, verifier, request_id).status_code == 200


def test_a_revoked_key_is_refused_from_the_next_request(client: TestClient, keys: Keys) -> None:
    key_id, token = keys.create(Scope.CHAT)
    assert chat(client, token).status_code == 200
    keys.store.revoke(key_id)

    response = chat(client, token)
    assert response.status_code == 401
    assert "revoked" in error_of(response)["message"]


def test_a_key_over_its_request_limit_gets_429_with_retry_after(
    client: TestClient, keys: Keys
) -> None:
    _, token = keys.create(Scope.CHAT, requests_per_minute=2)
    statuses = [chat(client, token).status_code for _ in range(3)]
    response = chat(client, token)

    assert statuses == [200, 200, 429]
    assert response.status_code == 429
    assert 1 <= int(response.headers["retry-after"]) <= 60
    assert error_of(response)["type"] == "rate_limit_error"


def test_a_key_over_its_token_limit_waits(client: TestClient, keys: Keys) -> None:
    _, token = keys.create(Scope.CHAT, tokens_per_minute=10)
    assert chat(client, token).status_code == 200  # uses more than 10 tokens
    deadline = time.monotonic() + 2.0  # the charge is counted off the request path
    while (status := chat(client, token).status_code) == 200 and time.monotonic() < deadline:
        time.sleep(0.05)
    assert status == 429


def test_the_key_id_goes_into_the_record_and_the_metrics_never_the_token(
    make_client: MakeClient, keys: Keys, sink: ListSink
) -> None:
    _, admin = keys.create(Scope.ADMIN)
    client = make_client()
    key_id, token = keys.create(Scope.CHAT)
    assert chat(client, token).status_code == 200

    (record,) = sink.wait_for(1)
    assert record.key_id == key_id
    metrics = client.get("/metrics", headers={"Authorization": f"Bearer {admin}"}).text
    assert f'key="{key_id}"' in metrics
    assert token not in metrics and admin not in metrics


def test_without_keys_a_non_loopback_address_is_refused_unless_open(
    make_client: MakeClient,
) -> None:
    closed = make_client(open_access=False)  # the TestClient's address is "testserver"
    response = chat(closed, None)
    assert response.status_code == 401
    assert "ROUTER_OPEN_ACCESS" in error_of(response)["message"]
    assert chat(make_client(), None).status_code == 200


def test_feedback_on_a_recent_unknown_request_is_a_503_to_retry(
    make_client: MakeClient, tmp_path: Path
) -> None:
    client = make_client(sink=None, data_dir=tmp_path / "var")
    response = client.post(
        "/v1/feedback", json={"request_id": new_request_id(), "outcome": "success"}
    )
    assert response.status_code == 503
    assert response.headers["retry-after"] == "1"
    assert error_of(response)["code"] == "RequestNotLoggedYetError"


def test_an_admin_key_opens_the_admin_api_and_a_chat_key_does_not(
    client: TestClient, keys: Keys
) -> None:
    _, admin = keys.create(Scope.ADMIN)
    _, chatter = keys.create(Scope.CHAT)

    allowed = client.get("/admin/policy", headers={"Authorization": f"Bearer {admin}"})
    refused = client.get("/admin/policy", headers={"Authorization": f"Bearer {chatter}"})

    assert allowed.status_code == 200, allowed.text
    assert refused.status_code == 403
    assert "'admin' scope" in error_of(refused)["message"]
    assert client.get("/admin/policy").status_code == 401
