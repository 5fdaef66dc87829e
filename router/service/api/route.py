"""``POST /v1/route``: the decision alone, without calling any model."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter

from router.service import completions
from router.service.api.callers import RouteCaller
from router.service.api.compute_deps import ControlsDep
from router.service.api.deps import ActiveSnapshot, ExchangeDep, GuardDep, LedgerDep, MetricsDep
from router.service.openai_schema import RouteRequest

router = APIRouter()


@router.post("/v1/route")
async def route(
    body: RouteRequest,
    caller: RouteCaller,
    guard: GuardDep,
    snapshot: ActiveSnapshot,
    exchange: ExchangeDep,
    metrics: MetricsDep,
    ledger: LedgerDep,
    controls: ControlsDep,
) -> dict[str, Any]:
    """Score, tier, model, budget, strategy, versions, reasons and the forecast of cost and
    latency for messages or a text."""
    completions.check_pin(guard, caller, body.model)
    forecaster = ledger.forecaster
    if body.text is not None:
        decision = await completions.decide_text(
            snapshot, body.model, body.text, exchange, forecaster, controls
        )
    else:
        messages = body.messages or []
        decision = await completions.decide(
            snapshot, body.model, messages, exchange, None, forecaster, controls
        )
    metrics.observe_decision(decision.decision_ms)
    return {"request_id": exchange.request_id, **decision.model_dump(mode="json")}
