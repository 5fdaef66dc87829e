"""``GET /v1/models``: what a client may put in ``model``, in OpenAI's list shape."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter

from router.service.api.callers import AnyCaller
from router.service.api.deps import ActiveSnapshot
from router.service.openai_schema import AUTO

router = APIRouter()

OWNER = "difficulty-router"


@router.get("/v1/models")
async def list_models(caller: AnyCaller, snapshot: ActiveSnapshot) -> dict[str, Any]:
    """``auto``, then every tier, then every model the tiers use."""
    created = int(snapshot.loaded_at.timestamp())
    tiers = [tier.name for tier in snapshot.policy.tiers]
    models = list(dict.fromkeys(tier.model for tier in snapshot.policy.tiers))
    entries = [_entry(name, created, OWNER) for name in (AUTO, *tiers)]
    entries += [_entry(model, created, model.split("/", 1)[0]) for model in models]
    return {"object": "list", "data": entries}


def _entry(model_id: str, created: int, owner: str) -> dict[str, Any]:
    return {"id": model_id, "object": "model", "created": created, "owned_by": owner}
