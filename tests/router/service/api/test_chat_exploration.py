"""Exploration of neighbouring tiers and the probability it records.

POST /v1/chat/completions through the real app, litellm and a real local upstream.
"""

from __future__ import annotations

import random

from tests.router.service.api.conftest import EASY, ListSink, MakeClient, chat
from tests.upstream_server import UpstreamServer


def test_exploration_moves_some_auto_requests_and_records_their_probability(
    make_client: MakeClient, upstream: UpstreamServer, sink: ListSink
) -> None:
    client = make_client(exploration_rate=0.5, rng=random.Random(4))
    tiers = [chat(client, text=f"{EASY} ({n})").headers["x-router-tier"] for n in range(40)]

    records = sink.wait_for(40)
    assert {record.tier for record in records} == {"fast", "qwen"}  # fast has one neighbour
    assert [record.tier for record in records] == tiers
    assert {(r.tier, r.tier_index, r.choice_probability) for r in records} == {
        ("fast", 0, 0.5),
        ("qwen", 1, 0.5),
    }
    explored = next(record for record in records if record.tier == "qwen")
    assert explored.score < 0.5  # the policy's tier would have been fast


def test_pinned_requests_and_route_are_never_explored(
    make_client: MakeClient, upstream: UpstreamServer, sink: ListSink
) -> None:
    client = make_client(exploration_rate=0.5, rng=random.Random(4))
    pinned = {
        chat(client, model="fast", text=f"{EASY} {n}").headers["x-router-tier"] for n in range(20)
    }
    routed = {
        client.post("/v1/route", json={"text": f"{EASY} {n}"}).json()["tier"] for n in range(20)
    }

    assert pinned == routed == {"fast"}
    assert {record.choice_probability for record in sink.wait_for(20)} == {1.0}
