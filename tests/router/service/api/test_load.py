"""Load: 500 concurrent streaming chat requests through a live service and the local upstream,
with no error of any kind (the service's answer, the stream's end, the decision records)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from classifiers.encoder import HashingEncoder
from router.service.app import create_app
from router.settings import Settings
from tests.router.service.api.conftest import DIMENSION, ListSink, policy_data, user
from tests.router.service.api.live import serving
from tests.upstream_server import UpstreamServer

CONCURRENT = 500
TEXTS = ("What is the capital of Italy?", "Spell the word Peru.", "Say hello to Chile.")

pytestmark = pytest.mark.slow


@pytest.fixture
def service_url(
    models_dir: Path,
    write_policy: Any,
    upstream: UpstreamServer,
    sink: ListSink,
    tmp_path: Path,
) -> Iterator[str]:
    policy = policy_data(upstream.url)
    for tier in policy["tiers"]:
        tier["timeout_s"] = 60  # a realistic deadline: the point is errors, not a slow box
    settings = Settings(
        models_dir=models_dir,
        policy_path=write_policy(policy),
        data_dir=tmp_path / "var",  # the default retries (2), as served
    )
    app = create_app(settings, encoder_loader=lambda _: HashingEncoder(DIMENSION), sink=sink)
    with serving(app) as url:
        yield url


async def _stream(http: httpx.AsyncClient, n: int) -> str:
    body = {"model": "auto", "messages": user(f"{TEXTS[n % 3]} ({n})"), "stream": True}
    async with http.stream("POST", "/v1/chat/completions", json=body) as response:
        if response.status_code != 200:
            return f"#{n}: HTTP {response.status_code} {(await response.aread())[:200]!r}"
        events = [line async for line in response.aiter_lines() if line.startswith("data: ")]
    if not events or events[-1] != "data: [DONE]" or any('"error"' in e for e in events):
        return f"#{n}: stream ended with {events[-1:]}"
    return ""


@pytest.mark.anyio
async def test_500_concurrent_streams_all_succeed(
    service_url: str, upstream: UpstreamServer, sink: ListSink
) -> None:
    upstream.script("fast-model", answers=["one two three four five six"], chunk_delay_s=0.01)
    limits = httpx.Limits(max_connections=CONCURRENT, max_keepalive_connections=CONCURRENT)
    started = time.monotonic()
    async with httpx.AsyncClient(base_url=service_url, limits=limits, timeout=60.0) as http:
        problems = await asyncio.gather(*(_stream(http, n) for n in range(CONCURRENT)))
    elapsed = time.monotonic() - started

    failed = [problem for problem in problems if problem]
    assert failed == [], f"{len(failed)} of {CONCURRENT} failed, first: {failed[:3]}"
    records = sink.wait_for(CONCURRENT, timeout_s=10.0)
    assert len(records) == CONCURRENT
    assert {record.status for record in records} == {"ok"}
    print(f"{CONCURRENT} concurrent streams in {elapsed:.1f} s")
