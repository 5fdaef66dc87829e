"""Provider keys: missing, refused, kept from local servers and out of errors.

router.upstream.client against a real local upstream over HTTP, through litellm's Router.
"""

from __future__ import annotations

import litellm
import pytest

from router.errors import MissingProviderKeyError, RequestError, UpstreamError
from router.upstream.client import Upstream
from router.upstream.targets import UpstreamTarget
from tests.router.upstream.conftest import CLIENT_MARKS, KEY, KEY_ENV, MESSAGES, PLAIN, target
from tests.upstream_server import UpstreamServer

pytestmark = CLIENT_MARKS


async def test_refused_request_is_a_request_error_without_the_key(
    upstream: UpstreamServer,
) -> None:
    upstream.script("picky", failures=[400], error_message=f"bad request from {KEY}")
    chosen = target(upstream, "openai/picky")
    client = Upstream([chosen])
    with pytest.raises(RequestError) as raised:
        await client.complete(chosen, MESSAGES)

    assert "bad request from ***" in raised.value.message
    assert KEY not in raised.value.message
    assert isinstance(raised.value.__cause__, litellm.BadRequestError)


async def test_a_refused_key_is_a_502_naming_its_variable_not_the_clients_fault(
    upstream: UpstreamServer,
) -> None:
    upstream.script("locked", failures=[401])
    chosen = target(upstream, "openai/locked")
    client = Upstream([chosen])
    with pytest.raises(MissingProviderKeyError) as raised:
        await client.complete(chosen, MESSAGES)

    assert raised.value.status_code == 502
    assert "openai/locked" in raised.value.message
    assert KEY_ENV in raised.value.message and KEY not in raised.value.message


async def test_missing_key_fails_before_anything_is_sent(
    upstream: UpstreamServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv(KEY_ENV)
    chosen = UpstreamTarget("openai/gpt-4o-mini", PLAIN, api_key_env=KEY_ENV)
    client = Upstream([chosen])
    with pytest.raises(MissingProviderKeyError, match=KEY_ENV):
        await client.complete(chosen, MESSAGES)
    with pytest.raises(MissingProviderKeyError, match=KEY_ENV):
        await client.stream(chosen, MESSAGES)

    assert upstream.requests == []


async def test_provider_default_key_is_checked_too(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    chosen = UpstreamTarget("openai/gpt-4o-mini", PLAIN)
    client = Upstream([chosen])
    with pytest.raises(MissingProviderKeyError, match="OPENAI_API_KEY"):
        await client.complete(chosen, MESSAGES)


async def test_local_server_never_sees_a_providers_real_key(
    upstream: UpstreamServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", KEY)
    chosen = UpstreamTarget("openai/local", PLAIN, api_base=upstream.url)
    client = Upstream([chosen])
    await client.complete(chosen, MESSAGES)

    assert upstream.requests[0].headers["authorization"] == "Bearer EMPTY"


async def test_fallback_without_its_key_is_skipped(
    upstream: UpstreamServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("OTHER_KEY_ENV", "")
    upstream.script("primary", failures=[500])
    chosen = target(upstream, "openai/primary", fallbacks=["anthropic/claude-sonnet-4-5"])
    other = UpstreamTarget("anthropic/claude-sonnet-4-5", PLAIN, api_key_env="OTHER_KEY_ENV")
    client = Upstream([chosen, other], num_retries=0)
    with pytest.raises(UpstreamError):
        await client.complete(chosen, MESSAGES)

    assert [request.model for request in upstream.requests] == ["primary"]
