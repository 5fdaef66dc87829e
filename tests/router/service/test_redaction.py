"""router.service.redaction: no configured secret reaches a log line, whoever logs it."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator

import pytest

from records import Budget
from router.errors import UpstreamError
from router.service.redaction import (
    MASK,
    SecretMasker,
    configured_secrets,
    install_masking,
    without_password,
)
from router.upstream.client import Upstream, UpstreamTarget, close_clients
from tests.upstream_server import UpstreamServer

KEY_ENV = "DIFFICULTY_ROUTER_ECHOED_KEY"
# Not shaped like "sk-...": litellm masks those itself, and the point is what it does not mask.
KEY = "Zq9v7TkLw3xP2mR8nB4c"


def test_a_secret_is_masked_raw_url_encoded_and_json_escaped() -> None:
    masker = SecretMasker(['p@ss/w0rd"quoted'])
    for text in ['p@ss/w0rd"quoted', "p%40ss%2Fw0rd%22quoted", 'p@ss/w0rd\\"quoted']:
        assert masker.mask(f"got {text} here") == f"got {MASK} here"


def test_url_passwords_bearer_tokens_and_router_keys_are_masked_unconfigured() -> None:
    masker = SecretMasker()
    token = "rk_0123456789ab_" + "x" * 43
    text = masker.mask(
        f"redis://default:hunter22@10.0.0.5:6379/0 Authorization: Bearer abcdefghijkl {token}"
    )
    assert "hunter22" not in text and "abcdefghijkl" not in text and token not in text
    assert "redis://default:***@10.0.0.5:6379/0" in text


def test_short_values_are_not_treated_as_secrets() -> None:
    assert SecretMasker(["EMPTY", None, ""]).mask("EMPTY reply") == "EMPTY reply"


def test_configured_secrets_read_named_and_secret_named_variables_and_url_passwords() -> None:
    environ = {"TIER_KEY_VAR": "tier-secret-1", "HF_TOKEN": "hf-token-value", "HOME": "/root"}
    found = configured_secrets(
        ["TIER_KEY_VAR", None], ["redis://:redis-pw-9@host/0", None], environ
    )
    assert found == {"tier-secret-1", "hf-token-value", "redis-pw-9"}


def test_every_logger_and_every_shape_is_masked(caplog: pytest.LogCaptureFixture) -> None:
    install_masking().add("s3cr3t-value-42")
    own = logging.getLogger("some.library")
    with caplog.at_level(logging.INFO):
        own.info("dict %s", {"api_key": "s3cr3t-value-42"})
        own.warning("percent %(k)s", {"k": "s3cr3t-value-42"})
        try:
            raise RuntimeError("boom s3cr3t-value-42")
        except RuntimeError:
            own.exception("failed")
    assert "s3cr3t-value-42" not in caplog.text
    assert caplog.text.count(MASK) >= 3


@pytest.fixture
async def _close_clients() -> AsyncIterator[None]:
    yield
    await close_clients()


@pytest.mark.anyio
@pytest.mark.usefixtures("_close_clients")
async def test_an_upstream_echoing_the_key_in_an_error_leaves_no_trace_in_any_log(
    upstream: UpstreamServer,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
    capfd: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.setenv(KEY_ENV, KEY)
    install_masking().add(*configured_secrets([KEY_ENV]))
    fallback = UpstreamTarget("openai/fallback", Budget(max_tokens=64), api_base=upstream.url)
    target = UpstreamTarget(
        "openai/echo",
        Budget(max_tokens=64),
        fallbacks=("openai/fallback",),
        api_base=upstream.url,
        api_key_env=KEY_ENV,
    )
    for model in ("echo", "fallback"):
        upstream.script(model, failures=[500] * 5, error_message=f"bad key {KEY} for {model}")
    client = Upstream([target, fallback], num_retries=1)
    with (  # litellm's loggers at INFO, as with LITELLM_LOG set (else they are quietened)
        caplog.at_level(logging.INFO),
        caplog.at_level(logging.INFO, logger="LiteLLM"),
        caplog.at_level(logging.INFO, logger="LiteLLM Router"),
        pytest.raises(UpstreamError),
    ):
        await client.complete(target, [{"role": "user", "content": "hi"}])
    written = caplog.text + capfd.readouterr().err
    assert f"bad key {MASK}" in written  # litellm did log the provider's message ...
    assert KEY not in written  # ... with the key masked


def test_a_redis_url_is_shown_without_its_password() -> None:
    assert without_password("redis://:pw-123456@10.0.0.5:6379/0") == "redis://:***@10.0.0.5:6379/0"
    assert without_password("redis://127.0.0.1:6379/0") == "redis://127.0.0.1:6379/0"
    assert without_password(None) is None
