"""``POST /v1/chat/completions``: OpenAI's chat completions, routed by difficulty."""

from __future__ import annotations

from fastapi import APIRouter
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from router.errors import RouterError
from router.service import completions
from router.service.api.callers import ChatCaller
from router.service.api.compute_deps import ControlsDep
from router.service.api.deps import (
    ActiveSnapshot,
    ExchangeDep,
    ExplorerDep,
    GuardDep,
    LedgerDep,
    OperationsDep,
    ShutdownDep,
)
from router.service.openai_schema import AUTO, ChatCompletionRequest
from router.service.spending import caller_of

router = APIRouter()


@router.post("/v1/chat/completions", response_model=None)
async def chat_completions(
    body: ChatCompletionRequest,
    caller: ChatCaller,
    guard: GuardDep,
    shutdown: ShutdownDep,
    snapshot: ActiveSnapshot,
    exchange: ExchangeDep,
    ledger: LedgerDep,
    explorer: ExplorerDep,
    ops: OperationsDep,
    controls: ControlsDep,
    request: Request,
) -> Response:
    """Score the prompt, pick the tier (or take the pinned one), and answer from its model."""
    completions.check_pin(guard, caller, body.model)
    decision = await completions.decide(
        snapshot, body.model, body.messages, exchange, explorer, ledger.forecaster, controls
    )
    if body.model == AUTO:
        ops.shadow.observe(decision.score, snapshot.policy.choose(decision.score).name)
    if ledger.spending is not None:
        try:
            await ledger.spending.admit(
                snapshot,
                exchange,
                caller_of(request, exchange),
                ledger.forecaster,
                body.messages,
                pinned=body.model != AUTO,
            )
        except RouterError as exc:
            ledger.settle(exchange, body, completions.Outcome.failed(exc))
            raise
    if body.stream:
        return await completions.stream(snapshot, body, exchange, ledger, shutdown.stopping)
    return JSONResponse(await completions.complete(snapshot, body, exchange, ledger))
