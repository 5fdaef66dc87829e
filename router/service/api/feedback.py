"""``POST /v1/feedback``: what came of an earlier request (an outcome, a rating, a verdict).

The request is named by its ``x-router-request-id``. An ``Idempotency-Key`` header makes a retry
safe: the same key returns the event stored the first time, and nothing is stored again.

Feedback steers retraining, so only the key that made the request may rate it, or a key with
the ``verifier`` scope (403 otherwise). A request whose record is not visible yet (still on its
way from the replica that served it) is a 503 with ``Retry-After``; an unknown id a 404.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated, Any

import anyio
from fastapi import APIRouter, Header

from router.access.guard import Caller
from router.access.keys import Scope
from router.errors import PermissionDeniedError
from router.log.store.base import Known
from router.service.api.callers import FeedbackCaller
from router.service.api.deps import DecisionLogDep
from router.service.openai_schema import FeedbackRequest

router = APIRouter()

IdempotencyKey = Annotated[
    str | None, Header(alias="Idempotency-Key", min_length=1, max_length=255)
]


def _may_rate(caller: Caller, request_id: str) -> Callable[[Known], None]:
    def check(known: Known) -> None:
        if caller.key is None or caller.allows(Scope.VERIFIER) or known.key_id == caller.id:
            return
        raise PermissionDeniedError(
            f"key {caller.id} may give feedback only on its own requests ({request_id} was made"
            " by another key); a key with the 'verifier' scope may rate any request"
        )

    return check


@router.post("/v1/feedback")
async def feedback(
    body: FeedbackRequest,
    caller: FeedbackCaller,
    log: DecisionLogDep,
    idempotency_key: IdempotencyKey = None,
) -> dict[str, Any]:
    """Store one feedback event on a logged request: 404 if the log does not know it."""
    event = await anyio.to_thread.run_sync(
        lambda: log.add_feedback(
            body.request_id,
            outcome=body.outcome,
            rating=body.rating,
            verifier=body.verifier,
            source=body.source,
            step=body.step,
            idempotency_key=idempotency_key,
            check=_may_rate(caller, body.request_id),
        )
    )
    return {"object": "feedback", **event.model_dump(mode="json", exclude={"idempotency_key"})}
