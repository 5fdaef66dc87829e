"""Answering with a tier's verifier, and escalating a cascade when it rejects the answer.

    result = await answer(snapshot, tier, messages, params, exchange)

A tier whose strategy names a ``verifier`` has its answer checked (``select: verifier`` also
lets the verifier pick among the samples, ``router.upstream.client``). A tier with
``cascade: true`` whose answer fails the check sends the request on to the next tier of the
policy, which is checked by its own verifier, else by the one that rejected the answer; it
escalates further only if it cascades too. The answer of the last tier tried is returned, passed
or not (the top tier has nowhere to send it); its usage and cost are the sums over every step,
as a vote's are the sums over its samples.

Each step of a cascade (the first one included, even when it passes) goes on
``exchange.steps`` as soon as it ends, with its tokens, cost and verdict, so the decision record
keeps every step whether or not the request ends well; a step that fails upstream is noted with
its error before the error goes on.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import replace
from typing import Any

from records import Budget, Step
from router.decision.policy import Tier
from router.errors import RouterError
from router.service.middleware import Exchange
from router.service.model_store import Snapshot
from router.upstream.results import UpstreamResult, Usage

__all__ = ["answer", "checks"]

Messages = Sequence[Mapping[str, Any]]


def checks(tier: Tier) -> bool:
    """Whether ``tier``'s answers go through a verifier (and so are answered here)."""
    return tier.strategy.verifier is not None


async def answer(
    snapshot: Snapshot,
    tier: Tier,
    messages: Messages,
    params: Mapping[str, Any],
    exchange: Exchange,
    budget: Budget | None = None,
) -> UpstreamResult:
    """``tier``'s checked answer, escalated through the cascade while the checks fail; the
    first step under ``budget`` (a decision's lowered one), the others under their own."""
    results: list[UpstreamResult] = []
    checking = tier.strategy.verifier
    current: Tier | None = tier
    while current is not None:
        checking = current.strategy.verifier or checking
        verifier = snapshot.verifier(checking) if checking is not None else None
        noted = tier.strategy.cascade
        try:
            result = await snapshot.upstream.complete(
                snapshot.target(current.name, budget if not results else None),
                messages,
                params,
                verifier,
            )
        except RouterError as exc:
            if noted:
                exchange.steps.append(_failed_step(current, type(exc).__name__))
            raise
        results.append(result)
        if noted:
            exchange.steps.append(_step(current, result))
        failed = result.verdict is not None and not result.verdict.passed
        current = (
            snapshot.policy.next_tier(current) if failed and current.strategy.cascade else None
        )
    return _combined(results)


def _step(tier: Tier, result: UpstreamResult) -> Step:
    verdict = result.verdict
    return Step(
        tier=tier.name,
        model=tier.model,
        upstream_model=result.model,
        prompt_tokens=result.usage.prompt_tokens,
        completion_tokens=result.usage.completion_tokens,
        reasoning_tokens=result.usage.reasoning_tokens,
        cost_usd=result.cost_usd,
        upstream_ms=result.latency_ms,
        verifier=None if verdict is None else verdict.verifier,
        passed=None if verdict is None else verdict.passed,
        detail=None if verdict is None or not verdict.detail else verdict.detail,
    )


def _failed_step(tier: Tier, status: str) -> Step:
    return Step(tier=tier.name, model=tier.model, status=status)


def _combined(results: Sequence[UpstreamResult]) -> UpstreamResult:
    """The last result, its usage, cost and latency summed over every step."""
    last = results[-1]
    if len(results) == 1:
        return last
    usage = sum((result.usage for result in results), Usage())
    return replace(
        last,
        response=last.response | {"usage": usage.as_openai()},
        usage=usage,
        cost_usd=sum(result.cost_usd for result in results),
        latency_ms=sum(result.latency_ms for result in results),
    )
