"""The service's OpenAPI document, made to say what the handlers do.

FastAPI documents a 422 for every body (the service answers validation errors with 400) and
knows nothing of the errors ``router.errors`` maps to HTTP, of the event stream a chat
completion may answer with, or of the Prometheus text ``/metrics`` returns. ``document(app)``
replaces the generator with one that fixes those: every operation lists the statuses it can
answer, each error with the OpenAI-shaped body, ``Retry-After`` where it is sent.
"""

from __future__ import annotations

from typing import Any, Final

from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi

__all__ = ["document"]

_ERROR_SCHEMA: Final = {
    "type": "object",
    "required": ["error"],
    "properties": {
        "error": {
            "type": "object",
            "required": ["message", "type", "code"],
            "properties": {
                "message": {"type": "string"},
                "type": {"type": "string"},
                "param": {"type": ["string", "null"]},
                "code": {"type": "string"},
            },
        }
    },
}
_RETRY_AFTER: Final = {"Retry-After": {"schema": {"type": "string"}}}
_MEANING: Final = {
    400: "The request is malformed or names something unusable (param says which field).",
    401: "No API key, or an unknown or revoked one.",
    403: "The key lacks the scope this needs (named in the message).",
    404: "No such model, tier, request or path.",
    405: "Method not allowed.",
    409: "A conflict: the Idempotency-Key came before with other content, or a policy change.",
    412: "The If-Match names a policy version that no longer serves.",
    422: "The policy was refused (the message names the problem).",
    428: "A policy change needs If-Match.",
    413: "The body is over ROUTER_MAX_BODY_BYTES.",
    429: "Over the key's rate limit, or the provider's (Retry-After).",
    500: "A bug: quote the x-router-request-id.",
    502: "The upstream failed, answered nothing, or refused the router's provider key.",
    503: "Not ready, a store unreachable, or every deployment cooling down (Retry-After).",
    504: "No answer within the tier's timeout_s.",
}
_KEYED: Final = (401, 403, 429)
_COMMON: Final = (400, 404, 405, 413, 500)
_UPSTREAM: Final = (502, 503, 504)
_ADMIN: Final = (*_COMMON, *_KEYED, 409, 412, 422, 428, 503)
_STATUSES: Final[dict[tuple[str, str], tuple[int, ...]]] = {
    ("/v1/chat/completions", "post"): (*_COMMON, *_KEYED, *_UPSTREAM),
    ("/v1/route", "post"): (*_COMMON, *_KEYED, 503),
    ("/v1/feedback", "post"): (*_COMMON, *_KEYED, 409, 503),
    ("/v1/models", "get"): (*_COMMON, *_KEYED, 503),
    ("/metrics", "get"): (*_COMMON, *_KEYED),
    ("/healthz", "get"): _COMMON,
    ("/readyz", "get"): (*_COMMON, 503),
}


def document(app: FastAPI) -> None:
    """Make ``app.openapi()`` return the corrected document (built once)."""

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            schema = get_openapi(
                title=app.title, version=app.version, summary=app.summary, routes=app.routes
            )
            schema.setdefault("components", {}).setdefault("schemas", {})["Error"] = _ERROR_SCHEMA
            for path, operations in schema.get("paths", {}).items():
                for method, operation in operations.items():
                    _correct(path, method, operation)
            app.openapi_schema = schema
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]


def _correct(path: str, method: str, operation: dict[str, Any]) -> None:
    responses: dict[str, Any] = operation.setdefault("responses", {})
    responses.pop("422", None)  # validation errors are 400s; a refused policy's 422 is added
    statuses = _ADMIN if path.startswith("/admin/") else _STATUSES.get((path, method), _COMMON)
    for status in statuses:
        entry: dict[str, Any] = {
            "description": _MEANING[status],
            "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}},
        }
        if status in (429, 503):
            entry["headers"] = _RETRY_AFTER
        responses.setdefault(str(status), entry)
    if path == "/v1/chat/completions":
        ok = responses.setdefault("200", {"description": "The completion."})
        ok.setdefault("content", {})["text/event-stream"] = {
            "schema": {"type": "string", "description": "With stream: true, SSE chunks."}
        }
    if path == "/metrics":
        responses["200"] = {
            "description": "Prometheus text exposition.",
            "content": {"text/plain": {"schema": {"type": "string"}}},
        }
    if path == "/ui":
        responses["200"] = {
            "description": "The ops page.",
            "content": {"text/html": {"schema": {"type": "string"}}},
        }
    if path == "/ui/{name}":
        responses["200"] = {
            "description": "A script or stylesheet of the ops page.",
            "content": {
                "text/javascript": {"schema": {"type": "string"}},
                "text/css": {"schema": {"type": "string"}},
            },
        }
    if path == "/readyz":
        responses["503"] = {
            "description": "Not ready yet: the problem says why.",
            "content": {"application/json": {"schema": {"type": "object"}}},
        }
