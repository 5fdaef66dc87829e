"""A chat completion through the router: decide, call the tier, answer, account for it.

    await decide(snapshot, body.model, body.messages, exchange)   # scored in a batch, off the loop
    answer = await complete(snapshot, body, exchange, ledger)     # or: await stream(...)

``decide`` scores every request, pinned or not, so that the client always gets the decision
headers; ``model`` picks the tier: ``auto`` the score's tier, a tier name that tier, a model id
the cheapest tier serving it, anything else an ``UnknownModelError`` (404) before any scoring.
Given an ``Explorer``, an ``auto`` decision may be moved to a neighbouring tier
(``router.decision.exploration``); a pinned one never is.

``Ledger.settle`` writes the ``DecisionRecord`` (through the recorder, off the request path) and
the token, cost and latency metrics, once per request whatever its end: answered, failed, or
abandoned by the client. A stream that completes is settled just before its ``[DONE]`` event,
so feedback sent the moment a client sees it finds the record; a client that disconnects
cancels the upstream call, and the stream is settled as it closes.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncGenerator, Sequence
from contextlib import suppress
from dataclasses import dataclass, field
from typing import Any, Final

import anyio

from records import Decision, DecisionRecord, ScoredPrompt
from router.access.guard import Caller, Guard
from router.access.keys import Scope as KeyScope
from router.decision.decider import Assessment, retarget
from router.decision.exploration import Explorer
from router.decision.policy import Policy, Tier
from router.errors import (
    RouterError,
    UnknownModelError,
    UpstreamError,
    UpstreamUnreachableError,
    error_body,
)
from router.log.decision_log import DecisionRecorder
from router.service.deadline import within_deadline
from router.service.event_stream import SHUTTING_DOWN, EventStreamResponse, event
from router.service.metrics import NO_DECISION, ServiceMetrics
from router.service.middleware import Exchange
from router.service.model_store import Snapshot
from router.service.openai_schema import AUTO, ChatCompletionRequest
from router.upstream.results import UpstreamResult, Usage, spent
from router.upstream.streaming import UpstreamStream

__all__ = [
    "EventStreamResponse",
    "Ledger",
    "Outcome",
    "check_pin",
    "complete",
    "decide",
    "decide_text",
    "decision_of",
    "event_stream",
    "pinned_tier",
    "stream",
]

logger = logging.getLogger(__name__)

OK: Final = "ok"
CANCELLED: Final = "cancelled"
INTERNAL_ERROR: Final = "internal_error"
DONE_EVENT: Final = "data: [DONE]\n\n"

Messages = Sequence[dict[str, Any]]


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
    """A request that chooses its tier or model needs the ``pin`` scope."""
    if requested != AUTO:
        guard.require(caller, KeyScope.PIN, f"choose the model {requested!r} instead of '{AUTO}'")


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
) -> Decision:
    """The decision for chat ``messages``, also noted on ``exchange``."""
    tier = pinned_tier(snapshot.policy, requested)
    assessment = await snapshot.batcher.assess(snapshot.decider.prepare(messages))
    return _noted(exchange, snapshot, assessment, requested, tier, explorer)


async def decide_text(
    snapshot: Snapshot, requested: str, text: str, exchange: Exchange
) -> Decision:
    """The decision for a bare ``text``, also noted on ``exchange``."""
    tier = pinned_tier(snapshot.policy, requested)
    assessment = await snapshot.batcher.assess(snapshot.decider.prepare_text(text))
    return _noted(exchange, snapshot, assessment, requested, tier, None)


def _noted(
    exchange: Exchange,
    snapshot: Snapshot,
    assessment: Assessment,
    requested: str,
    tier: Tier | None,
    explorer: Explorer | None,
) -> Decision:
    decision = assessment.decision
    if tier is not None:
        decision = pin(snapshot.policy, decision, tier, requested)
    elif explorer is not None:
        decision = explorer.explore(snapshot.policy, decision)
    exchange.decided(decision, assessment.prompt)
    return decision


# --- accounting ----------------------------------------------------------------------------


@dataclass(frozen=True)
class Outcome:
    """How a request ended upstream."""

    status: str
    model: str | None = None
    usage: Usage = field(default_factory=Usage)
    cost_usd: float = 0.0
    upstream_ms: float | None = None

    @classmethod
    def answered(cls, result: UpstreamResult) -> Outcome:
        return cls(OK, result.model, result.usage, result.cost_usd, result.latency_ms)

    @classmethod
    def streamed(cls, status: str, source: UpstreamStream) -> Outcome:
        return cls(status, source.model, source.usage, source.cost_usd, source.latency_ms)

    @classmethod
    def failed(cls, error: BaseException) -> Outcome:
        """A request that failed, with what its upstream calls still cost."""
        usage, cost_usd = spent(error)
        return cls(status_of(error), usage=usage, cost_usd=cost_usd)


def status_of(error: BaseException) -> str:
    """The record's status for a request that ended with ``error``."""
    if isinstance(error, RouterError):
        return type(error).__name__
    if isinstance(error, (anyio.get_cancelled_exc_class(), GeneratorExit)):
        return CANCELLED
    return INTERNAL_ERROR


class Ledger:
    """Accounts for each chat request once: its decision record and its metrics."""

    def __init__(
        self,
        recorder: DecisionRecorder,
        metrics: ServiceMetrics,
        *,
        keep_prompt: bool,
        guard: Guard | None = None,
    ) -> None:
        self.recorder = recorder
        self.metrics = metrics
        self.keep_prompt = keep_prompt
        self.guard = guard
        self._charging: set[asyncio.Task[None]] = set()

    def settle(self, exchange: Exchange, body: ChatCompletionRequest, outcome: Outcome) -> None:
        decision, prompt = exchange.decision, exchange.prompt
        if decision is None or prompt is None:
            return
        self.metrics.observe_decision(decision.decision_ms)
        key = exchange.caller_id or NO_DECISION
        if outcome.upstream_ms is not None or outcome.cost_usd or outcome.usage.total_tokens:
            upstream_ms = outcome.upstream_ms if outcome.status == OK else None
            model = outcome.model or decision.model
            self.metrics.observe_answer(
                decision.tier, model, outcome.usage, outcome.cost_usd, upstream_ms, key
            )
        self._charge(exchange.caller, outcome.usage.total_tokens)
        self.recorder.submit(self._record(exchange, decision, prompt, body, outcome))

    def _charge(self, caller: Caller | None, tokens: int) -> None:
        """Count ``tokens`` against the caller's limit, off the request's path."""
        if self.guard is None or caller is None or caller.key is None or tokens <= 0:
            return
        task = asyncio.get_running_loop().create_task(self.guard.charge(caller, tokens))
        self._charging.add(task)
        task.add_done_callback(self._charging.discard)

    def _record(
        self,
        exchange: Exchange,
        decision: Decision,
        prompt: ScoredPrompt,
        body: ChatCompletionRequest,
        outcome: Outcome,
    ) -> DecisionRecord:
        return DecisionRecord(
            request_id=exchange.request_id,
            key_id=exchange.caller_id,
            time=exchange.received_at,
            requested_model=body.model,
            stream=body.stream,
            prompt_hash=prompt.hash,
            prompt=prompt.text if self.keep_prompt else None,
            embedding=prompt.embedding,
            features=prompt.features,
            score=decision.score,
            tier=decision.tier,
            tier_index=decision.tier_index,
            model=decision.model,
            budget=decision.budget,
            strategy=decision.strategy,
            classifier_version=decision.classifier_version,
            policy_version=decision.policy_version,
            choice_probability=decision.choice_probability,
            decision_ms=decision.decision_ms,
            upstream_model=outcome.model,
            prompt_tokens=outcome.usage.prompt_tokens,
            completion_tokens=outcome.usage.completion_tokens,
            reasoning_tokens=outcome.usage.reasoning_tokens,
            cost_usd=outcome.cost_usd,
            upstream_ms=outcome.upstream_ms,
            latency_ms=exchange.elapsed_ms(),
            vote=exchange.vote,
            status=outcome.status,
        )


# --- answering -----------------------------------------------------------------------------


def decision_of(exchange: Exchange) -> Decision:
    """The decision ``decide`` noted on ``exchange``."""
    if exchange.decision is None:
        raise RuntimeError("answer() before decide(): the exchange holds no decision")
    return exchange.decision


async def complete(
    snapshot: Snapshot, body: ChatCompletionRequest, exchange: Exchange, ledger: Ledger
) -> dict[str, Any]:
    """The OpenAI chat completion from the decided tier."""
    tier = decision_of(exchange).tier
    target = snapshot.target(tier)
    try:
        async with within_deadline(target):
            result = await snapshot.upstream.complete(target, body.messages, body.upstream_params())
    except UpstreamUnreachableError as exc:
        ledger.settle(exchange, body, Outcome.failed(exc))
        raise exc.for_tier(tier) from exc.__cause__
    except BaseException as exc:
        ledger.settle(exchange, body, Outcome.failed(exc))
        raise
    exchange.vote = result.vote
    ledger.settle(exchange, body, Outcome.answered(result))
    return result.response


async def stream(
    snapshot: Snapshot,
    body: ChatCompletionRequest,
    exchange: Exchange,
    ledger: Ledger,
    stopping: asyncio.Event | None = None,
) -> EventStreamResponse:
    """An SSE response streaming the decided tier's answer; errors before its first chunk
    raise here, so they get an ordinary error response."""
    tier = decision_of(exchange).tier
    target = snapshot.target(tier)
    try:
        async with within_deadline(target):
            source = await snapshot.upstream.stream(target, body.messages, body.upstream_params())
    except UpstreamUnreachableError as exc:
        ledger.settle(exchange, body, Outcome.failed(exc))
        raise exc.for_tier(tier) from exc.__cause__
    except BaseException as exc:
        ledger.settle(exchange, body, Outcome.failed(exc))
        raise
    exchange.vote = source.vote
    events = event_stream(source, exchange, body, ledger, stopping)
    return EventStreamResponse(events, stopping)


async def event_stream(
    source: UpstreamStream,
    exchange: Exchange,
    body: ChatCompletionRequest,
    ledger: Ledger,
    stopping: asyncio.Event | None = None,
) -> AsyncGenerator[str, None]:
    """``data: {chunk}`` events, then ``data: [DONE]``; an error mid-stream (any error: the
    connection to the upstream broke, litellm raised) is sent as a ``data: {"error": ...}``
    event, which OpenAI's clients raise, and ends the stream; the record says the same."""
    status: str | None = CANCELLED
    try:
        async for chunk in source:
            yield event(chunk)
        ledger.settle(exchange, body, Outcome.streamed(OK, source))
        status = None  # settled: the answer is complete, whatever happens to [DONE]
        yield DONE_EVENT
    except RouterError as exc:
        status = status_of(exc)
        yield event(error_body(exc))
    except Exception as exc:
        logger.exception("the stream of %s broke", exchange.request_id)
        error = UpstreamError(f"the answer broke off: {type(exc).__name__}", model=source.model)
        status = status_of(error)
        yield event(error_body(error))
    except BaseException as exc:
        status = status_of(exc) if status is not None else None
        raise
    finally:
        with anyio.CancelScope(shield=True):
            await source.aclose()
        if status == CANCELLED and stopping is not None and stopping.is_set():
            status = status_of(SHUTTING_DOWN)  # cut by the shutdown, not by the client
        if status is not None:
            ledger.settle(exchange, body, Outcome.streamed(status, source))
