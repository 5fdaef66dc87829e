"""Can each tier be served? Its model and fallbacks, their keys and, when asked, a live call.

``check_targets(targets)`` lists, for every tier (by name) its model and then its fallbacks,
where each is sent (its ``api_base`` or the provider's own endpoint) and whether the key it needs
is there: the variable the policy names, or litellm's variable for the provider. It reads the
environment the way ``Upstream`` does (``router.upstream.client``), so what it says missing is
what a request would find missing. It also says whether each model has a price (the policy's
``price``, else litellm's bundled map): one without costs 0 in the log, the metrics and the
spend caps.

``await probe(checks)`` then makes one call per distinct model and endpoint: a one-token
completion ("Say OK.", ``max_tokens`` 1, no retries), which shows that the address answers, the
key is taken and the server knows the model, with its latency. It costs one token of input and
one of output on a hosted provider. A failure to connect is named as the service names it
(``router.upstream.failures``).
"""

from __future__ import annotations

import asyncio
import os
import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any, Final, Literal

from router.upstream.cost import list_price
from router.upstream.failures import unreachable
from router.upstream.quiet import import_litellm
from router.upstream.targets import Endpoint, UpstreamTarget, credentials, endpoints

if TYPE_CHECKING:
    import httpx

__all__ = ["ModelCheck", "ProbeResult", "check_targets", "probe"]

PROBE_MESSAGES: Final = [{"role": "user", "content": "Say OK."}]
_DETAIL_CHARS: Final = 160

Role = Literal["primary", "fallback"]


@dataclass(frozen=True)
class ProbeResult:
    ok: bool
    latency_ms: float
    detail: str  # "answered", or what went wrong


@dataclass(frozen=True)
class ModelCheck:
    """One model a tier may send to, and what stands in its way."""

    tier: str
    role: Role
    model: str
    api_base: str | None
    key_env: str | None  # the variable the policy names for it, if any
    missing: str | None  # the variable(s) that must be set and are not
    key_set: bool  # key_env is set (False when the policy names none)
    probe: ProbeResult | None = None
    priced: bool = True  # the policy or litellm's price map prices its tokens

    @property
    def usable(self) -> bool:
        return self.missing is None and (self.probe is None or self.probe.ok)

    @property
    def where(self) -> str:
        return self.api_base or "provider endpoint"


def check_targets(targets: Mapping[str, UpstreamTarget]) -> list[ModelCheck]:
    """Each tier's model, then its fallbacks, with their key status (no network)."""
    known = endpoints(targets.values())
    checks = []
    for tier, target in targets.items():
        checks.append(_check(tier, "primary", target.model, Endpoint.of(target)))
        for fallback in target.fallbacks:
            endpoint = known.get(fallback, Endpoint())
            checks.append(_check(tier, "fallback", fallback, endpoint))
    return checks


async def probe(
    checks: Sequence[ModelCheck], *, timeout_s: float = 10.0, connect_timeout_s: float = 3.0
) -> list[ModelCheck]:
    """``checks`` with a live one-token call's result on each one whose key is there."""
    calls: dict[tuple[str, str | None], asyncio.Task[ProbeResult]] = {}
    targets = _endpoints_of(checks)
    import httpx  # imported where used: the CLI's other commands never probe

    timeout = httpx.Timeout(timeout_s, connect=min(connect_timeout_s, timeout_s))
    for check in checks:
        key = (check.model, check.api_base)
        if check.missing is None and key not in calls:
            calls[key] = asyncio.create_task(_call(check.model, targets[key], timeout))
    results = {key: await task for key, task in calls.items()}
    return [replace(check, probe=results.get((check.model, check.api_base))) for check in checks]


def _check(tier: str, role: Role, model: str, endpoint: Endpoint) -> ModelCheck:
    missing = credentials(model, endpoint).missing
    key_set = bool(endpoint.api_key_env and os.environ.get(endpoint.api_key_env))
    priced = endpoint.price is not None or list_price(model) is not None
    return ModelCheck(
        tier, role, model, endpoint.api_base, endpoint.api_key_env, missing, key_set, priced=priced
    )


def _endpoints_of(checks: Iterable[ModelCheck]) -> dict[tuple[str, str | None], Endpoint]:
    return {
        (c.model, c.api_base): Endpoint(api_base=c.api_base, api_key_env=c.key_env) for c in checks
    }


async def _call(model: str, endpoint: Endpoint, timeout: httpx.Timeout) -> ProbeResult:
    params: dict[str, Any] = {"timeout": timeout, "num_retries": 0, "max_tokens": 1}
    if endpoint.api_base is not None:
        params["api_base"] = endpoint.api_base
    key = credentials(model, endpoint).api_key
    if key is not None:
        params["api_key"] = key
    import httpx
    import openai  # imported where used, as litellm: each takes seconds

    litellm = import_litellm()

    started = time.perf_counter()
    try:
        await litellm.acompletion(model=model, messages=PROBE_MESSAGES, **params)
    except (openai.OpenAIError, httpx.HTTPError) as exc:
        detail = _problem(exc)
        return ProbeResult(False, _ms(started), detail.replace(key, "***") if key else detail)
    return ProbeResult(True, _ms(started), "answered")


def _problem(exc: BaseException) -> str:
    found = unreachable(exc)
    if found is not None:
        return found.cause
    status = getattr(exc, "status_code", None)
    code = f"HTTP {status}: " if isinstance(status, int) else ""
    message = str(getattr(exc, "message", None) or exc).strip().splitlines()
    first = message[0] if message else type(exc).__name__
    return f"{code}{first}"[:_DETAIL_CHARS]


def _ms(started: float) -> float:
    return (time.perf_counter() - started) * 1000.0
