"""Spend caps through the real service: downgrade steps, 429 at the cap, concurrency."""

from __future__ import annotations

import asyncio
import hashlib
from datetime import timedelta
from typing import Any

import httpx
import pytest

from tests.router.service.api.conftest import EASY, HARD, ListSink, MakeApp, MakeClient, tier, user
from tests.router.service.api.live import serving
from tests.upstream_server import UpstreamServer

PRICE = {"input_per_mtok": 10.0, "output_per_mtok": 100.0}
EFFORT_THOUGHT = {"high": 300, "medium": 150, "low": 60, "none": 0}


def capped_policy(url: str, usd: float, downgrade_at: float = 0.8) -> dict[str, Any]:
    strong_budget = {"effort": "high", "budget_tokens": 4000, "max_tokens": 8000}
    return {
        "version": "caps-1",
        "spend_caps": [{"window": "day", "usd": usd, "downgrade_at": downgrade_at}],
        "tiers": [
            tier("cheap", (0.0, 0.35), "openai/cheap-model", url, price=PRICE),
            tier(
                "strong",
                (0.35, 1.0),
                "openai/strong-model",
                url,
                price=PRICE,
                reasoning="openai_effort",
                budget=strong_budget,
            ),
        ],
    }


def chat(client: Any, text: str, tenant: str, model: str = "auto") -> Any:
    body = {"model": model, "messages": user(text)}
    return client.post("/v1/chat/completions", json=body, headers={"x-router-tenant": tenant})


def test_spend_near_the_cap_lowers_effort_then_tier_then_refuses(
    make_client: MakeClient, upstream: UpstreamServer, sink: ListSink
) -> None:
    upstream.script("strong-model", reasoning=lambda body: EFFORT_THOUGHT[body["reasoning_effort"]])
    upstream.script("cheap-model", answers=[" ".join(["word"] * 50)])
    client = make_client(capped_policy(upstream.url, usd=0.6))
    for _ in range(20):  # another tenant teaches the forecaster what answers cost
        assert chat(client, HARD, "warmup", model="strong").status_code == 200

    steps: list[tuple[int, str | None, str | None]] = []
    for _ in range(40):
        response = chat(client, HARD, "acme")
        steps.append(
            (
                response.status_code,
                response.headers.get("x-router-tier"),
                response.headers.get("x-router-downgrade"),
            )
        )
        if response.status_code == 429:
            break

    kinds = [(status, tier, (down or "").split(" ")[0]) for status, tier, down in steps]
    assert kinds[0] == (200, "strong", "")
    assert (200, "strong", "effort") in kinds
    assert (200, "cheap", "tier") in kinds
    assert kinds.index((200, "strong", "effort")) < kinds.index((200, "cheap", "tier"))
    assert kinds[-1][0] == 429
    error = response.json()["error"]
    assert error["code"] == "SpendCapReachedError"
    assert error["message"].startswith("spend cap 'day' ($0.6 a day) is reached for tenant:acme")
    assert "it resets at" in error["message"] and error["message"].endswith("T00:00:00Z")
    efforts = [r.body["reasoning_effort"] for r in upstream.requests_for("strong-model")]
    assert "medium" in efforts  # the lowered effort was sent
    downgraded = [r.downgrade for r in sink.wait_for(20 + len(steps)) if r.downgrade]
    assert any(d.startswith("effort (day cap at") for d in downgraded)
    assert any(d.startswith("tier (day cap at") for d in downgraded)


def test_another_tenant_and_a_bad_tenant_header(
    make_client: MakeClient, upstream: UpstreamServer
) -> None:
    client = make_client(capped_policy(upstream.url, usd=1.0))

    bad = chat(client, EASY, "no spaces allowed")

    assert bad.status_code == 400
    assert bad.json()["error"]["param"] == "x-router-tenant"
    assert chat(client, EASY, "acme").headers["x-router-spend"] == "day $0.0000 of $1"


def thought_for(body: dict[str, Any]) -> int:
    text = str(body["messages"][-1]["content"])
    return 40 + int(hashlib.sha256(text.encode()).hexdigest(), 16) % 40


@pytest.mark.slow
def test_200_concurrent_requests_overshoot_a_cap_by_at_most_those_in_flight(
    make_app: MakeApp, upstream: UpstreamServer, sink: ListSink
) -> None:
    upstream.script("cheap-model", reasoning=thought_for, delays_s=[0.02] * 1000)
    typical = (11 * 10.0 + 60 * 100.0) / 1e6  # prompt tokens, ~60 output tokens
    cap = 50 * typical
    app = make_app(capped_policy(upstream.url, usd=cap, downgrade_at=1.0))

    async def run(base: str) -> list[httpx.Response]:
        async with httpx.AsyncClient(base_url=base, timeout=60.0) as client:
            for n in range(30):  # the forecaster learns from another tenant first
                warm = {"model": "auto", "messages": user(f"warm {n}: {EASY}")}
                await client.post(
                    "/v1/chat/completions", json=warm, headers={"x-router-tenant": "warmup"}
                )
            calls = [
                client.post(
                    "/v1/chat/completions",
                    json={"model": "auto", "messages": user(f"q{n}: {EASY}")},
                    headers={"x-router-tenant": "acme"},
                )
                for n in range(200)
            ]
            return await asyncio.gather(*calls)

    with serving(app) as base:
        responses = asyncio.run(run(base))

    statuses = sorted({r.status_code for r in responses})
    assert statuses == [200, 429]
    records = [
        r for r in sink.wait_for(230, timeout_s=10.0) if r.prompt and r.prompt.startswith("q")
    ]
    answered = [r for r in records if r.status == "ok"]
    refused = [r for r in records if r.status == "SpendCapReachedError"]
    assert len(answered) + len(refused) == 200
    spent = sum(r.cost_usd for r in answered)
    first_refusal = min(r.time for r in refused)
    in_flight = [
        r
        for r in answered
        if r.time <= first_refusal < r.time + timedelta(milliseconds=r.latency_ms)
    ]
    overshoot = spent - cap
    largest = max(r.cost_usd for r in answered)
    print(
        f"cap ${cap:.4f}: spent ${spent:.4f} by {len(answered)} answers, overshoot"
        f" ${overshoot:.4f}; {len(in_flight)} in flight at the first refusal"
    )
    assert overshoot <= len(in_flight) * largest
