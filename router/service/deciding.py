"""Deciding a request: score it, pick the tier, steer by the caller's controls, forecast.

``decide`` scores every request, pinned or not, so that the client always gets the decision
headers; ``model`` picks the tier: ``auto`` the score's tier, a tier name that tier, a model id
the cheapest tier serving it, anything else an ``UnknownModelError`` (404) before any scoring.
Given an ``Explorer``, an ``auto`` decision may be moved to a neighbouring tier
(``router.decision.exploration``); a pinned one never is, nor one that carries caller controls
(``router.decision.controls``: the quality dial moves the score, then the strongest tier that
fits the cost ceiling and deadline is taken). With a ``Forecaster`` the decision carries the
chosen tier's forecast of cost and latency (``router.service.forecasting``).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from contextlib import suppress
from typing import Any

from records import Decision
from router.access.guard import Caller, Guard
from router.access.keys import Scope
from router.decision.controls import CallerControls, fitting, shifted_score
from router.decision.decider import Assessment, retarget
from router.decision.exploration import Explorer
from router.decision.forecast import Forecaster, estimate_prompt_tokens
from router.decision.policy import Policy, Tier
from router.decision.thinking import per_prompt_budget
from router.errors import UnknownModelError
from router.service.forecasting import forecast_of, with_forecast
from router.service.middleware import Exchange
from router.service.model_store import Snapshot
from router.service.openai_schema import AUTO

__all__ = ["check_pin", "decide", "decide_text", "pin", "pinned_tier"]

Messages = Sequence[Mapping[str, Any]]


# --- deciding ------------------------------------------------------------------------------


def pinned_tier(policy: Policy, requested: str) -> Tier | None:
    """The tier the client pinned with ``requested``; None for ``auto``."""
    if requested == AUTO:
        return None
    with suppress(UnknownModelError):
        return policy.tier(requested)
    with suppress(UnknownModelError):
        return policy.tier_for_model(requested)
    tiers = ", ".join(tier.name for tier in policy.tiers)
    models = ", ".join(dict.fromkeys(tier.model for tier in policy.tiers))
    raise UnknownModelError(
        f"model {requested!r} is not '{AUTO}', a tier ({tiers}) or a model of the policy"
        f" ({models})",
        param="model",
    )


def check_pin(guard: Guard, caller: Caller, requested: str) -> None:
    """A request that chooses its tier or model needs the ``pin`` scope (403 otherwise)."""
    if requested != AUTO:
        guard.require(caller, Scope.PIN, f"choose the model {requested!r} instead of '{AUTO}'")


def pin(policy: Policy, decision: Decision, tier: Tier, requested: str) -> Decision:
    """``decision`` sent to ``tier`` instead, the score kept for the record."""
    reason = f"pinned to tier '{tier.name}' by the request's model {requested!r}"
    return retarget(decision, policy, tier, reason)


async def decide(
    snapshot: Snapshot,
    requested: str,
    messages: Messages,
    exchange: Exchange,
    explorer: Explorer | None = None,
    forecaster: Forecaster | None = None,
    controls: CallerControls | None = None,
) -> Decision:
    """The decision for chat ``messages``, also noted on ``exchange``."""
    tier = pinned_tier(snapshot.policy, requested)
    assessment = await snapshot.batcher.assess(snapshot.decider.prepare(messages))
    return _noted(
        exchange, snapshot, assessment, requested, tier, explorer, forecaster, controls, messages
    )


async def decide_text(
    snapshot: Snapshot,
    requested: str,
    text: str,
    exchange: Exchange,
    forecaster: Forecaster | None = None,
    controls: CallerControls | None = None,
) -> Decision:
    """The decision for a bare ``text``, also noted on ``exchange``."""
    tier = pinned_tier(snapshot.policy, requested)
    assessment = await snapshot.batcher.assess(snapshot.decider.prepare_text(text))
    messages = [{"role": "user", "content": text}]
    return _noted(
        exchange, snapshot, assessment, requested, tier, None, forecaster, controls, messages
    )


def _noted(
    exchange: Exchange,
    snapshot: Snapshot,
    assessment: Assessment,
    requested: str,
    tier: Tier | None,
    explorer: Explorer | None,
    forecaster: Forecaster | None,
    controls: CallerControls | None,
    messages: Messages,
) -> Decision:
    policy = snapshot.policy
    decision = assessment.decision
    steered = controls is not None and controls.given
    if tier is not None:
        decision = pin(policy, decision, tier, requested)
        if steered:
            decision = _reason(decision, "caller controls do not move a pinned tier")
    elif steered and controls is not None:
        decision = _steered(decision, snapshot, forecaster, controls, messages)
    elif explorer is not None:
        decision = explorer.explore(policy, decision)
    chosen = policy.tier(decision.tier)
    budget, why = per_prompt_budget(
        chosen.name, chosen.model, decision.budget, snapshot.budget_model, assessment.prompt
    )
    reasons = decision.reasons if why is None else (*decision.reasons, why)
    update = {"control": chosen.control.value, "budget": budget, "reasons": reasons}
    decision = decision.model_copy(update=update)
    if forecaster is not None:
        decision = with_forecast(decision, policy, snapshot.prices, forecaster, messages)
    if steered and controls is not None:
        exchange.controls = f"{controls.summary()}: tier '{decision.tier}'"
    exchange.decided(decision, assessment.prompt)
    return decision


def _steered(
    decision: Decision,
    snapshot: Snapshot,
    forecaster: Forecaster | None,
    controls: CallerControls,
    messages: Messages,
) -> Decision:
    """The strongest tier the caller's controls allow: the quality dial, then cost and time."""
    policy = snapshot.policy
    start = policy.tier(decision.tier)
    if controls.quality is not None:
        shifted = shifted_score(decision.score, controls.quality)
        start = policy.choose(shifted)
        decision = _moved(
            decision,
            policy,
            start,
            (
                f"quality {controls.quality:g} reads score {decision.score:.3f} as {shifted:.3f}"
                f" (band edges moved by {decision.score - shifted:+.3f}): tier '{start.name}'"
            ),
        )
    if forecaster is None or (controls.max_cost_usd is None and controls.deadline_ms is None):
        return decision
    prompt_tokens = estimate_prompt_tokens(messages)
    chosen, reasons = fitting(
        policy,
        start,
        controls,
        lambda tier: forecast_of(policy, snapshot.prices, forecaster, tier.name, prompt_tokens),
    )
    if not reasons:
        return _reason(decision, f"tier '{chosen.name}' fits {controls.summary()}")
    for reason in reasons[:-1]:
        decision = _reason(decision, reason)
    return _moved(decision, policy, chosen, reasons[-1])


def _moved(decision: Decision, policy: Policy, tier: Tier, reason: str) -> Decision:
    if tier.name == decision.tier:
        return _reason(decision, reason)
    return retarget(decision, policy, tier, reason)


def _reason(decision: Decision, reason: str) -> Decision:
    return decision.model_copy(update={"reasons": (*decision.reasons, reason)})
