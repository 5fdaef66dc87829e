"""A chat completion through the router: decide, call the tier, answer, account for it.

    await decide(snapshot, body.model, body.messages, exchange)   # scored in a batch, off the loop
    answer = await complete(snapshot, body, exchange, ledger)     # or: await stream(...)

``decide`` (``router.service.deciding``, re-exported here) makes and notes the decision.

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
from dataclasses import dataclass, field
from typing import Any, Final

import anyio

from records import Decision, DecisionRecord, ScoredPrompt
from router.access.guard import Caller, Guard
from router.decision.forecast import Forecaster
from router.errors import RouterError, UpstreamError, UpstreamUnreachableError, error_body
from router.log.decision_log import DecisionRecorder
from router.log.obedience import ObedienceMonitor, judge
from router.service import cascade
from router.service.compute_metrics import ComputeMetrics
from router.service.deadline import within_deadline
from router.service.deciding import check_pin, decide, decide_text, pinned_tier
from router.service.event_stream import SHUTTING_DOWN, EventStreamResponse, event
from router.service.forecasting import observations_of
from router.service.metrics import NO_DECISION, ServiceMetrics
from router.service.middleware import Exchange
from router.service.model_store import Snapshot
from router.service.openai_schema import ChatCompletionRequest
from router.service.spending import Spending
from router.upstream.results import UpstreamResult, Usage, spent
from router.upstream.streaming import UpstreamStream, replayed_stream

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
        forecaster: Forecaster | None = None,
        guard: Guard | None = None,
    ) -> None:
        self.recorder = recorder
        self.metrics = metrics
        self.keep_prompt = keep_prompt
        self.forecaster = Forecaster() if forecaster is None else forecaster
        self.obedience = ObedienceMonitor()
        self.spending: Spending | None = None
        self.compute_metrics = ComputeMetrics(metrics.registry)
        self.guard = guard
        self._charging: set[asyncio.Task[None]] = set()

    def settle(self, exchange: Exchange, body: ChatCompletionRequest, outcome: Outcome) -> None:
        decision, prompt = exchange.decision, exchange.prompt
        if decision is None or prompt is None:
            return
        self.metrics.observe_decision(decision.decision_ms)
        key = exchange.caller_label or NO_DECISION
        if outcome.upstream_ms is not None or outcome.cost_usd or outcome.usage.total_tokens:
            upstream_ms = outcome.upstream_ms if outcome.status == OK else None
            model = outcome.model or decision.model
            self.metrics.observe_answer(
                decision.tier, model, outcome.usage, outcome.cost_usd, upstream_ms, key
            )
        self._charge(exchange.caller, outcome.usage.total_tokens)
        record = self._record(exchange, decision, prompt, body, outcome)
        self.forecaster.observe_all(observations_of(record))
        if self.spending is not None:
            self.spending.settle(exchange, record.cost_usd)
        self._judge(record)
        self.recorder.submit(record)

    def _charge(self, caller: Caller | None, tokens: int) -> None:
        """Count ``tokens`` against the caller's limit, off the request's path."""
        if self.guard is None or caller is None or caller.key is None or tokens <= 0:
            return
        task = asyncio.get_running_loop().create_task(self.guard.charge(caller, tokens))
        self._charging.add(task)
        task.add_done_callback(self._charging.discard)

    def _judge(self, record: DecisionRecord) -> None:
        verdict = judge(record)
        if verdict is None:
            return
        self.compute_metrics.judged(verdict)
        flag = self.obedience.observe(verdict)
        if flag is not None:
            self.compute_metrics.flagged(flag)

    def _record(
        self,
        exchange: Exchange,
        decision: Decision,
        prompt: ScoredPrompt,
        body: ChatCompletionRequest,
        outcome: Outcome,
    ) -> DecisionRecord:
        usage, cost_usd = _spent(exchange, outcome)
        return DecisionRecord(
            request_id=exchange.request_id,
            key_id=exchange.caller_label,
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
            prompt_tokens=usage.prompt_tokens,
            completion_tokens=usage.completion_tokens,
            reasoning_tokens=usage.reasoning_tokens,
            cost_usd=cost_usd,
            upstream_ms=outcome.upstream_ms,
            latency_ms=exchange.elapsed_ms(),
            vote=exchange.vote,
            status=outcome.status,
            forecast=decision.forecast,
            control=decision.control,
            downgrade=exchange.downgrade,
            steps=tuple(exchange.steps),
        )


def _spent(exchange: Exchange, outcome: Outcome) -> tuple[Usage, float]:
    """Tokens and cost of the request: the outcome's, or, when a cascade failed part way, the
    sums over the steps that answered (they were paid for all the same)."""
    steps = exchange.steps
    if not steps or outcome.status == OK:
        return outcome.usage, outcome.cost_usd
    usage = sum(
        (Usage(s.prompt_tokens, s.completion_tokens, s.reasoning_tokens) for s in steps), Usage()
    )
    return usage, sum(step.cost_usd for step in steps)


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
    try:
        async with within_deadline(snapshot.policy.tier(tier)):
            result = await _answer(snapshot, body, exchange)
    except UpstreamUnreachableError as exc:
        ledger.settle(exchange, body, Outcome.failed(exc))
        raise exc.for_tier(tier) from exc.__cause__
    except BaseException as exc:
        ledger.settle(exchange, body, Outcome.failed(exc))
        raise
    ledger.settle(exchange, body, Outcome.answered(result))
    return result.response


async def _answer(
    snapshot: Snapshot, body: ChatCompletionRequest, exchange: Exchange
) -> UpstreamResult:
    """The decided tier's answer, through its verifier and cascade when it has them."""
    decision = decision_of(exchange)
    tier, budget = snapshot.policy.tier(decision.tier), decision.budget
    if cascade.checks(tier):
        result = await cascade.answer(
            snapshot, tier, body.messages, body.upstream_params(), exchange, budget
        )
    else:
        target = snapshot.target(tier.name, budget)
        result = await snapshot.upstream.complete(target, body.messages, body.upstream_params())
    exchange.vote = result.vote
    exchange.verdict = None if result.verdict is None else result.verdict.summary()
    return result


async def stream(
    snapshot: Snapshot,
    body: ChatCompletionRequest,
    exchange: Exchange,
    ledger: Ledger,
    stopping: asyncio.Event | None = None,
) -> EventStreamResponse:
    """An SSE response streaming the decided tier's answer; errors before its first chunk
    raise here, so they get an ordinary error response."""
    tier = snapshot.policy.tier(decision_of(exchange).tier)
    params = body.upstream_params()
    try:
        async with within_deadline(tier):
            if cascade.checks(tier):
                source = replayed_stream(await _answer(snapshot, body, exchange), params)
            else:
                target = snapshot.target(tier.name, decision_of(exchange).budget)
                source = await snapshot.upstream.stream(target, body.messages, params)
    except UpstreamUnreachableError as exc:
        ledger.settle(exchange, body, Outcome.failed(exc))
        raise exc.for_tier(tier.name) from exc.__cause__
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
