"""Cost and latency before the call: /v1/route, the chat headers and the record."""

from __future__ import annotations

import hashlib
import statistics
from typing import Any

from router.log.stats import tier_stats
from router.log.store.base import Logged
from tests.router.service.api.conftest import EASY, ListSink, MakeClient, tier, user
from tests.upstream_server import UpstreamServer

PRICE = {"input_per_mtok": 1.0, "output_per_mtok": 4.0}


def priced_policy(url: str) -> dict[str, Any]:
    budget = {"effort": "low", "max_tokens": 4096}
    return {
        "version": "forecast-1",
        "tiers": [
            tier(
                "fast",
                (0.0, 1.0),
                "openai/fast-model",
                url,
                price=PRICE,
                budget=budget,
                reasoning="openai_effort",
            ),
        ],
    }


def thought_for(body: dict[str, Any]) -> int:
    """200 to 1999 reasoning tokens, fixed per prompt text (a hash of it)."""
    text = str(body["messages"][-1]["content"])
    return 200 + int(hashlib.sha256(text.encode()).hexdigest(), 16) % 1800


def test_route_forecasts_from_the_budget_while_the_log_is_thin(
    make_client: MakeClient, upstream: UpstreamServer
) -> None:
    client = make_client(priced_policy(upstream.url))

    decision = client.post("/v1/route", json={"text": EASY}).json()

    forecast = decision["forecast"]
    assert (forecast["source"], forecast["observations"]) == ("budget", 0)
    assert forecast["output_tokens_p50"] == 2048 + 256
    assert forecast["output_tokens_p90"] == 4096
    assert forecast["latency_ms_p50"] is None
    assert any("too few to learn from" in reason for reason in decision["reasons"])


def test_replayed_traffic_forecasts_cost_within_a_quarter_of_observed_at_the_median(
    make_client: MakeClient, upstream: UpstreamServer, sink: ListSink
) -> None:
    upstream.script("fast-model", reasoning=thought_for)
    client = make_client(priced_policy(upstream.url))

    for n in range(150):
        prompt = f"Question {n}: how many ways to climb {n} stairs?"
        response = client.post(
            "/v1/chat/completions", json={"model": "auto", "messages": user(prompt)}
        )
        assert response.status_code == 200

    records = sink.wait_for(150)
    replayed = [r for r in records if r.forecast is not None and r.forecast.source == "log"]
    assert len(replayed) >= 100
    predicted = statistics.median(r.forecast.cost_usd_p50 for r in replayed if r.forecast)
    observed = statistics.median(r.cost_usd for r in replayed)
    error = abs(predicted - observed) / observed
    print(f"median predicted ${predicted:.6f}, observed ${observed:.6f}: error {error:.1%}")
    assert error <= 0.25
    [row] = tier_stats(Logged(record, ()) for record in replayed)  # what router logs stats says
    assert row.forecast_error_median is not None and row.forecasts == len(replayed)
    assert row.predicted_cost_median == predicted and row.observed_cost_median == observed
    last = response.headers
    assert last["x-router-prediction-source"] == "log (149)"
    assert float(last["x-router-predicted-cost-p50"]) < float(last["x-router-predicted-cost-p90"])
    assert float(last["x-router-predicted-latency-ms-p50"]) > 0
