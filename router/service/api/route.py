"""``POST /v1/route``: the decision alone, without calling any model."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter

from router.service import completions
from router.service.api.callers import RouteCaller
from router.service.api.deps import ActiveSnapshot, ExchangeDep, GuardDep, MetricsDep
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
) -> dict[str, Any]:
    """Score, tier, model, budget, strategy, versions and reasons for messages or a text."""
    completions.check_pin(guard, caller, body.model)
    if body.text is not None:
        decision = await completions.decide_text(snapshot, body.model, body.text, exchange)
    else:
        decision = await completions.decide(snapshot, body.model, body.messages or [], exchange)
    metrics.observe_decision(decision.decision_ms)
    return {"request_id": exchange.request_id, **decision.model_dump(mode="json")}
