"""``GET /healthz`` (the process answers), ``/readyz`` (it can route) and ``/metrics``.

The probes answer anyone (an orchestrator has no key; they reveal versions, nothing else);
``/metrics`` needs an ``admin`` key once keys exist.
"""

from __future__ import annotations

from fastapi import APIRouter
from starlette.responses import JSONResponse, Response

from router.service.api.callers import AdminCaller
from router.service.api.deps import MetricsDep, StoreDep
from router.service.metrics import CONTENT_TYPE

router = APIRouter()


@router.get("/healthz")
async def healthz() -> dict[str, str]:
    return {"status": "ok"}


@router.get("/readyz", response_model=None)
async def readyz(store: StoreDep) -> JSONResponse:
    """200 with the classifier and policy versions once both are loaded; 503 until then."""
    if not store.ready:
        return JSONResponse({"status": "not_ready", "problem": store.problem}, status_code=503)
    active = store.active
    return JSONResponse(
        {
            "status": "ready",
            "classifier_version": active.classifier_version,
            "policy_version": active.policy_version,
            "loaded_at": active.loaded_at.isoformat(),
            "problem": store.problem,
        }
    )


@router.get("/metrics")
async def metrics(caller: AdminCaller, service_metrics: MetricsDep) -> Response:
    """Prometheus' text format; needs the ``admin`` scope once keys exist."""
    return Response(service_metrics.exposition(), media_type=CONTENT_TYPE)
