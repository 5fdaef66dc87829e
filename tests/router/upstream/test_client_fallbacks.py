"""Retries, fallbacks, timeouts, cooldowns and the errors when they run out.

router.upstream.client against a real local upstream over HTTP, through litellm's Router.
"""

from __future__ import annotations

import time

import litellm
import pytest

from router.errors import (
    UpstreamCoolingDownError,
    UpstreamError,
    UpstreamRateLimitedError,
    UpstreamTimeoutError,
)
from router.upstream.client import Upstream
from tests.router.upstream.conftest import CLIENT_MARKS, MESSAGES, target
from tests.upstream_server import UpstreamServer

pytestmark = CLIENT_MARKS


async def test_rate_limited_call_is_retried_after_retry_after(upstream: UpstreamServer) -> None:
    upstream.script("busy", failures=[429], retry_after_s=1, answers=["done"])
    chosen = target(upstream, "openai/busy")
    client = Upstream([chosen], num_retries=2)
    started = time.monotonic()
    result = await client.complete(chosen, MESSAGES)

    assert result.response["choices"][0]["message"]["content"] == "done"
    assert len(upstream.requests_for("busy")) == 2
    assert time.monotonic() - started >= 1.0


async def test_server_error_falls_back_to_the_fallback_model(upstream: UpstreamServer) -> None:
    upstream.script("primary", failures=[500])
    upstream.script("backup", answers=["from the backup"])
    chosen = target(upstream, "openai/primary", fallbacks=["openai/backup"])
    backup = target(upstream, "openai/backup")
    client = Upstream([chosen, backup], num_retries=0)
    result = await client.complete(chosen, MESSAGES)

    assert result.model == "openai/backup"
    assert result.response["choices"][0]["message"]["content"] == "from the backup"
    assert [request.model for request in upstream.requests] == ["primary", "backup"]
    assert upstream.requests[1].body["max_tokens"] == 512


async def test_timeout_falls_back_at_once(upstream: UpstreamServer) -> None:
    upstream.script("slow", hang=True)
    chosen = target(upstream, "openai/slow", fallbacks=["openai/backup"], timeout_s=0.5)
    backup = target(upstream, "openai/backup")
    client = Upstream([chosen, backup])
    started = time.monotonic()
    result = await client.complete(chosen, MESSAGES)

    assert result.model == "openai/backup"
    assert time.monotonic() - started < 1.5
    assert len(upstream.requests_for("slow")) == 1
    assert await upstream.wait_for_abandoned() == ["slow"]


async def test_timeout_without_fallback_raises_upstream_timeout(upstream: UpstreamServer) -> None:
    upstream.script("slow", hang=True)
    chosen = target(upstream, "openai/slow", timeout_s=0.5)
    client = Upstream([chosen])
    with pytest.raises(UpstreamTimeoutError) as raised:
        await client.complete(chosen, MESSAGES)

    assert raised.value.model == "openai/slow"
    assert isinstance(raised.value.__cause__, litellm.Timeout)


async def test_rate_limit_that_outlasts_the_retries_raises_rate_limited(
    upstream: UpstreamServer,
) -> None:
    upstream.script("busy", failures=[429, 429])
    chosen = target(upstream, "openai/busy")
    client = Upstream([chosen], num_retries=0)
    with pytest.raises(UpstreamRateLimitedError) as raised:
        await client.complete(chosen, MESSAGES)

    assert raised.value.status_code == 429
    assert isinstance(raised.value.__cause__, litellm.RateLimitError)


async def test_server_error_without_fallback_raises_upstream_error(
    upstream: UpstreamServer,
) -> None:
    upstream.script("broken", failures=[500, 500])
    chosen = target(upstream, "openai/broken")
    client = Upstream([chosen], num_retries=0)
    with pytest.raises(UpstreamError) as raised:
        await client.complete(chosen, MESSAGES)

    assert type(raised.value) is UpstreamError
    assert "HTTP 500" in raised.value.message
    assert isinstance(raised.value.__cause__, litellm.InternalServerError)


async def test_a_deployment_cooling_down_after_anothers_failure_is_a_503_saying_so(
    upstream: UpstreamServer,
) -> None:
    upstream.script("fragile", failures=[401])
    upstream.script("spare", failures=[500, 500])
    spare = target(upstream, "openai/spare")
    chosen = target(upstream, "openai/fragile", fallbacks=["openai/spare"])
    client = Upstream([chosen, spare], num_retries=0, cooldown_s=30)
    with pytest.raises(UpstreamError):
        await client.complete(chosen, MESSAGES)  # someone else's request: the key is refused

    with pytest.raises(UpstreamCoolingDownError) as raised:
        await client.complete(chosen, MESSAGES)  # ours: the primary rests, the spare fails

    assert raised.value.status_code == 503
    assert "failures of other requests (not of this one)" in raised.value.message
    assert "no fallback answered this request" in raised.value.message
    assert 1 <= int(raised.value.headers["Retry-After"]) <= 30
    assert [request.model for request in upstream.requests] == ["fragile", "spare", "spare"]
