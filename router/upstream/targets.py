"""What a call needs from a policy tier, where each model is served, and with which key.

Keys: ``api_key_env`` names the environment variable holding a target's key, read once here.
A target whose key is missing fails with ``MissingProviderKeyError`` before anything is sent,
unless it has an ``api_base`` (a local server): such a target, and any target with an api_base
but no api_key_env, is sent the placeholder key ``EMPTY``, never a provider's default key. A
target with neither relies on litellm's own variable for its provider (``OPENAI_API_KEY``...),
which is checked the same way. Keys never appear in errors or logs.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Final, Protocol

from records import Budget, Price, Strategy
from router.decision.budgets import ReasoningControl

if TYPE_CHECKING:  # litellm takes seconds to import: it is imported where used
    from litellm.types.router import RetryPolicy

__all__ = [
    "PLACEHOLDER_KEY",
    "Credentials",
    "Endpoint",
    "TargetFields",
    "UpstreamTarget",
    "attempt_timeout_s",
    "credentials",
    "endpoints",
    "price_params",
    "retry_policy",
    "target_key",
]

PLACEHOLDER_KEY: Final = "EMPTY"


class TargetFields(Protocol):
    """What a policy tier has that a call needs (``router.decision.policy.Tier`` fits)."""

    @property
    def model(self) -> str: ...
    @property
    def budget(self) -> Budget: ...
    @property
    def strategy(self) -> Strategy: ...
    @property
    def fallbacks(self) -> Sequence[str]: ...
    @property
    def timeout_s(self) -> float: ...
    @property
    def api_base(self) -> str | None: ...
    @property
    def api_key_env(self) -> str | None: ...
    @property
    def price(self) -> Price | None: ...
    @property
    def reasoning(self) -> ReasoningControl | None: ...


@dataclass(frozen=True)
class UpstreamTarget:
    """What a call needs from a policy tier: where, how hard to think, what to fall back to."""

    model: str
    budget: Budget
    strategy: Strategy = field(default_factory=Strategy)
    fallbacks: tuple[str, ...] = ()
    timeout_s: float = 60.0
    api_base: str | None = None
    api_key_env: str | None = None
    price: Price | None = None
    # None: recognised from the model id (router.decision.budgets).
    reasoning: ReasoningControl | None = None

    @classmethod
    def of(cls, tier: TargetFields) -> UpstreamTarget:
        return cls(
            model=tier.model,
            budget=tier.budget,
            strategy=tier.strategy,
            fallbacks=tuple(tier.fallbacks),
            timeout_s=tier.timeout_s,
            api_base=tier.api_base,
            api_key_env=tier.api_key_env,
            price=tier.price,
            reasoning=tier.reasoning,
        )


@dataclass(frozen=True)
class Endpoint:
    """Where a model is served, with which key, at what price (None: litellm's) and how it is
    told a thinking budget (None: recognised from its id)."""

    api_base: str | None = None
    api_key_env: str | None = None
    price: Price | None = None
    reasoning: ReasoningControl | None = None

    @classmethod
    def of(cls, target: UpstreamTarget) -> Endpoint:
        return cls(target.api_base, target.api_key_env, target.price, target.reasoning)


@dataclass(frozen=True)
class Credentials:
    api_key: str | None
    missing: str | None


def target_key(target: UpstreamTarget) -> tuple[object, ...]:
    """What makes two targets one route (the strategy is applied around the Router)."""
    return (
        target.model,
        target.budget,
        target.fallbacks,
        target.timeout_s,
        target.api_base,
        target.api_key_env,
        target.price,
        target.reasoning,
    )


def price_params(price: Price) -> dict[str, float]:
    """``price`` as litellm's per-token deployment pricing (cache writes cost as input)."""
    cached = price.cached_input_per_mtok
    cached = price.input_per_mtok if cached is None else cached
    return {
        "input_cost_per_token": price.input_per_mtok / 1e6,
        "output_cost_per_token": price.output_per_mtok / 1e6,
        "cache_read_input_token_cost": cached / 1e6,
        "cache_creation_input_token_cost": price.input_per_mtok / 1e6,
    }


def endpoints(targets: Iterable[UpstreamTarget]) -> dict[str, Endpoint]:
    """Where each model is served, as its targets say; fallbacks are sent there too."""
    endpoints: dict[str, Endpoint] = {}
    for target in targets:
        endpoints.setdefault(target.model, Endpoint.of(target))
    return endpoints


def credentials(model: str, endpoint: Endpoint) -> Credentials:
    """The key to send for ``model`` at ``endpoint``, or the variable to set when it is missing."""
    if endpoint.api_key_env is not None:
        key = os.environ.get(endpoint.api_key_env)
        if key:
            return Credentials(key, None)
        if endpoint.api_base is None:
            return Credentials(None, endpoint.api_key_env)
    if endpoint.api_base is not None:
        return Credentials(PLACEHOLDER_KEY, None)
    from litellm.utils import validate_environment  # imported where used: it takes seconds

    found = validate_environment(model=model)
    if found.get("keys_in_environment", True):
        return Credentials(None, None)
    return Credentials(None, " or ".join(found.get("missing_keys") or ["the provider's key"]))


def attempt_timeout_s(target: UpstreamTarget) -> float:
    """How long one attempt may take: an equal share of the tier's ``timeout_s`` (the whole
    request's deadline) for the model and each fallback, so a hanging model leaves its
    fallbacks time to answer."""
    return target.timeout_s / (1 + len(target.fallbacks))


def retry_policy(num_retries: int) -> RetryPolicy:
    """Retry what may pass (429, 5xx); a timeout goes to the fallbacks; a refusal is final."""
    from litellm.types.router import RetryPolicy  # imported where used: litellm takes seconds

    return RetryPolicy(
        RateLimitErrorRetries=num_retries,
        InternalServerErrorRetries=0,  # also how litellm reports a refused connection
        ServiceUnavailableErrorRetries=num_retries,
        DefaultRetries=num_retries,
        TimeoutErrorRetries=0,
        BadRequestErrorRetries=0,
        AuthenticationErrorRetries=0,
        ContentPolicyViolationErrorRetries=0,
        NotFoundErrorRetries=0,
    )
