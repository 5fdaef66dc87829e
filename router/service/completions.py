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

import json
from collections.abc import AsyncGenerator, Sequence
from dataclasses import dataclass, field
from typing import Any, Final

import anyio
from starlette.responses import StreamingResponse
from starlette.types import Receive, Scope, Send

from records import Decision, DecisionRecord, ScoredPrompt
from router.decision.forecast import Forecaster
from router.errors import RouterError, UpstreamUnreachableError, error_body
from router.log.decision_log import DecisionRecorder
from router.log.obedience import ObedienceMonitor, judge
from router.service import cascade
from router.service.compute_metrics import ComputeMetrics
from router.service.deciding import decide, decide_text, pinned_tier
from router.service.forecasting import observations_of
from router.service.metrics import ServiceMetrics
from router.service.middleware import Exchange
from router.service.model_store import Snapshot
from router.service.openai_schema import ChatCompletionRequest
from router.service.spending import Spending
from router.upstream.results import UpstreamResult, Usage
from router.upstream.streaming import UpstreamStream, replayed_stream

__all__ = [
    "EventStreamResponse",
    "Ledger",
    "Outcome",
    "complete",
    "decide",
    "decide_text",
    "decision_of",
    "event_stream",
    "pinned_tier",
    "stream",
]

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
        return cls(status_of(error))


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
    ) -> None:
        self.recorder = recorder
        self.metrics = metrics
        self.keep_prompt = keep_prompt
        self.forecaster = Forecaster() if forecaster is None else forecaster
        self.obedience = ObedienceMonitor()
        self.spending: Spending | None = None
        self.compute_metrics = ComputeMetrics(metrics.registry)

    def settle(self, exchange: Exchange, body: ChatCompletionRequest, outcome: Outcome) -> None:
        decision, prompt = exchange.decision, exchange.prompt
        if decision is None or prompt is None:
            return
        self.metrics.observe_decision(decision.decision_ms)
        if outcome.status == OK and outcome.upstream_ms is not None:
            model = outcome.model or decision.model
            self.metrics.observe_answer(
                decision.tier, model, outcome.usage, outcome.cost_usd, outcome.upstream_ms
            )
        record = self._record(exchange, decision, prompt, body, outcome)
        self.forecaster.observe_all(observations_of(record))
        if self.spending is not None:
            self.spending.settle(exchange, record.cost_usd)
        self._judge(record)
        self.recorder.submit(record)

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
    snapshot: Snapshot, body: ChatCompletionRequest, exchange: Exchange, ledger: Ledger
) -> EventStreamResponse:
    """An SSE response streaming the decided tier's answer; errors before its first chunk
    raise here, so they get an ordinary error response."""
    tier = snapshot.policy.tier(decision_of(exchange).tier)
    params = body.upstream_params()
    try:
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
    return EventStreamResponse(event_stream(source, exchange, body, ledger))


def _event(payload: dict[str, Any]) -> str:
    return f"data: {json.dumps(payload, separators=(',', ':'))}\n\n"


async def event_stream(
    source: UpstreamStream, exchange: Exchange, body: ChatCompletionRequest, ledger: Ledger
) -> AsyncGenerator[str, None]:
    """``data: {chunk}`` events, then ``data: [DONE]``; an error mid-stream is sent as an
    ``data: {"error": ...}`` event and ends the stream."""
    status: str | None = CANCELLED
    try:
        async for chunk in source:
            yield _event(chunk)
        ledger.settle(exchange, body, Outcome.streamed(OK, source))
        status = None  # settled: the answer is complete, whatever happens to [DONE]
        yield DONE_EVENT
    except RouterError as exc:
        status = status_of(exc)
        yield _event(error_body(exc))
    except BaseException as exc:
        status = status_of(exc) if status is not None else None
        raise
    finally:
        with anyio.CancelScope(shield=True):
            await source.aclose()
        if status is not None:
            ledger.settle(exchange, body, Outcome.streamed(status, source))


class EventStreamResponse(StreamingResponse):
    """A ``text/event-stream`` response that always closes its events, so a client that
    disconnects cancels the upstream call at once rather than when the generator is collected."""

    media_type = "text/event-stream"

    def __init__(self, events: AsyncGenerator[str, None]) -> None:
        super().__init__(events, headers={"cache-control": "no-cache"})
        self.events = events

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        try:
            await super().__call__(scope, receive, send)
        finally:
            with anyio.CancelScope(shield=True):
                await self.events.aclose()
