"""Scoring off the event loop, and requests that share the encoder's next pass.

POST /v1/chat/completions through the real app, litellm and a real local upstream.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from functools import partial
from typing import Any

import anyio
import httpx
import pytest

from classifiers.encoder import HashingEncoder
from tests.router.service.api.conftest import EASY, ListSink, policy_data, user
from tests.router.service.api.live import serving
from tests.upstream_server import UpstreamServer


class SlowEncoder:
    """The stand-in encoder, slowed down like a real forward pass that holds the CPU; it
    records the texts of each pass."""

    def __init__(self, delay_s: float) -> None:
        self._inner = HashingEncoder(384)
        self.delay_s = delay_s
        self.passes: list[list[str]] = []

    @property
    def name(self) -> str:
        return self._inner.name

    @property
    def dimension(self) -> int:
        return self._inner.dimension

    @property
    def files_sha256(self) -> str | None:
        return None

    def encode(self, texts: Any) -> Any:
        self.passes.append(list(texts))
        time.sleep(self.delay_s)
        return self._inner.encode(texts)


def serve_slowly(
    encoder: SlowEncoder, models_dir: Any, tmp_path: Any, upstream: UpstreamServer
) -> Any:
    import yaml

    from router.service.app import create_app
    from router.settings import Settings

    path = tmp_path / "slow.yaml"
    path.write_text(yaml.safe_dump(policy_data(upstream.url)), encoding="utf-8")
    app = create_app(
        Settings(models_dir=models_dir, policy_path=path),
        encoder_loader=lambda _: encoder,  # type: ignore[arg-type,return-value]
        sink=ListSink(),
    )
    return serving(app)


@pytest.fixture
def slow_app(models_dir: Any, tmp_path: Any, upstream: UpstreamServer) -> Iterator[str]:
    with serve_slowly(SlowEncoder(0.6), models_dir, tmp_path, upstream) as base_url:
        yield base_url


@pytest.mark.anyio
async def test_scoring_does_not_block_other_requests(slow_app: str) -> None:
    async with (
        httpx.AsyncClient(base_url=slow_app, timeout=5.0) as http,
        anyio.create_task_group() as group,
    ):
        group.start_soon(partial(http.post, "/v1/route", json={"text": EASY}))
        await anyio.sleep(0.1)
        started = time.monotonic()
        health = await http.get("/healthz")
        waited = time.monotonic() - started

    assert health.status_code == 200
    assert waited < 0.3


@pytest.mark.anyio
async def test_requests_that_arrive_while_the_encoder_is_busy_share_its_next_pass(
    models_dir: Any, tmp_path: Any, upstream: UpstreamServer
) -> None:
    encoder = SlowEncoder(0.5)
    texts = [f"Question {n}: how many primes are there below {10 * n}?" for n in range(1, 6)]
    with serve_slowly(encoder, models_dir, tmp_path, upstream) as base_url:
        async with httpx.AsyncClient(base_url=base_url, timeout=10.0) as http:
            first = asyncio.create_task(http.post("/v1/route", json={"text": EASY}))
            await asyncio.sleep(0.1)  # the first pass is under way
            chats = [
                http.post("/v1/chat/completions", json={"model": "auto", "messages": user(t)})
                for t in texts[:2]
            ]
            routes = [http.post("/v1/route", json={"text": t}) for t in texts[2:]]
            responses = await asyncio.gather(*chats, *routes)
            await first
            alone = [await http.post("/v1/route", json={"text": t}) for t in texts]

    assert encoder.passes[0] == [EASY]
    assert sorted(encoder.passes[1]) == sorted(texts)
    assert [r.status_code for r in responses] == [200] * len(texts)
    scores = [r.headers["x-router-score"] for r in responses]
    assert scores == [r.headers["x-router-score"] for r in alone]
