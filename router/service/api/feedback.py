"""``POST /v1/feedback``: what came of an earlier request (an outcome, a rating, a verdict).

The request is named by its ``x-router-request-id``. An ``Idempotency-Key`` header makes a retry
safe: the same key returns the event stored the first time, and nothing is stored again.
"""

from __future__ import annotations

from typing import Annotated, Any

import anyio
from fastapi import APIRouter, Header

from router.service.api.deps import DecisionLogDep
from router.service.openai_schema import FeedbackRequest

router = APIRouter()

IdempotencyKey = Annotated[
    str | None, Header(alias="Idempotency-Key", min_length=1, max_length=255)
]


@router.post("/v1/feedback")
async def feedback(
    body: FeedbackRequest, log: DecisionLogDep, idempotency_key: IdempotencyKey = None
) -> dict[str, Any]:
    """Store one feedback event on a logged request: 404 if the log does not know it."""
    event = await anyio.to_thread.run_sync(
        lambda: log.add_feedback(
            body.request_id,
            outcome=body.outcome,
            rating=body.rating,
            verifier=body.verifier,
            source=body.source,
            idempotency_key=idempotency_key,
        )
    )
    return {"object": "feedback", **event.model_dump(mode="json", exclude={"idempotency_key"})}
