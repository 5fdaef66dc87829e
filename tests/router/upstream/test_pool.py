"""Pooled upstream connections: an idle one is reused only while the upstream surely still holds
it open, and a call the upstream dropped unanswered is sent once more.

router.upstream.client against the local upstream, a uvicorn server that, like vLLM's, closes a
connection idle for 5 s (each recorded request carries the port it came from), and against a
bare-socket upstream that closes its first connections without answering.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator

import pytest

from router.errors import UpstreamError
from router.upstream.client import Upstream
from router.upstream.pool import IDLE_REUSE_S, KEEPALIVE_ENV, reuse_idle_connections_briefly
from router.upstream.targets import UpstreamTarget
from tests.dropping_upstream import ANSWER, DroppingUpstream, dropping_upstream
from tests.router.upstream.conftest import CLIENT_MARKS, MESSAGES, target
from tests.upstream_server import UpstreamServer

pytestmark = CLIENT_MARKS
UPSTREAM_IDLE_CLOSE_S = 5.0  # uvicorn's timeout_keep_alive, as the test upstream serves


@pytest.mark.slow
async def test_a_connection_idle_for_longer_than_the_limit_is_not_reused(
    upstream: UpstreamServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv(KEEPALIVE_ENV, raising=False)
    chosen = target(upstream, "openai/fast")
    client = Upstream([chosen])

    await client.complete(chosen, MESSAGES)
    await asyncio.sleep(0.2)
    await client.complete(chosen, MESSAGES)
    # Past the pool's limit but before the upstream closes the connection: reusing it would
    # still work here, but this is the gap in which a busy client meets the upstream's close.
    await asyncio.sleep((IDLE_REUSE_S + UPSTREAM_IDLE_CLOSE_S) / 2)
    await client.complete(chosen, MESSAGES)

    first, soon_after, after_idling = (request.client_port for request in upstream.requests)
    assert soon_after == first, "the pool does not reuse connections at all"
    assert after_idling != first


async def test_the_environment_setting_is_left_to_apply(monkeypatch: pytest.MonkeyPatch) -> None:
    from litellm.llms.custom_httpx import http_handler

    monkeypatch.setenv(KEEPALIVE_ENV, "30")
    monkeypatch.setattr(http_handler, KEEPALIVE_ENV, 30)

    reuse_idle_connections_briefly()

    assert getattr(http_handler, KEEPALIVE_ENV) == 30


@pytest.fixture
def dropping(request: pytest.FixtureRequest) -> Iterator[DroppingUpstream]:
    with dropping_upstream(drops=request.param) as upstream:
        yield upstream


@pytest.fixture
def dropper(upstream: UpstreamServer, dropping: DroppingUpstream) -> UpstreamTarget:
    """A target on the dropping upstream."""
    return target(upstream, "openai/dropper", api_base=dropping.url)


@pytest.mark.parametrize("dropping", [1], indirect=True)
async def test_a_completion_dropped_unanswered_is_sent_once_more(
    dropper: UpstreamTarget, dropping: DroppingUpstream
) -> None:
    resent: list[str] = []
    result = await Upstream([dropper], on_resend=resent.append).complete(dropper, MESSAGES)

    assert result.response["choices"][0]["message"]["content"] == ANSWER
    assert dropping.received == 2
    assert resent == ["openai/dropper"]


@pytest.mark.parametrize("dropping", [1], indirect=True)
async def test_a_stream_dropped_unanswered_is_opened_once_more(
    dropper: UpstreamTarget, dropping: DroppingUpstream
) -> None:
    stream = await Upstream([dropper]).stream(dropper, MESSAGES)
    chunks = [chunk async for chunk in stream]

    assert "".join(c["choices"][0]["delta"].get("content", "") for c in chunks) == ANSWER
    assert dropping.received == 2


@pytest.mark.parametrize("dropping", [3], indirect=True)
async def test_a_call_dropped_twice_fails_after_two_sends(
    dropper: UpstreamTarget, dropping: DroppingUpstream
) -> None:
    with pytest.raises(UpstreamError, match="dropper"):
        await Upstream([dropper]).complete(dropper, MESSAGES)

    assert dropping.received == 2
