"""/healthz, /readyz, and a service that starts without a usable classifier."""

from __future__ import annotations

from pathlib import Path

from fastapi.testclient import TestClient

from tests.router.service.api.conftest import CLASSIFIER_VERSION, EASY, MakeClient, user
from tests.upstream_server import UpstreamServer


def test_healthz_says_the_process_answers(client: TestClient) -> None:
    response = client.get("/healthz")

    assert (response.status_code, response.json()) == (200, {"status": "ok"})
    assert response.headers["x-router-request-id"].startswith("req_")


def test_readyz_shows_the_loaded_versions(client: TestClient) -> None:
    response = client.get("/readyz")

    assert response.status_code == 200
    body = response.json()
    assert body["status"] == "ready"
    assert (body["classifier_version"], body["policy_version"]) == (
        CLASSIFIER_VERSION,
        "api-policy-1",
    )
    assert body["problem"] is None


def test_without_a_classifier_the_service_starts_not_ready(
    make_client: MakeClient, models_dir: Path, upstream: UpstreamServer
) -> None:
    (models_dir / "CURRENT").unlink()
    client = make_client()

    ready = client.get("/readyz")
    assert ready.status_code == 503
    assert ready.json()["status"] == "not_ready"
    assert "CURRENT" in ready.json()["problem"]
    assert client.get("/healthz").status_code == 200
    for response in (
        client.post("/v1/chat/completions", json={"model": "auto", "messages": user(EASY)}),
        client.post("/v1/route", json={"text": EASY}),
        client.get("/v1/models"),
    ):
        assert response.status_code == 503
        error = response.json()["error"]
        assert (error["type"], error["code"]) == ("service_unavailable", "ServiceNotReadyError")
        assert "CURRENT" in error["message"]
    assert upstream.requests == []
