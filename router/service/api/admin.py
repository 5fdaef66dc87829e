"""``/admin/...``: the serving policy for ops, behind the admin token (``admin_auth``).

    GET  /admin/policy               the active policy (YAML, tiers) with its ETag
    POST /admin/policy/validate      check a candidate without applying it (422 names the problem)
    POST /admin/policy/simulate      a candidate beside the active policy on recent traffic
    POST /admin/policy/edges         the active policy with other band edges, as YAML
    PUT  /admin/policy               apply (also POST /admin/policy/apply); If-Match required
    GET  /admin/policy/history       the audit: who, when, from where, diff, reason
    POST /admin/policy/rollback      undo the newest change not yet undone; If-Match required
    GET  /admin/traffic              requests, spend and reasoning tokens per tier, recently
    POST|GET|DELETE /admin/shadow    attach a shadow policy, see its report, detach it

The work is in ``router.ops``; these functions only translate HTTP.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Annotated, Any

import anyio
from fastapi import APIRouter, Depends, Header, Query, Request
from pydantic import BaseModel, Field
from starlette.responses import JSONResponse

from router.errors import SimulationError
from router.ops.admin import Actor
from router.ops.audit import to_json
from router.ops.curve import curve_points
from router.ops.operations import Operations
from router.ops.policy_file import PolicyDocument
from router.ops.simulation import compare
from router.service.api.admin_auth import AdminDep, require_admin

router = APIRouter(prefix="/admin", tags=["admin"], dependencies=[Depends(require_admin)])

IfMatch = Annotated[str | None, Header(alias="If-Match")]
MAX_POLICY_CHARS = 200_000


class PolicyBody(BaseModel):
    policy: str = Field(min_length=1, max_length=MAX_POLICY_CHARS, description="Policy YAML.")


class ChangeBody(PolicyBody):
    reason: str = Field(default="", max_length=2000)


class RollbackBody(BaseModel):
    reason: str = Field(default="", max_length=2000)


class EdgesBody(BaseModel):
    edges: list[float] = Field(description="Inner band edges, one fewer than tiers, rising.")
    version: str | None = Field(default=None, max_length=200)


class SimulateBody(BaseModel):
    policy: str | None = Field(default=None, max_length=MAX_POLICY_CHARS, description="YAML.")
    edges: list[float] | None = Field(default=None, description="Or: the active policy's edges.")
    since: datetime | None = Field(default=None, description="Traffic since (default: 7 days).")
    resamples: int = Field(default=200, ge=0, le=2000, description="Bootstrap resamples.")
    curve: bool = Field(default=False, description="Also the cost-quality curve's points.")


async def _ops(request: Request) -> Operations:
    ops: Operations = request.state.ops
    return ops


OpsDep = Annotated[Operations, Depends(_ops)]


def _described(document: PolicyDocument) -> dict[str, Any]:
    policy = document.policy
    return {
        "version": policy.version,
        "etag": document.etag,
        "yaml": document.text,
        "tiers": [
            tier.model_dump(mode="json") | {"band_text": policy.band_text(tier)}
            for tier in policy.tiers
        ],
        "warnings": policy.warnings(),
    }


@router.get("/policy")
async def get_policy(ops: OpsDep) -> JSONResponse:
    """The active policy with its ETag (send it back as If-Match to change it)."""
    document = await anyio.to_thread.run_sync(ops.admin.current)
    return JSONResponse(_described(document), headers={"ETag": document.etag})


@router.post("/policy/validate")
async def validate_policy(body: PolicyBody, ops: OpsDep) -> dict[str, Any]:
    """Check a candidate; 422 naming the problem, else its tiers and warnings."""
    document = await anyio.to_thread.run_sync(ops.admin.validate, body.policy)
    return {"valid": True, **_described(document)}


@router.post("/policy/simulate")
async def simulate_policy(body: SimulateBody, ops: OpsDep) -> dict[str, Any]:
    """The candidate beside the active policy on the decision log's recent traffic."""
    return await anyio.to_thread.run_sync(_simulate, ops, body)


def _simulate(ops: Operations, body: SimulateBody) -> dict[str, Any]:
    if (body.policy is None) == (body.edges is None):
        raise SimulationError("send either 'policy' (YAML) or 'edges' (band edges), not both")
    if body.edges is not None:
        candidate = ops.admin.with_edges(body.edges)
    else:
        candidate = ops.admin.validate(body.policy or "")
    current = ops.admin.current()
    traffic = ops.recent.traffic(body.since)
    if traffic is None:
        raise SimulationError("no answered request in the decision log to simulate on yet")
    result = compare(candidate.policy, current.policy, traffic, resamples=body.resamples)
    data = result.to_dict()
    if body.curve:
        data["curve"] = [vars(point) for point in curve_points(current.policy, traffic)]
    return data


@router.post("/policy/edges")
async def policy_with_edges(body: EdgesBody, ops: OpsDep) -> dict[str, Any]:
    """The active policy with other band edges, as YAML to review, simulate or apply."""
    document = await anyio.to_thread.run_sync(
        lambda: ops.admin.with_edges(body.edges, body.version)
    )
    return _described(document)


async def _apply(body: ChangeBody, ops: Operations, admin: AdminDep, if_match: str | None) -> Any:
    actor = Actor(admin.name, admin.address)
    entry = await anyio.to_thread.run_sync(
        lambda: ops.admin.apply(body.policy, if_match, actor, body.reason)
    )
    return _changed(entry.etag_after, to_json(entry))


def _changed(etag: str, entry: dict[str, Any]) -> JSONResponse:
    return JSONResponse({"applied": True, "etag": etag, "change": entry}, headers={"ETag": etag})


@router.put("/policy")
async def put_policy(
    body: ChangeBody, ops: OpsDep, admin: AdminDep, if_match: IfMatch = None
) -> JSONResponse:
    """Apply a policy: If-Match required (428 without, 412 stale), 422 when invalid."""
    result: JSONResponse = await _apply(body, ops, admin, if_match)
    return result


@router.post("/policy/apply")
async def apply_policy(
    body: ChangeBody, ops: OpsDep, admin: AdminDep, if_match: IfMatch = None
) -> JSONResponse:
    """The same as ``PUT /admin/policy``, for clients that only POST."""
    result: JSONResponse = await _apply(body, ops, admin, if_match)
    return result


@router.get("/policy/history")
async def policy_history(
    ops: OpsDep, limit: Annotated[int, Query(ge=1, le=500)] = 50
) -> dict[str, Any]:
    """The audit of policy changes, newest first, with diffs."""
    entries = await anyio.to_thread.run_sync(ops.admin.history, limit)
    return {"entries": [to_json(entry) for entry in entries]}


@router.post("/policy/rollback")
async def rollback_policy(
    body: RollbackBody, ops: OpsDep, admin: AdminDep, if_match: IfMatch = None
) -> JSONResponse:
    """Undo the newest change not yet undone; If-Match required."""
    actor = Actor(admin.name, admin.address)
    entry = await anyio.to_thread.run_sync(lambda: ops.admin.rollback(if_match, actor, body.reason))
    return _changed(entry.etag_after, to_json(entry))


@router.get("/traffic")
async def traffic(
    ops: OpsDep, hours: Annotated[float, Query(gt=0, le=24 * 90)] = 24 * 7
) -> dict[str, Any]:
    """Requests, spend and reasoning tokens per tier over the last ``hours``."""
    since = datetime.now(UTC) - timedelta(hours=hours)
    return await anyio.to_thread.run_sync(ops.recent.summary, since)


@router.post("/shadow")
async def attach_shadow(body: PolicyBody, ops: OpsDep) -> dict[str, Any]:
    """Attach a shadow policy: it decides beside the active one on live traffic, never acting."""
    document = await anyio.to_thread.run_sync(ops.admin.validate, body.policy)
    shadow = ops.shadow.attach(document)
    return {"attached": True, "version": shadow.document.version}


@router.get("/shadow")
async def shadow_report(ops: OpsDep) -> dict[str, Any]:
    """Agreement, tier mix and projected cost and quality of the attached shadow."""
    report = await anyio.to_thread.run_sync(ops.shadow_report)
    return {"attached": report is not None, "report": report}


@router.delete("/shadow")
async def detach_shadow(ops: OpsDep) -> dict[str, Any]:
    shadow = ops.shadow.detach()
    return {"detached": shadow is not None}
