"""Helpers for the tests of router.upstream.client against the local upstream: a test key, targets
on the upstream, and the marks each of those modules carries (``pytestmark = CLIENT_MARKS``)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from typing import Any

import pytest

from records import Budget, Price, Strategy
from router.decision.budgets import ReasoningControl
from router.upstream.client import close_clients
from router.upstream.targets import UpstreamTarget
from tests.upstream_server import UpstreamServer

# litellm 1.110 trips two pydantic warnings: Router() builds adapters for TypedDicts with ReadOnly
# items, and its stream handler reads model_computed_fields off an instance. The same two lines
# belong in pyproject's filterwarnings; these marks stand in until they are there.
LITELLM_WARNINGS = [
    "ignore:Items? .* on TypedDict class .* using the `ReadOnly` qualifier:UserWarning",
    "ignore:Accessing the 'model_.*' attribute on the instance is deprecated"
    ":pydantic.warnings.PydanticDeprecatedSince211",
]

KEY_ENV = "DIFFICULTY_ROUTER_TEST_KEY"
KEY = "sk-test-secret-0123456789"
MESSAGES = [{"role": "user", "content": "What is 6 x 7?"}]
PLAIN = Budget(max_tokens=512)
CHAT_TEMPLATE = ReasoningControl.CHAT_TEMPLATE

# Every client test runs under anyio with a test key set and closes litellm's pooled connections
# afterwards; the other upstream tests are synchronous and need neither.
CLIENT_MARKS = [
    pytest.mark.anyio,
    *map(pytest.mark.filterwarnings, LITELLM_WARNINGS),
    pytest.mark.usefixtures("_provider_key", "_close_clients"),
]


@pytest.fixture
def _provider_key(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(KEY_ENV, KEY)


@pytest.fixture
async def _close_clients() -> AsyncIterator[None]:
    """Close litellm's pooled connections before the test's event loop ends."""
    yield
    await close_clients()


def target(
    server: UpstreamServer,
    model: str,
    *,
    budget: Budget = PLAIN,
    fallbacks: Sequence[str] = (),
    timeout_s: float = 5.0,
    samples: int = 1,
    select: str = "majority_vote",
    api_base: str | None = None,
    price: Price | None = None,
    reasoning: ReasoningControl | None = None,
) -> UpstreamTarget:
    return UpstreamTarget(
        model=model,
        budget=budget,
        strategy=Strategy(samples=samples, select=select),  # type: ignore[arg-type]
        fallbacks=tuple(fallbacks),
        timeout_s=timeout_s,
        api_base=api_base or server.url,
        api_key_env=KEY_ENV,
        price=price,
        reasoning=reasoning,
    )


async def _read_all(chunks: Any) -> None:
    async for _ in chunks:
        pass
