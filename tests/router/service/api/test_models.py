"""GET /v1/models: auto, the tiers and the models, in OpenAI's list shape."""

from __future__ import annotations

from fastapi.testclient import TestClient


def test_models_lists_auto_then_tiers_then_each_model_once(client: TestClient) -> None:
    response = client.get("/v1/models")

    assert response.status_code == 200
    body = response.json()
    assert body["object"] == "list"
    assert [entry["id"] for entry in body["data"]] == [
        "auto",
        "fast",
        "qwen",
        "vote",
        "deep",
        "openai/fast-model",
        "hosted_vllm/qwen3-8b",
        "openai/voter",
        "openai/o3-mini",
    ]
    assert all(entry["object"] == "model" for entry in body["data"])
    assert all(isinstance(entry["created"], int) for entry in body["data"])
    assert body["data"][0]["owned_by"] == "difficulty-router"
    assert body["data"][-1]["owned_by"] == "openai"


def test_every_listed_id_is_accepted_as_a_model(client: TestClient) -> None:
    ids = [entry["id"] for entry in client.get("/v1/models").json()["data"]]
    for model in ids:
        response = client.post("/v1/route", json={"text": "hello", "model": model})
        assert response.status_code == 200, model
