"""``/admin/...``: the serving policy read, validated, simulated, applied, audited, rolled back."""

from __future__ import annotations

import threading
import time
from pathlib import Path
from typing import Any

import yaml
from fastapi.testclient import TestClient

from tests.router.service.api.conftest import EASY, HARD, MakeClient, policy_data, user
from tests.upstream_server import UpstreamServer

TOKEN = "admin-token-for-tests-0123456789"
AUTH = {"Authorization": f"Bearer {TOKEN}"}


def admin_client(make_client: MakeClient, **settings: Any) -> TestClient:
    return make_client(admin_token=TOKEN, upstream_retries=0, **settings)


def routed_version(client: TestClient, text: str = EASY) -> str:
    response = client.post("/v1/route", json={"model": "auto", "text": text})
    assert response.status_code == 200, response.text
    return str(response.json()["policy_version"])


def changed(url: str, version: str, **tier_changes: Any) -> str:
    data = policy_data(url) | {"version": version}
    data["tiers"][0] |= tier_changes
    return yaml.safe_dump(data)


def apply(client: TestClient, text: str, etag: str | None, reason: str = "test") -> Any:
    headers = AUTH | ({"If-Match": etag} if etag is not None else {})
    return client.put("/admin/policy", json={"policy": text, "reason": reason}, headers=headers)


def test_without_the_token_the_admin_api_answers_401_and_the_rest_serves(
    make_client: MakeClient,
) -> None:
    client = admin_client(make_client)

    assert client.get("/admin/policy").status_code == 401
    wrong = client.get("/admin/policy", headers={"Authorization": "Bearer not-the-token"})
    assert wrong.status_code == 401
    assert TOKEN not in wrong.text and "not-the-token" not in wrong.text
    assert routed_version(client) == "api-policy-1"


def test_with_no_token_configured_the_admin_api_is_off(make_client: MakeClient) -> None:
    client = make_client()

    response = client.get("/admin/policy", headers=AUTH)

    assert response.status_code == 401
    assert "ROUTER_ADMIN_TOKEN" in response.json()["error"]["message"]


def test_the_openapi_schema_lists_the_admin_api(make_client: MakeClient) -> None:
    paths = admin_client(make_client).get("/openapi.json").json()["paths"]

    assert {"/admin/policy", "/admin/policy/rollback", "/admin/shadow"} <= set(paths)


def test_apply_needs_a_fresh_if_match_and_a_valid_policy(
    make_client: MakeClient, upstream: UpstreamServer
) -> None:
    client = admin_client(make_client)
    current = client.get("/admin/policy", headers=AUTH)
    etag = current.headers["etag"]
    assert current.json()["version"] == "api-policy-1"
    new = changed(upstream.url, "api-policy-2")

    assert apply(client, new, None).status_code == 428
    stale = apply(client, new, '"0123"')
    assert stale.status_code == 412
    assert "api-policy-1" in stale.json()["error"]["message"]
    invalid = apply(client, changed(upstream.url, "bad", band=[0.0, 0.7]), etag)
    assert invalid.status_code == 422
    assert "tier 'qwen'" in invalid.json()["error"]["message"]
    assert "overlaps" in invalid.json()["error"]["message"]
    assert routed_version(client) == "api-policy-1"

    applied = apply(client, new, etag, reason="cheaper fast tier")

    assert applied.status_code == 200, applied.text
    assert routed_version(client) == "api-policy-2"
    assert applied.headers["etag"] != etag
    assert apply(client, new, etag).status_code == 412, "the old tag is stale now"


def test_every_change_is_audited_and_rollback_restores_the_previous_policy(
    make_client: MakeClient, upstream: UpstreamServer
) -> None:
    client = admin_client(make_client)
    etag = client.get("/admin/policy", headers=AUTH).headers["etag"]
    headers = AUTH | {"X-Router-Actor": "alice"}
    new = changed(upstream.url, "api-policy-2", timeout_s=7)
    etag = client.put(
        "/admin/policy",
        json={"policy": new, "reason": "longer"},
        headers=headers | {"If-Match": etag},
    ).headers["etag"]

    back = client.post(
        "/admin/policy/rollback", json={"reason": "oops"}, headers=AUTH | {"If-Match": etag}
    )

    assert back.status_code == 200, back.text
    assert routed_version(client) == "api-policy-1"
    entries = client.get("/admin/policy/history", headers=AUTH).json()["entries"]
    assert [e["action"] for e in entries] == ["rollback", "apply"]
    applied = entries[1]
    assert applied["actor"] == "admin-token (alice)" and applied["reason"] == "longer"
    assert applied["address"] == "testclient"
    assert (
        applied["version_before"] == "api-policy-1" and applied["version_after"] == "api-policy-2"
    )
    assert "+  timeout_s: 7" in applied["diff"]
    assert entries[0]["version_after"] == "api-policy-1"
    nothing = client.post(
        "/admin/policy/rollback", json={}, headers=AUTH | {"If-Match": back.headers["etag"]}
    )
    assert nothing.status_code == 409
    assert "nothing to roll back" in nothing.json()["error"]["message"]


def test_validate_names_the_problem_without_applying(
    make_client: MakeClient, upstream: UpstreamServer
) -> None:
    client = admin_client(make_client)

    good = client.post(
        "/admin/policy/validate", json={"policy": changed(upstream.url, "v9")}, headers=AUTH
    )
    bad = client.post("/admin/policy/validate", json={"policy": "tiers: 3"}, headers=AUTH)

    assert good.status_code == 200 and good.json()["version"] == "v9"
    assert [t["name"] for t in good.json()["tiers"]] == ["fast", "qwen", "vote", "deep"]
    assert bad.status_code == 422
    assert "candidate.yaml" in bad.json()["error"]["message"]
    assert routed_version(client) == "api-policy-1"


def test_simulate_and_shadow_report_on_served_traffic(
    make_client: MakeClient, upstream: UpstreamServer
) -> None:
    client = admin_client(make_client, exploration_rate=0.3, sink=None)
    shadow = changed(upstream.url, "shadow-1", band=[0.0, 0.9])
    shadow_data = yaml.safe_load(shadow)
    for tier in shadow_data["tiers"][1:]:
        tier["band"] = [max(0.9, tier["band"][0]), max(0.9, tier["band"][1])]
    shadow_data["tiers"] = [shadow_data["tiers"][0], shadow_data["tiers"][-1]]
    shadow_data["tiers"][1]["band"] = [0.9, 1.0]
    shadow = yaml.safe_dump(shadow_data)
    attached = client.post("/admin/shadow", json={"policy": shadow}, headers=AUTH)
    assert attached.status_code == 200, attached.text
    for i in range(30):
        response = client.post(
            "/v1/chat/completions",
            json={"model": "auto", "messages": user(EASY if i % 2 else HARD)},
        )
        request_id = response.headers["x-router-request-id"]
        client.post("/v1/feedback", json={"request_id": request_id, "outcome": "success"})

    simulated = client.post(
        "/admin/policy/simulate", json={"policy": shadow, "resamples": 20, "curve": True},
        headers=AUTH,
    )  # fmt: skip
    report = client.get("/admin/shadow", headers=AUTH).json()["report"]
    metrics = client.get("/metrics").text

    assert simulated.status_code == 200, simulated.text
    assert simulated.json()["requests"] >= 30
    assert simulated.json()["candidate"]["shares"]["fast"] > 0.9
    assert simulated.json()["curve"]
    assert report["requests"] == 30
    assert report["agreement"] == 0.5, "EASY goes to fast under both; HARD to deep vs fast"
    assert report["tier_mix"] == {"fast": 1.0, "deep": 0.0}
    assert report["projection"]["candidate"]["shares"]["fast"] == 1.0
    assert "router_shadow_agreement_ratio 0.5" in metrics
    assert 'router_shadow_tier_share{tier="fast"} 1.0' in metrics
    assert client.delete("/admin/shadow", headers=AUTH).json() == {"detached": True}


def test_a_replica_on_the_same_file_follows_an_apply_and_refuses_a_broken_file(
    make_client: MakeClient, upstream: UpstreamServer, tmp_path: Path
) -> None:
    first = admin_client(make_client)
    second = admin_client(make_client)
    etag = first.get("/admin/policy", headers=AUTH).headers["etag"]

    assert apply(first, changed(upstream.url, "api-policy-2"), etag).status_code == 200
    started = time.monotonic()
    while routed_version(second) != "api-policy-2" and time.monotonic() - started < 3:
        time.sleep(0.05)

    assert routed_version(second) == "api-policy-2"
    assert time.monotonic() - started < 1.0
    (tmp_path / "policy.yaml").write_text("tiers: [", encoding="utf-8")
    time.sleep(0.6)
    assert routed_version(second) == "api-policy-2", "a broken file is refused"


def test_edges_make_a_candidate_from_the_active_policy(make_client: MakeClient) -> None:
    client = admin_client(make_client)

    made = client.post("/admin/policy/edges", json={"edges": [0.3, 0.6, 0.8]}, headers=AUTH)
    bad = client.post("/admin/policy/edges", json={"edges": [0.6, 0.3, 0.8]}, headers=AUTH)

    assert made.status_code == 200, made.text
    assert made.json()["version"] == "api-policy-1-edited"
    assert [t["band"] for t in made.json()["tiers"]] == [[0, 0.3], [0.3, 0.6], [0.6, 0.8], [0.8, 1]]
    assert "api_key_env: DIFFICULTY_ROUTER_API_TEST_KEY" in made.json()["yaml"]
    assert bad.status_code == 400
    assert "must rise strictly" in bad.json()["error"]["message"]
    assert routed_version(client) == "api-policy-1"


def test_a_request_in_flight_finishes_on_the_policy_it_started_with(
    make_client: MakeClient, upstream: UpstreamServer
) -> None:
    client = admin_client(make_client)
    upstream.script("fast-model", delays_s=[1.0])
    etag = client.get("/admin/policy", headers=AUTH).headers["etag"]
    answers: list[Any] = []
    slow = threading.Thread(
        target=lambda: answers.append(
            client.post("/v1/chat/completions", json={"model": "auto", "messages": user(EASY)})
        )
    )
    slow.start()
    time.sleep(0.3)

    assert apply(client, changed(upstream.url, "api-policy-2"), etag).status_code == 200
    slow.join(10)

    (answer,) = answers
    assert answer.status_code == 200, answer.text
    assert answer.headers["x-router-policy-version"] == "api-policy-1"
    assert routed_version(client) == "api-policy-2"
