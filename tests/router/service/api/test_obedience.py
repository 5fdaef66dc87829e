"""A model that ignores its thinking control is flagged: metric, log line and stats."""

from __future__ import annotations

import logging
from typing import Any

import pytest

from router.log.stats import tier_stats
from router.log.store.base import Logged
from tests.router.service.api.conftest import EASY, ListSink, MakeClient, tier, user
from tests.upstream_server import UpstreamServer

EFFORT_TOKENS = {"low": 1500, "medium": 6000, "high": 20000}


def effort_policy(url: str, model: str) -> dict[str, Any]:
    budget = {"effort": "low", "max_tokens": 8192}
    return {
        "version": "obedience-1",
        "tiers": [tier("only", (0.0, 1.0), model, url, budget=budget, reasoning="openai_effort")],
    }


def chat_many(client: Any, count: int) -> None:
    for n in range(count):
        body = {"model": "auto", "messages": user(f"{EASY} ({n})")}
        assert client.post("/v1/chat/completions", json=body).status_code == 200


def ignored_metric(client: Any, model: str) -> str | None:
    wanted = f'router_control_ignored{{control="openai_effort",model="{model}"}}'
    lines = client.get("/metrics").text.splitlines()
    return next((line.split()[-1] for line in lines if line.startswith(wanted)), None)


def test_an_upstream_that_ignores_reasoning_effort_is_flagged_within_100_requests(
    make_client: MakeClient,
    upstream: UpstreamServer,
    sink: ListSink,
    caplog: pytest.LogCaptureFixture,
) -> None:
    upstream.script("o3-mini", reasoning=lambda body: 7000)  # whatever effort it is sent
    client = make_client(effort_policy(upstream.url, "openai/o3-mini"))

    with caplog.at_level(logging.WARNING, logger="router.log.obedience"):
        chat_many(client, 100)

    assert upstream.requests_for("o3-mini")[0].body["reasoning_effort"] == "low"
    assert ignored_metric(client, "openai/o3-mini") == "1.0"
    flagged = [m for m in caplog.messages if m.startswith("model 'openai/o3-mini' ignores")]
    assert len(flagged) == 1
    [row] = tier_stats(Logged(record, ()) for record in sink.wait_for(100))
    assert (row.obedience_checked, row.obedience_rate) == (100, 0.0)


def test_an_upstream_that_obeys_is_not_flagged(
    make_client: MakeClient, upstream: UpstreamServer, sink: ListSink
) -> None:
    upstream.script("o4-mini", reasoning=lambda body: EFFORT_TOKENS[body["reasoning_effort"]])
    client = make_client(effort_policy(upstream.url, "openai/o4-mini"))

    chat_many(client, 30)

    assert ignored_metric(client, "openai/o4-mini") is None
    [row] = tier_stats(Logged(record, ()) for record in sink.wait_for(30))
    assert (row.obedience_checked, row.obedience_rate) == (30, 1.0)
