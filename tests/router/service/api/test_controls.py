"""Caller controls through the real app: x-router-max-cost, -deadline-ms, -quality."""

from __future__ import annotations

from typing import Any

import pytest
from fastapi.testclient import TestClient

from tests.router.service.api.conftest import EASY, HARD, MakeClient, tier, user
from tests.upstream_server import UpstreamServer

PRICE = {"input_per_mtok": 1.0, "output_per_mtok": 10.0}


def two_tiers(url: str) -> dict[str, Any]:
    """cheap [0, 0.35) and strong [0.35, 1], both priced; strong thinks up to 16k tokens."""
    return {
        "version": "controls-1",
        "tiers": [
            tier("cheap", (0.0, 0.35), "openai/cheap-model", url, price=PRICE),
            tier(
                "strong",
                (0.35, 1.0),
                "openai/strong-model",
                url,
                price=PRICE,
                reasoning="openai_effort",
                budget={"effort": "high", "budget_tokens": 16000, "max_tokens": 20000},
            ),
        ],
    }


def chat(client: TestClient, text: str, headers: dict[str, str], model: str = "auto") -> Any:
    body = {"model": model, "messages": user(text)}
    return client.post("/v1/chat/completions", json=body, headers=headers)


@pytest.mark.parametrize(
    ("header", "value"),
    [("x-router-max-cost", "free"), ("x-router-deadline-ms", "0"), ("x-router-quality", "12")],
)
def test_a_bad_control_header_is_a_400_naming_it(
    make_client: MakeClient, upstream: UpstreamServer, header: str, value: str
) -> None:
    client = make_client(two_tiers(upstream.url))

    for path in ("/v1/chat/completions", "/v1/route"):
        response = client.post(path, json={"messages": user(EASY)}, headers={header: value})
        assert response.status_code == 400
        error = response.json()["error"]
        assert error["param"] == header
        assert error["message"].startswith(f"header {header}: {value!r} is not")
    assert upstream.requests == []


def test_quality_moves_the_band_edges_both_ways(
    make_client: MakeClient, upstream: UpstreamServer
) -> None:
    client = make_client(two_tiers(upstream.url))

    up = chat(client, EASY, {"x-router-quality": "10"})
    down = chat(client, HARD, {"x-router-quality": "0"})
    neutral = chat(client, EASY, {})

    assert (up.headers["x-router-tier"], neutral.headers["x-router-tier"]) == ("strong", "cheap")
    assert up.headers["x-router-controls"] == "quality 10: tier 'strong'"
    decision = client.post("/v1/route", json={"text": EASY}, headers={"x-router-quality": "10"})
    assert any(r.startswith("quality 10 reads score") for r in decision.json()["reasons"])
    score = float(down.headers["x-router-score"])
    assert down.headers["x-router-tier"] == ("strong" if score - 0.25 >= 0.35 else "cheap")


def test_a_cost_ceiling_sends_the_strongest_tier_that_fits_and_says_why(
    make_client: MakeClient, upstream: UpstreamServer
) -> None:
    client = make_client(two_tiers(upstream.url))

    response = chat(client, HARD, {"x-router-max-cost": "0.01"})

    assert response.status_code == 200
    assert response.headers["x-router-tier"] == "cheap"
    assert response.headers["x-router-controls"] == "max-cost $0.01: tier 'cheap'"
    assert upstream.requests_for("strong-model") == []
    reasons = client.post(
        "/v1/route", json={"text": HARD}, headers={"x-router-max-cost": "0.01"}
    ).json()["reasons"]
    assert any(
        r.startswith("tier 'strong' does not fit: p90 cost $0.2000") and r.endswith("over $0.01")
        for r in reasons
    )
    assert "tier 'cheap' fits max-cost $0.01" in reasons


def test_a_deadline_passes_over_a_tier_whose_latency_is_known_to_be_slower(
    make_client: MakeClient, upstream: UpstreamServer
) -> None:
    upstream.script("strong-model", delays_s=[0.05] * 25)
    client = make_client(two_tiers(upstream.url))
    for _ in range(20):  # pinned requests teach the forecaster the tier's latency
        assert chat(client, HARD, {}, model="strong").status_code == 200

    slow = chat(client, HARD, {"x-router-deadline-ms": "20"})
    roomy = chat(client, HARD, {"x-router-deadline-ms": "60000"})

    assert slow.headers["x-router-tier"] == "cheap"
    assert roomy.headers["x-router-tier"] == "strong"


def test_a_pinned_tier_stays_whatever_the_controls(
    make_client: MakeClient, upstream: UpstreamServer
) -> None:
    client = make_client(two_tiers(upstream.url))

    response = chat(client, HARD, {"x-router-max-cost": "0.000001"}, model="strong")

    assert response.headers["x-router-tier"] == "strong"
    reasons = client.post(
        "/v1/route", json={"text": HARD, "model": "strong"}, headers={"x-router-quality": "0"}
    ).json()["reasons"]
    assert "caller controls do not move a pinned tier" in reasons
