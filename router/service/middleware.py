"""The per-request ``Exchange`` and the ASGI middleware around every request.

``ExchangeMiddleware`` opens an ``Exchange`` for each HTTP request (its id, its start time) and
puts it in the scope; the endpoint fills in the decision and, after sampling, the vote. When the
response starts, whatever it is (an answer, a stream, a validation error, a 404, a 413), the
middleware adds the router's headers from the exchange and counts the response:

    x-router-request-id                  always
    x-router-tier, -model, -score,       once a decision was made (errors after it included)
    -budget, -policy-version,
    -classifier-version
    x-router-predicted-cost-p50, -p90,   the chosen tier's forecast (``router.decision.forecast``):
    x-router-predicted-latency-ms-p50,   USD and ms, each when known, and where it came from
    -p90, x-router-prediction-source     (``log (N)`` or ``budget (N)``, N answers observed)
    x-router-controls                    when the caller sent controls: them and the tier taken
    x-router-spend                       with spend caps: the caller's spend per window so far
    x-router-downgrade                   when spend near a cap lowered the request: the step
                                         (``effort`` or ``tier``), the cap and its share
    x-router-vote                        when the tier sampled more than once
    x-router-verifier                    when a verifier checked the answer: its verdict
    x-router-cascade                     when the tier cascades: each step's tier and verdict,
                                         e.g. ``fast:failed > strong:passed``

An exception nothing else handled (a bug) still gets an OpenAI-shaped 500 with the request id
before it is re-raised for the server to log.

``BodyLimitMiddleware`` (inside it) refuses a request body over the limit with a 413: at once
when its Content-Length says so, else as soon as the bytes received pass the limit (the app's
error handler turns the ``HTTPException`` it raises into an OpenAI-shaped body).
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Final

from starlette.datastructures import Headers, MutableHeaders
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from records import Decision, Forecast, ScoredPrompt, Step, new_request_id
from router.access.guard import Caller
from router.errors import PayloadTooLargeError, error_body
from router.log.spend import Reservation
from router.service.metrics import NO_DECISION, ServiceMetrics

__all__ = ["EXCHANGE_KEY", "BodyLimitMiddleware", "Exchange", "ExchangeMiddleware", "exchange_of"]

EXCHANGE_KEY: Final = "router.exchange"
UNMATCHED: Final = "unmatched"


@dataclass
class Exchange:
    """What the router learns about one request while serving it."""

    request_id: str = field(default_factory=new_request_id)
    started: float = field(default_factory=time.perf_counter)
    received_at: datetime = field(default_factory=lambda: datetime.now(UTC))
    decision: Decision | None = None
    prompt: ScoredPrompt | None = None
    vote: str | None = None
    caller: Caller | None = None
    """The API key behind the request, once authenticated (``Caller(None)`` when open)."""

    @property
    def caller_id(self) -> str | None:
        """The API key's id; None before authentication or when the service runs open."""
        return None if self.caller is None or self.caller.key is None else self.caller.key.id

    @property
    def caller_label(self) -> str | None:
        """The key's id, or ``open`` without keys, for records and metrics; None before
        authentication."""
        return None if self.caller is None else self.caller.id

    verdict: str | None = None
    controls: str | None = None
    spend: str | None = None
    downgrade: str | None = None
    reservation: Reservation | None = None
    steps: list[Step] = field(default_factory=list)

    def decided(self, decision: Decision, prompt: ScoredPrompt) -> None:
        self.decision = decision
        self.prompt = prompt

    def elapsed_ms(self) -> float:
        return (time.perf_counter() - self.started) * 1000.0

    def headers(self) -> dict[str, str]:
        """The router's response headers for what is known so far."""
        headers = {"x-router-request-id": self.request_id}
        decision = self.decision
        if decision is not None:
            headers |= {
                "x-router-tier": decision.tier,
                "x-router-model": decision.model,
                "x-router-score": f"{decision.score:.4f}",
                "x-router-budget": decision.budget.label(),
                "x-router-policy-version": decision.policy_version,
                "x-router-classifier-version": decision.classifier_version,
            }
            if decision.forecast is not None:
                headers |= _forecast_headers(decision.forecast)
        if self.vote is not None:
            headers["x-router-vote"] = self.vote
        if self.spend is not None:
            headers["x-router-spend"] = self.spend
        if self.downgrade is not None:
            headers["x-router-downgrade"] = self.downgrade
        if self.controls is not None:
            headers["x-router-controls"] = _ascii(self.controls)
        if self.verdict is not None:
            headers["x-router-verifier"] = _ascii(self.verdict)
        if self.steps:
            headers["x-router-cascade"] = " > ".join(_step_text(step) for step in self.steps)
        return headers


def _forecast_headers(forecast: Forecast) -> dict[str, str]:
    """The forecast as headers: costs in USD, latencies in ms, each only when known."""
    values = {
        "x-router-predicted-cost-p50": forecast.cost_usd_p50,
        "x-router-predicted-cost-p90": forecast.cost_usd_p90,
        "x-router-predicted-latency-ms-p50": forecast.latency_ms_p50,
        "x-router-predicted-latency-ms-p90": forecast.latency_ms_p90,
    }
    headers = {name: f"{value:.6g}" for name, value in values.items() if value is not None}
    headers["x-router-prediction-source"] = f"{forecast.source} ({forecast.observations})"
    return headers


def _step_text(step: Step) -> str:
    """A cascade step for a header: ``fast:failed``, ``strong:passed``, ``strong:UpstreamError``."""
    if step.passed is None:
        return f"{step.tier}:{'unchecked' if step.status == 'ok' else step.status}"
    return f"{step.tier}:{'passed' if step.passed else 'failed'}"


def _ascii(text: str) -> str:
    """``text`` fit for a header value: ASCII, one line, at most 200 characters."""
    flat = " ".join(text.split())[:200]
    return flat.encode("ascii", "backslashreplace").decode("ascii")


def exchange_of(request: Request) -> Exchange:
    """The exchange ``ExchangeMiddleware`` opened for ``request``."""
    exchange = request.scope.get(EXCHANGE_KEY)
    if not isinstance(exchange, Exchange):
        raise RuntimeError("no Exchange in the request scope: is ExchangeMiddleware installed?")
    return exchange


def internal_error_body(request_id: str) -> dict[str, Any]:
    return {
        "error": {
            "message": f"internal error; quote request id {request_id} when reporting it",
            "type": "server_error",
            "param": None,
            "code": "InternalError",
        }
    }


class ExchangeMiddleware:
    """Opens an ``Exchange`` per HTTP request; stamps and counts every response."""

    def __init__(self, app: ASGIApp, metrics: ServiceMetrics) -> None:
        self.app = app
        self.metrics = metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        exchange = Exchange()
        scope[EXCHANGE_KEY] = exchange
        started = False

        async def stamped(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
                self._stamp(scope, message, exchange)
            await send(message)

        try:
            await self.app(scope, receive, stamped)
        except Exception:
            if not started:
                response = JSONResponse(internal_error_body(exchange.request_id), status_code=500)
                await response(scope, receive, stamped)
            raise

    def _stamp(self, scope: Scope, message: Message, exchange: Exchange) -> None:
        headers = MutableHeaders(scope=message)
        for name, value in exchange.headers().items():
            headers[name] = value
        decision = exchange.decision
        self.metrics.count_response(
            _endpoint(scope),
            NO_DECISION if decision is None else decision.tier,
            NO_DECISION if decision is None else decision.model,
            int(message["status"]),
            exchange.caller_label or NO_DECISION,
        )


def _endpoint(scope: Scope) -> str:
    """The matched route's path template: a bounded label, whatever path the client sent."""
    path = getattr(scope.get("route"), "path", None)
    return path if isinstance(path, str) else UNMATCHED


class BodyLimitMiddleware:
    """Refuses request bodies over ``max_bytes`` with a 413."""

    def __init__(self, app: ASGIApp, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        if _content_length(scope) > self.max_bytes:
            error = PayloadTooLargeError(self._problem())
            await JSONResponse(error_body(error), status_code=413)(scope, receive, send)
            return
        received = 0

        async def limited() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.max_bytes:
                    raise HTTPException(413, detail=self._problem())
            return message

        await self.app(scope, limited, send)

    def _problem(self) -> str:
        return f"the request body is over {self.max_bytes} bytes (ROUTER_MAX_BODY_BYTES)"


def _content_length(scope: Scope) -> int:
    try:
        return int(Headers(scope=scope).get("content-length", "0"))
    except ValueError:
        return 0
